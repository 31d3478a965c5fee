"""COMMUNITIES (RFC 1997, type 8) and LARGE_COMMUNITY (RFC 8092, type 32), both optional transitive.

Values keep the order they were given in (duplicates are dropped when building routes, not here, so a
received attribute round-trips as it was).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.attribute.base import OPTIONAL_TRANSITIVE, length_error, register
from speaker.bgp.context import Context


@register
@dataclass(frozen=True)
class Communities:
    TYPE: ClassVar[int] = 8
    FLAGS: ClassVar[int] = OPTIONAL_TRANSITIVE

    values: tuple[int, ...]  # each 32 bits: (AS << 16) | value

    def pack(self, ctx: Context) -> bytes:
        return struct.pack(f"!{len(self.values)}I", *self.values)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> Communities:
        if not data or len(data) % 4:
            raise length_error(cls, data, flags, "a non-zero multiple of 4 (RFC 7606 §7.8)")
        return cls(struct.unpack(f"!{len(data) // 4}I", data))


@register
@dataclass(frozen=True)
class LargeCommunities:
    TYPE: ClassVar[int] = 32
    FLAGS: ClassVar[int] = OPTIONAL_TRANSITIVE

    values: tuple[tuple[int, int, int], ...]

    def pack(self, ctx: Context) -> bytes:
        return b"".join(struct.pack("!III", *v) for v in self.values)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> LargeCommunities:
        if not data or len(data) % 12:
            raise length_error(cls, data, flags, "a non-zero multiple of 12 (RFC 8092 §5)")
        return cls(tuple(struct.unpack_from("!III", data, i) for i in range(0, len(data), 12)))
