"""Status subresource and Service defaulting conformance."""

from __future__ import annotations

from kubernetes import client

from .conftest import api_error, lb_service

POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "lan"},
    "spec": {"addresses": ["198.51.100.240-198.51.100.250"]},
}


def test_service_defaults_like_the_real_server(core):
    """Service defaulting: type, protocol, targetPort, affinity, families, cluster IP, node ports."""
    svc = core.create_namespaced_service("default", {"metadata": {"name": "c"}, "spec": {"ports": [{"port": 53}]}})
    s = svc.spec
    assert (s.type, s.session_affinity, s.internal_traffic_policy) == ("ClusterIP", "None", "Cluster")
    assert (s.ports[0].protocol, s.ports[0].target_port) == ("TCP", 53)
    assert s.ports[0].node_port is None and s.external_traffic_policy is None
    assert (s.ip_family_policy, s.ip_families) == ("SingleStack", ["IPv4"])
    assert s.cluster_ip.startswith("10.") and s.cluster_ips == [s.cluster_ip]
    assert svc.status.load_balancer.to_dict() == {"ingress": None}

    lb = core.create_namespaced_service("default", lb_service("lb", ipFamilyPolicy="RequireDualStack")).spec
    assert lb.external_traffic_policy == "Cluster" and lb.allocate_load_balancer_node_ports is True
    assert 30000 <= lb.ports[0].node_port <= 32767
    assert lb.ip_families == ["IPv4", "IPv6"] and len(lb.cluster_ips) == 2 and ":" in lb.cluster_ips[1]
    local = core.create_namespaced_service("default", lb_service("local", externalTrafficPolicy="Local")).spec
    assert 30000 <= local.health_check_node_port <= 32767
    assert local.health_check_node_port != local.ports[0].node_port


def test_cluster_ip_conflicts_and_immutability(core):
    """A taken clusterIP is 422; clusterIP cannot change; a PUT omitting it keeps it."""
    a = core.create_namespaced_service("default", lb_service("a"))
    code, body = api_error(core.create_namespaced_service, "default", lb_service("b", clusterIP=a.spec.cluster_ip))
    assert code == 422 and "already allocated" in body["message"]
    svc = core.read_namespaced_service("a", "default")
    svc.spec.cluster_ip, svc.spec.cluster_ips = None, None
    for p in svc.spec.ports:
        p.node_port = None
    again = core.replace_namespaced_service("a", "default", svc)
    assert again.spec.cluster_ip == a.spec.cluster_ip and again.spec.ports[0].node_port == a.spec.ports[0].node_port
    code, _ = api_error(core.patch_namespaced_service, "a", "default", {"spec": {"clusterIP": "10.96.5.5"}})
    assert code == 422


def test_service_status_ignored_on_main_resource(core):
    """PUT/PATCH to the Service ignores status changes (status is a subresource)."""
    core.create_namespaced_service("default", lb_service("s"))
    svc = core.patch_namespaced_service(
        "s",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}, "metadata": {"labels": {"a": "b"}}},
    )
    assert svc.status.load_balancer.ingress is None and svc.metadata.labels == {"a": "b"}


def test_service_status_ignores_spec_but_keeps_metadata(core):
    """serviceStatusStrategy.PrepareForUpdate only resets spec: annotations sent to /status persist."""
    created = core.create_namespaced_service("default", lb_service("s"))
    svc = core.patch_namespaced_service_status(
        "s",
        "default",
        {
            "metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "lan"}},
            "spec": {"type": "ClusterIP"},
            "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}},
        },
    )
    assert svc.spec.type == "LoadBalancer" and svc.spec.cluster_ip == created.spec.cluster_ip
    assert svc.metadata.annotations == {"metallb.io/ip-allocated-from-pool": "lan"}
    ingress = svc.status.load_balancer.ingress[0]
    assert (ingress.ip, ingress.ip_mode) == ("198.51.100.1", "VIP")
    # PUT through /status too, with the resourceVersion check.
    svc.status.load_balancer.ingress = []
    svc.spec.ports[0].port = 81
    put = core.replace_namespaced_service_status("s", "default", svc)
    assert put.status.load_balancer.ingress is None and put.spec.ports[0].port == 80
    code, _ = api_error(core.replace_namespaced_service_status, "s", "default", svc)  # stale now
    assert code == 409


def test_service_status_validation(core):
    """status.loadBalancer.ingress[].ip must be an IP address (ValidateServiceStatusUpdate)."""
    core.create_namespaced_service("default", lb_service("s"))
    code, body = api_error(
        core.patch_namespaced_service_status,
        "s",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"ip": "not-an-ip"}]}}},
    )
    assert code == 422
    assert body["details"]["causes"][0]["field"] == "status.loadBalancer.ingress[0].ip"


def test_changing_type_away_from_loadbalancer_clears_status(core):
    """dropTypeDependentFields: a Service no longer of type LoadBalancer loses its LB status and node ports."""
    core.create_namespaced_service("default", lb_service("t"))
    core.patch_namespaced_service_status(
        "t", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}
    )
    svc = core.patch_namespaced_service("t", "default", {"spec": {"type": "ClusterIP"}})
    assert svc.status.load_balancer.ingress is None
    assert svc.spec.ports[0].node_port is None and svc.spec.external_traffic_policy is None


