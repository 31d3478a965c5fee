"""What to advertise, apart from the session: routes, the Adj-RIB-Out and UPDATE batching. Pure.

- :class:`Route` is what the daemon hands over: a prefix and its attributes (next hop ``None`` = the node's
  address on the session).
- :func:`routes_for` turns a Service address and the BGPAdvertisements that apply to it into routes
  (``aggregationLength``/``aggregationLengthV6``, ``localPref``, communities and large communities).
- :class:`AdjRibOut` remembers what the peer was sent; :meth:`AdjRibOut.diff` says what to announce/withdraw.
- :func:`build_updates` packs announcements and withdrawals into as few UPDATEs as fit in 4096 octets,
  grouped by identical attributes (RFC 4271 §9.2: one set of attributes per UPDATE).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from speaker.bgp.attribute import (
    INCOMPLETE,
    AsPath,
    Communities,
    LargeCommunities,
    LocalPref,
    MpReach,
    MpUnreach,
    NextHop,
    Origin,
    pack_attribute,
)
from speaker.bgp.attribute.aspath import as4_path_for
from speaker.bgp.attribute.base import Attribute
from speaker.bgp.context import (
    AFI_IPV4,
    AFI_IPV6,
    IPV4_UNICAST,
    IPV6_UNICAST,
    MAX_MESSAGE,
    SAFI_UNICAST,
    Context,
    Family,
)
from speaker.bgp.message import Update, pack_message
from speaker.bgp.message.base import HEADER
from speaker.config.cluster import BGPAdvertisement, BGPCommunity

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Prefix = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_LOCAL_PREF = 100  # what iBGP peers assume when none is configured (RFC 4271 §5.1.5 needs one)


@dataclass(frozen=True)
class Route:
    """One prefix as advertised to one peer. Communities are kept sorted and unique (equal routes compare equal)."""

    prefix: Prefix
    next_hop: IPAddress | None = None
    communities: tuple[int, ...] = ()  # RFC 1997 values, (AS << 16) | value
    large_communities: tuple[tuple[int, int, int], ...] = ()
    local_pref: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "communities", tuple(sorted(set(self.communities))))
        object.__setattr__(self, "large_communities", tuple(sorted(set(self.large_communities))))

    @property
    def family(self) -> Family:
        return IPV4_UNICAST if self.prefix.version == 4 else IPV6_UNICAST


def community_value(c: BGPCommunity) -> int:
    return (c.values[0] << 16) | c.values[1]


def routes_for(address: IPAddress | str, advertisements: Iterable[BGPAdvertisement]) -> frozenset[Route]:
    """The routes for one Service address under the BGPAdvertisements that apply to it (already filtered by pool,
    node and peer). Two advertisements with the same aggregate give one route carrying both's communities."""
    ip = ipaddress.ip_address(address)
    by_prefix: dict[Prefix, Route] = {}
    for adv in advertisements:
        length = adv.aggregation_length if ip.version == 4 else adv.aggregation_length_v6
        prefix = ipaddress.ip_network((ip, length), strict=False)
        route = Route(
            prefix,
            communities=tuple(community_value(c) for c in adv.communities if not c.large),
            # misc: BGPCommunity.values is a tuple[int, ...]; a large one has exactly three (its parser)
            large_communities=tuple(c.values for c in adv.communities if c.large),  # type: ignore[misc]
            local_pref=adv.local_pref,
        )
        by_prefix[prefix] = merge(by_prefix[prefix], route) if prefix in by_prefix else route
    return frozenset(by_prefix.values())


def merge(a: Route, b: Route) -> Route:
    """One route from two for the same prefix: communities united, the higher LOCAL_PREF."""
    prefs = [p for p in (a.local_pref, b.local_pref) if p is not None]
    return Route(
        a.prefix,
        a.next_hop or b.next_hop,
        a.communities + b.communities,
        a.large_communities + b.large_communities,
        max(prefs) if prefs else None,
    )


def by_prefix(routes: Iterable[Route]) -> dict[Prefix, Route]:
    out: dict[Prefix, Route] = {}
    for r in routes:
        out[r.prefix] = merge(out[r.prefix], r) if r.prefix in out else r
    return out


@dataclass(frozen=True)
class NextHops:
    """The node's addresses on one session: IPv4, IPv6 global and (when the peer is on-link) IPv6 link-local."""

    ipv4: ipaddress.IPv4Address | None = None
    ipv6: ipaddress.IPv6Address | None = None
    ipv6_link_local: ipaddress.IPv6Address | None = None


@dataclass(frozen=True)
class Outbound:
    """What shapes the UPDATEs to one peer."""

    ctx: Context
    local_asn: int
    ibgp: bool
    next_hops: NextHops = field(default_factory=NextHops)


def sendable(route: Route, out: Outbound) -> bool:
    """Whether the session can carry the route: family negotiated and a next hop of its family known."""
    if route.family not in out.ctx.families:
        return False
    if route.next_hop is not None:
        return route.next_hop.version == route.prefix.version
    return (out.next_hops.ipv4 if route.prefix.version == 4 else out.next_hops.ipv6) is not None


class AdjRibOut:
    """What one peer was sent, by prefix (RFC 4271 §3.2 Adj-RIB-Out)."""

    def __init__(self) -> None:
        self.sent: dict[Prefix, Route] = {}

    def diff(self, desired: Mapping[Prefix, Route]) -> tuple[list[Route], list[Prefix]]:
        """(to announce, to withdraw): new or changed routes, and prefixes no longer desired. No side effects."""
        sent = self.sent
        announce = [r for p, r in desired.items() if sent.get(p) != r]
        withdraw = [p for p in sent if p not in desired]
        return announce, withdraw

    def commit(self, announce: Iterable[Route], withdraw: Iterable[Prefix]) -> None:
        for r in announce:
            self.sent[r.prefix] = r
        for p in withdraw:
            self.sent.pop(p, None)

    def clear(self) -> None:
        self.sent.clear()

    def __len__(self) -> int:
        return len(self.sent)


