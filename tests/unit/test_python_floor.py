"""The speaker's Python floor is one number, and the code keeps to it.

``requires-python`` in pyproject.toml, the speaker role's floor (the Python it installs or refuses on a node,
docs/nodes.md) and the Pythons the release's wheelhouse serves (scripts/dist.py) agree; vermin, a static checker
of the minimum Python version, finds nothing in speaker/ that needs a newer Python than the floor.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VERMIN = Path(sys.executable).with_name("vermin")


def floor() -> str:
    spec = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=\s*(3\.\d+)", spec)
    assert match, f"requires-python {spec!r}: expected '>=3.N'"
    return match.group(1)


def vermin(target: str, path: Path) -> subprocess.CompletedProcess[str]:
    assert VERMIN.exists(), "vermin is not installed: pip install -e '.[test]'"
    # --eval-annotations: count annotations as if evaluated (typing.get_type_hints would); union-types: X | Y
    return subprocess.run(
        [
            str(VERMIN),
            "--no-tips",
            "--violations",
            f"--target={target}-",
            "--eval-annotations",
            "--feature",
            "union-types",
            "--no-parse-comments",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def test_speaker_needs_no_python_newer_than_requires_python() -> None:
    proc = vermin(floor(), REPO / "speaker")
    assert proc.returncode == 0, f"speaker/ uses features newer than Python {floor()}:\n{proc.stdout}{proc.stderr}"


def test_vermin_does_flag_a_newer_feature(tmp_path: Path) -> None:
    """The check above can fail: a PEP 695 type alias (3.12) against the 3.11 floor is reported."""
    (tmp_path / "new.py").write_text("type Pair = tuple[int, int]\n")
    proc = vermin("3.11", tmp_path)
    assert proc.returncode != 0 and "3.12" in proc.stdout, proc.stdout + proc.stderr


def test_the_role_and_the_wheelhouse_agree_with_the_floor() -> None:
    role_vars = yaml.safe_load((REPO / "roles" / "speaker" / "vars" / "main.yml").read_text())
    assert role_vars["__baremetal_lb_speaker_python_floor"] == floor()
    spec = importlib.util.spec_from_file_location("blb_dist_floor", REPO / "scripts" / "dist.py")
    dist = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = dist
    spec.loader.exec_module(dist)
    assert min(dist.PYTHONS, key=version_tuple) == floor(), dist.PYTHONS


def test_every_supported_os_gets_a_python_at_the_floor() -> None:
    """docs/nodes.md's table: Debian 12, Ubuntu 22.04/24.04, EL 9 each name an interpreter and its packages."""
    pythons = yaml.safe_load((REPO / "roles" / "speaker" / "vars" / "main.yml").read_text())[
        "__baremetal_lb_speaker_node_pythons"
    ]
    assert {"Debian-12", "Ubuntu-22", "Ubuntu-24", "RedHat-9"} <= set(pythons)
    # the two systems whose own python3 is below the floor get the distribution's python3.11
    assert (
        pythons["Ubuntu-22"]["python"] == "/usr/bin/python3.11"
        and "python3.11-venv" in pythons["Ubuntu-22"]["packages"]
    )
    assert pythons["RedHat-9"]["python"] == "/usr/bin/python3.11" and "python3.11" in pythons["RedHat-9"]["packages"]
    for key, entry in pythons.items():
        assert entry["packages"], f"{key}: no package gives the interpreter its venv module"
    docs = (REPO / "docs" / "nodes.md").read_text()
    for name in ("Debian 12", "Ubuntu 22.04", "Ubuntu 24.04", "Rocky", "python3.11-venv"):
        assert name in docs, f"docs/nodes.md does not mention {name}"
