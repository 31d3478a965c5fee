"""One version number for the collection and the speaker it carries (scripts/dist.py refuses to build otherwise)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def load_dist():
    spec = importlib.util.spec_from_file_location("blb_dist_release", REPO / "scripts" / "dist.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_galaxy_and_speaker_share_one_version() -> None:
    import speaker

    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert galaxy == speaker.__version__, (
        f"galaxy.yml version {galaxy} != speaker.__version__ {speaker.__version__}: bump both together"
    )
    assert load_dist().release_version() == galaxy


def test_a_version_mismatch_is_refused_naming_both(tmp_path: Path) -> None:
    dist = load_dist()
    (tmp_path / "speaker").mkdir()
    (tmp_path / "speaker" / "__init__.py").write_text('__version__ = "0.2.0"\n')
    (tmp_path / "galaxy.yml").write_text("namespace: baremetal\nname: lb\nversion: 0.1.0\n")
    with pytest.raises(dist.ReleaseError, match=r"galaxy.yml version 0\.1\.0 differs from .*__version__ 0\.2\.0"):
        dist.release_version(tmp_path)


def test_galaxy_metadata_points_at_the_project() -> None:
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    home = "https://github.com/baremetal-lb/baremetal-lb"
    assert galaxy["repository"] == home
    assert galaxy["issues"] == home + "/issues"
    assert galaxy["documentation"].startswith(home)
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    assert {"speaker", "pyproject.toml", "tests", "dist"} <= set(galaxy["build_ignore"])
    text = "\n".join(
        p.read_text()
        for p in [REPO / "galaxy.yml", *REPO.glob("roles/*/templates/*.j2"), *REPO.glob("plugins/modules/*.py")]
    )
    assert "example.invalid" not in text


def test_runtime_dependencies_are_what_the_speaker_imports() -> None:
    """scapy is for the tests only (speaker/layer2/frames.py builds frames with struct); every declared runtime
    dependency is imported somewhere in speaker/."""
    import ast
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in deps}
    module_of = {"pyyaml": "yaml", "prometheus_client": "prometheus_client"}
    imported: set[str] = set()
    for path in (REPO / "speaker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert "scapy" not in names and "scapy" not in imported
    unused = sorted(n for n in names if module_of.get(n, n) not in imported)
    assert not unused, f"declared but never imported by speaker/: {unused}"
