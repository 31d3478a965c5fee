"""Our speaker against BIRD 2, FRR bgpd and GoBGP in network namespaces: sessions (IPv4/IPv6, iBGP/eBGP, MD5,
4-octet ASN), routes with the right attributes, withdrawal, ECMP from two nodes, peer restart, graceful stop.

LAN 198.51.100.0/24 + 2001:db8:100::/64; routers at .2, nodes at .10/.11; private ASNs only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bgplab import DAEMONS, BGPCapture, Bird, Neighbor, Node, route, wait_for, withdrawn_before_notification
from tests.netlab import Lab, require_root

pytestmark = pytest.mark.timeout(60)

ROUTER4, ROUTER6 = "198.51.100.2", "2001:db8:100::2"
NODE4, NODE6 = "198.51.100.10", "2001:db8:100::10"
NODE4B = "198.51.100.11"
VIP, VIP6 = "198.51.100.100/32", "2001:db8:100::100/128"
C100 = (64512 << 16) | 100


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        yield lab


def hosts(lab: Lab, nodes: int = 1) -> tuple[Any, list[Any]]:
    r = lab.host("r", f"{ROUTER4}/24", f"{ROUTER6}/64")
    ns = [lab.host(f"n{i + 1}", f"198.51.100.{10 + i}/24", f"2001:db8:100::{10 + i}/64") for i in range(nodes)]
    return r, ns


def start(kind: str, r: Any, tmp: Path, neighbors: list[Neighbor], asn: int = 64513) -> Any:
    return DAEMONS[kind](r, tmp, asn=asn, router_id=ROUTER4, neighbors=neighbors).start()


def visible(d: Any, prefix: str, **want: Any) -> Any:
    """The peer's paths for ``prefix`` once they show; ``want`` items must match the first path."""

    def check() -> Any:
        paths = d.routes(6 if ":" in prefix else 4).get(prefix)
        if not paths:
            return None
        p = paths[0]
        return paths if all(p.get(k) == v for k, v in want.items()) else None

    return wait_for(f"{prefix} at {d.kind} with {want}", check, timeout=10)


def gone(d: Any, prefix: str) -> None:
    wait_for(f"{prefix} withdrawn at {d.kind}", lambda: prefix not in d.routes(6 if ":" in prefix else 4), timeout=10)


@pytest.mark.parametrize("kind", sorted(DAEMONS))
def test_ebgp_ipv4_session_routes_withdraw_and_graceful_stop(lab: Lab, tmp_path: Path, kind: str) -> None:
    r, (n,) = hosts(lab)
    d = start(kind, r, tmp_path, [Neighbor("n1", NODE4, 64512)])
    with BGPCapture(r, tmp_path) as capture:
        node = Node(n)
        node.speaker.set_routes(
            {
                "r": [
                    route(VIP, communities=(C100,), large_communities=((64512, 7, 8),), local_pref=300),
                    route(VIP6),
                    route("198.51.100.128/25"),
                ]
            }
        )
        node.speaker.set_peers([node.peer("r", ROUTER4, 64513)])
        st = node.wait_established("r")
        assert (st.peer_asn, st.hold_time, st.keepalive) == (64513, 9, 3.0)
        paths = visible(
            d, VIP, next_hop=[NODE4], as_path=[64512], communities=["64512:100"], large_communities=["64512:7:8"]
        )
        assert paths[0].get("local_pref") in (None, 100)  # LOCAL_PREF is not sent over eBGP (BIRD shows its default)
        visible(d, "198.51.100.128/25", next_hop=[NODE4])
        # IPv6 over the IPv4 session (MP-BGP), next hop = the node's global address on that interface
        visible(d, VIP6, as_path=[64512])
        assert visible(d, VIP6)[0]["next_hop"][0] == NODE6

        wait_for("snapshot counts", lambda: node.status("r").prefixes_sent == 3)
        m = node.speaker.metrics
        assert m.session_up.labels(ROUTER4)._value.get() == 1
        assert m.announced.labels(ROUTER4)._value.get() == 3

        node.speaker.set_routes({"r": [route(VIP6), route("198.51.100.128/25")]})
        gone(d, VIP)
        node.stop()  # withdraw, then Cease/Administrative Shutdown
        gone(d, "198.51.100.128/25")
        wait_for("the peer to see the session end", lambda: not d.established(NODE4), timeout=15)
        if isinstance(d, Bird):
            assert "baremetal-lb speaker shutting down" in d.birdc("show", "protocols", "all", "n1")
    # Every peer drops a closed session's routes anyway; on the wire, the withdrawal comes first.
    withdrawn, note = withdrawn_before_notification(capture.sent_by(NODE4))
    assert (note.code, note.subcode) == (6, 2)  # Cease / Administrative Shutdown
    assert {"198.51.100.128/25", VIP6} <= withdrawn, f"withdrawn before the NOTIFICATION: {sorted(withdrawn)}"


