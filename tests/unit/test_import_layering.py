"""The pure core stays pure: decisions import no client, no sockets, no threads (MetalLB's split)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = ["speaker/labels.py", "speaker/clusterconfig.py", "speaker/service.py", "speaker/endpoints.py",
        "speaker/election.py", "speaker/membership_wire.py", "speaker/announce.py",
        "speaker/memberkey.py", "speaker/clusterstatus/report.py", "speaker/clusterstatus/table.py"]
FORBIDDEN = {"kubernetes", "urllib3", "socket", "threading", "subprocess", "requests", "http", "pyroute2", "scapy",
             "speaker.kube", "speaker.daemon", "speaker.controller"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io(module):
    bad = {n for n in _imports(ROOT / module) if n.split(".")[0] in FORBIDDEN or
           any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{module} imports {sorted(bad)}"
