"""Both ends of the responder channel without a process or a packet socket: ``child.Child`` driving a fake
responder, and ``supervisor.ResponderProcess`` driven by hand (an AF_UNIX socketpair stands in for the
child's channel, a fake loop records timers instead of running them, a fake Popen for the exit status).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from speaker.layer2 import supervisor
from speaker.layer2.child import EXIT_PROTOCOL, Child
from speaker.layer2.frames import ip_bytes, mac_bytes
from speaker.layer2.metrics import Layer2Metrics
from speaker.layer2.protocol import HEARTBEAT, Counters, Decoder, encode

MAC = "02:00:00:00:00:01"
V4, V4B, V6 = "198.51.100.240", "198.51.100.241", "2001:db8:100::240"


class FakeResponder:
    realtime = False

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.stopped = False
        self.timers: list[tuple[float, Any]] = []
        self.fail_on = fail_on

    def sync_port(self, name, index, mac, v4, v6, elsewhere):
        if name == self.fail_on:
            raise OSError(19, "No such device")
        self.calls.append(("sync", name, index, mac, dict(v4), dict(v6), frozenset(elsewhere)))

    def remove_port(self, name):
        self.calls.append(("remove", name))

    def forget_interface(self, name):
        self.calls.append(("forget", name))

    def set_elsewhere(self, elsewhere):
        self.calls.append(("elsewhere", frozenset(elsewhere)))

    def announce(self, items):
        self.calls.append(("announce", list(items)))

    def stop(self):
        self.stopped = True

    def call_later(self, delay, fn):
        self.timers.append((delay, fn))


def port(name="eth0", index=2, add=(), dele=(), reset=False):
    return {"op": "port", "name": name, "index": index, "mac": MAC, "reset": reset, "add": list(add), "del": list(dele)}


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.settimeout(2)
    yield a, b
    a.close()
    b.close()


def read_all(sock: socket.socket) -> list[dict[str, Any]]:
    sock.setblocking(False)
    d = Decoder()
    out = []
    try:
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            out += d.feed(data)
    except BlockingIOError:
        pass
    return out


# --- the child ---------------------------------------------------------------------------------------------------
def test_child_applies_a_transaction_then_announces_in_order(pair):
    ours, theirs = pair
    r = FakeResponder()
    child = Child(r, ours, Counters())
    theirs.sendall(
        encode({"t": "apply", "ops": [port(add=[V4, V6], reset=True)]})
        + encode({"t": "announce", "items": [["eth0", MAC, V4]]})
    )
    child.on_readable()
    both = frozenset({ip_bytes(V4), ip_bytes(V6)})
    assert r.calls == [
        ("sync", "eth0", 2, mac_bytes(MAC), {ip_bytes(V4): V4}, {ip_bytes(V6): V6}, both),
        ("elsewhere", both),
        ("announce", [("eth0", mac_bytes(MAC), ip_bytes(V4), V4)]),
    ]
    r.calls.clear()
    theirs.sendall(encode({"t": "apply", "ops": [{"op": "remove", "name": "eth0"}, {"op": "forget", "name": "eth0"}]}))
    child.on_readable()
    assert r.calls == [("remove", "eth0"), ("forget", "eth0"), ("elsewhere", frozenset())]
    assert not r.stopped


def test_child_exits_on_a_bad_transaction_without_applying_any_of_it(pair):
    ours, theirs = pair
    r = FakeResponder()
    child = Child(r, ours, Counters())
    theirs.sendall(encode({"t": "apply", "ops": [port(add=[V4], reset=True), port("eth1", add=[V4B])]}))
    child.on_readable()
    assert r.calls == [] and child.ports == {}
    assert r.stopped and child.exit_code == EXIT_PROTOCOL


def test_child_exits_when_the_speaker_closes_the_channel(pair):
    ours, theirs = pair
    r = FakeResponder()
    child = Child(r, ours, Counters())
    theirs.close()
    child.on_readable()
    assert r.stopped and child.exit_code == 0


def test_child_keeps_the_other_ports_when_one_interface_cannot_be_opened(pair, caplog):
    ours, theirs = pair
    r = FakeResponder(fail_on="gone0")
    child = Child(r, ours, Counters())
    theirs.sendall(encode({"t": "apply", "ops": [port("gone0", 7, add=[V4B], reset=True), port(add=[V4], reset=True)]}))
    with caplog.at_level(logging.WARNING):
        child.on_readable()
    assert [c[1] for c in r.calls if c[0] == "sync"] == ["eth0"]
    assert "cannot answer on gone0" in caplog.text and not r.stopped


def test_child_reports_counts_then_heartbeats(pair):
    ours, theirs = pair
    now = [100.0]
    r = FakeResponder()
    counters = Counters()
    child = Child(r, ours, counters, clock=lambda: now[0])
    child.started()
    assert read_all(theirs) == [{"t": "ready", "pid": child_pid(), "realtime": False}]
    counters.requests[V4] = 2
    counters.responses[V4] = 2
    child.tick()
    assert read_all(theirs) == [{"t": "report", "requests": {V4: 2}, "responses": {V4: 2}}]
    child.tick()  # nothing counted, heartbeat not due
    assert read_all(theirs) == []
    now[0] += HEARTBEAT
    child.tick()
    assert read_all(theirs) == [{"t": "report"}]
    assert all(fn == child.tick for _delay, fn in r.timers)


def child_pid() -> int:
    import os

    return os.getpid()


# --- the speaker's side ----------------------------------------------------------------------------------------------
class FakeLoop:
    def __init__(self) -> None:
        self.timers: list[tuple[float, Any]] = []
        self.readers: dict[int, Any] = {}

    def call_later(self, delay, fn):
        self.timers.append((delay, fn))

        class T:
            def cancel(self) -> None:
                pass

        return T()

    def add_reader(self, sock, fn):
        self.readers[sock.fileno()] = fn

    def remove_reader(self, sock):
        self.readers.pop(sock.fileno(), None)
        sock.close()


class FakeProc:
    pid = 4242

    def __init__(self, returncode: int | None) -> None:
        self.returncode = returncode
        self.killed = False

    def poll(self):
        return self.returncode

    def kill(self):
        self.killed = True
        self.returncode = -9


def connected(loop: FakeLoop, metrics: Layer2Metrics, readies: list[bool]):
    sp = supervisor.ResponderProcess(loop, metrics=metrics, on_ready=readies.append)  # type: ignore[arg-type]
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    sp._sock = ours
    sp._proc = FakeProc(None)  # type: ignore[assignment]
    return sp, theirs


def test_speaker_side_sends_nothing_before_ready_then_the_full_table_then_deltas():
    loop, m, readies = FakeLoop(), Layer2Metrics(), []
    sp, child = connected(loop, m, readies)
    v4 = {ip_bytes(V4): V4}
    sp.sync_port("eth0", 2, mac_bytes(MAC), v4, {}, frozenset())
    v4[ip_bytes(V4B)] = V4B  # the Announcer keeps mutating its own dict: the proxy kept a copy
    sp.commit()
    sp.announce([("eth0", mac_bytes(MAC), ip_bytes(V4), V4)])
    assert read_all(child) == []  # not ready: dropped (the full table and a re-announcement follow)
    assert sp.port_names() == ["eth0"] and m.responder_up == 0

    child.sendall(encode({"t": "ready", "pid": 77, "realtime": False}))
    sp._on_readable()
    assert read_all(child) == [{"t": "apply", "ops": [port(add=[V4], reset=True)]}]
    assert readies == [False] and m.responder_up == 1 and sp.info()["pid"] == 77 and sp.healthy()

    sp.sync_port("eth0", 2, mac_bytes(MAC), v4, {}, frozenset())
    sp.remove_port("vx0")  # never had a table: nothing to say
    sp.commit()
    sp.announce([("eth0", mac_bytes(MAC), ip_bytes(V4B), V4B)])
    assert read_all(child) == [
        {"t": "apply", "ops": [port(add=[V4B])]},
        {"t": "announce", "items": [["eth0", MAC, V4B]]},
    ]

    child.sendall(encode({"t": "report", "requests": {V4: 5}, "dropped": {"from-us": 1}}))
    sp._on_readable()
    assert m.requests == {V4: 5} and m.dropped == {"from-us": 1}


def test_speaker_side_reaps_logs_and_restarts_a_dead_child_then_resends_everything(caplog):
    loop, m, readies = FakeLoop(), Layer2Metrics(), []
    sp, child = connected(loop, m, readies)
    child.sendall(encode({"t": "ready", "pid": 77, "realtime": False}))
    sp._on_readable()
    sp.sync_port("eth0", 2, mac_bytes(MAC), {ip_bytes(V4): V4}, {ip_bytes(V6): V6}, frozenset())
    sp.commit()
    read_all(child)

    sp._proc.returncode = -9  # type: ignore[union-attr]
    child.close()  # kill -9: its end of the channel closes
    with caplog.at_level(logging.ERROR):
        sp._on_readable()
    assert "responder process (pid 4242) was killed by SIGKILL; restarting it" in caplog.text
    assert m.responder_up == 0 and m.responder_restarts == 1 and sp.restarts == 1
    assert sp._proc is None  # reaped: no zombie left
    assert loop.timers[-1] == (0.0, sp.spawn)  # the first restart is immediate
    assert sp.info()["up"] is False and "down_for_seconds" in sp.info()

    # the replacement says ready: it gets the whole table, and the Announcer is told to re-announce
    ours, child2 = socket.socketpair()
    ours.setblocking(False)
    sp._sock, sp._proc = ours, FakeProc(None)  # type: ignore[assignment]
    child2.sendall(encode({"t": "ready", "pid": 78, "realtime": False}))
    sp._on_readable()
    assert read_all(child2) == [{"t": "apply", "ops": [port(add=[V4, V6], reset=True)]}]
    assert readies == [False, True] and m.responder_up == 1


def test_speaker_side_kills_a_child_that_sends_garbage():
    loop, m, readies = FakeLoop(), Layer2Metrics(), []
    sp, child = connected(loop, m, readies)
    child.sendall(b"\x00\x00\x00\x02[]")
    sp._on_readable()
    assert sp._proc.killed  # type: ignore[union-attr]


@pytest.mark.parametrize("deaths, delay", [(1, 0.0), (2, 0.25), (3, 0.5), (4, 1.0), (6, 4.0), (7, 5.0), (50, 5.0)])
def test_restart_backoff(deaths, delay):
    assert supervisor.restart_delay(deaths) == delay


def test_describe_exit():
    assert supervisor.describe_exit(-9) == "was killed by SIGKILL"
    assert supervisor.describe_exit(2) == "exited with status 2"


def test_health_turns_false_only_after_the_responder_was_down_for_the_bound():
    """What the daemon's watchdog feeding follows (a fake clock: no waiting)."""
    now = [1000.0]
    loop, m, readies = FakeLoop(), Layer2Metrics(), []
    sp = supervisor.ResponderProcess(loop, metrics=m, on_ready=readies.append, clock=lambda: now[0])  # type: ignore[arg-type]
    ours, child = socket.socketpair()
    ours.setblocking(False)
    sp._sock, sp._proc = ours, FakeProc(None)  # type: ignore[assignment]
    child.sendall(encode({"t": "ready", "pid": 77, "realtime": False}))
    sp._on_readable()
    assert sp.healthy()
    sp._proc.returncode = 1  # type: ignore[union-attr]
    child.close()
    sp._on_readable()  # died; the restart is scheduled (and, here, never happens)
    now[0] += supervisor.DOWN_LIMIT - 0.1
    assert sp.healthy()
    now[0] += 0.2
    assert not sp.healthy()
    ours, child = socket.socketpair()
    ours.setblocking(False)
    sp._sock, sp._proc = ours, FakeProc(None)  # type: ignore[assignment]
    child.sendall(encode({"t": "ready", "pid": 78, "realtime": False}))
    sp._on_readable()
    assert sp.healthy()


def test_a_child_is_judged_silent_on_what_it_sent_not_on_when_the_loop_got_round_to_reading_it():
    now = [1000.0]
    loop, m, readies = FakeLoop(), Layer2Metrics(), []
    sp = supervisor.ResponderProcess(loop, metrics=m, on_ready=readies.append, clock=lambda: now[0])  # type: ignore[arg-type]
    ours, child = socket.socketpair()
    ours.setblocking(False)
    sp._sock, sp._proc = ours, FakeProc(None)  # type: ignore[assignment]
    child.sendall(encode({"t": "ready", "pid": 77, "realtime": False}))
    sp._on_readable()
    now[0] += supervisor.SILENT_LIMIT + 1  # the loop was busy this long; the child's heartbeat is waiting
    child.sendall(encode({"t": "report"}))
    sp._check()
    assert not sp._proc.killed  # type: ignore[union-attr]
    now[0] += supervisor.SILENT_LIMIT + 1  # now really silent
    sp._check()
    assert sp._proc.killed  # type: ignore[union-attr]