@pytest.mark.parametrize("kind", sorted(DAEMONS))
def test_ibgp_sends_local_pref(lab: Lab, tmp_path: Path, kind: str) -> None:
    r, (n,) = hosts(lab)
    d = start(kind, r, tmp_path, [Neighbor("n1", NODE4, 64512)], asn=64512)
    node = Node(n)
    node.speaker.set_routes({"r": [route(VIP, local_pref=250, communities=(C100,))]})
    node.speaker.set_peers([node.peer("r", ROUTER4, 64512)])
    node.wait_established("r")
    visible(d, VIP, next_hop=[NODE4], local_pref=250, as_path=[], communities=["64512:100"])


@pytest.mark.parametrize("kind", sorted(DAEMONS))
def test_ipv6_session(lab: Lab, tmp_path: Path, kind: str) -> None:
    r, (n,) = hosts(lab)
    d = start(kind, r, tmp_path, [Neighbor("n1", NODE6, 64512)])
    node = Node(n, router_id="198.51.100.10")
    node.speaker.set_routes({"r": [route(VIP6, large_communities=((64512, 1, 1),)), route("2001:db8:100:1::/64")]})
    node.speaker.set_peers([node.peer("r", ROUTER6, 64513)])
    node.wait_established("r")
    paths = visible(d, VIP6, large_communities=["64512:1:1"])
    assert paths[0]["next_hop"] == [NODE6]  # global only, by default
    visible(d, "2001:db8:100:1::/64")


def test_ipv6_link_local_next_hop_when_enabled(lab: Lab, tmp_path: Path) -> None:
    r, (n,) = hosts(lab)
    d = start("bird", r, tmp_path, [Neighbor("n1", NODE6, 64512)])
    node = Node(n, router_id="198.51.100.10", link_local=True)
    node.speaker.set_routes({"r": [route(VIP6)]})
    node.speaker.set_peers([node.peer("r", ROUTER6, 64513)])
    node.wait_established("r")
    hops = visible(d, VIP6)[0]["next_hop"]
    assert hops[0] == NODE6 and hops[1].startswith("fe80:")


@pytest.mark.parametrize("kind", sorted(DAEMONS))
def test_md5_password(lab: Lab, tmp_path: Path, kind: str) -> None:
    r, (n,) = hosts(lab)
    d = start(kind, r, tmp_path, [Neighbor("n1", NODE4, 64512, password="s3cret-md5")])
    node = Node(n)
    node.speaker.set_routes({"r": [route(VIP)]})
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513, password="s3cret-md5")])
    node.wait_established("r")
    visible(d, VIP, next_hop=[NODE4])
    assert "s3cret" not in repr(node.speaker.snapshot())


def md5_failures(host: Any) -> int:
    """TCP segments the host's kernel dropped for a wrong MD5 signature (TcpExt TCPMD5Failure, Linux ≥ 4.x)."""
    lines = [line.split() for line in host.run(["cat", "/proc/net/netstat"]).stdout.splitlines()]
    for names, values in zip(lines, lines[1:], strict=False):
        if names[0] == "TcpExt:" and values[0] == "TcpExt:" and "TCPMD5Failure" in names:
            return int(values[names.index("TCPMD5Failure")])
    raise AssertionError("no TcpExt TCPMD5Failure counter in /proc/net/netstat")


