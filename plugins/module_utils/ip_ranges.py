# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address ranges for every module of the collection: the one range type and the one parser. Pure, no I/O.

An entry is written ``first-last`` (spaces around the ``-`` allowed), as a CIDR or as one address; IPv4 or
IPv6. Every error is a :class:`RangeError` whose message names the value (and, when the caller says what it
was parsing, starts with that: ``"Kea pool: '10.1.1.9-10.1.1.2' ends before it starts"``).

With ``strict=True`` the accepted inputs and the messages are those of the speaker's parser
(``speaker/ipam/ranges.py``; modules cannot import ``speaker``): tests/unit/plugins/test_address_pool_ranges.py
checks both agree on a table of inputs. What a range may be used for -- inside a DHCP scope, not loopback in
a MetalLB pool, ... -- is the business of the module that uses it (``dhcp_ranges``, ``metallb_pool``).
"""

from __future__ import annotations

import ipaddress
import typing as t

if t.TYPE_CHECKING:
    IPAddress = t.Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)


class RangeError(ValueError):
    """The input is not an address range, or not a valid one; the message names the bad value."""


def _named(what: str | None, message: str) -> str:
    return f"{what}: {message}" if what else message


def parse_ip(text: object, what: str | None = None) -> IPAddress:
    """One address (an ``ipaddress`` object is returned as is) -> ``IPv4Address`` or ``IPv6Address``."""
    if isinstance(text, _ADDRESS_TYPES):
        return text
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise RangeError(
            _named(what, f"{text!r} is not an IP address")
        ) from None  # the message names the value that failed to parse; the parser's error adds nothing
    if getattr(address, "scope_id", None):  # fe80::1%eth0 (Python 3.9+): a range is numbers, as in the speaker
        address = type(address)(int(address))
    return address


class IPRange(t.NamedTuple):
    """An inclusive range of addresses of one family; ``first`` and ``last`` are ``ipaddress`` objects.

    ``str()`` is always ``first-last`` (or the one address): the stable spelling the DHCP backends store in
    their markers and compare against. :meth:`compact` is the shortest spelling (a CIDR when the range is
    exactly one network), as the speaker and MetalLB print a pool's addresses.
    """

    first: IPAddress
    last: IPAddress

    @classmethod
    def make(cls, first: object, last: object, what: str | None = None) -> IPRange:
        """A checked range from two ends (text or ``ipaddress`` objects); :class:`RangeError` if invalid."""
        return _from_ends(parse_ip(first, what), parse_ip(last, what), f"{first}-{last}", what)

    @property
    def version(self) -> int:
        return self.first.version

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def contains(self, address: IPAddress) -> bool:
        return address.version == self.version and int(self.first) <= int(address) <= int(self.last)

    def overlaps(self, other: IPRange) -> bool:
        return (
            other.version == self.version and int(self.first) <= int(other.last) and int(other.first) <= int(self.last)
        )

    def covers(self, other: IPRange) -> bool:
        return (
            other.version == self.version and int(self.first) <= int(other.first) and int(other.last) <= int(self.last)
        )

    def intersection(self, other: IPRange) -> IPRange | None:
        """The addresses both ranges hold, as a range, or ``None`` when they do not overlap."""
        if not self.overlaps(other):
            return None
        return IPRange(max(self.first, other.first), min(self.last, other.last))

    def subtract(self, other: IPRange) -> list[IPRange]:
        """The pieces of this range left after removing ``other`` (0, 1 or 2 ranges, in order)."""
        if not self.overlaps(other):
            return [self]
        pieces: list[IPRange] = []
        cls = type(self.first)
        if int(other.first) > int(self.first):
            pieces.append(IPRange(self.first, cls(int(other.first) - 1)))
        if int(other.last) < int(self.last):
            pieces.append(IPRange(cls(int(other.last) + 1), self.last))
        return pieces

    def networks(self) -> t.Iterator[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The smallest list of CIDRs covering exactly this range (an iterator)."""
        return ipaddress.summarize_address_range(self.first, self.last)

    def compact(self) -> str:
        """One address, else a CIDR when the range is exactly one network, else ``first-last``."""
        if self.first == self.last:
            return str(self.first)
        nets = list(self.networks())
        if len(nets) == 1:
            return str(nets[0])
        return f"{self.first}-{self.last}"

    def __str__(self) -> str:
        if self.first == self.last:
            return str(self.first)
        return f"{self.first}-{self.last}"


def _from_ends(first: IPAddress, last: IPAddress, raw: str, what: str | None) -> IPRange:
    if first.version != last.version:
        raise RangeError(_named(what, f"{raw!r} mixes IPv{first.version} and IPv{last.version}"))
    if int(first) > int(last):
        raise RangeError(_named(what, f"{raw!r} ends before it starts"))
    return IPRange(first, last)


def parse_range(text: object, what: str | None = None, strict: bool = False) -> IPRange:
    """``first-last``, a CIDR or one address -> :class:`IPRange` (an :class:`IPRange` is returned as is).

    ``what`` names the value in errors (``"range"``, ``"Kea pool"``). A CIDR with host bits set
    (``10.1.1.5/24``) is every address of its network unless ``strict``: ``strict=True`` refuses it instead,
    naming the network that was probably meant (as :func:`ipaddress.ip_network` does, and the speaker). A
    MetalLB pool parses strictly -- widening an entry would hand out other hosts' addresses -- while a DHCP
    reservation documents "a CIDR (every address in it)".
    """
    if isinstance(text, IPRange):
        return text
    if not isinstance(text, str) or not text.strip():
        raise RangeError(_named(what, f"{text!r} is not an address range (expected CIDR or first-last)"))
    raw = text.strip()
    if "/" in raw:
        try:
            net = ipaddress.ip_network(raw, strict=strict)
        except ValueError as exc:
            if "has host bits set" in str(exc):
                raise RangeError(
                    _named(what, f"{raw!r} has host bits set (did you mean {ipaddress.ip_network(raw, strict=False)}?)")
                ) from exc
            raise RangeError(_named(what, f"{raw!r} is not a valid CIDR")) from exc
        return IPRange(net.network_address, net.broadcast_address)
    if "-" in raw:
        left, dummy, right = raw.partition("-")
        if "-" in right:
            raise RangeError(_named(what, f"{raw!r} is not a valid range (more than one '-')"))
        return _from_ends(parse_ip(left, what), parse_ip(right, what), raw, what)
    address = parse_ip(raw, what)
    return IPRange(address, address)
