"""The speaker's own silent failures as Events on its Node (speaker.nodeevents), and the tracker that tells a
heartbeat key mismatch from a key rotation (speaker.liveness.core.KeyMismatchTracker). Pure: clocks passed in."""

from __future__ import annotations

from speaker.liveness.core import KeyMismatchTracker
from speaker.liveness.memberkey import HEARTBEATS, LEASES
from speaker.nodeevents import (
    FALLBACK_GRACE,
    FallbackMemory,
    key_mismatch_events,
    lease_fallback_events,
)

N2 = ("192.0.2.12", 7947)
NO_SECRET = "cannot read Secret metallb-system/memberlist (HTTP 403 Forbidden)"


def _run(steps: list[tuple[float, str | None, str | None, bool]]) -> list[tuple[float, str, str, str]]:
    """(now, mode, reason, key_known) rows through the decision; the Events said, as (now, type, reason, message)."""
    memory, said = FallbackMemory(), []
    for now, mode, reason, key_known in steps:
        memory, events = lease_fallback_events("node1", mode, reason, memory, now=now, key_known=key_known)
        said += [(now, e.event.type, e.event.reason, e.event.message) for e in events]
    return said


def test_the_lease_fallback_is_said_on_the_node_once_it_lasts_then_once_per_reason_and_when_it_ends() -> None:
    said = _run(
        [
            (0.0, LEASES, NO_SECRET, False),
            (5.0, LEASES, NO_SECRET, False),  # within the grace: a fresh cluster's first second looks like this
            (FALLBACK_GRACE, LEASES, NO_SECRET, False),  # lasted: said
            (15.0, LEASES, NO_SECRET, False),  # same reason: not again
            (20.0, LEASES, "Secret metallb-system/memberlist: data.secretkey is not base64", False),  # new reason
            (25.0, LEASES, "switching to heartbeats: waiting to hear from node2", True),  # key arrived: ending
            (26.0, HEARTBEATS, None, True),
            (30.0, HEARTBEATS, None, True),
        ]
    )
    assert [(t, kind, reason) for t, kind, reason, _ in said] == [
        (FALLBACK_GRACE, "Warning", "LeaseFallback"),
        (20.0, "Warning", "LeaseFallback"),
        (26.0, "Normal", "LeaseFallbackEnded"),
    ]
    assert NO_SECRET in said[0][3] and "for 10s" in said[0][3]
    assert said[2][3] == "Layer 2 liveness from heartbeats again after 26s on the speakers' Leases"


def test_no_event_for_a_short_fallback_nor_for_a_speaker_without_layer2() -> None:
    assert (
        _run(
            [
                (0.0, LEASES, "waiting for Secret metallb-system/memberlist", False),
                (1.0, LEASES, "switching to heartbeats: waiting to hear from node2", True),
                (2.0, HEARTBEATS, None, True),
            ]
        )
        == []
    )
    assert _run([(0.0, None, None, False), (60.0, None, None, False)]) == []
    assert _run([(0.0, HEARTBEATS, None, True), (60.0, HEARTBEATS, None, True)]) == []


def test_lease_fallback_event_is_about_the_node_as_the_kubelet_names_it() -> None:
    _, events = lease_fallback_events("node1", LEASES, NO_SECRET, FallbackMemory(since=0.0), now=30.0, key_known=False)
    assert [e.event.involved for e in events] == [("v1", "Node", "", "node1", "node1")]


def test_key_mismatch_is_said_once_per_sender_while_it_lasts_and_again_after_it_recovered() -> None:
    said: frozenset[str] = frozenset()
    out = []
    for mismatched in (
        {"192.0.2.12:7947": "node2"},
        {"192.0.2.12:7947": "node2", "192.0.2.99:7947": None},
        {"192.0.2.99:7947": None},
        {},
        {"192.0.2.12:7947": "node2"},
    ):
        said, events = key_mismatch_events("node1", mismatched, said)
        out.append([(e.event.reason, e.event.involved[1:4], e.event.message.split(" fail")[0]) for e in events])
    assert out == [
        [("HeartbeatKeyMismatch", ("Node", "", "node1"), "heartbeats from 192.0.2.12:7947 (node node2)")],
        [("HeartbeatKeyMismatch", ("Node", "", "node1"), "heartbeats from 192.0.2.99:7947")],
        [],
        [],
        [("HeartbeatKeyMismatch", ("Node", "", "node1"), "heartbeats from 192.0.2.12:7947 (node node2)")],
    ]


def test_only_bad_macs_from_a_sender_for_a_second_are_a_mismatch() -> None:
    t = KeyMismatchTracker(settle=1.0, forget=5.0)
    for i in range(20):  # 50 ms heartbeats, every one with another key
        t.bad(N2, i * 0.05)
    assert t.current(0.95) == {}  # not yet a second
    t.bad(N2, 1.0)
    assert t.current(1.0) == {N2: 0.0}
    t.good(N2)  # fixed: one heartbeat verifies
    assert t.current(1.05) == {}


def test_a_key_rotation_is_not_a_mismatch() -> None:
    """During a rotation the peer signs every heartbeat twice; the copy with the key we lack fails, the other
    verifies: bad MACs for as long as the overlap lasts, never a mismatch."""
    t = KeyMismatchTracker(settle=1.0, forget=5.0)
    for i in range(200):  # ten seconds of double-signed heartbeats
        now = i * 0.05
        t.bad(N2, now)
        t.good(N2)
        assert t.current(now) == {}


def test_a_silent_sender_is_forgotten_and_memory_is_bounded() -> None:
    t = KeyMismatchTracker(settle=1.0, forget=5.0, limit=3)
    t.bad(N2, 0.0)
    t.bad(N2, 2.0)
    assert t.current(6.9) == {N2: 0.0}
    assert t.current(7.1) == {}  # nothing from it for more than 5 s
    for i in range(10):
        t.bad((f"192.0.2.{100 + i}", 7947), 10.0 + i * 0.01)
    assert sorted(ip for ip, _ in t.current(12.0)) == ["192.0.2.107", "192.0.2.108", "192.0.2.109"]
