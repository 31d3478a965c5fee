"""The membership runner on loopback: real sockets and threads around the core (namespace tests cover the LAN)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from speaker.liveness.core import MembershipSettings
from speaker.liveness.heartbeats import Membership
from tests.waiting import wait_for

KEY = b"loopback-key-0123456789abcdef"
# A peer is declared dead only after a minute of silence here: within this test, only a LEAVE can drop it.
SLOW_DETECTOR = MembershipSettings(listen="127.0.0.1", port=0, dead_after=60.0, fence_after=120.0)


def _wait(pred, timeout=15.0):
    return wait_for("membership", pred, timeout=timeout, interval=0.01)


def _metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_two_members_join_leave_and_a_wrong_key_is_counted():
    changes: list[frozenset[str]] = []

    def on_change(alive):
        changes.append(alive)

    members = []
    try:
        a = Membership("a", [KEY], SLOW_DETECTOR, on_change=on_change)
        b = Membership("b", [KEY], SLOW_DETECTOR)
        x = Membership("x", [b"some-other-key-0123456789"], SLOW_DETECTOR)
        members = [a, b, x]
        assert a.address is None  # the constructor starts nothing
        for m in members:
            m.start()
        peers = {m.name: m.address for m in members}
        bad_before = _metric("baremetal_lb_membership_bad_mac_total")
        for m in members:
            m.set_peers(peers)
        assert _wait(lambda: a.alive() == {"a", "b"} and b.alive() == {"a", "b"})
        assert _wait(lambda: a.converged() and b.converged())
        assert _wait(lambda: _metric("baremetal_lb_membership_bad_mac_total") > bad_before)
        assert x.alive() == {"x"}
        b.leave()
        assert b.alive() == {"a"}
        # dead_after is a minute: a dropped within the wait below can only be b's LEAVE.
        assert _wait(lambda: a.alive() == {"a"}, timeout=15.0)
        assert changes[-1] == {"a"}
        assert [m["left"] for m in a.members() if m["name"] == "b"] == [True]
        assert not a.fenced
    finally:
        for m in members:
            m.stop()


def test_a_speaker_with_another_key_is_reported_as_a_key_mismatch_a_rotating_one_is_not():
    """x has another key: a sees only bad MACs from x's address (reported, with the node name a knows it by, and
    the gauge counts it). b rotates to a new key a lacks: b signs with both, a accepts the old-key copies, so b
    is never reported although a counts bad MACs from it."""
    new_key = b"rotated-key-0123456789abcdef"
    members = []
    try:
        a = Membership("a", [KEY], SLOW_DETECTOR)
        b = Membership("b", [KEY], SLOW_DETECTOR)
        x = Membership("x", [b"some-other-key-0123456789"], SLOW_DETECTOR)
        members = [a, b, x]
        for m in members:
            m.start()
        peers = {m.name: m.address for m in (a, b)}
        for m in members:  # a and b send to each other only (the gauge is one per process: both must see 1)
            m.set_peers(peers)
        a.set_peers({**peers, "x": x.address})  # a knows x's address by name (a Node of the cluster)
        assert _wait(lambda: a.alive() == {"a", "b"})
        b.set_key(new_key)  # a does not have it: during the overlap b's new-key copies fail at a
        bad_before = _metric("baremetal_lb_membership_bad_mac_total")
        x_at = f"{x.address[0]}:{x.address[1]}"
        got = _wait(lambda: a.key_mismatches() or None)
        assert [(m["address"], m["node"]) for m in got] == [(x_at, "x")]
        assert _wait(lambda: _metric("baremetal_lb_membership_key_mismatch") == 1.0)
        # b's new-key copies were dropped all along (bad MACs counted) and b was never a mismatch
        assert _metric("baremetal_lb_membership_bad_mac_total") > bad_before
        assert a.alive() == {"a", "b"}
        assert [m["address"] for m in a.key_mismatches()] == [x_at]
    finally:
        for m in members:
            m.stop()
