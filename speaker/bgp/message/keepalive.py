"""KEEPALIVE (RFC 4271 §4.4): a header and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.context import Context
from speaker.bgp.message.base import register


@register
@dataclass(frozen=True)
class Keepalive:
    TYPE: ClassVar[int] = 4
    MIN_LENGTH: ClassVar[int] = 19
    MAX_LENGTH: ClassVar[int] = 19  # RFC 4271 §6.1: a KEEPALIVE of any other length is a Bad Message Length

    def pack_body(self, ctx: Context) -> bytes:
        return b""

    @classmethod
    def unpack_body(cls, data: bytes, ctx: Context) -> Keepalive:
        return cls()
