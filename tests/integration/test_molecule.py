"""``molecule test`` for each scenario in ``molecule/`` — systemd containers built locally, nothing pulled.

Runs what a developer runs (docs/roles.md)::

    MOLECULE_GLOB='molecule/*/molecule.yml' molecule -c molecule/config.yml test -s SCENARIO

with podman's storage in a temp dir (``CONTAINERS_STORAGE_CONF``; the node image is imported there from the
tarball cached by scripts/build-test-image) and this repo as the ``baremetal.lb`` collection
(``ANSIBLE_COLLECTIONS_PATH``, tests/collection.py). Each scenario is bounded by a timeout and must leave no
container and no network namespace behind.

Podman's engine runtime dir (``tmp_dir``: the "alive" marker, exit files, the events log; /run/libpod by default)
is the run's own too, so a podman user beside it (the lab, another Molecule run, podman by hand) shares nothing
with it — and ``podman system reset`` at the end, which deletes the tmp dir its database names, cannot take
/run/libpod from under them. How, on podman 4.3 (no CONTAINERS_CONF_OVERRIDE): a copy of
molecule/resources/containers.conf plus ``tmp_dir`` is CONTAINERS_CONF for this run, and the first podman
command on the fresh storage (``podman info``) records that tmp dir in the storage's database; every later podman
on that storage uses the recorded one ("Overriding tmp dir ... from database"), including Ansible's, which
molecule/config.yml points at the shared containers.conf.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collection import collection_path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
VENV_BIN = Path(sys.executable).parent
CONTAINERS_CONF = ROOT / "molecule" / "resources" / "containers.conf"
SCENARIO_TIMEOUT = 600  # seconds; measured with a cached image on a loaded 2-core machine: 142-317 s
# (speaker 218-317, upgrade 207-228, router 142-252), ~45 s more for the first image build

pytestmark = [pytest.mark.slow, pytest.mark.timeout(SCENARIO_TIMEOUT + 60)]


def _missing() -> list[str]:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if not (VENV_BIN / "molecule").exists():
        missing.append("molecule (pip: molecule>=26, molecule-plugins[podman], ansible for containers.podman)")
    return missing


def _netns(run: str) -> set[str]:
    """This run's network namespaces: the scenarios name theirs ``blb-mol-<BLB_MOLECULE_RUN>-…`` (create.yml), so a
    Molecule run beside this one (the lab, a developer's) is not taken for a leftover of ours."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith(f"blb-mol-{run}-")}


@pytest.fixture(scope="module")
def molecule_env() -> Iterator[dict[str, str]]:
    if os.geteuid() != 0:
        pytest.fail("Molecule scenarios need root (podman with systemd, network namespaces); CI runs as root")
    if missing := _missing():
        pytest.fail("not installed (make deps installs them): " + ", ".join(missing))
    tmp = Path(tempfile.mkdtemp(prefix="blb-molecule-"))
    storage = tmp / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp}/graph"\nrunroot = "{tmp}/run"\n')
    conf = tmp / "containers.conf"  # the shared settings ([engine] is their last table) + this run's tmp_dir
    conf.write_text(CONTAINERS_CONF.read_text() + f'tmp_dir = "{tmp}/libpod"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(
        {
            "MOLECULE_GLOB": "molecule/*/molecule.yml",
            "BLB_MOLECULE_RUN": secrets.token_hex(3),
            "CONTAINERS_CONF": str(conf),
            "CONTAINERS_STORAGE_CONF": str(storage),
            "ANSIBLE_COLLECTIONS_PATH": str(collection_path()),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "NO_COLOR": "1",
            "PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
        }
    )
    try:
        # the first podman command on the new storage: its database now names this run's tmp dir
        info = subprocess.run(["podman", "info"], env=env, capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, f"podman info: {info.stderr}"
        assert (tmp / "libpod" / "alive").exists(), "podman did not take this run's tmp_dir"
        yield env
    finally:
        subprocess.run(["podman", "rm", "-a", "-f", "-t", "0"], env=env, capture_output=True, timeout=60)
        subprocess.run(["podman", "image", "rm", "-a", "-f"], env=env, capture_output=True, timeout=60)
        subprocess.run(["podman", "system", "reset", "-f"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


def test_scenarios_are_found() -> None:
    assert {"speaker", "upgrade", "router"} <= set(SCENARIOS), SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, molecule_env: dict[str, str], tmp_path: Path) -> None:
    before = _netns(molecule_env["BLB_MOLECULE_RUN"])
    log = tmp_path / f"molecule-{scenario}.log"
    with open(log, "w") as out:
        try:
            proc = subprocess.run(
                [str(VENV_BIN / "molecule"), "-c", "molecule/config.yml", "test", "-s", scenario],
                cwd=ROOT,
                env=molecule_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=SCENARIO_TIMEOUT,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    text = log.read_text(errors="replace")
    if rc is None:
        # molecule was killed mid-way: run its destroy so nothing is left running
        subprocess.run(
            [str(VENV_BIN / "molecule"), "-c", "molecule/config.yml", "destroy", "-s", scenario],
            cwd=ROOT,
            env=molecule_env,
            capture_output=True,
            timeout=120,
        )
    assert rc == 0, f"molecule test -s {scenario}: {'timed out' if rc is None else f'rc {rc}'}\n{text[-8000:]}"
    left = _netns(molecule_env["BLB_MOLECULE_RUN"]) - before
    assert not left, f"network namespaces left behind: {left}"
    containers = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}"], env=molecule_env, capture_output=True, text=True
    ).stdout.split()
    assert not containers, f"containers left behind: {containers}"
    # podman wrote this scenario's container events where this run's tmp_dir is, not in a shared /run/libpod
    events = Path(molecule_env["CONTAINERS_STORAGE_CONF"]).parent / "libpod" / "events" / "events.log"
    assert events.exists() and '"Type":"container"' in events.read_text(errors="replace"), (
        f"no container events in {events}: podman used another tmp_dir"
    )
