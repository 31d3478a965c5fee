"""The status garbage collector's sweep (``statusgc.sweep``) as an ordered table: who is gone, what is deleted,
and that a delete is asked once per resourceVersion while the cache lags behind it."""

from __future__ import annotations

from typing import Any

from speaker.controllers.statusgc import sweep


def status(name: str, node: str | None, rv: str = "1", kind: str = "ServiceL2Status") -> dict[str, Any]:
    labels = {"metallb.io/node": node} if node else {}
    return {"kind": kind, "metadata": {"name": name, "resourceVersion": rv, "labels": labels}}


# (description, L2 objects, BGP objects, Nodes, gone speakers, expected deletes, expected gone nodes)
Objs = list[dict[str, Any]]
ROWS: list[tuple[str, Objs, Objs, set[str], set[str], list[tuple[str, str]], set[str]]] = [
    (
        "everyone alive: nothing",
        [status("l2-a", "a"), status("l2-b", "b")],
        [status("bgp-a", "a", kind="B")],
        {"a", "b"},
        set(),
        [],
        set(),
    ),
    (
        "b's Lease ran out: its objects of both kinds go",
        [status("l2-a", "a"), status("l2-b", "b")],
        [status("bgp-b", "b", kind="B")],
        {"a", "b"},
        {"b"},
        [("servicel2statuses", "l2-b"), ("servicebgpstatuses", "bgp-b")],
        {"b"},
    ),
    (
        "the cache still shows them (same versions): not asked again",
        [status("l2-a", "a"), status("l2-b", "b")],
        [status("bgp-b", "b", kind="B")],
        {"a", "b"},
        {"b"},
        [],
        {"b"},
    ),
    (
        "one came back with a new version (re-created): asked again",
        [status("l2-b", "b", rv="2")],
        [],
        {"a", "b"},
        {"b"},
        [("servicel2statuses", "l2-b")],
        {"b"},
    ),
    ("an object without an owner label is nobody's to delete", [status("l2-x", None)], [], {"a"}, {"a"}, [], set()),
]


def test_status_gc_sweep_table() -> None:
    asked: dict[str, str] = {}
    calls: list[tuple[str, bool]] = []
    for description, l2, bgp, nodes, gone, deletes, gone_nodes in ROWS:

        def is_gone(node: str, exists: bool, gone: set[str] = gone) -> bool:
            calls.append((node, exists))
            return node in gone

        calls.clear()
        found = sweep({"servicel2statuses": l2, "servicebgpstatuses": bgp}, frozenset(nodes), is_gone, asked)
        assert list(found.deletes) == deletes, description
        assert found.gone == gone_nodes, description
        assert len(calls) == len(set(calls)), f"{description}: one verdict per node per sweep"
        asked = found.asked


def test_a_deleted_node_is_told_to_the_verdict() -> None:
    seen = []
    sweep(
        {"servicel2statuses": [status("l2-c", "c")]},
        frozenset({"a"}),
        lambda node, exists: seen.append((node, exists)) or False,
        {},
    )
    assert seen == [("c", False)]
