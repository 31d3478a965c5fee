"""Reading a Service dict (as the API server returns it) into the allocator's request."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from speaker.ipam import service
from speaker.ipam.allocator import Allocator
from speaker.ipam.pool import Pool
from speaker.ipam.ranges import parse_range


def svc(annotations: dict[str, str] | None = None, status_ips: tuple[str, ...] = (), **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "traefik",
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/name": "traefik"},
            "annotations": dict(annotations or {}),
            "creationTimestamp": "2024-03-01T10:00:00Z",
            "uid": "0f6b0c1e-1111-2222-3333-444455556666",
            "resourceVersion": "4711",
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.43.12.7",
            "clusterIPs": ["10.43.12.7"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "allocateLoadBalancerNodePorts": True,
            "selector": {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-kube-system"},
            "ports": [
                {"name": "web", "port": 80, "protocol": "TCP", "targetPort": "web", "nodePort": 31080},
                {"name": "websecure", "port": 443, "protocol": "TCP", "targetPort": "websecure", "nodePort": 31443},
            ],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in status_ips]}},
    }
    base["spec"].update(spec)
    return base


def test_realistic_traefik_service() -> None:
    raw = svc({"metallb.io/address-pool": "lan", "metallb.io/allow-shared-ip": "edge"}, status_ips=("10.1.1.240",))
    before = copy.deepcopy(raw)
    got = service.request_for(raw, namespace_labels={"kubernetes.io/metadata.name": "kube-system"})
    r = got.request
    assert raw == before, "extraction must not modify the Service"
    assert r.key == "kube-system/traefik"
    assert r.namespace == "kube-system"
    assert r.label_map == {"app.kubernetes.io/name": "traefik"}
    assert r.namespace_label_map == {"kubernetes.io/metadata.name": "kube-system"}
    assert r.families == (4,) and r.family_policy == "SingleStack"
    assert r.pool == "lan"
    assert r.requested_ips == ()
    assert r.sharing_key == "edge"
    assert r.ports == frozenset({("TCP", 80), ("TCP", 443)})
    assert r.backend_key == ""
    assert r.current_ips == ("10.1.1.240",)
    assert r.created == "2024-03-01T10:00:00Z"
    assert got.deprecated == () and got.warnings == ()


def test_load_balancer_ips_annotation_comma_separated() -> None:
    raw = svc(
        {"metallb.io/loadBalancerIPs": " 10.1.1.241 , fd00::241 "},
        ipFamilies=["IPv4", "IPv6"],
        ipFamilyPolicy="RequireDualStack",
    )
    r = service.request_for(raw).request
    assert r.requested_ips == ("10.1.1.241", "fd00::241")
    assert r.families == (4, 6) and r.family_policy == "RequireDualStack"


def test_spec_load_balancer_ip() -> None:
    assert service.requested_ips(svc(loadBalancerIP="10.1.1.242")) == ("10.1.1.242",)


def test_annotation_and_spec_load_balancer_ip_together_is_an_error_as_in_metallb() -> None:
    # MetalLB controller/service.go getDesiredLbIPs: "service can not have both ..." → LoadBalancerFailed.
    got = service.request_for(svc({"metallb.io/loadBalancerIPs": "10.1.1.243"}, loadBalancerIP="10.1.1.242"))
    assert got.request.requested_ips == ()
    assert got.error is not None
    assert "metallb.io/loadBalancerIPs (10.1.1.243)" in got.error and "spec.loadBalancerIP (10.1.1.242)" in got.error


def test_deprecated_spellings_are_honoured_and_reported() -> None:
    raw = svc(
        {
            "metallb.universe.tf/address-pool": "old-pool",
            "metallb.universe.tf/loadBalancerIPs": "10.1.1.244",
            "metallb.universe.tf/allow-shared-ip": "old-key",
        }
    )
    got = service.request_for(raw)
    assert (got.request.pool, got.request.requested_ips, got.request.sharing_key) == (
        "old-pool",
        ("10.1.1.244",),
        "old-key",
    )
    assert got.deprecated == (
        "metallb.universe.tf/address-pool",
        "metallb.universe.tf/loadBalancerIPs",
        "metallb.universe.tf/allow-shared-ip",
    )
    assert any("rename it to metallb.io/address-pool" in w for w in got.warnings)


def test_stable_spelling_wins_over_deprecated() -> None:
    raw = svc({"metallb.io/allow-shared-ip": "new", "metallb.universe.tf/allow-shared-ip": "old"})
    got = service.request_for(raw)
    assert got.request.sharing_key == "new"
    assert got.deprecated == ("metallb.universe.tf/allow-shared-ip",)
    assert any("ignored" in w for w in got.warnings)


def test_local_traffic_policy_backend_key_is_the_canonical_selector() -> None:
    a = svc(externalTrafficPolicy="Local", selector={"b": "2", "a": "1"})
    b = svc(externalTrafficPolicy="Local", selector={"a": "1", "b": "2"})
    assert service.backend_key(a) == service.backend_key(b) == "a=1,b=2"
    assert service.backend_key(svc(externalTrafficPolicy="Cluster")) == ""
    assert service.backend_key(svc(externalTrafficPolicy="Local", selector=None)) == ""


def test_ports_protocol_defaults_to_tcp() -> None:
    raw = svc(ports=[{"port": 53, "protocol": "UDP"}, {"port": 53}, {"name": "no-port"}])
    assert service.ports_of(raw) == frozenset({("UDP", 53), ("TCP", 53)})


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"ipFamilies": ["IPv6", "IPv4"]}, (6, 4)),
        ({"ipFamilies": None, "clusterIPs": ["fd00:43::7", "10.43.0.7"]}, (6, 4)),
        ({"ipFamilies": None, "clusterIPs": None, "clusterIP": "10.43.0.7"}, (4,)),
        ({"ipFamilies": None, "clusterIPs": None, "clusterIP": None}, (4,)),
    ],
)
def test_families(spec: dict[str, Any], expected: tuple[int, ...]) -> None:
    assert service.families_of(svc(**spec)) == expected


def test_missing_policy_means_single_stack() -> None:
    assert service.request_for(svc(ipFamilyPolicy=None)).request.family_policy == "SingleStack"


@pytest.mark.parametrize(
    "spec, lb_class, expected",
    [
        ({}, None, True),
        ({"type": "ClusterIP"}, None, False),
        ({"type": "NodePort"}, None, False),
        ({"loadBalancerClass": "example.com/other"}, None, False),
        ({"loadBalancerClass": "baremetal-lb"}, "baremetal-lb", True),
        ({}, "baremetal-lb", False),
    ],
)
def test_is_load_balancer(spec: dict[str, Any], lb_class: str | None, expected: bool) -> None:
    assert service.is_load_balancer(svc(**spec), lb_class) is expected


def test_minimal_dict_does_not_crash() -> None:
    r = service.request_for({"metadata": {"name": "x", "namespace": "y"}}).request
    assert r.key == "y/x" and r.ports == frozenset() and r.current_ips == () and r.families == (4,)


def test_end_to_end_two_services_share_one_address() -> None:
    """TCP and UDP DNS on one address, the use case the sharing key exists for."""
    allocator = Allocator([Pool("lan", (parse_range("10.1.1.240-10.1.1.250"),))])
    common = {"metallb.io/allow-shared-ip": "dns", "metallb.io/loadBalancerIPs": "10.1.1.250"}
    tcp = svc(
        common, externalTrafficPolicy="Local", selector={"k8s-app": "kube-dns"}, ports=[{"port": 53, "protocol": "TCP"}]
    )
    udp = svc(
        common, externalTrafficPolicy="Local", selector={"k8s-app": "kube-dns"}, ports=[{"port": 53, "protocol": "UDP"}]
    )
    udp["metadata"]["name"] = "dns-udp"
    a = allocator.assign(service.request_for(tcp).request)
    b = allocator.assign(service.request_for(udp).request)
    assert a.addresses == b.addresses == ("10.1.1.250",)