def test_node_status_keeps_metadata_and_ignores_spec(core):
    """Nodes: status sent on create is kept; /status resets spec only; main update ignores status."""
    core.create_node(
        {
            "metadata": {"name": "n1"},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}]},
        }
    )
    node = core.patch_node_status(
        "n1",
        {
            "metadata": {"labels": {"l": "v"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    assert node.metadata.labels["l"] == "v" and not node.spec.unschedulable
    assert node.status.conditions[0].type == "Ready" and node.status.addresses[0].address == "192.0.2.1"
    node = core.patch_node("n1", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert node.status.conditions[0].status == "True"


def test_custom_resource_status_subresource(custom):
    """CRs (apiextensions statusStrategy): /status keeps only status — labels, annotations, spec reset;
    the main resource ignores status; status is dropped on create."""
    body = dict(POOL, status={"ignored": True})
    created = custom.create_namespaced_custom_object("metallb.io", "v1beta1", "default", "ipaddresspools", body)
    assert "status" not in created
    after = custom.patch_namespaced_custom_object_status(
        "metallb.io",
        "v1beta1",
        "default",
        "ipaddresspools",
        "lan",
        {
            "metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}, "finalizers": ["f/x"]},
            "spec": {"autoAssign": False},
            "status": {"assignedIPv4": 3},
        },
    )
    assert "labels" not in after["metadata"] and "annotations" not in after["metadata"]
    assert "finalizers" not in after["metadata"]
    assert after["spec"]["autoAssign"] is True
    assert after["status"] == {"assignedIPv4": 3}
    main = custom.patch_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        "default",
        "ipaddresspools",
        "lan",
        {"status": {"assignedIPv4": 9}, "spec": {"autoAssign": False}},
    )
    assert main["status"] == {"assignedIPv4": 3} and main["spec"]["autoAssign"] is False


def test_generation_bumps_on_spec_change_only(custom):
    """CR metadata.generation starts at 1 and moves only when the spec changes."""
    created = custom.create_namespaced_custom_object("metallb.io", "v1beta1", "default", "ipaddresspools", POOL)
    assert created["metadata"]["generation"] == 1
    labelled = custom.patch_namespaced_custom_object(
        "metallb.io", "v1beta1", "default", "ipaddresspools", "lan", {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    status = custom.patch_namespaced_custom_object_status(
        "metallb.io", "v1beta1", "default", "ipaddresspools", "lan", {"status": {"assignedIPv4": 1}}
    )
    assert status["metadata"]["generation"] == 1
    changed = custom.patch_namespaced_custom_object(
        "metallb.io", "v1beta1", "default", "ipaddresspools", "lan", {"spec": {"autoAssign": False}}
    )
    assert changed["metadata"]["generation"] == 2


def test_lease_round_trip(kube_client):
    """coordination.k8s.io Leases keep MicroTime fields and honour resourceVersion on PUT."""
    api = client.CoordinationV1Api(kube_client)
    lease = api.create_namespaced_lease(
        "kube-node-lease",
        {
            "metadata": {"name": "n1"},
            "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 10, "renewTime": "2026-11-24T00:00:00.123456Z"},
        },
    )
    assert lease.spec.renew_time.microsecond == 123456
    lease.spec.holder_identity = "n2"
    api.replace_namespaced_lease("n1", "kube-node-lease", lease)
    code, _ = api_error(api.replace_namespaced_lease, "n1", "kube-node-lease", lease)
    assert code == 409


def test_time_fields_are_normalised_and_zone_required(kube_client):
    """metav1.MicroTime decodes RFC 3339 with a zone and re-encodes in UTC with 6 digits;
    a time without a zone is a 400 like Go's time.Parse failure."""
    api = client.CoordinationV1Api(kube_client)
    lease = api.create_namespaced_lease(
        "default", {"metadata": {"name": "t"}, "spec": {"renewTime": "2026-11-24T08:00:00.5+01:00"}}
    )
    raw = api.api_client.sanitize_for_serialization(lease)
    assert raw["spec"]["renewTime"] in ("2026-11-24T07:00:00.500000Z", "2026-11-24T07:00:00.500000+00:00")
    code, body = api_error(
        api.create_namespaced_lease,
        "default",
        {"metadata": {"name": "u"}, "spec": {"renewTime": "2026-11-24T08:00:00.000001"}},
    )
    assert code == 400 and body["reason"] == "BadRequest"


def test_node_port_range_exhaustion(core):
    """With every node port taken, a LoadBalancer Service fails 500 "range is full", as upstream
    (set allocateLoadBalancerNodePorts: false to create more LoadBalancers than node ports)."""
    from tests.kubeapi import ApiServer, api_client

    with ApiServer(node_port_range=(30000, 30001)) as server:
        small = client.CoreV1Api(api_client(server.url))
        small.create_namespaced_service(
            "default", lb_service("a", ports=[{"name": "a", "port": 1}, {"name": "b", "port": 2}])
        )
        code, body = api_error(small.create_namespaced_service, "default", lb_service("b"))
        assert code == 500 and body["message"].endswith("failed to allocate a nodePort: range is full")
        svc = small.create_namespaced_service("default", lb_service("c", allocateLoadBalancerNodePorts=False))
        assert svc.spec.ports[0].node_port is None
        small.delete_namespaced_service("a", "default")
        small.create_namespaced_service("default", lb_service("b"))  # ports were released


def test_headless_and_external_name_services(core):
    """clusterIP: None keeps "None" in clusterIPs; ExternalName gets no cluster IP or families."""
    headless = core.create_namespaced_service(
        "default", {"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "selector": {"a": "b"}}}
    )
    assert headless.spec.cluster_ips == ["None"] and headless.spec.ip_families == ["IPv4"]
    ext = core.create_namespaced_service(
        "default", {"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}
    )
    assert ext.spec.cluster_ip is None and ext.spec.ip_families is None
