"""The BGP controller performs its decision: sessions and routes to the BGP speaker, ServiceBGPStatus wishes; with
no session it reads no Service at all."""

from __future__ import annotations

from typing import Any

from speaker.controllers.bgp import BGPController
from speaker.controllers.views import ViewSource
from tests.unit.controllers.world import Cache, Recorder, endpoints_on, meta, node, peer, pool, service, world


class FakeBGP:
    def __init__(self) -> None:
        self.peers: list[Any] = []
        self.routes: dict[str, Any] = {}

    def set_peers(self, peers: list[Any]) -> None:
        self.peers = peers

    def set_routes(self, routes: dict[str, Any]) -> None:
        self.routes = routes


def controller(**kinds: Cache) -> tuple[BGPController, FakeBGP, Recorder, ViewSource]:
    caches = world(ipaddresspools=Cache(pool("lan", "198.51.100.240/29")), nodes=Cache(node("node1", "192.0.2.11")),
                   bgpadvertisements=Cache({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                                            "metadata": meta("all"), "spec": {}}),
                   services=Cache(service("web", "198.51.100.240", pool_name="lan")),
                   endpointslices=Cache(endpoints_on("web", "node1")), **kinds)
    views, bgp, status = ViewSource(caches, load_balancer_class=None), FakeBGP(), Recorder()
    ctl = BGPController(node="node1", caches=caches, views=views, synced=lambda: True, bgp=bgp, status=status)  # type: ignore[arg-type]
    return ctl, bgp, status, views


def test_with_no_session_no_service_is_read() -> None:
    ctl, bgp, status, views = controller()
    ctl.recompute()
    assert bgp.peers == [] and bgp.routes == {} and status.wishes == []
    assert views._view is None  # no ClusterView was made: nothing copied or parsed


def test_a_session_gets_the_routes_and_the_service_its_status() -> None:
    ctl, bgp, status, views = controller(bgppeers=Cache(peer("r1", "192.0.2.1")))
    ctl.recompute()
    assert [p.name for p in bgp.peers] == ["r1"]
    assert {str(r.prefix) for r in bgp.routes["r1"]} == {"198.51.100.240/32"}
    assert [want for _, want in status.wishes] == [("node1", "default/web", ("r1",))]
