"""``baremetal-lb status --cluster`` against two real Layer 2 speakers (tests/l2world.py) and the API emulator:
the command a user runs, as a subprocess, with an admin kubeconfig — then one speaker killed with -9.

Prints the table it read (``pytest -s``): docs/troubleshooting.md's sample is that output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import NS, Cluster, wait_for
from tests.kubeapi import DEFAULT_TOKEN, write_kubeconfig
from tests.l2world import L2Lab, speakers_stopped
from tests.netlab import Lab

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def world(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[L2Lab]:
    with Lab() as lab:
        l2 = L2Lab(lab, kube_api, cluster, tmp_path, nodes=2)
        with speakers_stopped(l2, request):
            l2.start(backends=False)
            yield l2


def cluster_status(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "speaker",
            "status",
            "--cluster",
            "--config",
            os.devnull,
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            NS,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def report(kubeconfig: Path) -> dict[str, Any]:
    out = cluster_status(kubeconfig, "--output", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def problems(r: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["kind"], p["object"]) for p in r["problems"]]


def test_cluster_status_shows_announcers_gaps_and_a_dead_speaker(world: L2Lab, kube_api, tmp_path: Path) -> None:
    cluster = world.cluster
    admin = write_kubeconfig(tmp_path / "admin.kubeconfig", kube_api.url, token=DEFAULT_TOKEN)
    cluster.service("traefik", ports=[("TCP", 80), ("TCP", 443)])
    [vip] = cluster.wait_ips("traefik")
    # a second pool that nothing advertises, and a Service taking an address from it: assigned, never announced
    cluster.pool("dmz", ["198.51.100.251/32"])
    cluster.service("dns", ports=[("UDP", 53)], annotations={"metallb.io/address-pool": "dmz"})
    [dmz_ip] = cluster.wait_ips("dns")
    # and one asking for more than the pool has: pending, with the allocator's Event saying why
    cluster.service("late", annotations={"metallb.io/address-pool": "dmz"})
    cluster.wait_event("late", "AllocationFailed")
    wait_for(f"{vip} announced by one node", lambda: len(world.announcer_of(vip)) == 1, timeout=30)
    [owner] = world.announcer_of(vip)
    wait_for(
        "traefik's ServiceL2Status",
        lambda: (
            [(n, names) for n, _, names in cluster.announcements("servicel2statuses", "traefik")] == [(owner, ["eth0"])]
        ),
        timeout=30,
    )

    def settled() -> dict[str, Any] | None:
        r = report(admin)
        pools = {p["name"]: p for p in r["pools"]}
        return (
            r
            if pools.get("dmz", {}).get("assigned_ipv4") == 1
            and pools["lan"].get("assigned_ipv4") == 1
            and [(s["alive"], s["liveness"]) for s in r["speakers"]] == [(True, "heartbeats")] * 2
            else None
        )

    # the speakers have heartbeat key files (no memberlist Secret): each says "heartbeats" on its Lease, so no
    # Lease fallback is claimed from the missing Secret
    r = wait_for("the pools' status written and both speakers' Leases saying heartbeats", settled, timeout=30)
    assert r["layer2_liveness"]["mode"] == "heartbeats"
    assert r["allocator"]["alive"] and r["allocator"]["leader"] in world.nodes
    assert [(s["node"], s["alive"], s["layer2"]) for s in r["speakers"]] == [
        ("node1", True, True),
        ("node2", True, True),
    ]
    svcs = {s["service"]: s for s in r["services"]}
    assert svcs["default/traefik"]["addresses"] == [vip] and svcs["default/traefik"]["pool"] == "lan"
    assert svcs["default/traefik"]["layer2"] == [{"node": owner, "interfaces": ["eth0"]}]
    assert svcs["default/traefik"]["ports"] == ["80/TCP", "443/TCP"]
    assert svcs["default/dns"]["addresses"] == [dmz_ip] and svcs["default/dns"]["layer2"] == []
    assert svcs["default/late"]["addresses"] == []
    assert svcs["default/late"]["last_warning"]["reason"] == "AllocationFailed"
    pools = {p["name"]: p for p in r["pools"]}
    assert pools["dmz"]["exhausted"] == ["IPv4"] and pools["dmz"]["usage_percent"] == 100.0
    assert problems(r) == [
        ("PoolExhausted", "IPAddressPool dmz"),
        ("NoAdvertisement", "IPAddressPool dmz"),
        ("NoAddress", "Service default/late"),
    ]

    table = cluster_status(admin)
    assert table.returncode == 0, table.stderr
    print("\n$ baremetal-lb status --cluster\n" + table.stdout)
    row = next(line for line in table.stdout.splitlines() if line.startswith("default/traefik"))
    assert row.split()[1] == vip and row.endswith(f"{owner} (eth0)")

    # kill -9 the owner: its Lease expires, the other node takes the address over and says so
    world.nodes[owner].kill()
    [other] = [n for n in world.nodes if n != owner]

    def moved() -> dict[str, Any] | None:
        r = report(admin)
        svc = next(s for s in r["services"] if s["service"] == "default/traefik")
        dead = [s["node"] for s in r["speakers"] if not s["alive"]]
        return r if dead == [owner] and svc["layer2"] == [{"node": other, "interfaces": ["eth0"]}] else None

    r = wait_for(f"the report to show {owner} down and {other} announcing {vip}", moved, timeout=60)
    assert ("SpeakerDown", f"Node {owner}") in problems(r)
    table = cluster_status(admin)
    print(f"\n$ baremetal-lb status --cluster      # after kill -9 of {owner}'s speaker\n" + table.stdout)
