"""The membership runner on loopback: real sockets and threads around the core (namespace tests cover the LAN)."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY

from speaker.membership import Membership, Settings

KEY = b"loopback-key-0123456789abcdef"


def _wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def _metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_two_members_join_leave_and_a_wrong_key_is_counted():
    changes: list[frozenset[str]] = []
    def on_change(alive):
        changes.append(alive)

    members = []
    try:
        a = Membership("a", [KEY], Settings(listen="127.0.0.1", port=0), on_change=on_change)
        b = Membership("b", [KEY], Settings(listen="127.0.0.1", port=0))
        x = Membership("x", [b"some-other-key-0123456789"], Settings(listen="127.0.0.1", port=0))
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
        assert _wait(lambda: a.alive() == {"a"}, timeout=1.0)
        assert changes[-1] == {"a"}
        assert not a.fenced
    finally:
        for m in members:
            m.stop()
