"""A 3-node all-control-plane homelab, as kubeadm labels it: every Node carries
``node.kubernetes.io/exclude-from-external-load-balancers``, so no node may announce. The speakers say so — one
``NoEligibleNode`` Warning Event per Service (not one per reconcile or per speaker), the reason in ``/status`` —
and ``ignore_exclude_lb`` (MetalLB's ``--ignore-exclude-lb``) makes the same nodes announce.
Real speakers in node namespaces against the API emulator (tests/l2world.py).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from speaker.plan.election import EXCLUDE_LABEL
from tests.integration.conftest import Cluster, wait_for
from tests.l2world import L2Lab, speakers_stopped
from tests.netlab import Lab


@pytest.fixture
def l2lab(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[L2Lab]:
    with Lab() as lab:
        world = L2Lab(lab, kube_api, cluster, tmp_path)
        for name in world.nodes:  # kubeadm's control-plane labels
            cluster.core.patch_node(
                name, {"metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", EXCLUDE_LABEL: ""}}}
            )
        with speakers_stopped(world, request):
            yield world


def _unannounced(node) -> list[dict]:
    return (((node.status() or {}).get("layer2")) or {}).get("unannounced") or []


def _gauge(node) -> list[str]:
    """The node's baremetal_lb_address_unannounced series, as served on /metrics."""

    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/metrics", timeout=2) as r:
            return r.read().decode()

    return [line for line in node.host.call(get).splitlines() if line.startswith("baremetal_lb_address_unannounced{")]


def test_all_control_plane_nodes_no_announcer_one_warning_and_the_setting_fixes_it(l2lab: L2Lab):
    cluster = l2lab.cluster
    l2lab.start()
    cluster.service("traefik", ports=[("TCP", 80)])
    [ip] = cluster.wait_ips("traefik")
    event = cluster.wait_event("traefik", "NoEligibleNode", timeout=20)
    assert event["type"] == "Warning"
    assert event["message"] == (
        f"{ip}: no node may announce it: node1, node2, node3: labelled {EXCLUDE_LABEL} "
        f"(set ignore_exclude_lb to announce from them)"
    )
    for n in l2lab.nodes.values():  # every speaker shows it, and why it announces nothing itself
        st = wait_for(f"{n.name}'s /status to show the gap", lambda: _unannounced(n) and n.status(), timeout=10)
        assert st["layer2"]["unannounced"] == [
            {"service": "default/traefik", "ips": [ip], "reason": "NoEligibleNode", "message": event["message"]}
        ]
        assert st["layer2"]["excluded"].startswith(f"labelled {EXCLUDE_LABEL}")
        # and serves it as a metric (BaremetalLBAddressNotAnnounced)
        assert _gauge(n) == [
            f'baremetal_lb_address_unannounced{{ip="{ip}",protocol="layer2",reason="NoEligibleNode",'
            f'service="default/traefik"}} 1.0'
        ]
    assert l2lab.announcer_of(ip) == [] and l2lab.curl(ip) is None

    # More reconciles (a second Service, Node changes that do not change the reason): no second Event for traefik.
    for name in l2lab.nodes:
        cluster.core.patch_node(name, {"metadata": {"labels": {"touched": "yes"}}})
    cluster.service("grafana", ports=[("TCP", 80)])
    cluster.wait_event("grafana", "NoEligibleNode", timeout=20)
    assert len(cluster.events("traefik", reason="NoEligibleNode")) == 1

    # The setting: the same nodes announce.
    for n in l2lab.nodes.values():
        n.terminate()
        n.config.write_text(n.config.read_text() + "ignore_exclude_lb: true\n")
    l2lab.start(backends=False)
    wait_for(f"{ip} to be announced by one node", lambda: len(l2lab.announcer_of(ip)) == 1, timeout=30)
    assert wait_for("curl", lambda: l2lab.curl(ip)) in l2lab.nodes
    for n in l2lab.nodes.values():
        st = wait_for(
            f"{n.name}: no gap", lambda: (s := n.status()) and not s["layer2"]["unannounced"] and s, timeout=15
        )
        assert st["layer2"]["excluded"] is None and st["layer2"]["ignore_exclude_lb"] is True
        assert _gauge(n) == []
