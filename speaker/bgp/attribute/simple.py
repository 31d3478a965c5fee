"""The fixed-size attributes: NEXT_HOP (type 3), MULTI_EXIT_DISC (4), LOCAL_PREF (5), ATOMIC_AGGREGATE (6)."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.attribute.base import OPTIONAL_NON_TRANSITIVE, WELL_KNOWN, length_error, register
from speaker.bgp.context import Context


@register
@dataclass(frozen=True)
class NextHop:
    """RFC 4271 §4.3 type 3, well-known mandatory when the UPDATE carries IPv4 NLRI."""

    TYPE: ClassVar[int] = 3
    FLAGS: ClassVar[int] = WELL_KNOWN

    address: ipaddress.IPv4Address

    def pack(self, ctx: Context) -> bytes:
        return self.address.packed

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> NextHop:
        if len(data) != 4:
            raise length_error(cls, data, flags, "4")
        return cls(ipaddress.IPv4Address(data))


@register
@dataclass(frozen=True)
class Med:
    """MULTI_EXIT_DISC, RFC 4271 §4.3 type 4, optional non-transitive."""

    TYPE: ClassVar[int] = 4
    FLAGS: ClassVar[int] = OPTIONAL_NON_TRANSITIVE

    value: int

    def pack(self, ctx: Context) -> bytes:
        return struct.pack("!I", self.value)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> Med:
        if len(data) != 4:
            raise length_error(cls, data, flags, "4")
        return cls(struct.unpack("!I", data)[0])


@register
@dataclass(frozen=True)
class LocalPref:
    """LOCAL_PREF, RFC 4271 §4.3 type 5, well-known; sent to internal peers only (§5.1.5)."""

    TYPE: ClassVar[int] = 5
    FLAGS: ClassVar[int] = WELL_KNOWN

    value: int

    def pack(self, ctx: Context) -> bytes:
        return struct.pack("!I", self.value)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> LocalPref:
        if len(data) != 4:
            raise length_error(cls, data, flags, "4")
        return cls(struct.unpack("!I", data)[0])


@register
@dataclass(frozen=True)
class AtomicAggregate:
    """ATOMIC_AGGREGATE, RFC 4271 §4.3 type 6, well-known discretionary, empty."""

    TYPE: ClassVar[int] = 6
    FLAGS: ClassVar[int] = WELL_KNOWN

    def pack(self, ctx: Context) -> bytes:
        return b""

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> AtomicAggregate:
        if data:
            raise length_error(cls, data, flags, "0")
        return cls()
