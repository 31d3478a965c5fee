"""The one-machine lab end to end (``lab/run failover`` and ``lab/run demo --router dnsmasq``, docs/lab.md): the lab
is a user of the release.

The release is built once for the module (scripts/dist.py, what ``make dist`` runs) and given to both runs with
``--collection``. Each run installs that tarball with ``ansible-galaxy collection install`` into a fresh path,
copies the installed ``inventory/example``, makes README's quick start step 3 edits and nothing else, runs step 4's
two ``ansible-playbook … baremetal.lb.site`` lines as the README writes them, then the real one again; creates the
Service ``traefik``, curls its address from the client (failover: kills the announcing node's container and curls
again), and tears everything down. The Nodes carry kubeadm's labels, all three as control-plane nodes: only the
quick start's answer for that case (``baremetal_lb_speaker_ignore_exclude_lb``) lets any of them announce.

The test asserts on the JSON the lab writes (``--json``) and on the machine afterwards: no namespace, container,
process or temp dir left. ``test_every_setting_the_lab_makes_is_in_the_quick_start`` needs no root: every
``baremetal_lb_*`` variable the lab sets must be named by README's quick start (a step the lab needs is a step
the user needs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: seconds for one lab run: three site.yml runs with 34 MB of wheelhouse staged on each node; 231-316 s measured at
#: load ~4 (docs/lab.md), so half as much again for a loaded CI machine
LAB_TIMEOUT = 480
#: the release build with the wheelhouse download cached takes ~20 s; a first build on a machine reaches PyPI (~2 min)
RELEASE_TIMEOUT = 600

EXCLUDE_LB = "node.kubernetes.io/exclude-from-external-load-balancers"
_COMMON = ("podman", "runc", "debootstrap", "udhcpc", "iptables", "curl")
TOOLS = {"kea": (*_COMMON, "kea-dhcp4", "kea-ctrl-agent"), "dnsmasq": (*_COMMON, "dnsmasq")}


def _lab_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("blb_lab", ROOT / "lab" / "lab.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["blb_lab"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _quick_start_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Quick start on your cluster")
    return text[start : text.index("\n## ", start + 1)]


def test_every_setting_the_lab_makes_is_in_the_quick_start() -> None:
    lab = _lab_module()
    site = lab.LabSite(
        router_host={},
        router_vars={},
        nodes={},
        pool="198.51.100.240-198.51.100.250",
        kubeconfig="/k",
        api_server="http://127.0.0.1:6443",
        offline=True,
        every_node_control_plane=True,
    )
    names = {e.keys[0] for e in lab.quick_start_edits(site) if e.file.startswith("group_vars/") and len(e.keys) == 1}
    names |= set(lab.kea_router_vars("http://127.0.0.1:8000/", "user", lab.Vaulted("block"))) | set(
        lab.dnsmasq_router_vars(Path("/c"), Path("/r"))
    )
    section = _quick_start_section()
    assert {n for n in names if f"`{n}" not in section} == set()
    # the pool's addresses: the one non-top-level edit, named by the README as "the pool's `addresses`"
    assert ("group_vars/all.yml", ("baremetal_lb_pools", 0, "addresses")) in {
        (e.file, e.keys) for e in lab.quick_start_edits(site)
    } and "the pool's `addresses`" in section
    # the playbook lines the lab runs are the README's, both naming the collection's playbook
    lines = lab.readme_commands(ROOT / "README.md", "ansible-playbook")
    assert len(lines) == 2 and all(lab.SITE_PLAYBOOK in line for line in lines), lines


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release's collection tarball, built once for both lab runs (scripts/dist.py = make dist)."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dist.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=RELEASE_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Path(json.loads(proc.stdout.strip().splitlines()[-1])["collection"])


def _run_lab(args: list[str], out: Path) -> tuple[int, str]:
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            [str(ROOT / "lab" / "run"), *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
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


@pytest.mark.slow
@pytest.mark.timeout(RELEASE_TIMEOUT + LAB_TIMEOUT + 90)
@pytest.mark.parametrize("command,router", [("failover", "kea"), ("demo", "dnsmasq")])
def test_lab_end_to_end(command: str, router: str, release: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the lab needs root (namespaces, podman with systemd); CI runs as root")
    missing = [t for t in TOOLS[router] if shutil.which(t) is None]
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (scripts/install-deps)")

    result_file = tmp_path / "lab.json"
    rc, output = _run_lab(
        [command, "--router", router, "--collection", str(release), "--json", str(result_file)], tmp_path / "lab.out"
    )
    assert result_file.exists(), output[-6000:]
    res = json.loads(result_file.read_text())
    assert rc == 0 and "error" not in res, output[-6000:]

    # the user's path: the installed collection's example inventory, step 3's three files edited, nothing added
    files = res["inventory_files"]
    assert files["used"] == files["example"], files
    assert {e["file"] for e in res["edits"]} == {"hosts.yml", "group_vars/routers.yml", "group_vars/all.yml"}
    assert f"installed       ansible-galaxy collection install {release.name} -p " in output
    assert "ansible-playbook -i inventory baremetal.lb.site --ask-vault-pass --check --diff" in output
    # the router: --check changed nothing; then the DHCP scope shrunk so that the pool is never leased
    assert res["router_backend"] == router
    assert res["dhcp_ranges_before"] == ["198.51.100.100-198.51.100.250"]
    assert res["dhcp_ranges_after_check"] == res["dhcp_ranges_before"]
    assert res["dhcp_ranges_after"] == ["198.51.100.100-198.51.100.239"]
    assert res["client_ip_outside_pool"] is True
    # the cluster: the pool and its status
    assert res["pool"]["spec"]["addresses"] == ["198.51.100.240-198.51.100.250"]
    assert res["pool"]["status"]["assignedIPv4"] == 1
    # site.yml: the check run and the real run change things once, the run after that nothing
    _check_runs(res, output)
    # kubeadm's labels, every node control plane; the quick start's answer followed, so the preflight did not warn
    assert {n: lab_labels.get(EXCLUDE_LB) for n, lab_labels in res["node_labels"].items()} == {
        "node1": "",
        "node2": "",
        "node3": "",
    }
    assert not [w for w in res["site_check"]["warnings"] if EXCLUDE_LB in w], res["site_check"]["warnings"]
    # the Service: the first address, answered by the node that announces it, though every node is control plane
    assert res["vip"] == "198.51.100.240"
    assert res["announcer"] in ("node1", "node2", "node3")
    assert res["answer"] == res["announcer"]
    assert "curl http://198.51.100.240/" in output
    # the operator's view from the node (docs/troubleshooting.md's sample): the release's command on the role's PATH
    cluster = res["cluster_status"]
    assert cluster["exit"] == 0, cluster["stderr"]
    assert re.search(
        rf"^default/traefik +198\.51\.100\.240 +lan +layer2 +80/TCP +{res['announcer']} \(eth0\)$",
        cluster["stdout"],
        re.M,
    ), cluster["stdout"]
    assert cluster["stdout"].endswith("no problems found\n")
    if command == "failover":
        _check_failover(res)
    _check_nothing_left(res)


def _check_runs(res: dict[str, Any], output: str) -> None:
    assert res["site_check"]["changed"] > 0 and res["site_first"]["changed"] > 0
    assert res["site_second"]["changed"] == 0, res["site_second"]["recap"]
    assert all(
        r.get("failed", 0) == 0 and r.get("unreachable", 0) == 0
        for run in ("site_check", "site_first", "site_second")
        for r in res[run]["recap"].values()
    )
    assert set(res["site_second"]["recap"]) == {"localhost", "router", "node1", "node2", "node3"}
    assert len(re.findall(r"^\s+\S+\s+: ok=\d+\s+changed=0 ", output, re.M)) >= 5  # the last PLAY RECAP printed


def _check_failover(res: dict[str, Any]) -> None:
    fo = res["failover"]
    assert fo["killed"] == res["announcer"]
    assert fo["answer"] != fo["killed"] and fo["answer"] in ("node1", "node2", "node3")
    assert fo["announcer"] == fo["answer"]


def _check_nothing_left(res: dict[str, Any]) -> None:
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
