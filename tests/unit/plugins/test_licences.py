"""The licence split of docs/design/0010-licences.md stays true: the collection is GPL-3.0-or-later, the speaker
daemon Apache-2.0, and code only flows from Apache to GPL.

Repo pytest only (it reads speaker/ and pyproject.toml, which are not part of the collection copy that
``ansible-test`` sees; ansible-test's validate-modules checks the modules' headers itself).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
GPL_HEADER = "# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)"
PLUGIN_FILES = sorted(str(p.relative_to(REPO)) for p in (REPO / "plugins").rglob("*.py"))


@pytest.mark.parametrize("path", PLUGIN_FILES)
def test_every_plugin_file_carries_the_gpl_header(path):
    head = (REPO / path).read_text(encoding="utf-8").splitlines()[:6]
    assert GPL_HEADER in head, f"{path}: the first lines must include {GPL_HEADER!r} (docs/design/0010-licences.md)"
    assert any(line.startswith("# Copyright: (c) ") for line in head), path


def test_licence_files_and_metadata():
    assert (REPO / "COPYING").read_text(encoding="utf-8").lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in (REPO / "COPYING").read_text(encoding="utf-8")[:200]
    assert (REPO / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
    assert yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["license"] == ["GPL-3.0-or-later"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == {"text": "Apache-2.0"}
    assert project["tool"]["setuptools"]["license-files"] == ["LICENSE"]  # not COPYING: the wheel is Apache-2.0


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in (REPO / "speaker").rglob("*.py")))
def test_the_apache_daemon_imports_nothing_from_the_gpl_collection(path):
    names = set()
    for node in ast.walk(ast.parse((REPO / path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    bad = sorted(n for n in names if n.split(".")[0] in ("ansible", "ansible_collections", "plugins"))
    assert not bad, f"{path} imports {bad}: GPL code cannot go into the Apache-2.0 speaker"


def test_the_galaxy_artifact_is_the_collection_alone(tmp_path):
    """What `ansible-galaxy collection build` publishes: the GPL collection with COPYING, not the Apache daemon's
    source (the role installs the speaker from a wheel or a pinned requirement) and not the test tree."""
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    proc = subprocess.run(
        [str(galaxy), "collection", "build", "--output-path", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    [artifact] = tmp_path.glob("baremetal-lb-*.tar.gz")
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    top = {n.split("/", 1)[0] for n in names}
    assert {"COPYING", "plugins", "roles", "playbooks", "meta", "README.md"} <= top, sorted(top)
    assert not top & {"speaker", "tests", ".venv", "bench", "lab", "pyproject.toml"}, sorted(top)
    assert "plugins/modules/dhcp_reservation.py" in names and "roles/speaker/tasks/main.yml" in names
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]
    # Built from a working tree, so whatever a developer's tools left there (mypy/ruff/import-linter caches after
    # `make lint`, `make coverage`'s output) must not ship: only what git tracks, plus galaxy's own two files.
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    shipped_untracked = top - {n.split("/", 1)[0] for n in tracked.splitlines()} - {"MANIFEST.json", "FILES.json"}
    assert not shipped_untracked, sorted(shipped_untracked)
