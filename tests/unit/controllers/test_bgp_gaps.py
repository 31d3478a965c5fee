"""A BGP address that no node may advertise: the same signals as Layer 2's NoEligibleNode (a Warning on the
Service once per change from the allocator leader, baremetal_lb_address_unannounced{protocol="bgp"}, /status)."""

from __future__ import annotations

from typing import Any

import pytest

from speaker.controllers.bgp import BGPController
from speaker.controllers.views import ViewSource
from speaker.plan.announce import bgp_unannounced
from tests.unit.controllers.test_bgp_controller import FakeBGP
from tests.unit.controllers.world import Cache, Recorder, endpoints_on, meta, node, peer, pool, service, world

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"


def bgpadv(name: str = "all", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": meta(name), "spec": spec}


NODES = [node("node1", "192.0.2.11", rack="a"), node("node2", "192.0.2.12", rack="b")]


def gaps(
    nodes: list[dict[str, Any]],
    advs: list[dict[str, Any]],
    peers: list[dict[str, Any]],
    svc: dict[str, Any] | None = None,
    slices: list[dict[str, Any]] = (),
) -> dict[str, str]:
    if svc is None and not slices:  # the default Cluster Service has a serving Pod, as in a real cluster
        slices = [endpoints_on("web", "node1")]
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        nodes=Cache(*nodes),
        bgpadvertisements=Cache(*advs),
        bgppeers=Cache(*peers),
        endpointslices=Cache(*slices),
        services=Cache(svc or service("web", "198.51.100.240", pool_name="lan")),
    )
    views = ViewSource(caches, load_balancer_class=None)
    view = views.view()
    found = bgp_unannounced(view.addressed, views.config(), view.nodes, view.ready, view.serving)
    return {key: gap.message for key, gap in found.items()}


@pytest.mark.parametrize(
    ("description", "nodes", "advs", "peers", "svc", "slices", "expected"),
    [
        ("a node with a session advertises it", NODES, [bgpadv()], [peer("r1", "192.0.2.1")], None, [], {}),
        ("no BGPAdvertisement for the pool: not a BGP address", NODES, [], [peer("r1", "192.0.2.1")], None, [], {}),
        (
            "every node excluded",
            [node("node1", "192.0.2.11", **{EXCLUDE: ""})],
            [bgpadv()],
            [peer("r1", "192.0.2.1")],
            None,
            [],
            {
                "default/web": f"198.51.100.240: no node may advertise it over BGP: node1: labelled {EXCLUDE} "
                "(set ignore_exclude_lb to announce from them)"
            },
        ),
        (
            "no BGPPeer at all",
            NODES,
            [bgpadv()],
            [],
            None,
            [],
            {
                "default/web": "198.51.100.240: no node may advertise it over BGP: node1, node2: no BGPPeer selects it "
                "(BGPPeer nodeSelectors)"
            },
        ),
        (
            "the advertisement selects rack a, the peer rack b",
            NODES,
            [bgpadv(nodeSelectors=[{"matchLabels": {"rack": "a"}}])],
            [peer("r1", "192.0.2.1", nodeSelectors=[{"matchLabels": {"rack": "b"}}])],
            None,
            [],
            {
                "default/web": "198.51.100.240: no node may advertise it over BGP: node1: no BGPPeer selects it "
                "(BGPPeer "
                "nodeSelectors); node2: not selected by the BGPAdvertisement nodeSelectors"
            },
        ),
        (
            "the advertisement names a peer no node has",
            NODES,
            [bgpadv(peers=["r2"])],
            [peer("r1", "192.0.2.1")],
            None,
            [],
            {
                "default/web": "198.51.100.240: no node may advertise it over BGP: node1, node2: its BGPPeers are "
                "not among the BGPAdvertisement's peers"
            },
        ),
        (
            "eTP=Local without a ready endpoint",
            NODES,
            [bgpadv()],
            [peer("r1", "192.0.2.1")],
            service("web", "198.51.100.240", pool_name="lan", local=True),
            [],
            {
                "default/web": "198.51.100.240: no node may advertise it over BGP: node1, node2: no ready endpoint "
                "of the "
                "Service (externalTrafficPolicy: Local)"
            },
        ),
        (
            "eTP=Cluster with no serving endpoint anywhere: withdrawn, as MetalLB",
            NODES,
            [bgpadv()],
            [peer("r1", "192.0.2.1")],
            service("web", "198.51.100.240", pool_name="lan"),
            [],
            {
                "default/web": "198.51.100.240: no node may advertise it over BGP: node1, node2: no serving endpoint "
                "(externalTrafficPolicy: Cluster)"
            },
        ),
        (
            "eTP=Local with an endpoint on a node with a session",
            NODES,
            [bgpadv()],
            [peer("r1", "192.0.2.1")],
            service("web", "198.51.100.240", pool_name="lan", local=True),
            [endpoints_on("web", "node2")],
            {},
        ),
    ],
)
def test_bgp_unannounced(
    description: str, nodes: Any, advs: Any, peers: Any, svc: Any, slices: Any, expected: dict[str, str]
) -> None:
    assert gaps(nodes, advs, peers, svc, slices) == expected, description


