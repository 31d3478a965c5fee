"""Two real speakers whose heartbeat keys differ (node2's key file is not node1's): each names the other, on its
Node as a ``HeartbeatKeyMismatch`` Warning, in ``/status`` (the ``KEY MISMATCH`` line of ``baremetal-lb status``)
and in ``baremetal_lb_membership_key_mismatch``. Speakers in node namespaces against the API emulator
(tests/l2world.py); the pure rules (a rotation is not a mismatch) are in tests/unit/test_node_events.py.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from speaker.cli import status_lines
from tests.integration.conftest import Cluster, wait_for
from tests.l2world import L2Lab, Node, speakers_stopped
from tests.netlab import Lab


@pytest.fixture
def l2lab(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[L2Lab]:
    with Lab() as lab:
        world = L2Lab(lab, kube_api, cluster, tmp_path, nodes=2)
        with speakers_stopped(world, request):
            yield world


def _metric(node: Node, name: str) -> float | None:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/metrics", timeout=2) as r:
            return r.read().decode()

    for line in node.host.call(get).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_a_speaker_with_another_key_is_named_on_both_nodes(l2lab: L2Lab, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text("another-membership-key-0123456789abcdef\n")
    node1, node2 = l2lab.nodes["node1"], l2lab.nodes["node2"]
    node2.config.write_text(node2.config.read_text().replace(str(tmp_path / "membership.key"), str(other)))
    l2lab.start(backends=False)
    for me, peer in ((node1, node2), (node2, node1)):
        ev = l2lab.cluster.wait_event(me.name, "HeartbeatKeyMismatch", timeout=40)
        assert (ev["type"], ev["involvedObject"]["kind"]) == ("Warning", "Node")
        assert ev["message"].startswith(f"heartbeats from {peer.ip}:7947 (node {peer.name}) fail authentication")
        st = me.status() or {}
        mismatch = st["membership"]["key_mismatch"]
        assert [(m["address"], m["node"]) for m in mismatch] == [(f"{peer.ip}:7947", peer.name)]
        assert [line for line in status_lines(st) if "KEY MISMATCH" in line] == [
            f"membership: KEY MISMATCH: heartbeats from {peer.ip}:7947 (node {peer.name}) fail authentication, "
            f"none verify, for {mismatch[0]['for_seconds']:g}s: that speaker has another heartbeat key"
        ]
        assert wait_for("the gauge", lambda: _metric(me, "baremetal_lb_membership_key_mismatch") == 1.0, timeout=10)
        assert st["layer2"]["alive"] == [me.name]  # each sees only itself: why it matters
    assert len(l2lab.cluster.events("node1", reason="HeartbeatKeyMismatch")) == 1  # once while it lasts
