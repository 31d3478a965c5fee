"""Support for 4-octet AS number capability (RFC 6793 §3)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.capability.base import malformed, register


@register
@dataclass(frozen=True)
class FourOctetAs:
    CODE: ClassVar[int] = 65

    asn: int

    def pack(self) -> bytes:
        return struct.pack("!I", self.asn)

    @classmethod
    def unpack(cls, data: bytes) -> FourOctetAs:
        if len(data) != 4:
            raise malformed("4-octet AS", data, "length must be 4")
        return cls(struct.unpack("!I", data)[0])
