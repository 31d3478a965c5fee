"""Ready nodes per Service from EndpointSlices: what eTP=Local announcement decisions rest on.

Counted as MetalLB counts (internal/k8s/epslices ``EndpointCanServe``, plus its non-empty addresses check).
"""

from speaker.plan.endpoints import ready_nodes_by_service, serving_services


def slice_(svc, ns, *eps):
    return {
        "metadata": {"namespace": ns, "name": f"{svc}-x", "labels": {"kubernetes.io/service-name": svc}},
        "endpoints": [{"addresses": ["10.244.1.1"], "nodeName": n, "conditions": c} for n, c in eps],
    }


def test_ready_unknown_notready_serving_terminating():
    got = ready_nodes_by_service(
        [
            slice_("web", "default", ("n1", {"ready": True}), ("n2", {"ready": False}), ("n3", {})),
            slice_(
                "web",
                "default",
                ("n4", {"ready": False, "serving": True, "terminating": True}),
                ("n5", {"ready": False, "serving": False, "terminating": True}),
            ),
            slice_("db", "prod", ("n2", {"ready": True})),
            {
                "metadata": {"namespace": "default", "name": "orphan"},
                "endpoints": [{"addresses": ["10.244.1.2"], "nodeName": "n9"}],
            },
        ]
    )
    assert got == {"default/web": frozenset({"n1", "n3", "n4"}), "prod/db": frozenset({"n2"})}


def test_no_endpoints_means_no_nodes():
    assert ready_nodes_by_service([slice_("web", "default")]) == {}


def test_endpoint_without_addresses_does_not_count():
    s = slice_("web", "default", ("n1", {"ready": True}))
    s["endpoints"][0]["addresses"] = []
    assert ready_nodes_by_service([s]) == {} and serving_services([s]) == frozenset()


def test_serving_services_counts_endpoints_without_a_node():
    s = slice_("web", "default", (None, {"ready": True}))
    assert ready_nodes_by_service([s]) == {} and serving_services([s]) == {"default/web"}
