"""BGP end to end: real speaker processes in node namespaces, objects through the API, a BIRD router.

What a user of the BGP mode sees: a Service gets an address, every selected node advertises it to the router
(ECMP), ``externalTrafficPolicy: Local`` narrows it to nodes with a ready endpoint, deleting the Service
withdraws it, and a planned stop withdraws before closing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.bgplab import BGPCapture, BGPWorld, withdrawn_before_notification
from tests.integration.conftest import NS, Cluster, wait_for
from tests.netlab import Lab


@pytest.fixture
def bgp(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BGPWorld]:
    with Lab() as lab:
        world = BGPWorld(lab, kube_api, cluster, tmp_path)
        try:
            yield world
        finally:
            for n in world.nodes.values():
                n.kill()
            world.bird.stop()
            rep = getattr(request.node, "rep_call", None)
            if rep is not None and rep.failed:
                for n in world.nodes.values():
                    if n.log.exists():  # a node that never started has no log
                        print(f"----- {n.name} -----\n{n.log.read_text(errors='replace')[-4000:]}")
                print(f"----- bird -----\n{world.bird.logs()[-3000:]}")


def test_service_advertised_by_every_node_then_withdrawn(bgp: BGPWorld):
    for n in bgp.nodes.values():
        n.start()
    wait_for("both sessions Established", lambda: all(bgp.bird.established(n.ip) for n in bgp.nodes.values()), 30)
    bgp.cluster.service("web")
    ip = bgp.cluster.wait_ips("web")[0]
    assert ip == "192.0.2.0"
    hops = wait_for("ECMP: a route from each node", lambda: (h := bgp.next_hops(f"{ip}/32")) and len(h) == 2 and h)
    assert hops == ["198.51.100.11", "198.51.100.12"]
    assert bgp.bird.routes(4)[f"{ip}/32"][0]["communities"] == ["64512:100"]
    status = bgp.nodes["node1"].status()
    assert any(s["peer"] == "router" and s["state"] == "Established" for s in status["bgp"])
    ev = bgp.cluster.wait_event("router", "SessionEstablished", ns=NS)
    assert "198.51.100.1" in ev["message"] and ev["involvedObject"]["kind"] == "BGPPeer"
    wait_for("a ServiceBGPStatus per advertising node", lambda: bgp_statuses(bgp, "web") == [
        ("node1", ["router"]), ("node2", ["router"])])
    bgp.cluster.core.delete_namespaced_service("web", "default")
    wait_for("the route withdrawn", lambda: bgp.next_hops(f"{ip}/32") == [])
    wait_for("the status objects removed", lambda: bgp_statuses(bgp, "web") == [])


def bgp_statuses(bgp: BGPWorld, service: str) -> list[tuple[str, list[str] | None]]:
    return [(node, peers) for node, _, peers in bgp.cluster.announcements("servicebgpstatuses", service)]


def test_local_policy_advertises_only_from_nodes_with_an_endpoint(bgp: BGPWorld):
    for n in bgp.nodes.values():
        n.start()
    slices = client.DiscoveryV1Api(bgp.cluster.core.api_client)
    slices.create_namespaced_endpoint_slice("default", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}},
        "endpoints": [{"addresses": ["10.244.1.7"], "nodeName": "node2", "conditions": {"ready": True}}],
        "ports": [{"port": 5432, "protocol": "TCP"}]})
    bgp.cluster.service("db", ports=[("TCP", 5432)], externalTrafficPolicy="Local")
    ip = bgp.cluster.wait_ips("db")[0]
    assert wait_for("only node2 advertises", lambda: bgp.next_hops(f"{ip}/32") == ["198.51.100.12"], 30)
    slices.patch_namespaced_endpoint_slice("db-1", "default", {"endpoints": [
        {"addresses": ["10.244.1.7"], "nodeName": "node2", "conditions": {"ready": False}}]})
    wait_for("no ready endpoint: nobody advertises", lambda: bgp.next_hops(f"{ip}/32") == [], 15)


def test_planned_stop_withdraws_first(bgp: BGPWorld):
    for n in bgp.nodes.values():
        n.start()
    bgp.cluster.service("web")
    ip = bgp.cluster.wait_ips("web")[0]
    wait_for("both nodes advertise", lambda: len(bgp.next_hops(f"{ip}/32")) == 2, 30)
    with BGPCapture(bgp.bird.host, bgp.bird.dir) as capture:
        assert bgp.nodes["node1"].terminate() == 0
        wait_for("node1's route gone, node2's kept", lambda: bgp.next_hops(f"{ip}/32") == ["198.51.100.12"], 15)
        # BIRD drops a closed session's routes anyway: what shows the planned stop is the order on the wire.
        withdrawn, note = withdrawn_before_notification(capture.until_notification(bgp.nodes["node1"].ip))
    assert (note.code, note.subcode) == (6, 2)  # Cease / Administrative Shutdown
    assert f"{ip}/32" in withdrawn, f"node1 withdrew {sorted(withdrawn)} before its NOTIFICATION"
    bgp.bird.stop()  # the router goes away: the remaining node tells the user
    ev = bgp.cluster.wait_event("router", "SessionDown", ns=NS, timeout=30)
    assert "node2" in ev["message"] and ev["type"] == "Warning"
