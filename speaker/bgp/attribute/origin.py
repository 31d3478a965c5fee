"""ORIGIN (RFC 4271 §4.3 type 1, well-known mandatory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.attribute.base import WELL_KNOWN, attribute_error, length_error, register
from speaker.bgp.context import Context
from speaker.bgp.errors import INVALID_ORIGIN_ATTRIBUTE

IGP, EGP, INCOMPLETE = 0, 1, 2


@register
@dataclass(frozen=True)
class Origin:
    TYPE: ClassVar[int] = 1
    FLAGS: ClassVar[int] = WELL_KNOWN

    value: int = INCOMPLETE

    def pack(self, ctx: Context) -> bytes:
        return bytes((self.value,))

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> Origin:
        if len(data) != 1:
            raise length_error(cls, data, flags, "1")
        if data[0] > INCOMPLETE:
            raise attribute_error(
                INVALID_ORIGIN_ATTRIBUTE,
                flags,
                cls.TYPE,
                data,
                f"ORIGIN {data[0]} is not IGP/EGP/INCOMPLETE (RFC 4271 §6.3)",
            )
        return cls(data[0])
