"""The BGP controller performs its decision: sessions and routes to the BGP speaker, ServiceBGPStatus wishes; with
no session it reads no Service at all."""

from __future__ import annotations

from typing import Any

import pytest

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
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        nodes=Cache(node("node1", "192.0.2.11")),
        bgpadvertisements=Cache(
            {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": meta("all"), "spec": {}}
        ),
        services=Cache(service("web", "198.51.100.240", pool_name="lan")),
        endpointslices=Cache(endpoints_on("web", "node1")),
        **kinds,
    )
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


class CountingBGP(FakeBGP):
    """Counts what crosses to the BGP speaker's loop (each call is a hand-over to its thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def set_peers(self, peers: list[Any]) -> None:
        self.calls.append("set_peers")
        super().set_peers(peers)

    def set_routes(self, routes: dict[str, Any]) -> None:
        self.calls.append("set_routes")
        super().set_routes(routes)

    def snapshot(self) -> list[Any]:
        self.calls.append("snapshot")
        return []


def counting(**kinds: Cache) -> tuple[BGPController, CountingBGP, Cache]:
    services = Cache(service("web", "198.51.100.240", pool_name="lan"))
    # every Service these tests create has a serving Pod (an eTP=Cluster Service without one is withdrawn)
    serving = Cache(*(endpoints_on(name, "node1") for name in ("web", "db", "s0", "s1", "s2", "s9")))
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        nodes=Cache(node("node1", "192.0.2.11")),
        bgpadvertisements=Cache(
            {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": meta("all"), "spec": {}}
        ),
        services=services,
        **{"endpointslices": serving, **kinds},
    )
    bgp = CountingBGP()
    ctl = BGPController(
        node="node1",
        caches=caches,
        views=ViewSource(caches, load_balancer_class=None),
        synced=lambda: True,
        bgp=bgp,
        status=Recorder(),
        events=Recorder(),
    )  # type: ignore[arg-type]
    return ctl, bgp, services


def test_without_a_bgppeer_a_pass_hands_the_bgp_speaker_nothing_after_the_first() -> None:
    """During a cold start the controller recomputes after every batch of status writes; with no BGPPeer none of
    them may cross to the BGP loop (no sessions to set, no routes, no session states to read)."""
    ctl, bgp, services = counting()
    ctl.recompute()
    ctl.tick()
    assert bgp.peers == [] and bgp.routes == {}
    bgp.calls.clear()
    for i in range(3):
        services.put(service(f"s{i}", f"198.51.100.24{i + 1}", pool_name="lan"))
        ctl.recompute()
        ctl.tick()
    assert bgp.calls == []


def test_with_a_bgppeer_only_what_changed_is_handed_over_and_sessions_are_still_watched() -> None:
    ctl, bgp, services = counting(bgppeers=Cache(peer("r1", "192.0.2.1")))
    ctl.recompute()
    ctl.tick()
    assert bgp.calls == ["set_peers", "set_routes", "snapshot"]
    bgp.calls.clear()
    ctl.recompute()  # nothing changed
    ctl.tick()
    assert bgp.calls == ["snapshot"]
    bgp.calls.clear()
    services.put(service("db", "198.51.100.241", pool_name="lan"))  # a new route, the same session
    ctl.recompute()
    assert bgp.calls == ["set_routes"]
    assert {str(r.prefix) for r in bgp.routes["r1"]} == {"198.51.100.240/32", "198.51.100.241/32"}


def test_without_a_bgppeer_a_pass_after_services_only_changed_decides_nothing(monkeypatch: Any) -> None:
    """With no session, no Service is read, so a change of Services alone cannot change the decision; any other
    change (here a BGPPeer appearing) is decided at once."""
    from speaker.controllers import bgp as bgp_module

    decided = []
    real = bgp_module.bgp_node_decision
    monkeypatch.setattr(bgp_module, "bgp_node_decision", lambda *a: decided.append(1) or real(*a))
    peers = Cache()
    ctl, bgp, services = counting(bgppeers=peers)
    ctl.recompute()
    assert len(decided) == 1 and bgp.peers == []
    for i in range(3):
        services.put(service(f"s{i}", f"198.51.100.24{i + 1}", pool_name="lan"))
        ctl.notify("services", None, f"default/s{i}")
        ctl.recompute()
    assert len(decided) == 1
    peers.put(peer("r1", "192.0.2.1"))
    ctl.notify("bgppeers", None, "metallb-system/r1")
    ctl.recompute()
    assert len(decided) == 2 and [p.name for p in bgp.peers] == ["r1"]
    assert {str(r.prefix) for r in bgp.routes["r1"]} == {
        "198.51.100.240/32",
        "198.51.100.241/32",
        "198.51.100.242/32",
        "198.51.100.243/32",
    }
    services.put(service("s9", "198.51.100.244", pool_name="lan"))  # with a session, Services count again
    ctl.notify("services", None, "default/s9")
    ctl.recompute()
    assert len(decided) == 3


def test_a_failed_pass_is_tried_again_on_the_next_change_whatever_it_is(monkeypatch: Any) -> None:
    from speaker.controllers import bgp as bgp_module

    ctl, bgp, services = counting()
    ctl.recompute()
    real = bgp_module.bgp_node_decision
    monkeypatch.setattr(bgp_module, "bgp_node_decision", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    ctl.notify("ipaddresspools", None, "metallb-system/lan")
    with pytest.raises(RuntimeError):
        ctl.recompute()
    decided = []
    monkeypatch.setattr(bgp_module, "bgp_node_decision", lambda *a: decided.append(1) or real(*a))
    ctl.notify("services", None, "default/web")  # only a Service changed since: the failed pass is still owed
    ctl.recompute()
    assert decided == [1]


def test_without_a_bgppeer_a_service_change_does_not_wake_the_controller() -> None:
    ctl, bgp, services = counting()
    ctl.recompute()  # no BGPPeer handed over
    ctl._dirty.clear()
    ctl.notify("services", None, "default/web")
    assert not ctl._dirty.is_set()
    ctl.notify("nodes", None, "node1")  # anything else still wakes it
    assert ctl._dirty.is_set()


def test_a_service_change_unseen_while_peerless_gets_one_more_pass_once_peers_are_handed() -> None:
    """The pass that hands the first BGPPeer may have read the Services before that change: it asks for another."""
    peers = Cache()
    ctl, bgp, services = counting(bgppeers=peers)
    ctl.recompute()
    ctl.notify("services", None, "default/web")  # not woken for it
    peers.put(peer("r1", "192.0.2.1"))
    ctl.notify("bgppeers", None, "metallb-system/r1")
    ctl._dirty.clear()  # the loop clears it before the pass
    ctl.recompute()
    assert [p.name for p in bgp.peers] == ["r1"]
    assert ctl._dirty.is_set()
    ctl._dirty.clear()
    ctl.recompute()  # nothing unseen any more
    assert not ctl._dirty.is_set()
