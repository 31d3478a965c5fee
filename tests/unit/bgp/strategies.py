"""Hypothesis strategies for BGP messages (valid models: decode(encode(x)) == x must hold for each)."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from speaker.bgp.attribute import (
    AS_SEQUENCE,
    AS_SET,
    AsPath,
    AtomicAggregate,
    Communities,
    LargeCommunities,
    LocalPref,
    Med,
    MpReach,
    MpUnreach,
    NextHop,
    Origin,
    UnknownAttribute,
)
from speaker.bgp.capability import GracefulRestart, Multiprotocol, RouteRefreshCapability, UnknownCapability
from speaker.bgp.context import AFI_IPV4, AFI_IPV6, IPV4_UNICAST, IPV6_UNICAST, SAFI_UNICAST, Context
from speaker.bgp.message import Keepalive, NotificationMessage, Open, RouteRefresh, Update

u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
asn = st.one_of(st.integers(1, 0xFFFF), st.integers(0x10000, 0xFFFFFFFF))

contexts = st.builds(Context, asn4=st.booleans(), families=st.just(frozenset({IPV4_UNICAST, IPV6_UNICAST})))


def prefixes4(max_size: int = 20) -> st.SearchStrategy:
    return st.lists(
        st.builds(lambda a, n: ipaddress.IPv4Network((a, n), strict=False), u32, st.integers(0, 32)),
        max_size=max_size,
        unique=True,
    ).map(tuple)


def prefixes6(max_size: int = 20) -> st.SearchStrategy:
    return st.lists(
        st.builds(
            lambda a, n: ipaddress.IPv6Network((a, n), strict=False), st.integers(0, 2**128 - 1), st.integers(0, 128)
        ),
        max_size=max_size,
        unique=True,
    ).map(tuple)


v4 = st.builds(ipaddress.IPv4Address, u32)
v6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))


@st.composite
def as_paths(draw: st.DrawFn) -> AsPath:
    segs = []
    last = None
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([AS_SEQUENCE, AS_SET]).filter(lambda k: not (k == AS_SEQUENCE == last)))
        segs.append((kind, tuple(draw(st.lists(asn, min_size=1, max_size=300 if kind == AS_SEQUENCE else 5)))))
        last = kind
    return AsPath(tuple(segs))


common_attrs = st.fixed_dictionaries(
    {},
    optional={
        "med": st.builds(Med, u32),
        "lp": st.builds(LocalPref, u32),
        "aa": st.just(AtomicAggregate()),
        "c": st.builds(Communities, st.lists(u32, min_size=1, max_size=10).map(tuple)),
        "lc": st.builds(LargeCommunities, st.lists(st.tuples(u32, u32, u32), min_size=1, max_size=5).map(tuple)),
        "unknown": st.builds(
            UnknownAttribute,
            st.sampled_from([7, 16, 99, 200]),
            st.sampled_from([0x80, 0xC0, 0xE0]),
            st.binary(max_size=300),
        ),
    },
).map(lambda d: list(d.values()))


@st.composite
def updates(draw: st.DrawFn) -> Update:
    attrs = draw(common_attrs)
    nlri = draw(prefixes4(10))
    mp = draw(st.sampled_from(["none", "reach6", "reach4", "unreach6", "unreach4"]))
    if nlri or mp.startswith("reach") or draw(st.booleans()):
        attrs += [Origin(draw(st.integers(0, 2))), draw(as_paths())]
    if nlri:
        attrs.append(NextHop(draw(v4)))
    if mp == "reach6":
        attrs.append(
            MpReach(AFI_IPV6, SAFI_UNICAST, tuple(draw(st.lists(v6, min_size=1, max_size=2))), draw(prefixes6(10)))
        )
    elif mp == "reach4":
        attrs.append(MpReach(AFI_IPV4, SAFI_UNICAST, (draw(v4),), draw(prefixes4(10))))
    elif mp == "unreach6":
        attrs.append(MpUnreach(AFI_IPV6, SAFI_UNICAST, draw(prefixes6(10))))
    elif mp == "unreach4":
        attrs.append(MpUnreach(AFI_IPV4, SAFI_UNICAST, draw(prefixes4(10))))
    return Update.of(draw(prefixes4(10)), attrs, nlri)


capabilities = st.one_of(
    st.builds(Multiprotocol, u16, u8),
    st.just(RouteRefreshCapability()),
    st.builds(
        GracefulRestart,
        st.integers(0, 15),
        st.integers(0, 4095),
        st.lists(st.tuples(u16, u8, u8), max_size=3).map(tuple),
    ),
    st.builds(UnknownCapability, st.sampled_from([5, 6, 69, 70, 71, 73, 128]), st.binary(max_size=20)),
)

opens = st.builds(
    lambda a, hold, rid, caps: Open.build(a, hold, rid, tuple(caps)),
    asn,
    st.one_of(st.just(0), st.integers(3, 0xFFFF)),
    st.builds(ipaddress.IPv4Address, st.integers(1, 2**32 - 1)),
    st.lists(capabilities, max_size=6),
)

messages = st.one_of(
    opens,
    updates(),
    st.just(Keepalive()),
    st.builds(NotificationMessage, st.integers(1, 7), u8, st.binary(max_size=40)),
    st.builds(RouteRefresh, u16, u8, u8),
)
