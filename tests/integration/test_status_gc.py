"""A dead node's status objects go; a restarting one's stay (speaker/statusgc.py, speaker/liveness.py).

Real speaker processes in the root namespace with ``layer2: {enabled: false}``: each advertises its Services by
BGP to a BGPPeer on 127.0.0.1 where nothing listens (no session ever comes up, no traffic leaves loopback) and
publishes a ServiceBGPStatus per Service, which is what these tests watch. Short Leases (3 s, renewed every 1 s)
keep them quick.
"""

from __future__ import annotations

import random
import socket
import time
from typing import Any

from tests.integration.conftest import NS, Cluster, wait_for

LEASES = {"membership": {"lease_duration": "3s", "lease_renew_interval": "1s"}}


def closed_port() -> int:
    """A loopback port nobody listens on, within the CRD's peerPort range (<= 16384)."""
    for _ in range(100):
        port = random.randint(10000, 16384)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port")


def bgp_setup(cluster: Cluster, nodes: list[str]) -> None:
    for n in nodes:
        cluster.core.create_node({"metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}},
                                  "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    cluster.pool("public", ["192.0.2.0/28"])
    cluster.custom.create_namespaced_custom_object("metallb.io", "v1beta1", NS, "bgpadvertisements", {
        "apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": {"name": "public"},
        "spec": {"ipAddressPools": ["public"]}})
    cluster.custom.create_namespaced_custom_object("metallb.io", "v1beta2", NS, "bgppeers", {
        "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "router"},
        "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "127.0.0.1", "peerPort": closed_port()}})


def bgp_statuses(cluster: Cluster) -> list[tuple[str, str, list[str]]]:
    items = cluster.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, "servicebgpstatuses")["items"]
    return sorted(((o.get("status") or {}).get("node"), (o.get("status") or {}).get("serviceName"),
                   (o.get("status") or {}).get("peers", [])) for o in items)


def start_pair(cluster: Cluster, speakers) -> tuple[Any, Any]:
    bgp_setup(cluster, ["node-a", "node-b"])
    a = speakers("node-a", extra=LEASES)
    wait_for("node-a to lead", a.is_leader, timeout=15)
    b = speakers("node-b", extra=LEASES)
    cluster.service("web")
    cluster.service("db")
    cluster.wait_ips("web")
    cluster.wait_ips("db")
    want = [(n, s, ["router"]) for n in ("node-a", "node-b") for s in ("db", "web")]
    wait_for("a ServiceBGPStatus per node and Service", lambda: bgp_statuses(cluster) == want, timeout=15)
    return a, b


def test_killed_nodes_bgp_status_goes_when_its_lease_runs_out(cluster: Cluster, speakers, kube_api):
    a, b = start_pair(cluster, speakers)
    st = a.status()["liveness"]
    assert st["layer2_source"] == "leases" and st["speakers"]["node-b"]["alive"]
    b.kill()
    t0 = time.monotonic()
    wait_for("node-b's ServiceBGPStatus objects to go", lambda: bgp_statuses(cluster) == [
        ("node-a", "db", ["router"]), ("node-a", "web", ["router"])], timeout=10, interval=0.05)
    took = time.monotonic() - t0
    print(f"kill -9 → the dead node's status objects deleted after {took:.2f}s (lease 3s)")
    assert 1.5 <= took <= 5.5
    assert kube_api.count_requests(verb="delete", resource="servicebgpstatuses") == 2  # one each, nothing twice
    assert "status-gc: the speaker on node node-b is gone (its Lease ran out)" in a.logs()
    assert not a.status()["liveness"]["speakers"]["node-b"]["alive"]


def test_restart_within_the_lease_keeps_the_objects(cluster: Cluster, speakers, kube_api):
    a, b = start_pair(cluster, speakers)
    before = bgp_statuses(cluster)
    writes = {v: kube_api.count_requests(verb=v, resource="servicebgpstatuses") for v in ("create", "delete")}
    b.kill()  # kill -9 and back at once (the new process renews well within the 3 s)
    b = speakers("node-b", extra=LEASES)
    wait_for("node-b synced again", lambda: (st := b.status()) and st["synced"], timeout=15)
    assert b.terminate() == 0  # a clean restart: the Lease is released...
    b = speakers("node-b", extra=LEASES)  # ...and taken again before it would count
    wait_for("node-b synced again", lambda: (st := b.status()) and st["synced"], timeout=15)
    time.sleep(4)  # longer than the Lease: a late sweep would show now
    assert bgp_statuses(cluster) == before
    after = {v: kube_api.count_requests(verb=v, resource="servicebgpstatuses") for v in ("create", "delete")}
    assert after == writes, "a restart made the status objects flap"


def test_stopped_node_deleted_from_the_cluster_loses_its_objects_at_once(cluster: Cluster, speakers):
    a, b = start_pair(cluster, speakers)
    assert b.terminate() == 0  # decommissioning: stop the speaker (Lease released)...
    cluster.core.delete_node("node-b")  # ...and remove the node
    t0 = time.monotonic()
    wait_for("node-b's objects to go", lambda: [n for n, _, _ in bgp_statuses(cluster)] == ["node-a", "node-a"],
             timeout=5, interval=0.05)
    assert time.monotonic() - t0 < 1.5, "waited for the Lease although the Node is gone"


def test_deleted_service_loses_its_status_objects(cluster: Cluster, speakers):
    start_pair(cluster, speakers)
    cluster.core.delete_namespaced_service("web", "default")
    wait_for("web's ServiceBGPStatus objects to go", lambda: bgp_statuses(cluster) == [
        ("node-a", "db", ["router"]), ("node-b", "db", ["router"])], timeout=10)


def test_leader_killed_the_standby_sweeps(cluster: Cluster, speakers):
    """The sweeper is whoever holds the allocator lease: the dead leader's own objects go too."""
    a, b = start_pair(cluster, speakers)
    a.kill()
    wait_for("node-b to lead", b.is_leader, timeout=15)
    wait_for("node-a's objects to go", lambda: [n for n, _, _ in bgp_statuses(cluster)] == ["node-b", "node-b"],
             timeout=15)
