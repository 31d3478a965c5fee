"""Unmodified clients against the emulator: leader election, kubectl, the subprocess mode;
plus the fault-injection hooks and RBAC the speaker's tests rely on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import urllib3
from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from tests.kubeapi import ApiServer, api_client
from tests.netlab import require_binaries

from .conftest import api_error, lb_service

REPO = Path(__file__).resolve().parents[2]


def _candidate(url: str, token: str, identity: str, led: list[str], stopped: list[str]):
    lock = LeaseLock("speaker-allocator", "kube-system", identity)
    lock.api_instance = client.CoordinationV1Api(api_client(url, token))
    config = electionconfig.Config(
        lock,
        lease_duration=3,
        renew_deadline=2,
        retry_period=1,
        onstarted_leading=lambda: led.append(identity),
        onstopped_leading=lambda: stopped.append(identity),
    )
    election = leaderelection.LeaderElection(config)
    thread = threading.Thread(target=election.run, daemon=True, name=identity)
    thread.start()
    return thread


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_leader_election_with_lease_lock(kube_api, kube_client):
    """kubernetes.leaderelection: one of two candidates leads; when it stops renewing (its lease
    PUTs fail), the other takes over once the lease expires. Exercises GET/POST/PUT+409 on Leases."""
    led: list[str] = []
    stopped: list[str] = []
    a = _candidate(kube_api.url, "token-a", "a", led, stopped)
    assert _wait(lambda: led == ["a"], 3)
    b = _candidate(kube_api.url, "token-b", "b", led, stopped)
    time.sleep(1.2)
    assert led == ["a"], "b must not lead while a renews"
    lease = client.CoordinationV1Api(kube_client).read_namespaced_lease("speaker-allocator", "kube-system")
    assert lease.spec.holder_identity == "a" and lease.spec.lease_duration_seconds == 3
    fault = kube_api.fail(500, verb="update", resource="leases", token="token-a")
    assert _wait(lambda: "a" in stopped, 5), "a stops leading after renew_deadline"
    a.join(2)
    assert _wait(lambda: led == ["a", "b"], 6), "b takes over after the lease expires"
    lease = client.CoordinationV1Api(kube_client).read_namespaced_lease("speaker-allocator", "kube-system")
    assert lease.spec.holder_identity == "b"
    assert fault.hits >= 1
    kube_api.fail(500, verb="update", resource="leases", token="token-b")  # let b's thread end too
    assert _wait(lambda: "b" in stopped, 5)
    b.join(2)


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(kubeconfig.parent))
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(kubeconfig.parent / "cache"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_kubectl_discovery_get_tables_and_delete(kubeconfig, core, custom):
    """kubectl resolves services and a CRD kind via discovery and prints server-side Tables
    (built-in columns; the CRD's additionalPrinterColumns); -o yaml; delete."""
    require_binaries("kubectl")  # a missing kubectl fails: CI installs it (scripts/install-deps)
    core.create_namespaced_service("default", lb_service("web"))
    core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}}
    )
    custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        "default",
        "ipaddresspools",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lan"},
            "spec": {"addresses": ["198.51.100.240-198.51.100.250"]},
        },
    )
    out = _kubectl(kubeconfig, "get", "services,ipaddresspools", "-A")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP"]
    assert "service/web" in out.stdout and "198.51.100.7" in out.stdout
    pool_header = next(line for line in lines if "AUTO ASSIGN" in line)
    assert "ADDRESSES" in pool_header and "ipaddresspool.metallb.io/lan" in out.stdout
    out = _kubectl(kubeconfig, "get", "svc", "web", "-o", "jsonpath={.spec.type}")
    assert (out.returncode, out.stdout) == (0, "LoadBalancer"), out.stderr
    out = _kubectl(kubeconfig, "api-resources", "--api-group=metallb.io", "-o", "name")
    assert "ipaddresspools.metallb.io" in out.stdout.split() and "bgppeers.metallb.io" in out.stdout.split()
    out = _kubectl(kubeconfig, "delete", "ipaddresspool", "lan")
    assert out.returncode == 0, out.stderr
    out = _kubectl(kubeconfig, "get", "ipaddresspool", "lan")
    assert out.returncode != 0 and "NotFound" in out.stderr


