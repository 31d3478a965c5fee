"""MP_REACH_NLRI (type 14) and MP_UNREACH_NLRI (type 15), RFC 4760 §3–4, for IPv4/IPv6 unicast.

IPv6 next hop: 16 octets (global) or 32 (global + link-local, RFC 2545 §3). A family the session did not
negotiate, or a malformed attribute, is 3/9 Optional Attribute Error (RFC 4760 §7 allows ending the session).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.attribute.base import OPTIONAL_NON_TRANSITIVE, Attribute, attribute_error, register
from speaker.bgp.context import AFI_IPV4, AFI_IPV6, SAFI_UNICAST, Context
from speaker.bgp.errors import OPTIONAL_ATTRIBUTE_ERROR
from speaker.bgp.nlri import Prefix, pack_prefixes, unpack_prefixes

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_BITS = {AFI_IPV4: 32, AFI_IPV6: 128}


def _check_family(cls: type[Attribute], afi: int, safi: int, data: bytes, flags: int, ctx: Context) -> None:
    if (afi, safi) not in ctx.families or afi not in _BITS or safi != SAFI_UNICAST:
        raise attribute_error(
            OPTIONAL_ATTRIBUTE_ERROR,
            flags,
            cls.TYPE,
            data,
            f"{cls.__name__} for AFI {afi} SAFI {safi}, which was not negotiated (RFC 4760 §6-7)",
        )


@register
@dataclass(frozen=True)
class MpReach:
    TYPE: ClassVar[int] = 14
    FLAGS: ClassVar[int] = OPTIONAL_NON_TRANSITIVE

    afi: int
    safi: int
    next_hops: tuple[IPAddress, ...]  # IPv6: (global,) or (global, link-local)
    nlri: tuple[Prefix, ...]

    def pack(self, ctx: Context) -> bytes:
        nh = b"".join(a.packed for a in self.next_hops)
        return struct.pack("!HBB", self.afi, self.safi, len(nh)) + nh + b"\0" + pack_prefixes(self.nlri)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> MpReach:
        if len(data) < 5:
            raise attribute_error(
                OPTIONAL_ATTRIBUTE_ERROR, flags, cls.TYPE, data, "MP_REACH_NLRI shorter than 5 octets (RFC 4760 §3)"
            )
        afi, safi, nhlen = struct.unpack_from("!HBB", data)
        _check_family(cls, afi, safi, data, flags, ctx)
        allowed = (4,) if afi == AFI_IPV4 else (16, 32)
        if nhlen not in allowed or 4 + nhlen + 1 > len(data):
            raise attribute_error(
                OPTIONAL_ATTRIBUTE_ERROR,
                flags,
                cls.TYPE,
                data,
                f"MP_REACH_NLRI next hop of {nhlen} octets for AFI {afi} (RFC 4760 §3, RFC 2545 §3)",
            )
        raw = data[4 : 4 + nhlen]
        if afi == AFI_IPV4:
            hops: tuple[IPAddress, ...] = (ipaddress.IPv4Address(raw),)
        else:
            hops = tuple(ipaddress.IPv6Address(raw[i : i + 16]) for i in range(0, nhlen, 16))
        nlri = unpack_prefixes(
            data[4 + nhlen + 1 :], _BITS[afi], subcode=OPTIONAL_ATTRIBUTE_ERROR, where="MP_REACH_NLRI"
        )
        return cls(afi, safi, hops, tuple(nlri))


@register
@dataclass(frozen=True)
class MpUnreach:
    TYPE: ClassVar[int] = 15
    FLAGS: ClassVar[int] = OPTIONAL_NON_TRANSITIVE

    afi: int
    safi: int
    withdrawn: tuple[Prefix, ...]

    def pack(self, ctx: Context) -> bytes:
        return struct.pack("!HB", self.afi, self.safi) + pack_prefixes(self.withdrawn)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> MpUnreach:
        if len(data) < 3:
            raise attribute_error(
                OPTIONAL_ATTRIBUTE_ERROR, flags, cls.TYPE, data, "MP_UNREACH_NLRI shorter than 3 octets (RFC 4760 §4)"
            )
        afi, safi = struct.unpack_from("!HB", data)
        _check_family(cls, afi, safi, data, flags, ctx)
        return cls(
            afi,
            safi,
            tuple(unpack_prefixes(data[3:], _BITS[afi], subcode=OPTIONAL_ATTRIBUTE_ERROR, where="MP_UNREACH_NLRI")),
        )
