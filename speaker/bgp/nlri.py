"""Prefixes on the wire (RFC 4271 §4.3 NLRI, RFC 4760 §5): one length octet, then the fewest octets that hold it.

Host bits beyond the prefix length are masked on decode (they carry no meaning; RFC 4271 says the trailing
bits "are irrelevant"). Errors raise :class:`Notification` 3/10 Invalid Network Field, or the code the caller
passes (MP_REACH/MP_UNREACH errors are 3/9 Optional Attribute Error, RFC 4760 §7).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from speaker.bgp.errors import INVALID_NETWORK_FIELD, UPDATE_MESSAGE_ERROR, Notification

Prefix = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network


def pack_prefix(prefix: Prefix) -> bytes:
    n = (prefix.prefixlen + 7) >> 3
    return bytes((prefix.prefixlen,)) + prefix.network_address.packed[:n]


def pack_prefixes(prefixes: Iterable[Prefix]) -> bytes:
    return b"".join(pack_prefix(p) for p in prefixes)


def unpack_prefixes(
    data: bytes, afi_bits: int, *, subcode: int = INVALID_NETWORK_FIELD, where: str = "NLRI"
) -> list[Prefix]:
    """Decode a run of prefixes of one family (``afi_bits`` 32 or 128)."""
    out: list[Prefix] = []
    size = afi_bits >> 3
    cls = _V4 if afi_bits == 32 else _V6
    i, end = 0, len(data)
    while i < end:
        plen = data[i]
        if plen > afi_bits:
            raise Notification(
                UPDATE_MESSAGE_ERROR, subcode, b"", f"{where}: prefix length {plen} > {afi_bits} (RFC 4271 §6.3)"
            )
        n = (plen + 7) >> 3
        if i + 1 + n > end:
            raise Notification(
                UPDATE_MESSAGE_ERROR,
                subcode,
                b"",
                f"{where}: prefix /{plen} needs {n} octets, {end - i - 1} left (RFC 4271 §6.3)",
            )
        raw = int.from_bytes(data[i + 1 : i + 1 + n].ljust(size, b"\0"), "big")
        if plen < afi_bits:
            raw &= ~((1 << (afi_bits - plen)) - 1)
        out.append(cls((raw, plen)))
        i += 1 + n
    return out
