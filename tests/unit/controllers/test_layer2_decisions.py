"""The Layer 2 decisions of one node (``announce.l2_node_decision``, ``announce.l2_gap_actions``) as scenario tables.

Each row is one plan (every address → its node, as ``l2_plan`` computes it) run against the memory the earlier rows
left; the row checks what this node answers for (and which of those it probes first), what it takes over from whom,
and the Events. No API, no sockets, no controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from speaker.plan.actions import Announce, Emit, HandOver
from speaker.plan.announce import (
    NO_ELIGIBLE_NODE,
    NO_LIVE_SPEAKER,
    L2Choice,
    L2Gap,
    L2Memory,
    ServiceAddresses,
    l2_gap_actions,
    l2_node_decision,
)

ME = "node1"
A, B, C = "198.51.100.240", "198.51.100.241", "198.51.100.242"
SERVICE_OF = {A: "default/a", B: "default/b", C: "default/c"}


def addressed(*ips: str) -> list[ServiceAddresses]:
    return [ServiceAddresses(SERVICE_OF[ip], (ip,), "lan", False, "2026-01-01T00:00:00Z") for ip in ips]


def brief(action: Any) -> tuple[Any, ...]:
    if isinstance(action, Announce):
        return ("announce", {ip: "probe" if a.probe else "no probe" for ip, a in action.addresses.items()})
    if isinstance(action, HandOver):
        return ("hand over", dict(action.taken))
    if isinstance(action, Emit):
        return ("event", action.event.reason, action.event.involved[3])
    raise AssertionError(action)


@dataclass(frozen=True)
class Row:
    description: str
    services: tuple[str, ...]  # the addresses Services hold (one Service each)
    plan: dict[str, str]  # address → the node the plan gives it to (absent: nobody)
    expected: list[tuple[Any, ...]]
    fenced: bool = False


def run(rows: list[Row]) -> None:
    memory = L2Memory()
    for i, row in enumerate(rows):
        plan = {ip: L2Choice(node, (SERVICE_OF[ip],), None) for ip, node in row.plan.items()}
        got = l2_node_decision(
            ME, addressed(*row.services), plan, memory, fenced=row.fenced, service_obj=lambda key: None
        )
        assert [brief(a) for a in got.actions] == row.expected, f"row {i} ({row.description})"
        assert set(got.mine) == ({ip for ip, n in row.plan.items() if n == ME} if not row.fenced else set())
        memory = got.memory


SCENARIOS = {
    "an address Services held when we started is never probed": [
        Row("first plan: A is ours", (A,), {A: ME}, [("event", "nodeAssigned", "a"), ("announce", {A: "no probe"})]),
        Row("the same plan again: nothing new to say", (A,), {A: ME}, [("announce", {A: "no probe"})]),
    ],
    "a new address is probed before its first announcement": [
        Row("synced with nothing", (), {}, [("announce", {})]),
        Row(
            "B allocated after we started, planned here",
            (B,),
            {B: ME},
            [("event", "nodeAssigned", "b"), ("announce", {B: "probe"})],
        ),
        Row(
            "still ours: no probe asked any more (it was planned before)",
            (B,),
            {B: ME},
            [("announce", {B: "no probe"})],
        ),
    ],
    "a takeover is not probed and hands the old owner's connections over": [
        Row("synced with nothing", (), {}, [("announce", {})]),
        Row("C new, planned on node2", (C,), {C: "node2"}, [("announce", {})]),
        Row(
            "node2 died: C is ours",
            (C,),
            {C: ME},
            [("event", "nodeAssigned", "c"), ("hand over", {C: "node2"}), ("announce", {C: "no probe"})],
        ),
    ],
    # commit 2da59c5: node3 probed after a gap, node2 (not yet withdrawn) answered, node3 stayed dark 30 s.
    "an address planned anywhere before a gap is not probed after it": [
        Row("synced with nothing", (), {}, [("announce", {})]),
        Row("C new, its only endpoint on node2", (C,), {C: "node2"}, [("announce", {})]),
        Row("the endpoint moves: for a moment no node is eligible", (C,), {}, [("announce", {})]),
        Row("the endpoint is here now", (C,), {C: ME}, [("event", "nodeAssigned", "c"), ("announce", {C: "no probe"})]),
    ],
    "an address we announced before is not probed when it comes back": [
        Row("synced with nothing", (), {}, [("announce", {})]),
        Row("B new, here", (B,), {B: ME}, [("event", "nodeAssigned", "b"), ("announce", {B: "probe"})]),
        Row("B moves to node2 (a rebalance)", (B,), {B: "node2"}, [("announce", {})]),
        Row(
            "B comes back",
            (B,),
            {B: ME},
            [("event", "nodeAssigned", "b"), ("hand over", {B: "node2"}), ("announce", {B: "no probe"})],
        ),
    ],
    "a fenced node announces nothing and says nothing": [
        Row("A ours", (A,), {A: ME}, [("event", "nodeAssigned", "a"), ("announce", {A: "no probe"})]),
        Row("fenced", (A,), {A: ME}, [("announce", {})], fenced=True),
    ],
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_layer2_scenario(name: str) -> None:
    run(SCENARIOS[name])


def gap(message: str, reason: str = NO_ELIGIBLE_NODE) -> dict[str, L2Gap]:
    return {"default/a": L2Gap("default/a", (A,), reason, message)}


# (description, gaps, leader, Events expected)
GAP_ROWS: list[tuple[str, dict[str, L2Gap], bool, list[str]]] = [
    ("a standby computes the gap too: no Event", gap("all excluded"), False, []),
    ("the leader says it once", gap("all excluded"), True, ["all excluded"]),
    ("seen again: not again", gap("all excluded"), True, []),
    ("the reason changed: once more", gap("all excluded, and a new node"), True, ["all excluded, and a new node"]),
    ("a liveness gap is for /status only", gap("x", NO_LIVE_SPEAKER), True, []),
    ("resolved", {}, True, []),
    ("back again: a change", gap("all excluded"), True, ["all excluded"]),
]


def test_no_eligible_node_warnings_once_per_change_from_the_leader_only() -> None:
    warned: dict[str, str] = {}
    for description, gaps, leader, expected in GAP_ROWS:
        warned, actions = l2_gap_actions(gaps, warned, leader=leader, service_obj=lambda key: None)
        assert [(a.event.type, a.event.reason, a.event.message) for a in actions] == [  # type: ignore[union-attr]
            ("Warning", NO_ELIGIBLE_NODE, m) for m in expected
        ], description
