"""Taking over from MetalLB, end to end: MetalLB's objects and Services that MetalLB addressed (status and pool
annotation already written) are handed to a real speaker process. Nothing moves and nothing is rewritten.

The objects are shaped as MetalLB accepts them and this speaker used to refuse: a pool CIDR with host bits (MetalLB's
own BGP docs), a pool written as two entries, a BGPPeer with a passwordSecret, a Service with both
``spec.loadBalancerIP`` and the ``loadBalancerIPs`` annotation (an error in MetalLB, which leaves its address alone).
"""

from __future__ import annotations

import base64
import re
import urllib.request
from pathlib import Path

from speaker.cli import load_manifest
from tests.integration.conftest import NS, Cluster, wait_for

POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"


def _status_writes(kube_api, since: int = 0) -> list[str]:
    """Names of the Services whose status was patched, in order, from request number ``since`` on."""
    log = list(kube_api.request_log)[since:]
    return [
        name
        for verb, _, resource, sub, _, name, _ in log
        if verb == "patch" and resource == "services" and sub == "status"
    ]


def _addressed_by_metallb(cluster: Cluster, name: str, ip: str, pool: str, **kw) -> None:
    cluster.service(name, **kw)
    cluster.core.patch_namespaced_service_status(
        name,
        "default",
        {"metadata": {"annotations": {POOL_ANNOTATION: pool}}, "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}},
        _content_type="application/merge-patch+json",
    )


def test_metallb_objects_and_addressed_services_taken_over_with_nothing_moved(cluster: Cluster, speakers, kube_api):
    cluster.pool("first-pool", ["198.51.100.10/24"])  # host bits, as in MetalLB's BGP docs: used as .0/24
    cluster.pool("split", ["192.0.2.16/29", "192.0.2.24-192.0.2.31"])
    cluster.core.create_namespaced_secret(
        NS,
        {
            "metadata": {"name": "bgp-password"},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": base64.b64encode(b"migration-test-password").decode()},
        },
    )
    cluster.custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta2",
        NS,
        "bgppeers",
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "router"},
            "spec": {
                "myASN": 64512,
                "peerASN": 64513,
                "peerAddress": "192.0.2.1",
                "passwordSecret": {"name": "bgp-password", "namespace": NS},
            },
        },
    )
    held = {
        "web": ("198.51.100.10", "first-pool"),
        "dns": ("198.51.100.0", "first-pool"),
        "edge": ("192.0.2.23", "split"),
        "edge2": ("192.0.2.24", "split"),
    }
    for name, (ip, pool) in held.items():
        _addressed_by_metallb(cluster, name, ip, pool)
    _addressed_by_metallb(
        cluster,
        "both",
        "198.51.100.77",
        "first-pool",
        loadBalancerIP="198.51.100.78",
        annotations={"metallb.io/loadBalancerIPs": "198.51.100.79"},
    )
    before = {name: cluster.svc(name)["metadata"]["resourceVersion"] for name in [*held, "both"]}
    mark = len(kube_api.request_log)

    sp = speakers("node-1")
    wait_for("the speaker to lead", sp.is_leader, timeout=15)
    cluster.service("newcomer")  # processed after the rebuild from status: its address proves the take-over done
    newcomer = cluster.wait_ips("newcomer")
    assert newcomer[0] not in {ip for ip, _ in held.values()} | {"198.51.100.77"}

    warning = cluster.wait_event("first-pool", "ConfigWarning", ns=NS)
    assert "spec.addresses[0]" in warning["message"] and "198.51.100.0/24" in warning["message"]
    refused = cluster.wait_event("both", "LoadBalancerFailed")
    assert "spec.loadBalancerIP" in refused["message"]

    for name, (ip, _) in held.items():
        assert cluster.ips(name) == [ip], f"{name} moved"
    assert cluster.ips("both") == ["198.51.100.77"]
    after = {name: cluster.svc(name)["metadata"]["resourceVersion"] for name in before}
    assert after == before, "a Service that MetalLB addressed was rewritten"
    assert set(_status_writes(kube_api, mark)) == {"newcomer"}, "only the newcomer's status may be written"
    # The allocator builds its config with the Secrets: no spurious "Secret not found" on the peer.
    assert cluster.events("router", NS, "InvalidConfig") == []

    # MetalLB's allocator series, per family and per pool, as its dashboards read them.
    def metric(name: str, pool: str) -> float | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{sp.port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        m = re.search(rf'^{name}{{pool="{pool}"}} (\S+)$', text, re.M)
        return float(m.group(1)) if m else None

    expected = {
        ("metallb_allocator_ipv4_addresses_in_use_total", "first-pool"): 4.0,  # web, dns, both, newcomer
        ("metallb_allocator_ipv4_addresses_total", "first-pool"): 256.0,
        ("metallb_allocator_ipv6_addresses_total", "first-pool"): 0.0,
        ("metallb_allocator_services_allocated_total", "first-pool"): 4.0,
        ("metallb_allocator_services_allocated_total", "split"): 2.0,
        ("metallb_allocator_ipv4_addresses_total", "split"): 16.0,
    }
    wait_for("MetalLB's allocator metrics", lambda: all(metric(n, p) == v for (n, p), v in expected.items()))


def test_metallb_bfd_sample_applies_and_its_use_is_refused_by_name(cluster: Cluster, speakers):
    """configsamples/bgppeer_with_bfdprofile.yaml, as `kubectl apply` sends it: the BFDProfile CRD is installed, so
    both objects are created; the speaker refuses the peer by name and keeps serving the pools."""
    root = Path(__file__).resolve().parents[1] / "data" / "metallb" / "samples"
    for doc in load_manifest((root / "configsamples_bgppeer_with_bfdprofile.yaml").read_text()):
        group, version = doc["apiVersion"].split("/")
        plural = {"BFDProfile": "bfdprofiles", "BGPPeer": "bgppeers"}[doc["kind"]]
        cluster.custom.create_namespaced_custom_object(group, version, NS, plural, doc)
    cluster.pool("lan", ["198.51.100.0/28"])
    speakers("node-1")
    cluster.service("web")
    assert cluster.wait_ips("web") == ["198.51.100.0"]
    peer = load_manifest((root / "configsamples_bgppeer_with_bfdprofile.yaml").read_text())[-1]["metadata"]["name"]
    ev = cluster.wait_event(peer, "InvalidConfig", ns=NS)
    assert "spec.bfdProfile" in ev["message"] and "not supported by the native BGP speaker" in ev["message"]
