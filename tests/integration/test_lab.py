"""The one-machine lab end to end (``lab/run failover`` and ``lab/run demo --router dnsmasq``, docs/lab.md).

One run builds the lab (Kea router, API emulator, three systemd containers as nodes, a DHCP client), runs
``playbooks/site.yml`` twice, creates the Service ``traefik``, curls its address from the client, kills the
announcing node's container and curls again, then tears everything down. The test asserts on the JSON the lab
writes (``--json``) and on the machine afterwards: no namespace, container, process or temp dir left. The
dnsmasq variant (the alternative router) runs the demo without the failover.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB_TIMEOUT = 360  # seconds; a run takes ~100 s with the image and the wheelhouse cached

pytestmark = [pytest.mark.slow, pytest.mark.timeout(LAB_TIMEOUT + 90)]

_COMMON = ("podman", "runc", "debootstrap", "udhcpc", "iptables", "curl")
TOOLS = {"kea": (*_COMMON, "kea-dhcp4", "kea-ctrl-agent"), "dnsmasq": (*_COMMON, "dnsmasq")}


def _run_lab(args: list[str], out: Path) -> tuple[int, str]:
    with open(out, "w") as fh:
        proc = subprocess.Popen([str(ROOT / "lab" / "run"), *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(LAB_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the lab tears down on SIGTERM
            try:
                proc.wait(60)
            finally:
                os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
            pytest.fail(f"lab/run {' '.join(args)} did not finish within {LAB_TIMEOUT}s:\n{out.read_text()[-6000:]}")
    return rc, out.read_text()


@pytest.mark.parametrize("command,router", [("failover", "kea"), ("demo", "dnsmasq")])
def test_lab_end_to_end(command: str, router: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (namespaces, podman with systemd); CI runs as root")
    missing = [t for t in TOOLS[router] if shutil.which(t) is None]
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (scripts/install-deps)")

    result_file = tmp_path / "lab.json"
    rc, output = _run_lab([command, "--router", router, "--json", str(result_file)], tmp_path / "lab.out")
    assert result_file.exists(), output[-6000:]
    res = json.loads(result_file.read_text())
    assert rc == 0 and "error" not in res, output[-6000:]

    # the router: the DHCP scope shrunk so that the pool is never leased; the client's lease is outside it
    assert res["router_backend"] == router
    assert res["dhcp_ranges_before"] == ["198.51.100.100-198.51.100.250"]
    assert res["dhcp_ranges_after"] == ["198.51.100.100-198.51.100.239"]
    assert res["client_ip_outside_pool"] is True
    # the cluster: the pool and its status
    assert res["pool"]["spec"]["addresses"] == ["198.51.100.240-198.51.100.250"]
    assert res["pool"]["status"]["assignedIPv4"] == 1
    # site.yml: everything changed once, then nothing
    assert res["site_first"]["changed"] > 0
    assert res["site_second"]["changed"] == 0, res["site_second"]["recap"]
    assert all(r.get("failed", 0) == 0 and r.get("unreachable", 0) == 0
               for run in ("site_first", "site_second") for r in res[run]["recap"].values())
    assert set(res["site_second"]["recap"]) == {"localhost", "router", "node1", "node2", "node3"}
    assert len(re.findall(r"^\s+\S+\s+: ok=\d+\s+changed=0 ", output, re.M)) >= 5  # the second PLAY RECAP printed
    # the Service: the first address, answered by the node that announces it
    assert res["vip"] == "198.51.100.240"
    assert res["announcer"] in ("node1", "node2", "node3")
    assert res["answer"] == res["announcer"]
    assert "curl http://198.51.100.240/" in output
    # failover: the announcing node is killed, another answers
    if command == "failover":
        _check_failover(res)
    _check_nothing_left(res)


def _check_failover(res: dict) -> None:
    fo = res["failover"]
    assert fo["killed"] == res["announcer"]
    assert fo["answer"] != fo["killed"] and fo["answer"] in ("node1", "node2", "node3")
    assert fo["announcer"] == fo["answer"]


def _check_nothing_left(res: dict) -> None:
    """Teardown: the lab's own check, and ours."""
    assert res["nothing_left"] is True, res["leftovers"]
    prefix = res["prefix"]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [ln for ln in netns.splitlines() if ln.startswith(prefix)]
    assert not Path(res["tmp"]).exists()
    stray = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if res["tmp"] in text or f"{prefix}-" in text:
            stray.append(text[:200])
    assert not stray, stray
