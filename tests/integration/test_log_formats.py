"""The speaker's structured logs, from a real speaker process against the API emulator:

- ``log_format: journal`` to a real systemd-journald (run in a private mount namespace with tmpfs over /run/systemd,
  /run/log and /var/log/journal, so the machine's own journal, if any, is never touched): ``journalctl
  SERVICE=default/traefik`` selects the Service's lines, as docs/speaker.md promises;
- ``log_format: json`` at debug with every secret the speaker handles set (heartbeat key file, metrics bearer
  token, a BGP password Secret, the kubeconfig's token): every line is one JSON object with the stable keys, and no
  secret appears in the log.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import NS, ROOT, Cluster, SpeakerProcess, wait_for
from tests.kubeapi import DEFAULT_TOKEN

pytestmark = pytest.mark.timeout(180)
JOURNALD = "/lib/systemd/systemd-journald"


@pytest.fixture
def journal() -> Iterator[int]:
    """A systemd-journald in its own mount namespace; yields its pid (``nsenter -t PID -m`` joins it)."""
    missing = [p for p in ("unshare", "nsenter", "journalctl") if shutil.which(p) is None]
    if missing or not Path(JOURNALD).exists():
        pytest.fail(f"not installed: {missing or JOURNALD} (systemd, util-linux)")
    proc = subprocess.Popen(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-ec",
            "for d in /run/systemd /run/log /var/log/journal; do mkdir -p $d; "
            "mount -t tmpfs tmpfs $d; done; mkdir -p /run/systemd/journal; exec " + JOURNALD,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            "journald's socket",
            lambda: (
                subprocess.run(
                    ["nsenter", "-t", str(proc.pid), "-m", "test", "-S", "/run/systemd/journal/socket"]
                ).returncode
                == 0
                or proc.poll() is not None
            ),
            timeout=20,
        )
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(5)


def journalctl(pid: int, *match: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "journalctl", "--no-pager", "-o", "json", *match],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def test_journal_fields_select_a_services_lines(
    journal: int, kube_api, kubeconfig: Path, cluster: Cluster, tmp_path: Path
) -> None:
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    sp = SpeakerProcess(kubeconfig, "node-1", tmp_path, extra={"log_format": "journal"})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("KUBECONFIG", None)
    with open(sp.log, "ab") as logf:
        proc = subprocess.Popen(
            [
                "nsenter",
                "-t",
                str(journal),
                "-m",
                sys.executable,
                "-m",
                "speaker",
                "speaker",
                "--config",
                str(sp.config),
                "--kubeconfig",
                str(kubeconfig),
            ],
            env=env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        cluster.service("traefik")
        [ip] = cluster.wait_ips("traefik", timeout=30)
        lines = wait_for(
            "the IPAllocated line in the journal under SERVICE=default/traefik",
            lambda: [
                e for e in journalctl(journal, "SERVICE=default/traefik") if "IPAllocated" in e.get("MESSAGE", "")
            ],
            timeout=20,
        )
    finally:
        proc.kill()
        proc.wait(5)
    entry = lines[0]
    assert entry["MESSAGE"] == f"Service default/traefik: IPAllocated: Assigned IP ['{ip}']"
    assert (entry["NODE"], entry["SYSLOG_IDENTIFIER"], entry["PRIORITY"], entry["_TRANSPORT"]) == (
        "node-1",
        "baremetal-lb",
        "6",
        "journal",
    )
    everything = journalctl(journal, "SYSLOG_IDENTIFIER=baremetal-lb")
    assert any(e["MESSAGE"].startswith("baremetal-lb ") and "node node-1" in e["MESSAGE"] for e in everything)
    assert all("SERVICE" not in e or e["SERVICE"] == "default/traefik" for e in everything)
    stderr = sp.log.read_text(errors="replace").splitlines()  # no record on stderr too: no fallback, no duplicate
    assert not [line for line in stderr if line.split(" ", 1)[0] in ("DEBUG", "INFO", "WARNING", "ERROR")], stderr


def test_json_logs_keep_every_secret_out(kube_api, kubeconfig: Path, cluster: Cluster, tmp_path: Path) -> None:
    key, token, password = "membership-key-never-logged-0123456789", "metrics-token-never-logged", "bgp-pw-never-logged"
    (tmp_path / "membership.key").write_text(key + "\n")
    (tmp_path / "metrics.token").write_text(token + "\n")
    cluster.core.create_namespaced_secret(
        NS,
        {
            "metadata": {"name": "peer-pw"},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": base64.b64encode(password.encode()).decode()},
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
            "metadata": {"name": "gw"},
            "spec": {
                "myASN": 64512,
                "peerASN": 64513,
                "peerAddress": "192.0.2.1",
                "passwordSecret": {"name": "peer-pw"},
            },
        },
    )
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    sp = SpeakerProcess(
        kubeconfig,
        "node-1",
        tmp_path,
        extra={
            "log_format": "json",
            "metrics_bearer_token_file": str(tmp_path / "metrics.token"),
            "membership": {"key_file": str(tmp_path / "membership.key")},
            "bgp": {"enabled": False},
        },
    )  # no session from the root namespace: the password is still read (config)
    try:
        sp.start()
        cluster.service("traefik")
        cluster.wait_ips("traefik", timeout=30)
        wait_for("the IPAllocated line", lambda: "IPAllocated" in sp.logs(), timeout=20)
    finally:
        sp.kill()
    text = sp.logs()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert len(lines) >= 5 and "info" in {e["level"] for e in lines}
    assert all({"time", "level", "logger", "message", "node"} <= e.keys() and e["node"] == "node-1" for e in lines)
    allocated = [e for e in lines if "IPAllocated" in e["message"]]
    assert allocated and allocated[0]["service"] == "default/traefik"
    for secret in (key, token, password, base64.b64encode(password.encode()).decode(), DEFAULT_TOKEN):
        assert secret not in text, f"a secret is in the log: {secret[:6]}…"
