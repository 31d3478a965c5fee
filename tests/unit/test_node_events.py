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
NOT_YET = "Secret metallb-system/memberlist does not exist yet (the allocator leader creates it)"
BAD_KEY = "Secret metallb-system/memberlist: data.secretkey is not base64"


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
            (20.0, LEASES, BAD_KEY, False),  # a new reason: said once it has lasted the grace too
            (25.0, LEASES, BAD_KEY, False),
            (30.0, LEASES, BAD_KEY, False),
            (32.0, LEASES, BAD_KEY, False),  # said: not again
            (35.0, LEASES, "switching to heartbeats: waiting to hear from node2", True),  # key arrived: ending
            (36.0, HEARTBEATS, None, True),
            (40.0, HEARTBEATS, None, True),
        ]
    )
    assert [(t, kind, reason) for t, kind, reason, _ in said] == [
        (FALLBACK_GRACE, "Warning", "LeaseFallback"),
        (30.0, "Warning", "LeaseFallback"),
        (36.0, "Normal", "LeaseFallbackEnded"),
    ]
    assert NO_SECRET in said[0][3] and "for 10s" in said[0][3]
    assert BAD_KEY in said[1][3]
    assert said[2][3] == "Layer 2 liveness from heartbeats again after 36s on the speakers' Leases"


def test_a_passing_reason_after_an_outage_is_not_a_second_warning() -> None:
    """CI's red run: the API refused Secrets, each speaker said so once; when it answered again, the speakers that
    listed Secrets before the allocator leader wrote the key saw "does not exist yet" for a moment, then the key.
    That moment was said as a second LeaseFallback Warning on two of three Nodes."""
    said = _run(
        [
            (0.0, LEASES, NO_SECRET, False),
            (FALLBACK_GRACE, LEASES, NO_SECRET, False),
            (24.6, LEASES, NOT_YET, False),
            (25.0, LEASES, NOT_YET, False),
            (25.3, LEASES, "switching to heartbeats: waiting to hear from node2", True),
            (25.5, HEARTBEATS, None, True),
        ]
    )
    assert [(t, kind, reason) for t, kind, reason, _ in said] == [
        (FALLBACK_GRACE, "Warning", "LeaseFallback"),
        (25.5, "Normal", "LeaseFallbackEnded"),
    ]
    # a new reason that holds is said once, when it has lasted the grace (from 15 s: at 25 s), however long it lasts
    assert [
        t for t, _, _, _ in _run([(float(t), LEASES, NO_SECRET if t < 15 else NOT_YET, False) for t in range(0, 60)])
    ] == [FALLBACK_GRACE, 25.0]


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
