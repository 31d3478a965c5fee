"""The per-packet decisions stay pure: no sockets, threads, netlink, scapy or Kubernetes."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PURE = ["frames.py", "decision.py", "arp.py", "ndp.py", "probe.py", "gratuitous.py", "protocol.py"]
FORBIDDEN = {"socket", "threading", "select", "subprocess", "pyroute2", "scapy", "kubernetes", "prometheus_client",
             "speaker.layer2.responder", "speaker.layer2.announcer", "speaker.layer2.interfaces", "speaker.kube"}


@pytest.mark.parametrize("module", PURE)
def test_decision_modules_are_pure(module):
    tree = ast.parse((ROOT / "speaker" / "layer2" / module).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    bad = {n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{module} imports {sorted(bad)}"
