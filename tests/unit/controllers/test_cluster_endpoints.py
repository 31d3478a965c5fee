"""An ``externalTrafficPolicy: Cluster`` Service with no serving endpoint is withdrawn, by Layer 2 and BGP, as MetalLB
does (issue 14), and the user is told why — a scenario table run through the real controllers' ``recompute``.

One world (no API, no sockets): node1 (this speaker) and node2, a pool with an L2Advertisement and a
BGPAdvertisement, a BGPPeer, and the Service ``web`` at 198.51.100.240. Each row changes only ``web``'s
EndpointSlice and checks, after both controllers recompute: what node1 answers ARP for (and whether it probes
first), the Layer 2 gap in ``/status`` and the Warning Events the allocator leader emits, the routes the BGP session
carries, what BGP says it withdrew, and the BGP rows of ``metallb_speaker_announced``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from speaker.controllers.bgp import BGPController
from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.views import ViewSource
from tests.unit.controllers.world import Cache, Recorder, l2adv, meta, node, peer, pool, service, world

VIP = "198.51.100.240"
WHY = f"{VIP}: no node may announce it: no serving endpoint (externalTrafficPolicy: Cluster)"


def web_slice(*endpoints: tuple[str, dict[str, Any]], addresses: bool = True) -> dict[str, Any]:
    """``web``'s EndpointSlice: (node, conditions) per endpoint."""
    return {
        "metadata": {"name": "web-abcde", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [
            {"addresses": [f"10.244.0.{i + 5}"] if addresses else [], "nodeName": n, "conditions": c}
            for i, (n, c) in enumerate(endpoints)
        ],
    }


READY = {"ready": True, "serving": True, "terminating": False}
STOPPED = {"ready": False, "serving": False, "terminating": False}
DRAINING = {"ready": False, "serving": True, "terminating": True}


class Announcer:
    def __init__(self) -> None:
        self.desired: dict[str, Any] = {}

    def set_desired(self, desired: dict[str, Any]) -> None:
        self.desired = dict(desired)

    def snapshot(self) -> dict[str, Any]:
        return {}


class BGP:
    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}

    def set_peers(self, peers: list[Any]) -> None:
        pass

    def set_routes(self, routes: dict[str, Any]) -> None:
        self.routes = routes


@dataclass(frozen=True)
class Row:
    description: str
    slice: dict[str, Any] | None  # web's EndpointSlice now (None: there is none)
    answers: dict[str, str]  # address → "probe" | "no probe": what node1 answers ARP for
    gap: str | None  # the Layer 2 gap node1's /status shows for web (NoEligibleNode), None: no gap
    warnings: list[str]  # Warning Events emitted by this row (node1 is the allocator leader)
    routes: list[str]  # what the BGP session to r1 carries
    withdrawn: list[dict[str, Any]] = field(default_factory=list)  # /status bgp_withdrawn
    announced_bgp: list[tuple[str, str, str]] = field(default_factory=list)  # metallb_speaker_announced{bgp}


def _withdrawn() -> list[dict[str, Any]]:
    return [{"service": "default/web", "ips": [VIP], "reason": "no serving endpoint (externalTrafficPolicy: Cluster)"}]


ON = [(VIP, "node1", "default/web")]

