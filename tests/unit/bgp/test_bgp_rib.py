"""What to advertise: routes from BGPAdvertisements, the Adj-RIB-Out diff, UPDATE batching, next hops, socket
options."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.bgp.attribute import AsPath, Communities, LargeCommunities, LocalPref, MpReach, MpUnreach, NextHop
from speaker.bgp.context import IPV4_UNICAST, IPV6_UNICAST, Context
from speaker.bgp.message import unpack_message
from speaker.bgp.netinfo import IfAddr, choose_next_hops
from speaker.bgp.rib import (
    AdjRibOut,
    NextHops,
    Outbound,
    Route,
    build_updates,
    by_prefix,
    end_of_rib,
    routes_for,
    sendable,
)
from speaker.bgp.session import fallback_router_id, session_config
from speaker.bgp.sockopt import ebgp_ttl, md5sig
from speaker.config.cluster import BGPAdvertisement, BGPCommunity, BGPPeer, Secret

N = ipaddress.ip_network
A = ipaddress.ip_address
HOPS = NextHops(A("198.51.100.10"), A("2001:db8:100::10"), A("fe80::10"))
EBGP = Outbound(Context(), 64512, False, HOPS)
IBGP = Outbound(Context(), 64512, True, HOPS)


def decode_all(msgs, ctx=None):
    ctx = ctx if ctx is not None else Context()
    return [unpack_message(m, ctx) for m in msgs]


def announced(updates):
    out = []
    for u in updates:
        out += u.nlri
        mp = u.get(MpReach)
        if mp:
            out += mp.nlri
    return out


# ---- routes_for ------------------------------------------------------------------------------------------


def test_routes_for_uses_aggregation_length_and_communities():
    adv = BGPAdvertisement(
        "a",
        aggregation_length=24,
        local_pref=200,
        communities=(BGPCommunity((64512, 100)), BGPCommunity((64512, 1, 2))),
    )
    (r,) = routes_for("198.51.100.100", [adv])
    assert r.prefix == N("198.51.100.0/24") and r.local_pref == 200
    assert r.communities == ((64512 << 16) | 100,) and r.large_communities == ((64512, 1, 2),)


def test_routes_for_ipv6_uses_aggregation_length_v6():
    (r,) = routes_for("2001:db8:100::100", [BGPAdvertisement("a", aggregation_length_v6=64)])
    assert r.prefix == N("2001:db8:100::/64")


def test_two_advertisements_same_prefix_merge_and_different_prefixes_both_go():
    a = BGPAdvertisement("a", communities=(BGPCommunity((1, 1)),))
    b = BGPAdvertisement("b", communities=(BGPCommunity((2, 2)),), local_pref=50)
    c = BGPAdvertisement("c", aggregation_length=24)
    routes = {r.prefix: r for r in routes_for("198.51.100.100", [a, b, c])}
    assert set(routes) == {N("198.51.100.100/32"), N("198.51.100.0/24")}
    assert routes[N("198.51.100.100/32")].communities == (65537, 131074)
    assert routes[N("198.51.100.100/32")].local_pref == 50


def test_route_normalises_communities():
    assert Route(N("192.0.2.1/32"), communities=(3, 1, 3)) == Route(N("192.0.2.1/32"), communities=(1, 3))


# ---- Adj-RIB-Out ---------------------------------------------------------------------------------------------


def test_adj_rib_out_diff():
    rib = AdjRibOut()
    r1, r2 = Route(N("192.0.2.1/32")), Route(N("192.0.2.2/32"))
    ann, wd = rib.diff(by_prefix([r1, r2]))
    assert set(ann) == {r1, r2} and wd == []
    rib.commit(ann, wd)
    assert rib.diff(by_prefix([r1, r2])) == ([], [])
    r2c = Route(N("192.0.2.2/32"), communities=(5,))
    ann, wd = rib.diff(by_prefix([r2c]))
    assert ann == [r2c] and wd == [r1.prefix]


# ---- batching ------------------------------------------------------------------------------------------------


def test_ten_thousand_prefixes_fill_few_full_updates():
    routes = [Route(ipaddress.IPv4Network((0xC6336400 + i, 32))) for i in range(10000)]
    msgs = build_updates(routes, [], EBGP)
    assert all(len(m) <= 4096 for m in msgs) and len(msgs) <= 13
    assert sorted(announced(decode_all(msgs))) == sorted(r.prefix for r in routes)


def test_grouped_by_identical_attributes():
    routes = [Route(ipaddress.IPv4Network((0xC6336400 + i, 32)), communities=(i % 3,)) for i in range(30)]
    ups = decode_all(build_updates(routes, [], EBGP))
    assert len(ups) == 3
    for u in ups:
        assert len({r.communities for r in routes if r.prefix in u.nlri}) == 1


def test_ebgp_attributes_and_next_hop():
    (u,) = decode_all(
        build_updates(
            [Route(N("198.51.100.100/32"), local_pref=300, communities=(7,), large_communities=((1, 2, 3),))], [], EBGP
        )
    )
    assert u.get(AsPath) == AsPath.sequence(64512)
    assert u.get(NextHop).address == A("198.51.100.10")
    assert u.get(LocalPref) is None  # never to an external peer
    assert u.get(Communities).values == (7,) and u.get(LargeCommunities).values == ((1, 2, 3),)


def test_ibgp_sends_local_pref_and_an_empty_path():
    (u,) = decode_all(build_updates([Route(N("198.51.100.100/32"), local_pref=300)], [], IBGP))
    assert u.get(LocalPref).value == 300 and u.get(AsPath) == AsPath()
    (u,) = decode_all(build_updates([Route(N("198.51.100.100/32"))], [], IBGP))
    assert u.get(LocalPref).value == 100


def test_ipv6_uses_mp_reach_with_link_local():
    (u,) = decode_all(build_updates([Route(N("2001:db8:100::100/128"))], [], EBGP))
    assert u.get(MpReach).next_hops == (A("2001:db8:100::10"), A("fe80::10"))
    assert u.nlri == () and u.get(NextHop) is None


def test_route_next_hop_overrides_the_session_address():
    (u,) = decode_all(build_updates([Route(N("198.51.100.100/32"), next_hop=A("198.51.100.99"))], [], EBGP))
    assert u.get(NextHop).address == A("198.51.100.99")


def test_withdrawals_both_families():
    ups = decode_all(build_updates([], [N("192.0.2.1/32"), N("2001:db8::1/128")], EBGP))
    assert ups[0].withdrawn == (N("192.0.2.1/32"),)
    assert ups[1].get(MpUnreach).withdrawn == (N("2001:db8::1/128"),)


def test_end_of_rib_markers():
    assert unpack_message(end_of_rib(IPV4_UNICAST, Context()), Context()).is_end_of_rib
    assert unpack_message(end_of_rib(IPV6_UNICAST, Context()), Context()).is_end_of_rib


def test_sendable_needs_family_and_next_hop():
    v4only = Outbound(Context(families=frozenset({IPV4_UNICAST})), 64512, False, HOPS)
    assert not sendable(Route(N("2001:db8::1/128")), v4only)
    no6 = Outbound(Context(), 64512, False, NextHops(ipv4=A("198.51.100.10")))
    assert not sendable(Route(N("2001:db8::1/128")), no6)
    assert sendable(Route(N("192.0.2.1/32")), no6)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32), st.integers(0, 3)), max_size=2000),
    st.lists(st.tuples(st.integers(0, 2**128 - 1), st.integers(16, 128)), max_size=500),
    st.booleans(),
    st.booleans(),
)
def test_batching_never_exceeds_4096_and_loses_nothing(v4, v6, ibgp, asn4):
    routes = by_prefix(
        [Route(ipaddress.IPv4Network((a, n), strict=False), communities=(c,)) for a, n, c in v4]
        + [Route(ipaddress.IPv6Network((a, n), strict=False)) for a, n in v6]
    )
    ctx = Context(asn4=asn4)
    out = Outbound(ctx, 4200000001, ibgp, HOPS)
    msgs = build_updates(routes.values(), list(routes), out)
    assert all(len(m) <= 4096 for m in msgs)
    ups = decode_all(msgs, ctx)
    assert sorted(map(str, announced(ups))) == sorted(map(str, routes))
    wd = [p for u in ups for p in u.withdrawn] + [
        p for u in ups if u.get(MpUnreach) for p in u.get(MpUnreach).withdrawn
    ]
    assert sorted(map(str, wd)) == sorted(map(str, routes))
    if not ibgp and ups and announced(ups):
        assert all(u.get(AsPath) == AsPath.sequence(4200000001) for u in ups if u.get(AsPath))


# ---- next hops, socket options, BGPPeer mapping ------------------------------------------------------------

TABLE = [
    IfAddr(1, ipaddress.ip_interface("127.0.0.1/8")),
    IfAddr(2, ipaddress.ip_interface("198.51.100.10/24")),
    IfAddr(2, ipaddress.ip_interface("2001:db8:100::10/64")),
    IfAddr(2, ipaddress.ip_interface("fe80::10/64")),
    IfAddr(3, ipaddress.ip_interface("192.0.2.10/24")),
    IfAddr(3, ipaddress.ip_interface("fe80::30/64")),
]


def test_next_hops_from_the_session_interface():
    assert choose_next_hops(A("2001:db8:100::10"), A("2001:db8:100::2"), TABLE) == HOPS
    # over an IPv4 session: the interface's global IPv6, no link-local (FRR rejects it without interface info)
    assert choose_next_hops(A("198.51.100.10"), A("198.51.100.2"), TABLE) == NextHops(HOPS.ipv4, HOPS.ipv6, None)


def test_link_local_only_when_the_peer_is_on_link():
    hops = choose_next_hops(A("2001:db8:100::10"), A("2001:db8:999::1"), TABLE)  # multihop peer
    assert hops.ipv6 == A("2001:db8:100::10") and hops.ipv6_link_local is None


def test_interface_without_ipv6_global():
    hops = choose_next_hops(A("192.0.2.10"), A("192.0.2.1"), TABLE)
    assert hops == NextHops(A("192.0.2.10"), None, None)


def test_link_local_can_be_turned_off():
    hops = choose_next_hops(A("2001:db8:100::10"), A("2001:db8:100::2"), TABLE, link_local=False)
    assert hops == NextHops(HOPS.ipv4, HOPS.ipv6, None)


def test_md5sig_layout():
    raw = md5sig(A("198.51.100.2"), b"secret")
    assert len(raw) == 216
    assert struct.unpack_from("=H", raw)[0] == socket.AF_INET and raw[4:8] == bytes([198, 51, 100, 2])
    assert struct.unpack_from("=BBHI", raw, 128) == (0, 0, 6, 0) and raw[136:142] == b"secret"
    raw6 = md5sig(A("2001:db8::2"), b"k")
    assert struct.unpack_from("=H", raw6)[0] == socket.AF_INET6 and raw6[8:24] == A("2001:db8::2").packed


def test_ttl_policy():
    assert ebgp_ttl(True, False) == 1 and ebgp_ttl(True, True) == 255 and ebgp_ttl(False, False) is None


def test_session_config_from_bgppeer():
    peer = BGPPeer(
        "p",
        my_asn=64512,
        peer_asn=64513,
        address=A("198.51.100.2"),
        hold_time=3,
        keepalive_time=1,
        connect_time=5,
        enable_graceful_restart=True,
        password=Secret("x"),
    )
    cfg = session_config(peer, A("198.51.100.10"))
    assert (cfg.hold_time, cfg.keepalive_time, cfg.retry_cap, cfg.graceful_restart) == (3, 1, 5.0, True)
    assert cfg.families == {IPV4_UNICAST, IPV6_UNICAST} and cfg.router_id == A("198.51.100.10")
    assert "x" not in repr(peer)
    assert session_config(peer.__class__(**{**peer.__dict__, "disable_mp": True}), None).families == {IPV4_UNICAST}


def test_fallback_router_id_is_stable_and_nonzero():
    assert fallback_router_id("node-1") == fallback_router_id("node-1") != A("0.0.0.0")
