"""README's measured figures are exactly what scripts/readme-figures renders from bench/results.jsonl.

Text comparison only: no timing thresholds here (the figures are for people to read; `make bench-quick` measures).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "readme-figures"


def _script():
    loader = SourceFileLoader("blb_readme_figures", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_readme_block_is_what_the_results_file_gives():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_readme_names_the_commit_of_every_figure():
    rf = _script()
    lines = rf.read_results(rf.RESULTS)
    readme = rf.README.read_text()
    block = readme[readme.index(rf.BEGIN) : readme.index(rf.END)]
    for group in rf.GROUPS:
        line = rf.newest(lines, group)
        if line is None:  # a bench that failed in every recorded run says so instead of showing an old number
            assert f"- {group}: not measured yet" in block
        else:
            assert f"commit {line['commit']}" in block


def _line(commit: str, cold: float) -> dict:
    return {
        "commit": commit,
        "dirty": False,
        "date": "2026-12-06T20:00:00Z",
        "cores": 2,
        "load": 1.0,
        "figures": {
            "allocation": {
                "services": 10000,
                "burst": 500,
                "cold_start_s": cold,
                "burst_p50_ms": 500,
                "burst_p99_ms": 900,
                "rss_mib": 150,
                "restart_writes": 0,
            }
        },
    }


def test_a_newer_run_replaces_the_figure_and_its_commit(tmp_path):
    rf = _script()
    results = tmp_path / "results.jsonl"
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{rf.BEGIN}\nhand-typed: 10,000 Services in 11 s\n{rf.END}\noutro\n")
    results.write_text(json.dumps(_line("aaaa", 18.0)) + "\n")
    assert rf.main(["--results", str(results), "--readme", str(readme)]) == 0
    first = readme.read_text()
    assert "hand-typed" not in first and "18.0 s" in first and "commit aaaa" in first
    assert first.startswith("intro\n") and first.endswith(f"{rf.END}\noutro\n")
    assert rf.main(["--check", "--results", str(results), "--readme", str(readme)]) == 0

    with results.open("a") as f:
        f.write(json.dumps(_line("bbbb", 9.5)) + "\n")
    assert rf.main(["--check", "--results", str(results), "--readme", str(readme)]) == 1
    assert rf.main(["--results", str(results), "--readme", str(readme)]) == 0
    second = readme.read_text()
    assert "9.5 s" in second and "commit bbbb" in second and "commit aaaa" not in second


def test_missing_markers_are_an_error_and_change_nothing(tmp_path):
    rf = _script()
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(_line("aaaa", 18.0)) + "\n")
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert rf.main(["--results", str(results), "--readme", str(readme)]) == 2
    assert readme.read_text() == "no markers here\n"
    with pytest.raises(rf.FiguresError, match="missing or out of order"):
        rf.replace_block("x", "y")
