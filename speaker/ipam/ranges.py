"""Address ranges as integer intervals.

Pools are kept as ``[first, last]`` integer intervals so that a /64 costs the same
as a /24: nothing in the allocator ever walks a range address by address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RangeError(ValueError):
    """A pool address entry that cannot be used; the message names the bad value."""


@dataclass(frozen=True, order=True)
class IPRange:
    """An inclusive interval of addresses of one family (4 or 6)."""

    version: int
    first: int
    last: int

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise RangeError(f"{self._addr(self.first)}-{self._addr(self.last)} ends before it starts")

    def _addr(self, value: int) -> IPAddress:
        return ipaddress.IPv4Address(value) if self.version == 4 else ipaddress.IPv6Address(value)

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, ip: object) -> bool:
        if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return ip.version == self.version and self.first <= int(ip) <= self.last
        return False

    def overlaps(self, other: IPRange) -> bool:
        return self.version == other.version and self.first <= other.last and other.first <= self.last

    def address(self, value: int) -> IPAddress:
        return self._addr(value)

    def __str__(self) -> str:
        if self.first == self.last:
            return str(self._addr(self.first))
        as_net = _as_network(self)
        if as_net is not None:
            return str(as_net)
        return f"{self._addr(self.first)}-{self._addr(self.last)}"

    def networks(self) -> Iterator[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The smallest list of CIDRs covering exactly this range."""
        return ipaddress.summarize_address_range(self._addr(self.first), self._addr(self.last))


def _as_network(r: IPRange) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    nets = list(r.networks())
    return nets[0] if len(nets) == 1 else None


def parse_ip(text: str) -> IPAddress:
    """Parse one address; refuse zone ids and surrounding junk with a message naming the text."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise RangeError(f"{text!r} is not an IP address") from None


def parse_range(text: str) -> IPRange:
    """Parse a MetalLB address entry: ``CIDR``, ``first-last`` or a single address.

    A CIDR with host bits set (``10.1.1.5/24``) is refused rather than silently widened:
    someone who wrote that most likely meant a single address or a different prefix,
    and guessing wrong here hands out addresses that belong to other hosts.
    """
    if not isinstance(text, str) or not text.strip():
        raise RangeError(f"{text!r} is not an address range (expected CIDR or first-last)")
    raw = text.strip()
    if "/" in raw:
        try:
            net = ipaddress.ip_network(raw, strict=True)
        except ValueError as exc:
            if "has host bits set" in str(exc):
                meant = ipaddress.ip_network(raw, strict=False)
                raise RangeError(f"{raw!r} has host bits set (did you mean {meant}?)") from None
            raise RangeError(f"{raw!r} is not a valid CIDR") from None
        return IPRange(net.version, int(net.network_address), int(net.broadcast_address))
    if "-" in raw:
        left, sep, right = raw.partition("-")
        if "-" in right:
            raise RangeError(f"{raw!r} is not a valid range (more than one '-')")
        a, b = parse_ip(left), parse_ip(right)
        if a.version != b.version:
            raise RangeError(f"{raw!r} mixes IPv{a.version} and IPv{b.version}")
        if int(a) > int(b):
            raise RangeError(f"{raw!r} ends before it starts")
        return IPRange(a.version, int(a), int(b))
    ip = parse_ip(raw)
    return IPRange(ip.version, int(ip), int(ip))


def is_buggy_ip(ip_int: int, version: int) -> bool:
    """IPv4 addresses ending in .0 or .255, which some old client stacks refuse (MetalLB's avoidBuggyIPs)."""
    return version == 4 and (ip_int & 0xFF) in (0, 255)
