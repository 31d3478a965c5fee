"""Ready nodes per Service from EndpointSlices: what eTP=Local announcement decisions rest on."""

from speaker.endpoints import ready_nodes_by_service


def slice_(svc, ns, *eps):
    return {"metadata": {"namespace": ns, "name": f"{svc}-x", "labels": {"kubernetes.io/service-name": svc}},
            "endpoints": [{"nodeName": n, "conditions": c} for n, c in eps]}


def test_ready_unknown_notready_terminating():
    got = ready_nodes_by_service([
        slice_("web", "default", ("n1", {"ready": True}), ("n2", {"ready": False}), ("n3", {})),
        slice_("web", "default", ("n4", {"ready": True, "terminating": True})),
        slice_("db", "prod", ("n2", {"ready": True})),
        {"metadata": {"namespace": "default", "name": "orphan"}, "endpoints": [{"nodeName": "n9"}]},
    ])
    assert got == {"default/web": frozenset({"n1", "n3"}), "prod/db": frozenset({"n2"})}


def test_no_endpoints_means_no_nodes():
    assert ready_nodes_by_service([slice_("web", "default")]) == {}
