"""Coexistence with MetalLB during a migration (docs/migrating-from-metallb.md, step 1): baremetal-lb runs with a
loadBalancerClass and a namespace of its own while MetalLB still serves the Services it allocated.

MetalLB itself cannot run here (a Go controller and DaemonSet); what it leaves in the cluster is modelled as
MetalLB writes it: its IPAddressPool in metallb-system, and Services without a class whose status and
``metallb.io/ip-allocated-from-pool`` annotation its controller set (MetalLB's controller/service.go writes the
ingress IPs; controller/main.go's ``--lb-class`` is unset, so it handles exactly the class-less Services).
The real speaker process must leave those Services alone and allocate its own from its own pool, so that no
address is ever on two Services.
"""

from __future__ import annotations

from tests.integration.conftest import NS, Cluster

OURS = "baremetal-lb-system"
CLASS = "baremetal-lb.io/lb"
POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"


def metallb_service(cluster: Cluster, name: str, ip: str) -> None:
    cluster.service(name, annotations={POOL_ANNOTATION: "metallb-lan"})
    cluster.core.patch_namespaced_service_status(
        name, "default", {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}
    )


def test_nothing_is_double_allocated_while_both_run(cluster: Cluster, speakers) -> None:
    cluster.pool("metallb-lan", ["10.1.1.240-10.1.1.245"])  # MetalLB's pool, in its namespace
    metallb_service(cluster, "old-a", "10.1.1.240")
    metallb_service(cluster, "old-b", "10.1.1.241")
    cluster.namespace(OURS)
    cluster.custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        OURS,
        "ipaddresspools",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "trial"},
            "spec": {"addresses": ["10.1.1.246-10.1.1.250"]},
        },
    )

    speakers("node-1", extra={"namespace": OURS, "load_balancer_class": CLASS})
    for i in range(3):
        cluster.service(f"new-{i}", loadBalancerClass=CLASS)
    new = {f"new-{i}": cluster.wait_ips(f"new-{i}") for i in range(3)}

    # a class-less Service created now is MetalLB's to serve (its controller is still there): not ours
    cluster.service("old-c")
    cluster.service("new-3", loadBalancerClass=CLASS)
    new["new-3"] = cluster.wait_ips("new-3")

    assert sorted(ip for ips in new.values() for ip in ips) == ["10.1.1.246", "10.1.1.247", "10.1.1.248", "10.1.1.249"]
    assert cluster.ips("old-a") == ["10.1.1.240"] and cluster.ips("old-b") == ["10.1.1.241"]
    assert cluster.ips("old-c") == []
    for name in ("old-a", "old-b"):
        assert cluster.svc(name)["metadata"]["annotations"][POOL_ANNOTATION] == "metallb-lan"
    every = [ip for name in ("old-a", "old-b", "old-c", *new) for ip in cluster.ips(name)]
    assert len(every) == len(set(every)), every
    # MetalLB's pool is not ours to count: baremetal-lb reads its own namespace only
    pools = cluster.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools")["items"]
    assert [p["metadata"]["name"] for p in pools] == ["metallb-lan"]
    assert not (pools[0].get("status") or {}).get("assignedIPv4")
