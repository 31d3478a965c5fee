"""MetalLB's rule: a Service with ``allow-shared-ip`` is not announced by Layer 2 when an L2Advertisement that selects
it has ``serviceSelectors`` (metallb/metallb ``speaker/layer2_controller.go`` ``ShouldAnnounce``, the cases of
``speaker/layer2_controller_test.go`` from line 1879). Pure planning, plus the Warning that says why."""

from __future__ import annotations

import pytest

from speaker.config.cluster import build_config
from speaker.plan.announce import (
    SHARED_IP_WITH_SERVICE_SELECTOR,
    addressed_services,
    l2_gap_actions,
    l2_plan,
    l2_unannounced,
)
from speaker.plan.election import NodeInfo

NODES = {"n1": NodeInfo({}), "n2": NodeInfo({})}
VIP = "198.51.100.1"


def obj(kind, name, spec):
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": spec,
    }


POOL = obj("IPAddressPool", "lan", {"addresses": ["198.51.100.0/24"]})
ALL = obj("L2Advertisement", "all", {})
NGINX = obj("L2Advertisement", "nginx", {"serviceSelectors": [{"matchLabels": {"app": "nginx"}}]})
OTHER = obj("L2Advertisement", "other", {"serviceSelectors": [{"matchLabels": {"app": "other"}}]})


def svc(annotations, name="test-svc", ip=VIP):
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": "2026-01-02T00:00:00Z",
            "labels": {"app": "nginx"},
            "annotations": {"metallb.io/ip-allocated-from-pool": "lan", **annotations},
        },
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


SHARED = {"metallb.io/allow-shared-ip": "shared"}
# (description, advertisements, annotations, announced?) — MetalLB's five cases, then the selector that does not
# select this Service (MetalLB looks only at the advertisements matching the Service: l2AdsForService).
CASES = [
    ("allow-shared-ip with serviceSelectors is denied", [NGINX], SHARED, False),
    ("allow-shared-ip without serviceSelectors is allowed", [ALL], SHARED, True),
    ("no allow-shared-ip with serviceSelectors is allowed", [NGINX], {}, True),
    (
        "deprecated allow-shared-ip with serviceSelectors is denied",
        [NGINX],
        {"metallb.universe.tf/allow-shared-ip": "shared"},
        False,
    ),
    ("allow-shared-ip with mixed ads (one with selectors) is denied", [ALL, NGINX], SHARED, False),
    ("an empty annotation value still counts", [NGINX], {"metallb.io/allow-shared-ip": ""}, False),
    ("a selector that does not select the Service does not count", [ALL, OTHER], SHARED, True),
]


@pytest.mark.parametrize(("advs", "annotations", "announced"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_metallb_verdict(advs, annotations, announced):
    cfg = build_config([POOL], advs)
    assert cfg.errors == ()
    services = addressed_services([svc(annotations)], None)
    plan = l2_plan(services, cfg, NODES, {}, frozenset(NODES))
    assert (VIP in plan) is announced
    gaps = l2_unannounced(services, cfg, NODES, {}, frozenset(NODES), plan)
    if announced:
        assert gaps == {}
    else:
        gap = gaps["default/test-svc"]
        assert gap.reason == SHARED_IP_WITH_SERVICE_SELECTOR
        assert "allow-shared-ip" in gap.message and "L2Advertisement nginx" in gap.message


def test_two_services_sharing_one_address_one_refused_the_other_announces_it():
    """Each Service is judged alone, as MetalLB does: the address stays announced for the one an advertisement
    without serviceSelectors selects."""
    other = svc(SHARED, name="other-svc")
    other["metadata"]["labels"] = {"app": "plain"}
    cfg = build_config([POOL], [ALL, NGINX])
    services = addressed_services([svc(SHARED), other], None)
    plan = l2_plan(services, cfg, NODES, {}, frozenset(NODES))
    assert plan[VIP].services == ("default/other-svc",)
    assert set(l2_unannounced(services, cfg, NODES, {}, frozenset(NODES), plan)) == {"default/test-svc"}


def test_the_warning_is_said_once_by_the_leader():
    cfg = build_config([POOL], [NGINX])
    services = addressed_services([svc(SHARED)], None)
    gaps = l2_unannounced(services, cfg, NODES, {}, frozenset(NODES), {})
    warned, said = l2_gap_actions(gaps, {}, leader=True, service_obj=lambda key: None)
    assert [(a.event.type, a.event.reason) for a in said] == [("Warning", "SharedIPWithServiceSelector")]
    assert l2_gap_actions(gaps, warned, leader=True, service_obj=lambda key: None)[1] == ()
    assert l2_gap_actions(gaps, {}, leader=False, service_obj=lambda key: None)[1] == ()
