"""``make dist`` builds what a user installs: the speaker's wheel and sdist, the wheelhouse, and the collection
tarball that carries both; ``ansible-galaxy collection install --offline`` takes the tarball, ``site.yml`` from the
installed collection parses with inventory/example, and the installed speaker role picks the bundled wheel and,
offline, the bundled wheelhouse without being told where they are.

The build runs scripts/dist.py (what ``make dist`` runs) into a temp dir. The wheelhouse download is cached
(``BLB_WHEEL_CACHE``, scripts/dist.py): the first run on a machine reaches PyPI (~2 min), later runs ~10 s.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.collection import VENV_BIN, run_playbook, task_result

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "dist.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    built["out"] = out
    return built


@pytest.fixture(scope="module")
def installed(release: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection as a user installs it: from the tarball, offline, into a fresh path."""
    path = tmp_path_factory.mktemp("collections")
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible-galaxy"),
            "collection",
            "install",
            "--offline",
            "-p",
            str(path),
            release["collection"],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_release_has_one_version_everywhere(release: dict[str, Any]) -> None:
    import speaker

    version = speaker.__version__
    assert release["version"] == version
    assert Path(release["wheel"]).name == f"baremetal_lb-{version}-py3-none-any.whl"
    assert Path(release["sdist"]).name == f"baremetal_lb-{version}.tar.gz"
    assert Path(release["collection"]).name == f"baremetal-lb-{version}.tar.gz"
    with tarfile.open(release["collection"]) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert info["version"] == version
    assert info["repository"] == "https://github.com/baremetal-lb/baremetal-lb"


def test_the_wheel_is_the_daemon_alone(release: dict[str, Any]) -> None:
    with zipfile.ZipFile(release["wheel"]) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "speaker/cli.py" in names and "speaker/crds/metallb.io_ipaddresspools.yaml" in names
    assert not [n for n in names if n.startswith(("tests/", "plugins/", "roles/"))]
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [r for r in requires if "scapy" in r], requires  # tests only
    assert any("kubernetes" in r for r in requires)
    with tarfile.open(release["sdist"]) as tar:
        sdist = tar.getnames()
    assert any(n.endswith("/speaker/daemon.py") for n in sdist) and any(n.endswith("/pyproject.toml") for n in sdist)


def test_the_wheelhouse_serves_every_supported_node_python(release: dict[str, Any]) -> None:
    house = Path(release["wheelhouse"])
    targets = json.loads((house / "targets.json").read_text())
    assert targets["pythons"] == ["3.11", "3.12"] and targets["machines"] == ["aarch64", "x86_64"]
    wheels = [p.name for p in house.glob("*.whl")]
    # PyYAML is compiled: one wheel per Python and machine
    for py in ("cp311", "cp312"):
        for machine in ("x86_64", "aarch64"):
            assert [w for w in wheels if w.lower().startswith("pyyaml-") and f"-{py}-" in w and machine in w], (
                py,
                machine,
                wheels,
            )
    assert not [w for w in wheels if w.startswith("scapy")], wheels
    assert [w for w in wheels if w.startswith("kubernetes-")] and [w for w in wheels if w.startswith("pyroute2-")]


def test_the_collection_carries_the_wheel_and_the_wheelhouse_but_no_sources(release: dict[str, Any]) -> None:
    version = release["version"]
    with tarfile.open(release["collection"]) as tar:
        names = tar.getnames()
        bundled = tar.extractfile(f"roles/speaker/files/baremetal_lb-{version}-py3-none-any.whl").read()
        members = {m.name: m for m in tar.getmembers()}
    assert sha256(bundled) == sha256(Path(release["wheel"]).read_bytes())
    house = sorted(
        n.rsplit("/", 1)[1] for n in names if n.startswith("roles/speaker/files/wheelhouse/") and n.endswith(".whl")
    )
    assert house == sorted(p.name for p in Path(release["wheelhouse"]).glob("*.whl"))
    assert "roles/speaker/files/wheelhouse/targets.json" in names
    assert members["roles/speaker/files/wheelhouse"].mode & 0o055 == 0o055  # readable by the user who installs it
    top = {n.split("/", 1)[0] for n in names}
    assert {"plugins", "roles", "playbooks", "meta", "README.md", "COPYING", "docs"} <= top, sorted(top)
    assert not top & {"speaker", "tests", "pyproject.toml", "bench", "lab", "dist", ".venv", "molecule"} - {"molecule"}
    assert not [n for n in names if "/tests/" in n or n.endswith((".pyc", "/__pycache__"))]


