"""Liveness from the speakers' Leases (speaker/kube/speakerlease.py) against the API emulator: several ``SpeakerLease``
runners in this process, each with its own client and Lease watch, as speakers on different nodes would have.

A "kill -9" is a runner stopped without releasing its Lease; the others must drop it once the Lease runs out (not
before), and the Layer 2 election computed from their views must move its addresses. An API outage must not be
taken for deaths.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from speaker.kube.informer import Informer
from speaker.kube.speakerlease import SpeakerLease, leases_kind
from speaker.plan.election import assign
from tests.integration.conftest import NS, Cluster, wait_for
from tests.kubeapi import api_client

DURATION, RENEW = 3.0, 1.0


class Member:
    def __init__(self, url: str, node: str, *, layer2: bool = True, duration: float = DURATION) -> None:
        self.api = api_client(url)
        self.changes: list[tuple[float, frozenset[str]]] = []
        self.informer = Informer(leases_kind(NS), self.api, sink=lambda *_: self.lease.poke())
        self.lease = SpeakerLease(
            self.api,
            namespace=NS,
            node=node,
            leases=self.informer,
            layer2=layer2,
            duration=duration,
            renew_interval=RENEW,
            on_change=lambda alive: self.changes.append((time.monotonic(), alive)),
        )
        self.threads = [threading.Thread(target=t, daemon=True) for t in (self.informer.run, self.lease.run)]
        for t in self.threads:
            t.start()

    def kill(self) -> None:
        """Like kill -9: no release, nothing more from this node."""
        self.lease.stop()
        self.informer.stop()
        for t in self.threads:
            t.join(5)
        self.api.close()


@pytest.fixture
def members(kube_api, kube_client) -> Iterator[dict[str, Member]]:
    Cluster(kube_client)  # the namespace
    started: dict[str, Member] = {}

    def start(*nodes: str, duration: float = DURATION) -> dict[str, Member]:
        for n in nodes:
            started[n] = Member(kube_api.url, n, duration=duration)
        return started

    yield start  # type: ignore[misc]
    for m in started.values():
        if m.threads[0].is_alive():
            m.kill()


VIPS = [f"198.51.100.{240 + i}" for i in range(9)]


def election(m: Member) -> dict[str, str]:
    return assign(m.lease.alive(), {vip: {"a", "b", "c"} for vip in VIPS})


def test_killed_speaker_is_dead_once_its_lease_runs_out_and_its_addresses_move(members):
    ms = members("a", "b", "c")
    everyone = frozenset("abc")
    for m in ms.values():
        wait_for(f"{m.lease.node} to see everyone", lambda m=m: m.lease.alive() == everyone, timeout=10)
    before = election(ms["a"])
    assert before == election(ms["b"]) and set(before.values()) == set("abc")
    t0 = time.monotonic()  # before the kill: a slow kill can only make `took` longer, never shorter
    ms["c"].kill()
    wait_for(
        "a and b to drop c",
        lambda: ms["a"].lease.alive() == ms["b"].lease.alive() == frozenset("ab"),
        timeout=DURATION + 15,
        interval=0.02,
    )
    took = time.monotonic() - t0
    print(f"kill -9 → dropped after {took:.2f}s (lease {DURATION:g}s, renewed every {RENEW:g}s)")
    # Not declared dead while its Lease still runs: the last renewal was at most RENEW before the kill (0.3 s for
    # the Lease's renewTime being stamped by c's clock before the request). Load only makes `took` longer.
    assert took >= DURATION - RENEW - 0.3
    after = election(ms["a"])
    assert after == election(ms["b"]), "the survivors disagree"
    moved = {vip for vip in VIPS if before[vip] != after[vip]}
    assert {vip for vip in VIPS if before[vip] == "c"} <= moved and set(after.values()) == {"a", "b"}


def test_clean_stop_releases_the_lease_and_peers_drop_it_at_once(members):
    # Leases of a minute: within the 15 s wait below only the release can explain the drop.
    ms = members("a", "b", duration=60.0)
    wait_for("a to see b", lambda: ms["a"].lease.alive() == frozenset("ab"), timeout=10)
    t0 = time.monotonic()
    ms["b"].lease.leave()
    assert ms["b"].lease.alive() == frozenset("a"), "a leaving speaker must hand everything away"
    wait_for("a to drop b", lambda: ms["a"].lease.alive() == frozenset("a"), timeout=15, interval=0.01)
    print(f"released → dropped after {(time.monotonic() - t0) * 1000:.0f} ms (lease 60 s)")


def test_api_outage_is_not_taken_for_deaths(members, kube_api):
    ms = members("a", "b")
    wait_for("both views complete", lambda: all(m.lease.alive() == frozenset("ab") for m in ms.values()), 10)
    kube_api.pause("unavailable")  # nobody can renew, nobody can see
    try:
        end = time.monotonic() + 2 * DURATION
        while time.monotonic() < end:
            assert all(m.lease.alive() == frozenset("ab") for m in ms.values()), "a death during the outage"
            time.sleep(0.1)
    finally:
        kube_api.resume()

    # The Lease watches come back on the informer's backoff (up to several seconds after a long outage); until
    # then each member stays blind and declares nobody dead. Once they see again, everyone renews before anyone's
    # fresh duration runs out.
    def blind() -> bool:
        return any(m.lease.snapshot()["blind"] for m in ms.values())

    while blind():
        assert all(m.lease.alive() == frozenset("ab") for m in ms.values()), "a death while regaining sight"
        assert time.monotonic() < end + 30, "the Lease watches did not come back within 30 s of the API"
        time.sleep(0.1)
    end = time.monotonic() + DURATION + 1
    while time.monotonic() < end:
        assert all(m.lease.alive() == frozenset("ab") for m in ms.values()), "a death after the outage"
        time.sleep(0.1)
    for m in ms.values():
        assert not m.lease.snapshot()["blind"]
        assert all(a == frozenset("ab") for _, a in m.changes[1:]), m.changes
