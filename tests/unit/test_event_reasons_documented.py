"""Every Event reason the speaker can emit is in docs/speaker.md's table, and the table lists no other.

The reasons are read from the code, not from a list kept by hand: every call that builds an Event
(``speaker.events.Event``/``event_about``/``service_event``, ``speaker.nodeevents.node_event``, and any function
of ``speaker/`` that passes its own ``reason`` parameter on to one of them, like the local ``say`` helpers) has its
reason argument resolved to string literals: a literal, a conditional expression, or a name assigned such values
(also through tuple unpacking) in the enclosing functions or any module. A reason the test cannot resolve fails
it, naming the file and line: keep reasons literal, or constants.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEAKER = REPO / "speaker"
#: Builders and the position of their reason argument (None: keyword only).
BUILDERS = {"Event": 2, "event_about": None, "service_event": 3, "node_event": 2}


def _modules() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p)) for p in sorted(SPEAKER.rglob("*.py"))}


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _scopes(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.AST]:
    """The enclosing functions, innermost first, then the module."""
    out = []
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            out.append(node)
    return out


def _reason_arg(call: ast.Call, index: int | None) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == "reason":
            return kw.value
    return call.args[index] if index is not None and index < len(call.args) else None


def _local_builder(
    call: ast.Call, parents: dict[ast.AST, ast.AST], helpers: dict[ast.FunctionDef, int | None]
) -> int | None | bool:
    """The reason position of the function ``call`` calls: a helper defined in an enclosing scope (innermost
    first), else a known builder; False if it builds no Event."""
    name = (
        call.func.id
        if isinstance(call.func, ast.Name)
        else call.func.attr
        if isinstance(call.func, ast.Attribute)
        else None
    )
    if name is None:
        return False
    for scope in _scopes(call, parents):
        for stmt in getattr(scope, "body", []):
            if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
                return helpers.get(stmt, False)
    return BUILDERS.get(name, False)


def _assigned(name: str, scopes: list[ast.AST], modules: dict[Path, ast.Module]) -> list[ast.expr]:
    """What ``name`` is assigned in the enclosing scopes (innermost first; a module's top level only), else in
    the module it is imported from. Tuple targets give the element at the name's position."""

    def in_scope(scope: ast.AST, top_only: bool) -> list[ast.expr]:
        found: list[ast.expr] = []
        nodes = getattr(scope, "body", []) if top_only else ast.walk(scope)
        for node in nodes:
            if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                continue
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and target.id == name:
                    found.append(node.value)
                elif isinstance(target, ast.Tuple):
                    names = [e.id if isinstance(e, ast.Name) else None for e in target.elts]
                    if name in names:
                        found += _elements(node.value, names.index(name))
        return found

    for scope in scopes:
        if hit := in_scope(scope, top_only=isinstance(scope, ast.Module)):
            return hit
    module = scopes[-1]  # not assigned here: the module it is imported from (``from speaker.x import NAME``)
    for node in getattr(module, "body", []):
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == name for a in node.names):
            source = REPO / (node.module.replace(".", "/") + ".py")
            if source in modules:
                return in_scope(modules[source], top_only=True)
    return []


def _elements(value: ast.expr, i: int) -> list[ast.expr]:
    if isinstance(value, ast.Tuple):
        return [value.elts[i]]
    if isinstance(value, ast.IfExp):
        return _elements(value.body, i) + _elements(value.orelse, i)
    raise AssertionError(f"line {value.lineno}: cannot unpack {ast.dump(value)}")


def _strings(expr: ast.expr, scopes: list[ast.AST], modules: dict[Path, ast.Module], where: str) -> set[str]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        return _strings(expr.body, scopes, modules, where) | _strings(expr.orelse, scopes, modules, where)
    if isinstance(expr, ast.Name):
        values = _assigned(expr.id, scopes, modules)
        assert values, f"{where}: the Event reason {expr.id} is assigned nowhere the test can see"
        return set().union(*(_strings(v, scopes, modules, where) for v in values))
    raise AssertionError(f"{where}: cannot tell the Event reason {ast.unparse(expr)!r}: use a literal or a constant")


def emitted_reasons() -> dict[str, list[str]]:
    """Reason → where it is emitted (file:line)."""
    modules = _modules()
    parents = {p: _parents(tree) for p, tree in modules.items()}
    # Helpers: functions with a ``reason`` parameter that they pass on as an Event's reason (to a fixpoint).
    helpers: dict[ast.FunctionDef, int | None] = {}
    for _ in range(5):
        for path, tree in modules.items():
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef) or fn in helpers:
                    continue
                params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
                keyword_only = [a.arg for a in fn.args.kwonlyargs]
                if "reason" not in params + keyword_only:
                    continue
                for call in ast.walk(fn):
                    if isinstance(call, ast.Call):
                        index = _local_builder(call, parents[path], helpers)
                        arg = _reason_arg(call, index) if index is not False else None
                        if isinstance(arg, ast.Name) and arg.id == "reason":
                            helpers[fn] = params.index("reason") if "reason" in params else None
    out: dict[str, list[str]] = {}
    for path, tree in modules.items():
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            index = _local_builder(call, parents[path], helpers)
            if index is False:
                continue
            arg = _reason_arg(call, index)
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            scopes = _scopes(call, parents[path])
            fn = next((s for s in scopes if isinstance(s, ast.FunctionDef)), None)
            if arg is None or (isinstance(arg, ast.Name) and arg.id == "reason" and fn in helpers):
                continue  # the builder's own definition, or a helper passing its parameter on: its callers count
            for reason in _strings(arg, scopes, modules, where):
                out.setdefault(reason, []).append(where)
    return out


def documented_reasons() -> set[str]:
    text = (REPO / "docs" / "speaker.md").read_text()
    section = text.split("## What the speaker tells you, and where", 1)[1].split("\n## ", 1)[0]
    table = section.split("### Events", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\|\s*`([A-Za-z]+)`\s*\|", table, flags=re.M))


def test_every_event_reason_the_speaker_emits_is_documented_and_no_other() -> None:
    emitted = emitted_reasons()
    print("\n" + "\n".join(f"{r}: {', '.join(w)}" for r, w in sorted(emitted.items())))
    # The ones the issue names, so a broken collector (finding nothing) cannot pass.
    assert {
        "IgnoredField",
        "NoEligibleNode",
        "PoolExhausted",
        "LeaseFallback",
        "HeartbeatKeyMismatch",
        "SessionDown",
        "nodeAssigned",
    } <= emitted.keys()
    documented = documented_reasons()
    assert {r: emitted[r] for r in sorted(emitted.keys() - documented)} == {}, "emitted, not in docs/speaker.md"
    assert sorted(documented - emitted.keys()) == [], "in docs/speaker.md, emitted nowhere"
