"""Fast failover with no configuration: speakers started with only ``--kubeconfig``, ``--node-name`` and
``--namespace`` (tests/l2world.py, ``zero_config``) on a cluster with MetalLB's objects use heartbeats, keyed by
MetalLB's ``memberlist`` Secret — created by the allocator leader when missing, reused when MetalLB made it, and
followed when it is rotated. bench/failover.py measures the failover time; here: the behaviour.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import NS, Cluster, wait_for
from tests.l2world import L2Lab, speakers_stopped
from tests.netlab import Lab


@pytest.fixture
def l2lab(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[L2Lab]:
    with Lab() as lab:
        world = L2Lab(lab, kube_api, cluster, tmp_path, zero_config=True)
        with speakers_stopped(world, request):
            yield world


def _secret(cluster: Cluster):
    items = cluster.core.list_namespaced_secret(NS, field_selector="metadata.name=memberlist").items
    return items[0] if items else None


def _membership(node) -> dict:
    return ((node.status() or {}).get("membership")) or {}


def _all_on_heartbeats(world: L2Lab) -> bool:
    return all(_membership(n).get("mode") == "heartbeats" for n in world.nodes.values())


def _vip(world: L2Lab) -> str:
    world.cluster.service("traefik", ports=[("TCP", 80)])
    ip = world.cluster.wait_ips("traefik")[0]
    wait_for(f"{ip} to be announced by one node", lambda: len(world.announcer_of(ip)) == 1, timeout=20)
    return ip


def _pull_cable_and_see_heartbeats_decide(world: L2Lab, ip: str) -> None:
    """The owner's link goes down; another node answers, and it learnt of the death from the heartbeats."""
    [owner] = world.announcer_of(ip)
    assert wait_for("curl", lambda: world.curl(ip)) == owner
    world.nodes[owner].host.link_down()
    try:
        new = wait_for(
            "another node to answer",
            lambda: (who := world.curl(ip, 0.3)) and who != owner and who,
            timeout=15,
            interval=0.02,
        )
        mem = _membership(world.nodes[new])
        assert mem["mode"] == "heartbeats"
        assert {m["name"]: m["alive"] for m in mem["members"]}[owner] is False
        assert f"membership: peer {owner} dead" in world.nodes[new].log.read_text()
    finally:
        world.nodes[owner].host.link_up()


def test_zero_config_speakers_create_the_key_and_fail_over_on_heartbeats(l2lab: L2Lab):
    assert _secret(l2lab.cluster) is None
    l2lab.start()
    secret = wait_for(
        "the allocator leader to create the memberlist Secret", lambda: _secret(l2lab.cluster), timeout=20
    )
    assert set(secret.data) == {"secretkey"}
    wait_for("every speaker to use heartbeats", lambda: _all_on_heartbeats(l2lab), timeout=20)
    ip = _vip(l2lab)
    _pull_cable_and_see_heartbeats_decide(l2lab, ip)
    key = base64.b64decode(secret.data["secretkey"]).decode()
    for n in l2lab.nodes.values():
        assert key not in n.log.read_text(), f"{n.name} logged the key"


def test_metallbs_secret_is_reused_and_a_rotation_is_followed_without_restart(l2lab: L2Lab):
    # As MetalLB's controller writes it (internal/k8s/k8s.go CreateMlSecret): base64.RawStdEncoding of 16 bytes.
    metallb_value = base64.b64encode(b"metallb-made-key").rstrip(b"=")
    l2lab.cluster.core.create_namespaced_secret(
        NS, {"metadata": {"name": "memberlist"}, "data": {"secretkey": base64.b64encode(metallb_value).decode()}}
    )
    rv = _secret(l2lab.cluster).metadata.resource_version
    l2lab.start()
    wait_for("every speaker to use heartbeats", lambda: _all_on_heartbeats(l2lab), timeout=20)
    assert _secret(l2lab.cluster).metadata.resource_version == rv, "MetalLB's Secret was replaced"
    names = sorted(l2lab.nodes)
    wait_for(
        "every speaker to hear every other",
        lambda: all((n.status() or {}).get("layer2", {}).get("alive") == names for n in l2lab.nodes.values()),
        timeout=10,
    )

    rotated = base64.b64encode(b"a rotated key!!!").rstrip(b"=")
    l2lab.cluster.core.patch_namespaced_secret(
        "memberlist", NS, {"data": {"secretkey": base64.b64encode(rotated).decode()}}
    )
    wait_for(
        "every speaker to take the new key without a restart",
        lambda: all("new heartbeat key in force" in n.log.read_text() for n in l2lab.nodes.values()),
        timeout=15,
    )
    # (That a rotation learnt seconds apart never makes a peer look dead is shown with a simulated LAN in
    # tests/unit/liveness/test_core.py; here the machine's load alone can delay a heartbeat past 200 ms.)
    wait_for(
        "every speaker to hear every other after the rotation",
        lambda: all((n.status() or {}).get("layer2", {}).get("alive") == names for n in l2lab.nodes.values()),
        timeout=10,
    )
    ip = _vip(l2lab)
    _pull_cable_and_see_heartbeats_decide(l2lab, ip)


def test_secret_unreadable_at_start_means_leases_with_the_reason_then_heartbeats(l2lab: L2Lab, kube_api):
    """The API refuses Secrets when the speakers start (an apiserver or etcd in trouble): Layer 2 runs on the
    Leases and every speaker says why, in /status and once in its log; when the API answers again they switch."""
    fault = kube_api.fail(503, resource="secrets", verb="list")
    l2lab.start()
    for n in l2lab.nodes.values():
        mem = wait_for(
            f"{n.name} to report the fallback", lambda: (m := _membership(n)).get("reason") and m, timeout=20
        )
        assert mem["mode"] == "leases"
        assert mem["reason"].startswith("cannot read Secret metallb-system/memberlist (HTTP 503")
    wait_for("the watch to retry a few times", lambda: kube_api.count_requests("list", "secrets") >= 12, timeout=30)
    for n in l2lab.nodes.values():
        assert n.log.read_text().count("cannot read Secret metallb-system/memberlist") == 1, n.name
    for n in l2lab.nodes.values():  # lasting: a Warning on each Node (in "default", as the kubelet's)
        ev = l2lab.cluster.wait_event(n.name, "LeaseFallback", timeout=40)
        assert (ev["type"], ev["involvedObject"]["kind"]) == ("Warning", "Node")
        assert "cannot read Secret metallb-system/memberlist (HTTP 503" in ev["message"]
    kube_api.remove_fault(fault)
    wait_for("every speaker to use heartbeats", lambda: _all_on_heartbeats(l2lab), timeout=60)
    assert _secret(l2lab.cluster) is not None
    for n in l2lab.nodes.values():
        assert l2lab.cluster.wait_event(n.name, "LeaseFallbackEnded", timeout=20)["type"] == "Normal"
        assert len(l2lab.cluster.events(n.name, reason="LeaseFallback")) == 1  # once, not once per check
