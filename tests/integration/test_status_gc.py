"""A dead node's status objects go; a restarting one's stay (speaker/controllers/statusgc.py,
speaker/kube/speakerlease.py).

Real speaker processes in the root namespace with ``layer2: {enabled: false}``: each advertises its Services by
BGP to a BGPPeer on 127.0.0.1 where nothing listens (no session ever comes up, no traffic leaves loopback) and
publishes a ServiceBGPStatus per Service, which is what these tests watch. Short Leases (3 s, renewed every 1 s)
keep them quick; where a test must tell "after the Lease" from "before it", the Lease is made longer than what the
test waits for, and nothing is judged by the wall clock.
"""

from __future__ import annotations

import random
import socket
from typing import Any

from kubernetes import client

from speaker.kube.speakerlease import COMPONENT_LABEL, LAYER2_LABEL, NAME_LABEL, lease_name
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
        cluster.core.create_node(
            {
                "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
    cluster.pool("public", ["192.0.2.0/28"])
    cluster.custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        NS,
        "bgpadvertisements",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "public"},
            "spec": {"ipAddressPools": ["public"]},
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
            "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "127.0.0.1", "peerPort": closed_port()},
        },
    )


def bgp_statuses(cluster: Cluster) -> list[tuple[str, str, list[str] | None]]:
    """(node, Service, peers — None while the status is not written yet), as ``Cluster.announcements`` reads them."""
    return cluster.announcements("servicebgpstatuses")


def start_pair(cluster: Cluster, speakers, leases: dict[str, Any] = LEASES) -> tuple[Any, Any]:
    bgp_setup(cluster, ["node-a", "node-b"])
    a = speakers("node-a", extra=leases)
    wait_for("node-a to lead", a.is_leader, timeout=15)
    b = speakers("node-b", extra=leases)
    cluster.service("web")
    cluster.service("db")
    cluster.wait_ips("web")
    cluster.wait_ips("db")
    want = [(n, s, ["router"]) for n in ("node-a", "node-b") for s in ("db", "web")]
    wait_for("a ServiceBGPStatus per node and Service", lambda: bgp_statuses(cluster) == want, timeout=30)
    return a, b


def seen_alive(speaker: Any, node: str) -> bool:
    """Whether ``speaker``'s Lease view counts ``node``'s speaker alive (its Lease held and renewed in time)."""
    return bool(speaker.status()["liveness"]["speakers"].get(node, {}).get("alive"))


def test_killed_nodes_bgp_status_goes_when_its_lease_runs_out(cluster: Cluster, speakers, kube_api):
    a, b = start_pair(cluster, speakers)
    st = a.status()["liveness"]
    assert st["layer2_source"] == "leases" and st["speakers"]["node-b"]["alive"]
    b.kill()

    def swept_after_the_lease_ran_out() -> bool:
        swept = bgp_statuses(cluster) == [("node-a", "db", ["router"]), ("node-a", "web", ["router"])]
        # read after the listing: if node-b still counts as alive now, it did when its objects went
        assert not (swept and seen_alive(a, "node-b")), "node-b's objects went while its Lease was still running"
        return swept

    wait_for("node-b's ServiceBGPStatus objects to go", swept_after_the_lease_ran_out, timeout=30, interval=0.05)
    assert kube_api.count_requests(verb="delete", resource="servicebgpstatuses") == 2  # one each, nothing twice
    assert "status-gc: the speaker on node node-b is gone (its Lease ran out)" in a.logs()
    assert not seen_alive(a, "node-b")


