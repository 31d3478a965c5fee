"""The collection's modules and module_utils keep to the oldest Python a managed host may run them with.

dhcp_reservation with backend kea, dnsmasq or OpenWrt-over-uci runs on the router host, with that host's python3;
ansible-core 2.19 supports Python 3.8-3.13 on managed hosts (ansible_test's REMOTE_ONLY_PYTHON_VERSIONS +
CONTROLLER_PYTHON_VERSIONS), and the collection declares no narrower ``python_requires``, so ansible-test's
compile and import tests hold the modules to 3.8. Only 3.11 is installed here, so vermin (a static checker of
the minimum version) stands in for those interpreters. Type hints are strings (``from __future__ import
annotations``) that only mypy reads (scripts/mypy-plugins): the check runs on the code with its annotations and
``if TYPE_CHECKING:`` blocks taken out, and counts every other ``dict[...]``/``X | Y`` as evaluated (an alias or
a cast is), which vermin's --eval-annotations does.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
VERMIN = Path(sys.executable).with_name("vermin")
FLOOR = "3.8"
ON_THE_HOST = [REPO / "plugins" / "modules", REPO / "plugins" / "module_utils"]


class _Unannotated(ast.NodeTransformer):
    """Removes what Python never evaluates under ``from __future__ import annotations``."""

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return ast.Expr(ast.Constant(None)) if isinstance(node.target, ast.Name) else None
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)

    def visit_If(self, node: ast.If) -> ast.AST | None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "t.TYPE_CHECKING", "typing.TYPE_CHECKING"):
            return ast.Pass() if not node.orelse else ast.If(ast.Constant(False), [ast.Pass()], node.orelse)
        self.generic_visit(node)
        return node


def unannotated(src: Path, dest: Path) -> None:
    for path in sorted(src.rglob("*.py")):
        tree = _Unannotated().visit(ast.parse(path.read_text()))
        out = dest / path.relative_to(src.parent)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n")


def vermin(target: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    assert VERMIN.exists(), "vermin is not installed: pip install -e '.[test]'"
    return subprocess.run(
        [
            str(VERMIN),
            "--no-tips",
            "--violations",
            f"--target={target}-",
            "--eval-annotations",
            "--no-parse-comments",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_modules_and_module_utils_need_no_python_newer_than_the_floor(tmp_path: Path) -> None:
    for src in ON_THE_HOST:
        unannotated(src, tmp_path)
    proc = vermin(FLOOR, tmp_path)
    assert proc.returncode == 0, f"plugins/ uses features newer than Python {FLOOR}:\n{proc.stdout}{proc.stderr}"


def test_every_module_file_defers_its_annotations() -> None:
    """``list[int]`` or ``X | None`` in an annotation is an error on 3.8 unless annotations are not evaluated."""
    missing = [
        str(p.relative_to(REPO))
        for d in ON_THE_HOST
        for p in sorted(d.rglob("*.py"))
        if p.name != "__init__.py" and "from __future__ import annotations" not in p.read_text()
    ]
    assert missing == []


def test_the_check_can_fail(tmp_path: Path) -> None:
    """A runtime-evaluated ``dict[str, int]`` (3.9) and a ``match`` statement (3.10) are reported against 3.8; the
    same generic in an annotation or under ``if TYPE_CHECKING:`` is not."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "fine.py").write_text(
        "from __future__ import annotations\nimport typing as t\nif t.TYPE_CHECKING:\n"
        "    Table = dict[str, int]\ndef f(a: list[int] | None) -> dict[str, int]:\n"
        "    x: list[int] = []\n    return {}\n"
    )
    unannotated(src, tmp_path / "ok")
    assert vermin(FLOOR, tmp_path / "ok").returncode == 0
    (src / "alias.py").write_text("Table = dict[str, int]\n")
    (src / "match.py").write_text("def f(x):\n    match x:\n        case 1:\n            return 1\n")
    unannotated(src, tmp_path / "bad")
    proc = vermin(FLOOR, tmp_path / "bad")
    assert proc.returncode != 0 and "3.9" in proc.stdout and "3.10" in proc.stdout, proc.stdout + proc.stderr
