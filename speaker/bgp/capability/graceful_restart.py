"""Graceful Restart capability (RFC 4724 §3): restart flags, restart time, and per-family forwarding state."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.capability.base import malformed, register

RESTART_STATE = 0x8  # "R": the sender has restarted
NOTIFICATION_SUPPORT = 0x4  # "N" (RFC 8538)
FORWARDING_STATE = 0x80  # per family "F"


@register
@dataclass(frozen=True)
class GracefulRestart:
    CODE: ClassVar[int] = 64

    flags: int = 0  # the 4 high bits of the first two octets
    restart_time: int = 120  # seconds, 12 bits
    families: tuple[tuple[int, int, int], ...] = ()  # (afi, safi, flags)

    def pack(self) -> bytes:
        head = struct.pack("!H", ((self.flags & 0xF) << 12) | (self.restart_time & 0xFFF))
        return head + b"".join(struct.pack("!HBB", afi, safi, fl) for afi, safi, fl in self.families)

    @classmethod
    def unpack(cls, data: bytes) -> GracefulRestart:
        if len(data) < 2 or (len(data) - 2) % 4:
            raise malformed("Graceful Restart", data, "length must be 2 + 4n")
        (word,) = struct.unpack_from("!H", data)
        fams = tuple(struct.unpack_from("!HBB", data, i) for i in range(2, len(data), 4))
        return cls(word >> 12, word & 0xFFF, fams)
