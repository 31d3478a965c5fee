"""Allocation as a user sees it: kubectl-style objects in, Service status, annotations and Events out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import NS, Cluster, wait_for

POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"


def test_service_gets_first_address_of_the_seed_pool(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    speakers("node-1")
    cluster.service("traefik", ports=[("TCP", 80), ("TCP", 443)])
    assert cluster.wait_ips("traefik") == ["10.1.1.240"]
    svc = cluster.svc("traefik")
    assert svc["metadata"]["annotations"][POOL_ANNOTATION] == "lan"
    ev = cluster.wait_event("traefik", "IPAllocated")
    assert "10.1.1.240" in ev["message"] and ev["type"] == "Normal"
    status = wait_for(
        "pool status", lambda: (st := cluster.get_pool("lan").get("status")) and st.get("assignedIPv4") == 1 and st
    )
    assert status["availableIPv4"] == 10


def test_annotations_pool_ips_and_sharing(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    cluster.pool("dmz", ["198.51.100.16/30"], autoAssign=False)
    speakers("node-1")
    cluster.service("auto")
    cluster.service("in-dmz", annotations={"metallb.io/address-pool": "dmz"})
    cluster.service("fixed", annotations={"metallb.io/loadBalancerIPs": "10.1.1.245"})
    cluster.service("dns-tcp", ports=[("TCP", 53)], annotations={"metallb.io/allow-shared-ip": "dns"})
    cluster.service("dns-udp", ports=[("UDP", 53)], annotations={"metallb.io/allow-shared-ip": "dns"})
    assert cluster.wait_ips("auto") == ["10.1.1.240"]
    assert cluster.wait_ips("in-dmz") == ["198.51.100.16"]
    assert cluster.wait_ips("fixed") == ["10.1.1.245"]
    assert cluster.wait_ips("dns-tcp") == cluster.wait_ips("dns-udp")


def test_conflicting_request_fails_with_reason_and_disturbs_nothing(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    speakers("node-1")
    cluster.service("first", annotations={"metallb.io/loadBalancerIPs": "10.1.1.241"})
    assert cluster.wait_ips("first") == ["10.1.1.241"]
    cluster.service("second", annotations={"metallb.io/loadBalancerIPs": "10.1.1.241"})
    ev = cluster.wait_event("second", "AllocationFailed")
    assert "10.1.1.241" in ev["message"] and "default/first" in ev["message"] and ev["type"] == "Warning"
    assert cluster.ips("second") == [] and cluster.ips("first") == ["10.1.1.241"]


def test_deprecated_annotation_works_with_a_warning(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    speakers("node-1")
    cluster.service("old", annotations={"metallb.universe.tf/loadBalancerIPs": "10.1.1.249"})
    assert cluster.wait_ips("old") == ["10.1.1.249"]
    ev = cluster.wait_event("old", "DeprecatedAnnotation")
    assert "metallb.io/loadBalancerIPs" in ev["message"] and ev["type"] == "Warning"


def test_release_on_delete_and_type_change_then_reuse(cluster: Cluster, speakers):
    cluster.pool("tiny", ["198.51.100.8/31"])
    speakers("node-1")
    cluster.service("a")
    cluster.service("b")
    assert sorted(cluster.wait_ips("a") + cluster.wait_ips("b")) == ["198.51.100.8", "198.51.100.9"]
    cluster.service("c")
    cluster.wait_event("c", "AllocationFailed")
    freed = cluster.ips("a")
    cluster.core.delete_namespaced_service("a", "default")
    assert cluster.wait_ips("c") == freed  # the waiting Service gets the freed address
    freed_b = cluster.ips("b")
    cluster.core.patch_namespaced_service("b", "default", {"spec": {"type": "ClusterIP"}})
    wait_for(
        "b's address and pool annotation to be cleared",
        lambda: (
            cluster.ips("b") == [] and POOL_ANNOTATION not in (cluster.svc("b")["metadata"].get("annotations") or {})
        ),
    )
    cluster.wait_event("b", "ClearAssignment")
    cluster.service("d")
    assert cluster.wait_ips("d") == freed_b


def test_load_balancer_class(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    speakers("node-1")
    cluster.service("other-class", loadBalancerClass="example.com/other-lb")
    cluster.service("mine")
    cluster.wait_ips("mine")
    assert cluster.ips("other-class") == []  # someone else's Service: not touched


def test_dual_stack(cluster: Cluster, speakers):
    cluster.pool("dual", ["198.51.100.0/28", "2001:db8:1::/120"])
    speakers("node-1")
    cluster.service("both", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv4", "IPv6"])
    cluster.service("v6", ipFamilyPolicy="SingleStack", ipFamilies=["IPv6"])
    assert cluster.wait_ips("both", count=2) == ["198.51.100.0", "2001:db8:1::"]
    assert cluster.wait_ips("v6") == ["2001:db8:1::1"]


def test_overlapping_pool_is_refused_naming_both_and_nothing_moves(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    speakers("node-1")
    cluster.service("traefik")
    assert cluster.wait_ips("traefik") == ["10.1.1.240"]
    cluster.pool("clash", ["10.1.1.0/24"])
    ev = cluster.wait_event("clash", "InvalidConfig", ns=NS)
    assert "lan" in ev["message"] and "clash" in ev["message"]
    cluster.service("next")
    assert cluster.wait_ips("next") == ["10.1.1.241"]
    assert cluster.ips("traefik") == ["10.1.1.240"]


def test_pool_edited_into_an_error_keeps_addresses(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    speakers("node-1")
    cluster.service("traefik")
    assert cluster.wait_ips("traefik") == ["10.1.1.240"]
    cluster.patch_pool("lan", {"addresses": ["10.1.1.250-10.1.1.240"]})  # reversed: a typo
    ev = cluster.wait_event("lan", "InvalidConfig", ns=NS)
    assert "10.1.1.250-10.1.1.240" in ev["message"]
    cluster.service("later")
    assert cluster.wait_ips("later") == ["10.1.1.241"]  # the last good definition still serves
    assert cluster.ips("traefik") == ["10.1.1.240"]


def test_pool_shrunk_releases_only_addresses_outside(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    speakers("node-1")
    for name in ("a", "b", "c"):
        cluster.service(
            name,
            annotations={"metallb.io/loadBalancerIPs": {"a": "10.1.1.240", "b": "10.1.1.245", "c": "10.1.1.250"}[name]},
        )
        cluster.wait_ips(name)
    cluster.patch_pool("lan", {"addresses": ["10.1.1.240-10.1.1.246"]})
    wait_for("c to lose 10.1.1.250", lambda: cluster.ips("c") == [])
    cluster.wait_event("c", "AllocationFailed")
    assert cluster.ips("a") == ["10.1.1.240"] and cluster.ips("b") == ["10.1.1.245"]


def test_check_config_cli(tmp_path):
    good = tmp_path / "pools.yaml"
    good.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: lan}\n"
        "spec: {addresses: [10.1.1.240-10.1.1.250]}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("10.1.1.240-10.1.1.250", "10.1.1.250-10.1.1.240"))
    speaker_cfg = tmp_path / "speaker.yaml"
    speaker_cfg.write_text("node_name: node-1\nlease: {duration: 1s}\n")

    def run(path):
        return subprocess.run(
            [sys.executable, "-m", "speaker", "check-config", str(path)], capture_output=True, text=True
        )

    assert run(good).returncode == 0
    r = run(bad)
    assert (
        r.returncode == 1 and "IPAddressPool lan: spec.addresses[0]" in r.stderr and "10.1.1.250-10.1.1.240" in r.stderr
    )
    r = run(speaker_cfg)
    assert r.returncode == 1 and "lease: need duration > renew_deadline" in r.stderr


def test_service_allocation_namespaces_selectors_and_priority(cluster: Cluster, speakers):
    cluster.namespace("web", labels={"team": "web"})
    cluster.namespace("lab")
    cluster.pool("general", ["198.51.100.0/28"])
    cluster.pool("web-first", ["198.51.100.32/28"], serviceAllocation={"priority": 10, "namespaces": ["web"]})
    cluster.pool(
        "web-second",
        ["198.51.100.48/28"],
        serviceAllocation={"priority": 20, "namespaceSelectors": [{"matchLabels": {"team": "web"}}]},
    )
    cluster.pool("gpu", ["198.51.100.64/28"], serviceAllocation={"serviceSelectors": [{"matchLabels": {"hw": "gpu"}}]})
    speakers("node-1")
    cluster.service("site", "web")
    cluster.service("notebook", "lab", labels={"hw": "gpu"})
    cluster.service("other", "lab")
    assert cluster.wait_ips("site", "web") == ["198.51.100.32"]  # priority 10 beats 20 and the general pool
    assert cluster.wait_ips("notebook", "lab") == ["198.51.100.64"]
    assert cluster.wait_ips("other", "lab") == ["198.51.100.0"]  # reserved pools are not for it
    # Asking for a reserved pool from the wrong namespace is refused, with the reason.
    cluster.service("sneaky", "lab", annotations={"metallb.io/address-pool": "web-first"})
    ev = cluster.wait_event("sneaky", "AllocationFailed", ns="lab")
    assert "web-first" in ev["message"]


def test_status_command_shows_pools_and_services(cluster: Cluster, speakers):
    cluster.pool("lan", ["10.1.1.240-10.1.1.250"])
    sp = speakers("node-1")
    cluster.service("traefik")
    cluster.wait_ips("traefik")
    wait_for(
        "pool stats in /status", lambda: (st := sp.status()) and st["pools"].get("lan", {}).get("assignedIPv4") == 1
    )
    out = subprocess.run(
        [sys.executable, "-m", "speaker", "status", "--url", f"http://127.0.0.1:{sp.port}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert out.returncode == 0, out.stderr
    assert "allocator: leader" in out.stdout
    assert "lan" in out.stdout and "IPv4 1 used / 10 free" in out.stdout
    assert "default/traefik" in out.stdout and "10.1.1.240" in out.stdout
    wait_for("its own Lease in /status", lambda: (sp.status().get("liveness") or {}).get("speakers", {}).get("node-1"))
    out = subprocess.run(
        [sys.executable, "-m", "speaker", "status", "--url", f"http://127.0.0.1:{sp.port}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert "speakers (Leases 6s): alive node-1" in out.stdout, out.stdout
    gone = subprocess.run(
        [sys.executable, "-m", "speaker", "status", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert gone.returncode == 1 and "no speaker answering" in gone.stderr


def test_installed_command_exists():
    exe = Path(sys.executable).with_name("baremetal-lb")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("baremetal-lb ")
