"""ROUTE-REFRESH (RFC 2918 §3; the reserved octet is RFC 7313's message subtype)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.context import Context
from speaker.bgp.message.base import register


@register
@dataclass(frozen=True)
class RouteRefresh:
    TYPE: ClassVar[int] = 5
    MIN_LENGTH: ClassVar[int] = 23
    MAX_LENGTH: ClassVar[int] = 23  # RFC 7313 §5: other lengths are an error (we treat them as a header error)

    afi: int
    safi: int
    subtype: int = 0

    def pack_body(self, ctx: Context) -> bytes:
        return struct.pack("!HBB", self.afi, self.subtype, self.safi)

    @classmethod
    def unpack_body(cls, data: bytes, ctx: Context) -> RouteRefresh:
        afi, subtype, safi = struct.unpack("!HBB", data)
        return cls(afi, safi, subtype)
