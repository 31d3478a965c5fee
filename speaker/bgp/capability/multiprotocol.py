"""Multiprotocol Extensions capability (RFC 4760 §8): one per AFI/SAFI."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.capability.base import malformed, register


@register
@dataclass(frozen=True)
class Multiprotocol:
    CODE: ClassVar[int] = 1

    afi: int
    safi: int

    def pack(self) -> bytes:
        return struct.pack("!HBB", self.afi, 0, self.safi)

    @classmethod
    def unpack(cls, data: bytes) -> Multiprotocol:
        if len(data) != 4:
            raise malformed("Multiprotocol", data, "length must be 4")
        afi, _, safi = struct.unpack("!HBB", data)
        return cls(afi, safi)
