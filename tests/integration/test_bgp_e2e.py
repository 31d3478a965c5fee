"""BGP end to end: real speaker processes in node namespaces, objects through the API, a BIRD router.

What a user of the BGP mode sees: a Service gets an address, every selected node advertises it to the router
(ECMP), ``externalTrafficPolicy: Local`` narrows it to nodes with a ready endpoint, deleting the Service
withdraws it, and a planned stop withdraws before closing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bgplab import BGPCapture, BGPWorld, withdrawn_before_notification
from tests.endpointslices import DRAINING, NOT_READY
from tests.integration.conftest import NS, ROOT, Cluster, wait_for
from tests.l2world import Node
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
    wait_for(
        "a ServiceBGPStatus per advertising node",
        lambda: bgp_statuses(bgp, "web") == [("node1", ["router"]), ("node2", ["router"])],
    )
    bgp.cluster.core.delete_namespaced_service("web", "default")
    wait_for("the route withdrawn", lambda: bgp.next_hops(f"{ip}/32") == [])
    wait_for("the status objects removed", lambda: bgp_statuses(bgp, "web") == [])


def bgp_statuses(bgp: BGPWorld, service: str) -> list[tuple[str, list[str] | None]]:
    return [(node, peers) for node, _, peers in bgp.cluster.announcements("servicebgpstatuses", service)]


def test_local_policy_advertises_only_from_nodes_with_an_endpoint(bgp: BGPWorld):
    for n in bgp.nodes.values():
        n.start()
    bgp.cluster.service("db", ports=[("TCP", 5432)], externalTrafficPolicy="Local", endpoints=["node2"])
    ip = bgp.cluster.wait_ips("db")[0]
    assert wait_for("only node2 advertises", lambda: bgp.next_hops(f"{ip}/32") == ["198.51.100.12"], 30)
    bgp.cluster.endpoints("db", ["node2"], conditions=NOT_READY)
    wait_for("no ready endpoint: nobody advertises", lambda: bgp.next_hops(f"{ip}/32") == [], 15)


def _announced(node: Node) -> list[str]:
    """The BGP series of ``metallb_speaker_announced`` this node serves."""
    return sorted(
        line.rsplit(" ", 1)[0]
        for line in node.metrics().splitlines()
        if line.startswith("metallb_speaker_announced{") and 'protocol="bgp"' in line
    )


def test_cluster_service_with_no_serving_endpoint_is_withdrawn_and_comes_back(bgp: BGPWorld):
    """externalTrafficPolicy Cluster, as MetalLB's BGP ShouldAnnounce ("noEndpoints", issue 14): with no serving
    endpoint anywhere both nodes withdraw the route (the router stops sending traffic every node would drop), say
    so in ``/status`` and the log, and drop their ``metallb_speaker_announced{protocol="bgp"}`` series; both
    advertise it again when an endpoint serves."""
    for n in bgp.nodes.values():
        n.start()
    bgp.cluster.service("web", endpoints=["node1"])
    ip = bgp.cluster.wait_ips("web")[0]
    both = ["198.51.100.11", "198.51.100.12"]
    wait_for("both nodes advertise", lambda: bgp.next_hops(f"{ip}/32") == both, 30)
    for name, n in bgp.nodes.items():
        assert wait_for(f"{name}'s BGP series", lambda n=n: _announced(n), timeout=10) == [
            f'metallb_speaker_announced{{ip="{ip}",node="{name}",protocol="bgp",service="default/web"}}'
        ]
    bgp.cluster.endpoints("web", ["node1"], conditions=NOT_READY)
    wait_for("the route withdrawn by both nodes", lambda: bgp.next_hops(f"{ip}/32") == [], 15)
    why = {"service": "default/web", "ips": [ip], "reason": "no serving endpoint (externalTrafficPolicy: Cluster)"}
    for name, n in bgp.nodes.items():
        assert (n.status() or {}).get("bgp_withdrawn") == [why], name
        assert _announced(n) == [], name
        assert f"bgp: not advertising {ip} (default/web): no serving endpoint" in n.log.read_text(), name
    shown = (
        bgp.nodes["node1"]
        .host.run(
            [sys.executable, "-m", "speaker", "status", "--url", f"http://127.0.0.1:{bgp.nodes['node1'].port}"],
            cwd=ROOT,
        )
        .stdout
    )
    assert f"bgp: NOT ADVERTISED default/web: {ip}: no serving endpoint (externalTrafficPolicy: Cluster)" in shown
    bgp.cluster.endpoints("web", ["node1"], conditions=DRAINING)  # terminating but still serving: counts
    wait_for("advertised again by both nodes", lambda: bgp.next_hops(f"{ip}/32") == both, 15)
    assert all((n.status() or {}).get("bgp_withdrawn") == [] for n in bgp.nodes.values())
    assert all(_announced(n) for n in bgp.nodes.values())


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