def test_site_yml_of_the_installed_collection_parses_with_the_example_inventory(
    installed: Path, tmp_path: Path
) -> None:
    # README's quick start, steps 2 and 4: the example inventory copied out of the installed collection, and the
    # playbook named as the collection's (baremetal.lb.site), not by a path into a clone.
    inventory = tmp_path / "inventory"
    shutil.copytree(installed / "ansible_collections" / "baremetal" / "lb" / "inventory" / "example", inventory)
    env = {
        "ANSIBLE_COLLECTIONS_PATH": str(installed),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(installed),
    }
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", str(inventory), "baremetal.lb.site"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_installed_role_installs_the_bundled_wheel_offline(
    installed: Path, release: dict[str, Any], tmp_path: Path
) -> None:
    """No package variable, offline: the role finds the wheel and the wheelhouse inside the installed collection.
    Check mode on this machine, preflight and install phases only, the virtualenv path in a temp dir: nothing is
    written; the "would install" report names the version, the staged wheel is the bundled one."""
    venv = tmp_path / "opt" / "venv"
    rc, out = run_playbook(
        [{"hosts": "all", "gather_facts": True, "gather_subset": ["min"], "roles": [{"role": "baremetal.lb.speaker"}]}],
        extra_vars={
            "baremetal_lb_speaker_offline": True,
            "baremetal_lb_speaker_venv": str(venv),
            "baremetal_lb_speaker_api_server": "http://127.0.0.1:1",
            "baremetal_lb_speaker_api_token": "t",
        },
        check=True,
        tags="speaker_preflight,speaker_install",
        env={"ANSIBLE_COLLECTIONS_PATH": f"{installed}:{_callback_root()}"},
    )
    assert rc == 0, json.dumps(out)[-4000:]
    staged = task_result(out, "Stage the wheel on the node", host="localhost")
    bundled = installed / "ansible_collections/baremetal/lb/roles/speaker/files" / Path(release["wheel"]).name
    assert staged.get("changed") is True and staged["invocation"]["module_args"]["src"] == str(bundled), staged
    would = task_result(out, "Report the install that check mode skips", host="localhost")
    assert f"would install baremetal-lb {release['version']}" in would["msg"]
    assert not venv.parent.exists()  # check mode wrote nothing


def test_a_source_checkout_without_a_package_is_refused_with_the_fix(tmp_path: Path) -> None:
    """The repo itself carries no wheel: the default install must say how to get one, and change nothing."""
    rc, out = run_playbook(
        [{"hosts": "all", "gather_facts": False, "roles": [{"role": "baremetal.lb.speaker"}]}],
        extra_vars={
            "baremetal_lb_speaker_api_server": "http://127.0.0.1:1",
            "baremetal_lb_speaker_api_token": "t",
            "baremetal_lb_speaker_venv": str(tmp_path / "opt" / "venv"),
        },
        tags="speaker_preflight",
    )
    assert rc != 0
    failed = task_result(out, "There is a speaker to install", host="localhost")
    assert "make dist" in failed["msg"] and "baremetal_lb_speaker_package" in failed["msg"], failed["msg"]
    assert not (tmp_path / "opt").exists()


def _callback_root() -> str:
    from tests.collection import collection_path

    return str(collection_path())