def released_control(cluster: Cluster, watcher: Any, node: str, duration: int) -> None:
    """A node whose speaker stopped cleanly *now* (a Node, a released Lease) and owns one ServiceBGPStatus: the
    collector sweeps it one Lease duration from now, so once it is gone, a sweep of any Lease released before
    now would have come too."""
    cluster.core.create_node(
        {
            "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    client.CoordinationV1Api(cluster.core.api_client).create_namespaced_lease(
        NS,
        {
            "metadata": {
                "name": lease_name(node),
                "labels": {NAME_LABEL: "baremetal-lb-speaker", COMPONENT_LABEL: "liveness", LAYER2_LABEL: "false"},
            },
            "spec": {"holderIdentity": "", "leaseDurationSeconds": duration},
        },
    )
    # The object only once the collector has seen the Lease: before, "no Lease" would count from its own start.
    wait_for(
        f"{watcher.node} to see {node}'s Lease", lambda: node in watcher.status()["liveness"]["speakers"], timeout=15
    )
    cluster.custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        NS,
        "servicebgpstatuses",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ServiceBGPStatus",
            "metadata": {
                "name": f"bgp-control-{node}",
                "labels": {
                    "metallb.io/node": node,
                    "metallb.io/service-name": "control",
                    "metallb.io/service-namespace": "default",
                },
            },
        },
    )


def test_restart_within_the_lease_keeps_the_objects(cluster: Cluster, speakers, kube_api):
    # A Lease well beyond a restart on a loaded machine: what is tested is that a restart within it keeps all.
    leases = {"membership": {"lease_duration": "10s", "lease_renew_interval": "1s"}}
    a, b = start_pair(cluster, speakers, leases)
    before = bgp_statuses(cluster)
    writes = {v: kube_api.count_requests(verb=v, resource="servicebgpstatuses") for v in ("create", "delete")}
    b.kill()  # kill -9 and back at once (the new process renews within the Lease duration)
    b = speakers("node-b", extra=leases)
    wait_for("node-b synced again", lambda: (st := b.status()) and st["synced"], timeout=15)
    assert b.terminate() == 0  # a clean restart: the Lease is released...
    released_control(cluster, a, "node-x", 10)
    b = speakers("node-b", extra=leases)  # ...and taken again before it would count
    wait_for("node-b synced again", lambda: (st := b.status()) and st["synced"], timeout=15)
    wait_for(
        "the control's object to be swept (a late sweep of node-b's would have come by now)",
        lambda: all(n != "node-x" for n, _, _ in bgp_statuses(cluster)),
        timeout=60,
    )
    assert bgp_statuses(cluster) == before
    after = {v: kube_api.count_requests(verb=v, resource="servicebgpstatuses") for v in ("create", "delete")}
    assert after == {v: n + 1 for v, n in writes.items()}, "a restart made the status objects flap"  # + the control


def test_stopped_node_deleted_from_the_cluster_loses_its_objects_at_once(cluster: Cluster, speakers):
    # A Lease longer than the wait below: only the Node's deletion can explain a sweep within it.
    a, b = start_pair(cluster, speakers, {"membership": {"lease_duration": "120s", "lease_renew_interval": "1s"}})
    assert b.terminate() == 0  # decommissioning: stop the speaker (Lease released)...
    cluster.core.delete_node("node-b")  # ...and remove the node
    wait_for(
        "node-b's objects to go",
        lambda: [n for n, _, _ in bgp_statuses(cluster)] == ["node-a", "node-a"],
        timeout=60,
        interval=0.05,
    )
    assert "status-gc: the speaker on node node-b is gone (its Node is deleted)" in a.logs()


def test_deleted_service_loses_its_status_objects(cluster: Cluster, speakers):
    start_pair(cluster, speakers)
    cluster.core.delete_namespaced_service("web", "default")
    wait_for(
        "web's ServiceBGPStatus objects to go",
        lambda: bgp_statuses(cluster) == [("node-a", "db", ["router"]), ("node-b", "db", ["router"])],
        timeout=10,
    )


def test_leader_killed_the_standby_sweeps(cluster: Cluster, speakers):
    """The sweeper is whoever holds the allocator lease: the dead leader's own objects go too."""
    a, b = start_pair(cluster, speakers)
    a.kill()
    wait_for("node-b to lead", b.is_leader, timeout=15)
    wait_for(
        "node-a's objects to go", lambda: [n for n, _, _ in bgp_statuses(cluster)] == ["node-b", "node-b"], timeout=15
    )