def test_md5_wrong_password_never_establishes(lab: Lab, tmp_path: Path) -> None:
    r, (n,) = hosts(lab)
    d = start("bird", r, tmp_path, [Neighbor("n1", NODE4, 64512, password="right")])
    node = Node(n)
    before = md5_failures(r)
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513, password="wrong", connect_time=1)])

    # The speaker does try: the router's kernel drops its wrongly signed SYNs — again and again (SYN
    # retransmissions and the connect retries), and through all of them neither side is Established.
    def refused_again(seen: list[int]) -> bool:
        assert node.status("r").state != "Established" and not d.established(NODE4)
        seen.append(md5_failures(r) - before)
        return seen[-1] >= 3

    seen: list[int] = []
    wait_for("the router to drop 3 wrongly signed segments from the speaker", lambda: refused_again(seen), timeout=30)
    assert node.status("r").state in ("Connect", "Active", "Idle")
    assert not d.established(NODE4)


def test_four_octet_asn_with_bird(lab: Lab, tmp_path: Path) -> None:
    r, (n,) = hosts(lab)
    d = start("bird", r, tmp_path, [Neighbor("n1", NODE4, 4200000001)], asn=4200000002)
    node = Node(n, asn=4200000001)
    node.speaker.set_routes({"r": [route(VIP)]})
    node.speaker.set_peers([node.peer("r", ROUTER4, 4200000002)])
    node.wait_established("r")
    visible(d, VIP, as_path=[4200000001])


@pytest.mark.parametrize("kind", ["bird", "frr"])
def test_two_nodes_give_ecmp_at_the_peer(lab: Lab, tmp_path: Path, kind: str) -> None:
    r, (n1, n2) = hosts(lab, 2)
    d = start(kind, r, tmp_path, [Neighbor("n1", NODE4, 64512), Neighbor("n2", NODE4B, 64512)])
    nodes = [Node(n1), Node(n2)]
    for node, _addr in zip(nodes, (NODE4, NODE4B), strict=False):
        node.speaker.set_routes({"r": [route(VIP)]})
        node.speaker.set_peers([node.peer("r", ROUTER4, 64513)])
    for node in nodes:
        node.wait_established("r")
    wait_for("two paths", lambda: len(d.routes(4).get(VIP, [])) == 2, timeout=10)
    if kind == "bird":  # merge paths on: one kernel route with both next hops
        wait_for("ECMP kernel route", lambda: d.kernel_nexthops("198.51.100.100") == [NODE4, NODE4B], timeout=10)
    else:  # maximum-paths 8: the best path plus the other marked multipath
        wait_for("multipath", lambda: all(p["multipath"] or p["best"] for p in d.routes(4)[VIP]), timeout=10)
    nodes[1].stop()  # one node leaves: one path left
    wait_for("one path", lambda: len(d.routes(4).get(VIP, [])) == 1, timeout=10)


@pytest.mark.parametrize("kind", ["bird", "gobgp"])
def test_peer_restart_is_reestablished_and_readvertised(lab: Lab, tmp_path: Path, kind: str) -> None:
    r, (n,) = hosts(lab)
    d = start(kind, r, tmp_path, [Neighbor("n1", NODE4, 64512)])
    node = Node(n)
    node.speaker.set_routes({"r": [route(VIP)]})
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513, connect_time=1)])
    node.wait_established("r")
    visible(d, VIP)
    d.stop()
    wait_for("session down", lambda: node.status("r").state != "Established", timeout=5)
    d.start()
    node.wait_established("r", timeout=15)
    visible(d, VIP, next_hop=[NODE4])


def test_reconfigured_peer_gets_a_new_session(lab: Lab, tmp_path: Path) -> None:
    r, (n,) = hosts(lab)
    d = start("bird", r, tmp_path, [Neighbor("n1", NODE4, 64512)])
    node = Node(n)
    node.speaker.set_routes({"r": [route(VIP)]})
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513, hold_time=9)])
    node.wait_established("r")
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513, hold_time=6, keepalive_time=2)])
    wait_for(
        "hold time 6", lambda: (s := node.status("r")) and s.state == "Established" and s.hold_time == 6, timeout=10
    )
    visible(d, VIP)
    node.speaker.set_peers([])
    gone(d, VIP)
    assert node.speaker.snapshot() == []
