"""The Event recorder: Events wait for the Service status writes (bounded), and say when they were recorded.

``_create_event`` (the one request an Event costs) is replaced by a recording stand-in; the clocks are injected.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from speaker.events import NORMAL, service_event
from speaker.kube import writer
from speaker.kube.writer import EventRecorder
from tests.waiting import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Busy:
    """Stands in for "the status writes have work queued"; counts how often the recorder asked."""

    def __init__(self, busy: bool) -> None:
        self.busy = busy
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.busy


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    lock = threading.Lock()

    def create(api: Any, namespace: str, body: dict[str, Any]) -> None:
        with lock:
            bodies.append(body)

    monkeypatch.setattr(writer, "_create_event", create)
    return bodies


@pytest.fixture
def recorders() -> Iterator[list[EventRecorder]]:
    made: list[EventRecorder] = []
    yield made
    for r in made:
        r.stop(timeout=5)


def allocated(name: str) -> Any:
    return service_event(None, f"default/{name}", NORMAL, "IPAllocated", "Assigned IP ['192.0.2.10']")


def recorder(made: list[EventRecorder], busy: Busy, clock: Clock, max_defer: float = 10.0) -> EventRecorder:
    r = EventRecorder(
        None,
        component="test",
        host="node1",
        busy=busy,
        max_defer=max_defer,  # type: ignore[arg-type]
        clock=clock,
        wall_clock=lambda: 1_780_000_000.0,
    )
    made.append(r)
    r.start()
    return r


def test_events_wait_while_status_writes_are_queued_then_all_go_in_order(sent, recorders) -> None:
    busy, clock = Busy(True), Clock()
    r = recorder(recorders, busy, clock)
    for name in ("a", "b", "c"):
        r.record(allocated(name))
    wait_for("the recorder checking the status writes", lambda: busy.asked >= 3)  # it is trying, and holds back
    assert sent == []
    busy.busy = False
    wait_for("every Event sent", lambda: len(sent) == 3)
    assert [b["involvedObject"]["name"] for b in sent] == ["a", "b", "c"]


def test_an_event_waits_at_most_max_defer_after_it_was_recorded(sent, recorders) -> None:
    busy, clock = Busy(True), Clock()
    r = recorder(recorders, busy, clock, max_defer=10.0)
    r.record(allocated("a"))
    wait_for("the recorder checking the status writes", lambda: busy.asked >= 3)
    clock.now += 9.9
    asked = busy.asked
    wait_for("the recorder checking again", lambda: busy.asked >= asked + 3)
    assert sent == []
    clock.now += 0.2  # 10.1 s after it was recorded, the status writes still busy
    wait_for("the Event sent anyway", lambda: len(sent) == 1)


def test_an_event_says_when_it_was_recorded_not_when_it_was_sent(sent, recorders) -> None:
    busy, clock = Busy(False), Clock()
    r = EventRecorder(
        None,
        component="test",
        host="node1",
        busy=busy,
        clock=clock,  # type: ignore[arg-type]
        wall_clock=iter([1_780_000_000.0, 1_780_000_100.0]).__next__,
    )
    recorders.append(r)
    r.record(allocated("a"))  # recorded before the sending thread runs
    r.start()
    wait_for("the Event sent", lambda: len(sent) == 1)
    assert sent[0]["firstTimestamp"] == sent[0]["lastTimestamp"] == "2026-05-28T20:26:40Z"


def test_stop_flushes_without_waiting_for_the_status_writes(sent, recorders) -> None:
    busy, clock = Busy(True), Clock()
    r = recorder(recorders, busy, clock)
    r.record(allocated("a"))
    wait_for("the recorder checking the status writes", lambda: busy.asked >= 1)
    r.stop(timeout=5)
    assert [b["involvedObject"]["name"] for b in sent] == ["a"]
