"""The codec, the state machine and the RIB are pure: no sockets, no threads, no asyncio, no Kubernetes."""

import ast
from pathlib import Path

import pytest

BGP = Path(__file__).resolve().parents[3] / "speaker" / "bgp"
PURE = sorted([*BGP.glob("message/*.py"), *BGP.glob("attribute/*.py"), *BGP.glob("capability/*.py"),
               BGP / "fsm.py", BGP / "rib.py", BGP / "nlri.py", BGP / "errors.py", BGP / "context.py"])
FORBIDDEN = {"socket", "asyncio", "threading", "subprocess", "kubernetes", "pyroute2", "prometheus_client", "time",
             "speaker.bgp.session", "speaker.bgp.speaker", "speaker.bgp.sockopt", "speaker.bgp.netinfo", "speaker.kube"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PURE, ids=[str(p.relative_to(BGP)) for p in PURE])
def test_pure(path):
    bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