def _path_attributes(route: Route, out: Outbound) -> list[Attribute]:
    attrs: list[Attribute] = [Origin(INCOMPLETE), AsPath() if out.ibgp else AsPath.sequence(out.local_asn)]
    if out.ibgp:  # LOCAL_PREF only inside the AS (RFC 4271 §5.1.5)
        attrs.append(LocalPref(DEFAULT_LOCAL_PREF if route.local_pref is None else route.local_pref))
    if route.communities:
        attrs.append(Communities(route.communities))
    if route.large_communities:
        attrs.append(LargeCommunities(route.large_communities))
    return attrs


def _prefix_size(p: Prefix) -> int:
    return 1 + ((p.prefixlen + 7) >> 3)


_P = TypeVar("_P", bound=ipaddress.IPv4Network | ipaddress.IPv6Network)


def _chunks(prefixes: Sequence[_P], budget: int) -> Iterable[list[_P]]:
    chunk: list[_P] = []
    used = 0
    for p in prefixes:
        n = _prefix_size(p)
        if used + n > budget and chunk:
            yield chunk
            chunk, used = [], 0
        chunk.append(p)
        used += n
    if chunk:
        yield chunk


def _attrs_size(attrs: list[Attribute], ctx: Context) -> int:
    size = sum(len(pack_attribute(a, ctx)) for a in attrs)
    if not ctx.asn4:
        path = next((a for a in attrs if isinstance(a, AsPath)), None)
        if path is not None and path.needs_as4:
            size += len(pack_attribute(as4_path_for(path), ctx))
    return size


def build_updates(announce: Iterable[Route], withdraw: Iterable[Prefix], out: Outbound) -> list[bytes]:
    """Packed UPDATE messages: withdrawals first, then announcements grouped by attributes, each message filled
    with as many prefixes as fit in 4096 octets. Routes the session cannot carry must be filtered out before
    (:func:`sendable`)."""
    ctx = out.ctx
    msgs: list[bytes] = []
    room = MAX_MESSAGE - HEADER - 4  # withdrawn-routes length + total-attribute length
    withdraw = list(withdraw)
    w4 = [p for p in withdraw if isinstance(p, ipaddress.IPv4Network)]
    w6 = [p for p in withdraw if isinstance(p, ipaddress.IPv6Network)]
    for chunk4 in _chunks(w4, room):
        msgs.append(pack_message(Update(withdrawn=tuple(chunk4)), ctx))
    for chunk6 in _chunks(w6, room - 4 - 3):  # extended attribute header + AFI/SAFI
        msgs.append(pack_message(Update(attributes=(MpUnreach(AFI_IPV6, SAFI_UNICAST, tuple(chunk6)),)), ctx))

    groups: dict[tuple[Any, ...], list[Prefix]] = {}
    for r in announce:
        if r.prefix.version == 4:
            # Any: the address for the route's family, which sendable() made sure there is
            nh: tuple[Any, ...] = (r.next_hop or out.next_hops.ipv4,)
        else:
            nh = (
                (r.next_hop,)
                if r.next_hop
                else tuple(a for a in (out.next_hops.ipv6, out.next_hops.ipv6_link_local) if a)
            )
        key = (r.prefix.version, nh, r.communities, r.large_communities, r.local_pref if out.ibgp else None)
        groups.setdefault(key, []).append(r.prefix)
    for (version, nh, comms, large, pref), prefixes in groups.items():
        template = Route(prefixes[0], None, comms, large, pref)
        attrs = _path_attributes(template, out)
        if version == 4:
            attrs.append(NextHop(nh[0]))
            budget = room - _attrs_size(attrs, ctx)
            v4 = [p for p in prefixes if isinstance(p, ipaddress.IPv4Network)]  # all of them: the key has version 4
            for chunk4 in _chunks(v4, budget):
                msgs.append(pack_message(Update.of(attributes=attrs, nlri=chunk4), ctx))
        else:
            empty = MpReach(AFI_IPV6, SAFI_UNICAST, nh, ())
            budget = room - _attrs_size(attrs, ctx) - len(pack_attribute(empty, ctx)) - 2  # may need extended length
            for chunk in _chunks(prefixes, budget):
                mp = MpReach(AFI_IPV6, SAFI_UNICAST, nh, tuple(chunk))
                msgs.append(pack_message(Update.of(attributes=[*attrs, mp]), ctx))
    return msgs


def end_of_rib(family: Family, ctx: Context) -> bytes:
    """RFC 4724 §2 End-of-RIB marker for ``family``."""
    if family == IPV4_UNICAST:
        return pack_message(Update(), ctx)
    return pack_message(Update(attributes=(MpUnreach(family[0], family[1], ()),)), ctx)


def count_prefixes(update: Update) -> tuple[list[Prefix], list[Prefix]]:
    """(reachable, unreachable) prefixes of a received UPDATE, all families."""
    reach: list[Prefix] = list(update.nlri)
    unreach: list[Prefix] = list(update.withdrawn)
    mp = update.get(MpReach)
    if mp is not None:
        reach += mp.nlri
    mu = update.get(MpUnreach)
    if mu is not None:
        unreach += mu.withdrawn
    return reach, unreach


__all__ = [
    "AFI_IPV4",
    "AdjRibOut",
    "NextHops",
    "Outbound",
    "Route",
    "build_updates",
    "by_prefix",
    "end_of_rib",
    "routes_for",
    "sendable",
]
