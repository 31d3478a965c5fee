"""MetalLB 0.16 ``serviceSelectors``: an advertisement announces only the Services it selects (pure planning)."""

from speaker.config.cluster import build_config
from speaker.plan.announce import addressed_services, bgp_plan, l2_plan, peers_for_node
from speaker.plan.election import NodeInfo


def obj(kind, name, spec, ts="2026-01-01T00:00:00Z"):
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "metallb-system", "creationTimestamp": ts},
        "spec": spec,
    }


def svc(name, ip, labels=None, pool="lan"):
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": "2026-01-02T00:00:00Z",
            "labels": labels or {},
            "annotations": {"metallb.io/ip-allocated-from-pool": pool},
        },
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


POOL = obj("IPAddressPool", "lan", {"addresses": ["198.51.100.0/24"]})
PEERS = [
    obj("BGPPeer", "edge", {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1"}),
    obj("BGPPeer", "core", {"myASN": 64512, "peerASN": 64514, "peerAddress": "192.0.2.2"}),
]
SERVICES = [
    svc("web", "198.51.100.1", {"app": "web"}),
    svc("db", "198.51.100.2", {"app": "db"}),
    svc("plain", "198.51.100.3"),
]
NODES = {"n1": NodeInfo({}), "n2": NodeInfo({})}


def test_l2_announces_only_selected_services():
    cfg = build_config(
        [POOL], [obj("L2Advertisement", "web-only", {"serviceSelectors": [{"matchLabels": {"app": "web"}}]})]
    )
    assert cfg.errors == ()
    plan = l2_plan(addressed_services(SERVICES, None), cfg, NODES, {}, frozenset(NODES))
    assert set(plan) == {"198.51.100.1"}


def test_l2_two_advertisements_union_and_no_selector_means_every_service():
    cfg = build_config(
        [POOL],
        [
            obj("L2Advertisement", "web", {"serviceSelectors": [{"matchLabels": {"app": "web"}}]}),
            obj(
                "L2Advertisement",
                "db",
                {"serviceSelectors": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}]},
            ),
        ],
    )
    plan = l2_plan(addressed_services(SERVICES, None), cfg, NODES, {}, frozenset(NODES))
    assert set(plan) == {"198.51.100.1", "198.51.100.2"}
    everything = build_config([POOL], [obj("L2Advertisement", "all", {})])
    assert len(l2_plan(addressed_services(SERVICES, None), everything, NODES, {}, frozenset(NODES))) == 3


def test_bgp_routes_per_peer_follow_service_selectors():
    cfg = build_config(
        [POOL],
        (),
        [
            obj(
                "BGPAdvertisement",
                "web-to-edge",
                {"peers": ["edge"], "serviceSelectors": [{"matchLabels": {"app": "web"}}]},
            ),
            obj(
                "BGPAdvertisement",
                "db-everywhere",
                {"localPref": 200, "serviceSelectors": [{"matchLabels": {"app": "db"}}]},
            ),
        ],
        PEERS,
    )
    # Different localPref for the same pool: no conflict when serviceSelectors are set (MetalLB skips the check).
    assert cfg.errors == ()
    peers = peers_for_node(cfg.peers.values(), {})
    routes = bgp_plan(addressed_services(SERVICES, None), cfg, "n1", {}, {}, peers)
    prefixes = {peer: sorted(str(r.prefix) for r in rs) for peer, rs in routes.items()}
    assert prefixes == {"edge": ["198.51.100.1/32", "198.51.100.2/32"], "core": ["198.51.100.2/32"]}
