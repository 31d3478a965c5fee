"""``status --cluster`` on a node, with the node's own credentials: the speakers' ServiceAccount as
``baremetal.lb.speaker_identity`` creates it, on the emulator with RBAC on (as tests/integration/test_rbac.py).

Everything the report needs is readable with those rights except Events (the speakers only create them): the
report says so under ``unreadable`` and shows the rest, instead of failing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.collection import run_module
from tests.integration.conftest import NS, wait_for
from tests.kubeapi import DEFAULT_TOKEN, ApiServer, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def kube_api(rbac_kube_api: ApiServer) -> ApiServer:
    """The emulator with RBAC on (tests/integration/conftest.py)."""
    return rbac_kube_api


@pytest.fixture
def kubeconfig(kube_api: ApiServer, tmp_path: Path) -> Path:
    """The node's kubeconfig: the identity's token (overrides the conftest's admin kubeconfig)."""
    rc, res = run_module("baremetal.lb.speaker_identity", {"host": kube_api.url, "api_key": DEFAULT_TOKEN})
    assert rc == 0 and res["token"], res
    return write_kubeconfig(tmp_path / "speaker.kubeconfig", kube_api.url, token=res["token"])


def report(kubeconfig: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    out = subprocess.run(
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
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_speakers_own_credentials_show_all_but_events(
    kube_api: ApiServer, cluster, kubeconfig: Path, speakers
) -> None:
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    sp = speakers("node-1")
    cluster.service("traefik")
    [ip] = cluster.wait_ips("traefik")
    r = wait_for(
        "the allocator and the pool's status in the report",
        lambda: (r := report(kubeconfig))["allocator"]["alive"] and r["pools"][0]["assigned_ipv4"] == 1 and r,
        timeout=30,
    )
    assert r["unreadable"] == {"events": "403 Forbidden"}
    assert r["allocator"]["leader"] == sp.node
    assert [(s["node"], s["alive"]) for s in r["speakers"]] == [("node-1", True)]
    assert [(s["service"], s["addresses"], s["pool"]) for s in r["services"]] == [("default/traefik", [ip], "lan")]
    assert r["layer2_liveness"]["mode"] in ("heartbeats", "leases")  # the Secret list was allowed
