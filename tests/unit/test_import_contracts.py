"""The import contracts (.importlinter, run by `make lint`) hold, and they do fail on a bad import.

Each case below edits a temporary copy of speaker/ the way a careless change would, and runs lint-imports on the
copy: a direct import, an indirect one (two modules away), a package __init__ on the way to a pure module (the
chain announce -> speaker.bgp.rib -> speaker/bgp/__init__.py -> the asyncio sessions, which the old AST tests
missed), an upward import across the layers (between packages, and inside one), and the config file pulling in the
heartbeat runner's metrics.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / ".importlinter")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "speaker", tree / "speaker", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def test_the_tree_keeps_its_contracts(tmp_path: Path) -> None:
    proc = _lint_imports(_copy_tree(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


BAD_IMPORTS = {
    "direct": ("speaker/plan/election.py", "import socket\n", "speaker.plan.election is not allowed to import socket"),
    "indirect": (
        "speaker/labels.py",
        "import speaker.liveness.heartbeats\n",
        "speaker.labels is not allowed to import prometheus_client",
    ),
    "package init": (
        "speaker/bgp/__init__.py",
        "from speaker.bgp.speaker import BGPSpeaker as _eager\n",
        "speaker.bgp is not allowed to import asyncio",
    ),
    "upward": (
        "speaker/kube/lease.py",
        "import speaker.daemon\n",
        "speaker.kube is not allowed to import speaker.daemon",
    ),
    "config": (
        "speaker/config/node.py",
        "import speaker.liveness.heartbeats\n",
        "speaker.config.node is not allowed to import prometheus_client",
    ),
    # the packages of the layout: between them, and inside one
    "package upward": (
        "speaker/ipam/pool.py",
        "import speaker.plan.election\n",
        "speaker.ipam is not allowed to import speaker.plan",
    ),
    "inside a package": (
        "speaker/liveness/wire.py",
        "import speaker.liveness.core\n",
        "speaker.liveness.wire is not allowed to import speaker.liveness.core",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_IMPORTS))
def test_a_bad_import_breaks_a_contract(tmp_path: Path, case: str) -> None:
    path, line, expected = BAD_IMPORTS[case]
    tree = _copy_tree(tmp_path)
    target = tree / path
    text = target.read_text()
    # after the module docstring and `from __future__`, where an import would go
    anchor = "from __future__ import annotations\n"
    assert anchor in text, path
    target.write_text(text.replace(anchor, anchor + line, 1))
    proc = _lint_imports(tree)
    assert proc.returncode != 0, proc.stdout
    assert expected in proc.stdout, proc.stdout