def test_subprocess_mode_prints_url_serves_and_stops_on_sigterm(tmp_path):
    """python -m tests.kubeapi 0 prints its URL once listening, serves, and exits 0 on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.kubeapi", "0", "--crds", str(REPO / "speaker" / "crds")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        core = client.CoreV1Api(api_client(url))
        assert "default" in {n.metadata.name for n in core.list_namespace().items}
        with urllib.request.urlopen(f"{url}/apis/metallb.io/v1beta1") as resp:
            assert b"ipaddresspools" in resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pause_refuses_connections_and_resume_serves_again(kube_api, core):
    """pause(): connection refused, like an API server that is down; resume(): same URL works."""
    core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}})
    kube_api.pause()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{kube_api.url}/version", timeout=2)
    with pytest.raises((urllib3.exceptions.MaxRetryError, urllib3.exceptions.ProtocolError)):
        core.read_namespaced_config_map("kept", "default", _request_timeout=2)
    kube_api.resume()
    assert core.read_namespaced_config_map("kept", "default").metadata.name == "kept"


def test_pause_unavailable_answers_503(kube_api, core):
    """pause("unavailable"): every request gets 503 ServiceUnavailable until resume()."""
    kube_api.pause("unavailable")
    code, body = api_error(core.list_namespaced_config_map, "default")
    assert code == 503 and body["reason"] == "ServiceUnavailable"
    kube_api.resume()
    core.list_namespaced_config_map("default")


def test_injected_failures_and_request_counts(kube_api, core):
    """fail(code, verb=, resource=, subresource=, times=) and count_requests(verb, resource, subresource)."""
    core.create_namespaced_service("default", lb_service("s"))
    kube_api.reset_counts()
    fault = kube_api.fail(409, verb="patch", resource="services", subresource="status", times=1)
    body = {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}
    code, status = api_error(core.patch_namespaced_service_status, "s", "default", body)
    assert code == 409 and status["reason"] == "Conflict"
    core.patch_namespaced_service_status("s", "default", body)  # times=1: the second one passes
    core.patch_namespaced_service("s", "default", {"metadata": {"labels": {"a": "b"}}})
    assert fault.hits == 1
    assert kube_api.count_requests(verb="patch", resource="services", subresource="status") == 2
    assert kube_api.count_requests(verb="patch", resource="services", subresource="") == 1
    assert kube_api.count_requests(verb="patch") == 3
    kube_api.request_hook = lambda info: 500 if info.verb == "get" and info.name == "s" else None
    code, _ = api_error(core.read_namespaced_service, "s", "default")
    assert code == 500
    kube_api.request_hook = None


def test_rbac_rules_per_token():
    """authz={token: rules}: allowed verbs pass, others are 403 Forbidden with the real message shape;
    an unknown token is 401."""
    rules = [
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]},
    ]
    with ApiServer(
        authz={
            "admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            "speaker": {"user": "system:serviceaccount:metallb-system:speaker", "rules": rules},
        }
    ) as server:
        admin = client.CoreV1Api(api_client(server.url, "admin"))
        admin.create_namespaced_service("default", lb_service("s"))
        speaker = client.CoreV1Api(api_client(server.url, "speaker"))
        speaker.list_service_for_all_namespaces()
        speaker.patch_namespaced_service_status("s", "default", {"metadata": {"annotations": {"a": "b"}}})
        code, body = api_error(speaker.patch_namespaced_service, "s", "default", {"metadata": {"labels": {}}})
        assert code == 403 and body["reason"] == "Forbidden"
        assert body["message"] == (
            'services "s" is forbidden: User "system:serviceaccount:metallb-system:speaker" '
            'cannot patch resource "services" in API group "" in the namespace "default"'
        )
        code, body = api_error(speaker.list_node)
        assert code == 403 and body["message"].endswith(
            'cannot list resource "nodes" in API group "" at the cluster scope'
        )
        code, _ = api_error(client.CoreV1Api(api_client(server.url, "nobody")).list_namespace)
        assert code == 401


def test_throughput_smoke(kube_api, core):
    """Per-request cost stays small: 600 writes (create, status patch, event) well under budget."""
    events = client.CoreV1Api(core.api_client)
    start = time.monotonic()
    for i in range(200):
        core.create_namespaced_service("default", lb_service(f"s{i}"))
        core.patch_namespaced_service_status(
            f"s{i}", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}
        )
        events.create_namespaced_event(
            "default",
            {
                "metadata": {"generateName": f"s{i}."},
                "reason": "IPAllocated",
                "involvedObject": {"kind": "Service", "name": f"s{i}"},
            },
        )
    assert time.monotonic() - start < 6
    assert kube_api.count_requests(verb="create", resource="events") == 200