ROWS = [
    Row(
        "no EndpointSlice yet (a Service whose Pods do not exist): nothing announced, and the gap says why",
        None,
        {},
        WHY,
        [WHY],
        [],
        _withdrawn(),
    ),
    Row("the same again: the Warning is not repeated", None, {}, WHY, [], [], _withdrawn()),
    Row(
        "an endpoint serves, on the other node: Cluster traffic is forwarded, so node1 announces (a new address: "
        "probed first)",
        web_slice(("node2", READY)),
        {VIP: "probe"},
        None,
        [],
        [f"{VIP}/32"],
        [],
        ON,
    ),
    Row(
        "its only endpoint stops serving: withdrawn from ARP and BGP",
        web_slice(("node2", STOPPED)),
        {},
        WHY,
        [WHY],
        [],
        _withdrawn(),
    ),
    Row(
        "terminating but still serving (a graceful shutdown) counts, as MetalLB's EndpointCanServe",
        web_slice(("node2", DRAINING)),
        {VIP: "no probe"},
        None,
        [],
        [f"{VIP}/32"],
        [],
        ON,
    ),
    Row(
        "an endpoint with no address does not count",
        web_slice(("node1", READY), addresses=False),
        {},
        WHY,
        [WHY],
        [],
        _withdrawn(),
    ),
    Row(
        "conditions unset: the API's 'unknown, assume ready'",
        web_slice(("node1", {})),
        {VIP: "no probe"},
        None,
        [],
        [f"{VIP}/32"],
        [],
        ON,
    ),
    Row("the EndpointSlice deleted (the Deployment scaled to zero)", None, {}, WHY, [WHY], [], _withdrawn()),
    Row(
        "a ready endpoint again: back, not probed (it was announced before)",
        web_slice(("node2", READY)),
        {VIP: "no probe"},
        None,
        [],
        [f"{VIP}/32"],
        [],
        ON,
    ),
]


def test_cluster_service_without_serving_endpoint_is_withdrawn_and_says_why() -> None:
    slices = Cache()
    caches = world(
        services=Cache(),
        endpointslices=slices,
        nodes=Cache(node("node1", "192.0.2.11"), node("node2", "192.0.2.12")),
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        l2advertisements=Cache(l2adv("l2")),
        bgpadvertisements=Cache(
            {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": meta("bgp"), "spec": {}}
        ),
        bgppeers=Cache(peer("r1", "192.0.2.1")),
    )
    views = ViewSource(caches, load_balancer_class=None)
    announcer, events, bgp = Announcer(), Recorder(), BGP()
    l2 = Layer2Controller(
        node="node1",
        caches=caches,
        views=views,
        synced=lambda: True,
        announcer=announcer,
        events=events,  # type: ignore[arg-type]
        alive=lambda: frozenset({"node1"}),
        is_leader=lambda: True,
    )
    bgpc = BGPController(node="node1", caches=caches, views=views, synced=lambda: True, bgp=bgp)
    l2.recompute()  # synced before web exists: its address is new to this speaker (probed before first announced)
    caches.services.put(service("web", VIP, pool_name="lan"))  # type: ignore[attr-defined]
    for i, row in enumerate(ROWS):
        if row.slice is None:
            slices.delete("default/web-abcde")
        else:
            slices.put(row.slice)
        seen = len(events.events)
        l2.recompute()
        bgpc.recompute()
        where = f"row {i} ({row.description})"
        assert {ip: "probe" if a.probe else "no probe" for ip, a in announcer.desired.items()} == row.answers, where
        gaps = l2.snapshot()["unannounced"]
        assert gaps == (
            [{"service": "default/web", "ips": [VIP], "reason": "NoEligibleNode", "message": row.gap}]
            if row.gap
            else []
        ), where
        assert [e.message for e in events.events[seen:] if e.type == "Warning"] == row.warnings, where
        assert sorted(str(r.prefix) for r in bgp.routes["r1"]) == row.routes, where
        assert bgpc.withdrawn() == row.withdrawn, where
        assert list(bgpc.announced()) == row.announced_bgp, where


@pytest.mark.parametrize("policy", ["Cluster", "Local"])
def test_a_service_of_either_policy_with_its_endpoint_here_is_announced(policy: str) -> None:
    """The Cluster rule withdraws nothing that serves: with the endpoint on node1, both policies announce."""
    caches = world(
        services=Cache(service("web", VIP, pool_name="lan", local=policy == "Local")),
        endpointslices=Cache(web_slice(("node1", READY))),
        nodes=Cache(node("node1", "192.0.2.11")),
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        l2advertisements=Cache(l2adv("l2")),
    )
    announcer = Announcer()
    l2 = Layer2Controller(
        node="node1",
        caches=caches,
        views=ViewSource(caches, load_balancer_class=None),
        synced=lambda: True,
        announcer=announcer,
        events=Recorder(),  # type: ignore[arg-type]
        alive=lambda: frozenset({"node1"}),
    )
    l2.recompute()
    assert set(announcer.desired) == {VIP}
