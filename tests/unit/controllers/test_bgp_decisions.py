"""This node's BGP decision (``announce.bgp_node_decision``) as a table: sessions, routes, what ServiceBGPStatus says.

No API, no sockets, no controller. Each row is a world (config, this node's labels, Services, ready endpoints) and
what the node must do in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from speaker.config.cluster import build_config
from speaker.plan.announce import ServiceAddresses, bgp_node_decision
from speaker.plan.election import EXCLUDE_LABEL, NodeInfo
from tests.unit.controllers.world import meta, peer, pool

ME = "node1"


def adv(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": meta(name), "spec": spec}


def svc(name: str, ip: str, local: bool = False) -> ServiceAddresses:
    return ServiceAddresses(f"default/{name}", (ip,), "lan", local, "2026-01-01T00:00:00Z")


@dataclass
class View:
    """A ClusterView's lazy parts; reading them when the decision must not is an error."""

    services: list[ServiceAddresses] = field(default_factory=list)
    endpoints: dict[str, frozenset[str]] = field(default_factory=dict)
    forbid_reading: bool = False
    not_serving: frozenset[str] = frozenset()  # Services with no serving endpoint anywhere (the others have one)

    @property
    def addressed(self) -> list[ServiceAddresses]:
        assert not self.forbid_reading, "Services were read although nothing can be advertised"
        return self.services

    @property
    def ready(self) -> dict[str, frozenset[str]]:
        assert not self.forbid_reading, "endpoints were read although nothing can be advertised"
        return self.endpoints

    @property
    def serving(self) -> frozenset[str]:
        assert not self.forbid_reading, "endpoints were read although nothing can be advertised"
        return frozenset(s.key for s in self.services) - self.not_serving


POOL = pool("lan", "198.51.100.240/29")
R1, R2 = peer("r1", "192.0.2.1"), peer("r2", "192.0.2.2", nodeSelectors=[{"matchLabels": {"rack": "b"}}])


@dataclass(frozen=True)
class Case:
    description: str
    objects: dict[str, list[dict[str, Any]]]
    labels: dict[str, str]
    view: View
    sessions: list[str]
    routes: dict[str, list[str]]
    advertised: dict[str, tuple[str, ...]]
    excluded: bool = False
    withdrawn: dict[str, tuple[str, ...]] = field(default_factory=dict)


CASES = [
    Case(
        "no BGPPeer: no session, and no Service is read",
        {"bgp_advertisements": [adv("all")]},
        {},
        View([svc("a", "198.51.100.240")], forbid_reading=True),
        [],
        {},
        {},
    ),
    Case(
        "a peer for another rack only: no session here, nothing read",
        {"bgp_peers": [R2], "bgp_advertisements": [adv("all")]},
        {"rack": "a"},
        View([svc("a", "198.51.100.240")], forbid_reading=True),
        [],
        {},
        {},
    ),
    Case(
        "one peer, one advertisement: every Service's /32",
        {"bgp_peers": [R1], "bgp_advertisements": [adv("all")]},
        {},
        View([svc("a", "198.51.100.240"), svc("b", "198.51.100.241")]),
        ["r1"],
        {"r1": ["198.51.100.240/32", "198.51.100.241/32"]},
        {"default/a": ("r1",), "default/b": ("r1",)},
    ),
    Case(
        "an excluded node keeps its sessions and advertises nothing, reading no Service",
        {"bgp_peers": [R1], "bgp_advertisements": [adv("all")]},
        {EXCLUDE_LABEL: ""},
        View([svc("a", "198.51.100.240")], forbid_reading=True),
        ["r1"],
        {"r1": []},
        {},
        excluded=True,
    ),
    Case(
        "externalTrafficPolicy Local: only from a node with a ready endpoint",
        {"bgp_peers": [R1], "bgp_advertisements": [adv("all")]},
        {},
        View(
            [svc("here", "198.51.100.240", local=True), svc("elsewhere", "198.51.100.241", local=True)],
            {"default/here": frozenset({ME}), "default/elsewhere": frozenset({"node2"})},
        ),
        ["r1"],
        {"r1": ["198.51.100.240/32"]},
        {"default/here": ("r1",)},
    ),
    Case(
        "an advertisement for one peer of two",
        {"bgp_peers": [R1, peer("r3", "192.0.2.3")], "bgp_advertisements": [adv("only-r3", peers=["r3"])]},
        {},
        View([svc("a", "198.51.100.240")]),
        ["r1", "r3"],
        {"r1": [], "r3": ["198.51.100.240/32"]},
        {"default/a": ("r3",)},
    ),
    # MetalLB's BGP ShouldAnnounce: "noEndpoints" (issue 14)
    Case(
        "externalTrafficPolicy Cluster with no serving endpoint anywhere: withdrawn, and said why",
        {"bgp_peers": [R1], "bgp_advertisements": [adv("all")]},
        {},
        View([svc("up", "198.51.100.240"), svc("down", "198.51.100.241")], not_serving=frozenset({"default/down"})),
        ["r1"],
        {"r1": ["198.51.100.240/32"]},
        {"default/up": ("r1",)},
        withdrawn={"default/down": ("198.51.100.241",)},
    ),
    Case(
        "a Local Service goes by its ready nodes, not by the Cluster rule",
        {"bgp_peers": [R1], "bgp_advertisements": [adv("all")]},
        {},
        View(
            [svc("here", "198.51.100.240", local=True)],
            {"default/here": frozenset({ME})},
            not_serving=frozenset({"default/here"}),
        ),
        ["r1"],
        {"r1": ["198.51.100.240/32"]},
        {"default/here": ("r1",)},
    ),
    Case(
        "withdrawn only where an advertisement would advertise it from this node",
        {"bgp_peers": [R1], "bgp_advertisements": [adv("rack-b", nodeSelectors=[{"matchLabels": {"rack": "b"}}])]},
        {"rack": "a"},
        View([svc("down", "198.51.100.241")], not_serving=frozenset({"default/down"})),
        ["r1"],
        {"r1": []},
        {},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_bgp_decision(case: Case) -> None:
    cfg = build_config([POOL], **case.objects)
    assert not cfg.errors, cfg.errors
    d = bgp_node_decision(cfg, ME, NodeInfo(labels=case.labels), case.view, {})
    assert sorted(p.name for p in d.peers) == case.sessions
    assert {peer: sorted(str(r.prefix) for r in rs) for peer, rs in d.routes.items()} == case.routes
    assert dict(d.advertised) == case.advertised
    assert (d.excluded is not None) == case.excluded
    assert dict(d.withdrawn) == case.withdrawn
    # metallb_speaker_announced's BGP rows: every address of a Service advertised to some peer
    assert dict(d.announced) == {s.key: s.ips for s in case.view.services if s.key in case.advertised}


def test_the_routes_memo_carries_over_and_keeps_only_what_is_in_use() -> None:
    cfg = build_config([POOL], bgp_peers=[R1], bgp_advertisements=[adv("all")])
    first = bgp_node_decision(cfg, ME, NodeInfo(), View([svc("a", "198.51.100.240"), svc("b", "198.51.100.241")]), {})
    again = bgp_node_decision(cfg, ME, NodeInfo(), View([svc("a", "198.51.100.240")]), first.memo)
    assert {ip for ip, _ in again.memo} == {"198.51.100.240"}
    assert again.memo[next(iter(again.memo))] is first.memo[next(k for k in first.memo if k[0] == "198.51.100.240")]