def _unannounced() -> dict[tuple[str, ...], float]:
    from prometheus_client import REGISTRY

    return {
        (s.labels["service"], s.labels["protocol"], s.labels["reason"]): s.value
        for m in REGISTRY.collect()
        if m.name == "baremetal_lb_address_unannounced"
        for s in m.samples
        if s.labels["protocol"] == "bgp"
    }


def test_the_allocator_leader_says_it_once_serves_the_metric_and_clears_both_when_fixed() -> None:
    leader = {"now": False}
    peers = Cache()  # no BGPPeer yet: nobody advertises
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        nodes=Cache(*NODES),
        bgpadvertisements=Cache(bgpadv()),
        bgppeers=peers,
        endpointslices=Cache(endpoints_on("web", "node2")),
        services=Cache(service("web", "198.51.100.240", pool_name="lan")),
    )
    rec = Recorder()
    ctl = BGPController(
        node="node1",
        caches=caches,
        views=ViewSource(caches, load_balancer_class=None),  # type: ignore[arg-type]
        synced=lambda: True,
        bgp=FakeBGP(),
        status=Recorder(),
        events=rec,  # type: ignore[arg-type]
        is_leader=lambda: leader["now"],
    )
    ctl.recompute()
    assert rec.events == [] and ctl.unannounced() == [] and _unannounced() == {}  # a standby: nothing
    leader["now"] = True
    for _ in range(3):
        ctl.recompute()
    assert [(e.type, e.reason, e.involved[1:4]) for e in rec.events] == [
        ("Warning", "NoEligibleNode", ("Service", "default", "web"))
    ]
    assert [g["service"] for g in ctl.unannounced()] == ["default/web"]
    assert _unannounced() == {("default/web", "bgp", "NoEligibleNode"): 1.0}
    peers.put(peer("r1", "192.0.2.1"))  # fixed
    ctl.recompute()
    assert ctl.unannounced() == [] and _unannounced() == {} and len(rec.events) == 1


def test_a_service_added_while_no_bgppeer_exists_still_gets_its_gap_from_the_leader() -> None:
    """The BGP controller skips Services-only passes on a node with no BGPPeer (a cold start's status writes),
    but not on the allocator leader with a BGPAdvertisement: a new Service may open a gap there."""
    services = Cache(service("web", "198.51.100.240", pool_name="lan"))
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        nodes=Cache(*NODES),
        bgpadvertisements=Cache(bgpadv()),
        services=services,
        endpointslices=Cache(endpoints_on("web", "node1"), endpoints_on("db", "node1")),
    )
    ctl = BGPController(
        node="node1",
        caches=caches,
        views=ViewSource(caches, load_balancer_class=None),  # type: ignore[arg-type]
        synced=lambda: True,
        bgp=FakeBGP(),
        status=Recorder(),
        events=Recorder(),  # type: ignore[arg-type]
        is_leader=lambda: True,
    )
    ctl.recompute()
    assert [g["service"] for g in ctl.unannounced()] == ["default/web"]
    services.put(service("db", "198.51.100.241", pool_name="lan"))
    ctl.notify("services", None, "default/db")
    ctl.recompute()
    assert [g["service"] for g in ctl.unannounced()] == ["default/db", "default/web"]
