"""Announcement rules aligned with MetalLB's speaker, as scenarios over the pure planning (speaker.plan.announce).

MetalLB: speaker/bgp_controller.go and speaker/layer2_controller.go ``ShouldAnnounce``;
internal/k8s/epslices ``EndpointCanServe``.
"""

from speaker.config.cluster import build_config
from speaker.plan.announce import addressed_services, bgp_plan, l2_plan, peers_for_node
from speaker.plan.election import EXCLUDE_LABEL, NodeInfo, node_info
from speaker.plan.endpoints import ready_nodes_by_service, serving_services


def obj(kind, name, spec):
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "metallb-system", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec,
    }


def svc(name, ip, local=False):
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": "2026-01-02T00:00:00Z",
            "annotations": {"metallb.io/ip-allocated-from-pool": "lan"},
        },
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local" if local else "Cluster"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


def slice_(service, *endpoints):
    return {
        "metadata": {"name": f"{service}-x", "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
        "endpoints": [{"addresses": ["10.244.0.5"], "nodeName": node, "conditions": cond} for node, cond in endpoints],
    }


CFG = build_config(
    [obj("IPAddressPool", "lan", {"addresses": ["198.51.100.0/24"]})],
    [obj("L2Advertisement", "l2", {})],
    [obj("BGPAdvertisement", "bgp", {})],
    [obj("BGPPeer", "router", {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1"})],
)
NODES = {"n1": NodeInfo({}), "n2": NodeInfo({})}
PEERS = peers_for_node(CFG.peers.values(), {})


def routes(services, slices, node=None):
    addressed = addressed_services(services, None)
    excluded = node.why_excluded if node is not None else None
    plan = bgp_plan(
        addressed,
        CFG,
        "n1",
        {},
        ready_nodes_by_service(slices),
        PEERS,
        serving=serving_services(slices),
        node_excluded=excluded,
    )
    return sorted(str(r.prefix) for r in plan["router"])


def test_cluster_service_without_ready_endpoints_is_withdrawn_and_returns_with_one():
    services = [svc("web", "198.51.100.1")]
    down = [slice_("web", ("n2", {"ready": False, "serving": False}))]
    assert routes(services, down) == []
    assert l2_plan(addressed_services(services, None), CFG, NODES, {}, frozenset(NODES), serving_services(down)) == {}
    up = [slice_("web", ("n2", {"ready": True}))]
    assert routes(services, up) == ["198.51.100.1/32"]  # on n1 too: Cluster traffic is forwarded
    assert set(l2_plan(addressed_services(services, None), CFG, NODES, {}, frozenset(NODES), serving_services(up))) == {
        "198.51.100.1"
    }


def test_serving_terminating_endpoints_count_and_stopped_ones_do_not():
    draining = [slice_("web", ("n1", {"ready": False, "serving": True, "terminating": True}))]
    assert ready_nodes_by_service(draining) == {"default/web": frozenset({"n1"})}
    assert routes([svc("web", "198.51.100.1", local=True)], draining) == ["198.51.100.1/32"]
    gone = [slice_("web", ("n1", {"ready": False, "serving": False, "terminating": True}))]
    assert routes([svc("web", "198.51.100.1", local=True)], gone) == []


def test_bgp_honours_the_exclude_label_and_network_unavailable():
    services = [svc("web", "198.51.100.1")]
    up = [slice_("web", ("n2", {"ready": True}))]
    labelled = {"metadata": {"name": "n1", "labels": {EXCLUDE_LABEL: ""}}}
    assert routes(services, up, node_info({"metadata": {"name": "n1", "labels": {"rack": "a"}}})) == ["198.51.100.1/32"]
    assert routes(services, up, node_info(labelled)) == []
    unavailable = node_info(
        {"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "NetworkUnavailable", "status": "True"}]}}
    )
    assert routes(services, up, unavailable) == []
    # MetalLB's ignoreExcludeLB: the label is then not honoured.
    assert routes(services, up, node_info(labelled, ignore_exclude_lb=True)) == ["198.51.100.1/32"]
