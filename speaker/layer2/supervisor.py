"""The speaker's side of the responder process: start it, tell it what to answer, hear its counts, restart it.

``ResponderProcess`` has the port methods the Announcer calls on a ``Responder`` (``sync_port``,
``remove_port``, ``forget_interface``, ``port_names``, ``set_elsewhere``, ``announce``, ``commit``) and turns
them into messages to ``python -m speaker.layer2.child`` (``protocol.py``). It keeps what the child should
have (``_ports``) so that a restarted child gets the full table; everything runs on the Announcer's loop
thread, which also reads the child's channel (no extra thread).

Lifecycle (docs/design/0011):
- spawned with ``subprocess`` (fork+exec: no Python runs between the two, so forking a threaded process is
  safe) from the loop thread — the thread its PR_SET_PDEATHSIG is tied to, and the one whose network
  namespace it must share (it checks);
- its death is noticed at once (EOF on the channel), a hang within ``SILENT_LIMIT`` (heartbeats every
  second) or ``START_TIMEOUT`` (never said ready), a stuck channel within ``SEND_TIMEOUT``; it is reaped,
  logged, restarted (at once the first time, then with backoff), sent the full table, and the Announcer
  re-announces every address (gratuitous ARP/NA) — ``on_ready(restarted=True)``;
- ``healthy()`` is False once it has not been answering for ``DOWN_LIMIT``: the daemon then stops feeding
  the systemd watchdog.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from speaker.layer2.protocol import (
    Decoder,
    PortState,
    ProtocolError,
    announce_msg,
    encode,
    full_table,
    merge_report,
    port_op,
)
from speaker.layer2.responder import Responder, Timer

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0  # a new child must say "ready" within this (Python starts in ~0.1 s; a loaded box is slower)
SILENT_LIMIT = 3.0  # no report for this long (it sends one every second): hung → SIGKILL → restart
SEND_TIMEOUT = 2.0  # a message it does not take within this: hung → SIGKILL → restart
DOWN_LIMIT = 10.0  # not answering for longer than this: healthy() is False (the watchdog stops being fed)
RESTART_WINDOW = 60.0  # deaths counted for the backoff
MAX_BACKOFF = 5.0
WATCH_EVERY = 0.5
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding ``speaker/``


def restart_delay(deaths_in_window: int) -> float:
    """At once after the first death; then 0.25 s, 0.5 s, 1 s, … up to MAX_BACKOFF while it keeps dying."""
    if deaths_in_window <= 1:
        return 0.0
    return min(MAX_BACKOFF, 0.25 * 2.0 ** (deaths_in_window - 2))


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


def _send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    poller: select.poll | None = None
    while view:
        try:
            n = sock.send(view)
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(view)} bytes not taken within {timeout:g}s") from None
            if poller is None:
                poller = select.poll()
                poller.register(sock, select.POLLOUT)
            poller.poll(left * 1000)
            continue
        view = view[n:]


class ResponderProcess:
    """The responder child as the Announcer sees it. Constructing it starts nothing; ``spawn()`` (on the
    loop thread) starts the child, ``close()`` (after the loop stopped) ends it."""

    def __init__(
        self,
        loop: Responder,
        *,
        metrics: Any,
        realtime_priority: int = 0,
        on_ready: Callable[[bool], None],
        clock: Callable[[], float] = time.monotonic,
        python: str = sys.executable,
    ) -> None:
        self.loop = loop
        self.metrics = metrics
        self.realtime_priority = realtime_priority
        self.clock = clock
        self.python = python
        self._on_ready = on_ready
        self._ports: dict[str, PortState] = {}  # what the child should have
        self._ops: list[dict[str, Any]] = []  # this batch, sent by commit()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._decoder = Decoder()
        self._ready = False  # the current child said ready and its channel works
        self._was_ready = threading.Event()
        self._readies = 0
        self._pid: int | None = None
        self._realtime = False
        self._spawned_at = 0.0
        self._last_rx = 0.0
        self._down_since: float | None = None
        self._deaths: deque[float] = deque()
        self.restarts = 0
        self._closing = False
        self._watch: Timer | None = None
        metrics.responder_up = 0

    # --- the port methods (loop thread) ---------------------------------------------------------------------
    def port_names(self) -> list[str]:
        return list(self._ports)

    def set_elsewhere(self, elsewhere: frozenset[bytes]) -> None:
        """The child works this out from its own tables."""

    def sync_port(
        self,
        name: str,
        index: int,
        mac: bytes,
        v4: Mapping[bytes, str],
        v6: Mapping[bytes, str],
        elsewhere: frozenset[bytes],
    ) -> None:
        op = port_op(name, self._ports.get(name), index, mac, v4, v6)
        if op is None:
            return
        self._ports[name] = PortState(index, mac, dict(v4), dict(v6))  # a copy: the caller keeps mutating its own
        self._ops.append(op)

    def remove_port(self, name: str) -> None:
        if self._ports.pop(name, None) is not None:
            self._ops.append({"op": "remove", "name": name})

    def forget_interface(self, name: str) -> None:
        self.remove_port(name)
        self._ops.append({"op": "forget", "name": name})

    def commit(self) -> None:
        """Send this batch of port changes as one transaction (the child applies it between two frames)."""
        if not self._ops:
            return
        ops, self._ops = self._ops, []
        if self._ready:  # else the full table goes out when the (next) child is ready
            self._send({"t": "apply", "ops": ops})

    def announce(self, items: Sequence[tuple[str, bytes, bytes, str]]) -> None:
        """Gratuitous frames, sent (and counted) by the child after every earlier table change."""
        self.commit()
        if self._ready:  # else dropped: a (re)started child gets every address re-announced
            self._send(announce_msg((name, mac, ip) for name, mac, _packed, ip in items))

    # --- lifecycle ------------------------------------------------------------------------------------------
    def spawn(self) -> None:
        """Start a child (loop thread: PR_SET_PDEATHSIG follows the thread that forks)."""
        if self._closing or self._proc is not None:
            return
        now = self.clock()
        if self._down_since is None:
            self._down_since = now
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            netns = os.stat("/proc/thread-self/ns/net").st_ino
            level = logging.getLevelName(log.getEffectiveLevel())
            cmd = [
                self.python,
                "-m",
                "speaker.layer2.child",
                "--fd",
                str(theirs.fileno()),
                "--parent",
                str(os.getpid()),
                "--netns",
                str(netns),
                "--rt-priority",
                str(self.realtime_priority),
                "--log-level",
                level.lower() if isinstance(level, str) and not level.startswith("Level") else "info",
            ]
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
            self._proc = subprocess.Popen(
                cmd,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            ours.close()
            log.error("layer2: cannot start the ARP/NDP responder process: %s", exc)
            self._died(None, None)
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._decoder = Decoder()
        self._spawned_at = self._last_rx = now
        self.loop.add_reader(ours, self._on_readable)
        log.debug("layer2: started the ARP/NDP responder process (pid %d)", self._proc.pid)
        if self._watch is None:
            self._watch = self.loop.call_later(WATCH_EVERY, self._check)

    def wait_ready(self, timeout: float) -> bool:
        """Block (any thread but the loop's) until a child has said ready once."""
        return self._was_ready.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """After the loop stopped (its exit closed the channel; PR_SET_PDEATHSIG fired): reap the child."""
        self._closing = True
        self._ready = False
        if self._sock is not None:
            self._sock.close()
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
            log.debug("layer2: the ARP/NDP responder process (pid %d) %s", proc.pid, describe_exit(proc.returncode))
        self.metrics.responder_up = 0

    def healthy(self) -> bool:
        """False once the responder has not been answering for longer than DOWN_LIMIT."""
        down = self._down_since
        return down is None or self.clock() - down < DOWN_LIMIT

    def info(self) -> dict[str, Any]:
        now = self.clock()
        out: dict[str, Any] = {
            "mode": "process",
            "up": self._ready,
            "pid": self._pid if self._ready else None,
            "restarts": self.restarts,
            "realtime": self._realtime and self._ready,
        }
        if self._down_since is not None:
            out["down_for_seconds"] = round(now - self._down_since, 3)
        return out

    # --- the channel (loop thread) ----------------------------------------------------------------------------
    def _send(self, msg: dict[str, Any]) -> None:
        assert self._sock is not None
        try:
            _send_all(self._sock, encode(msg), SEND_TIMEOUT)
        except (OSError, ProtocolError) as exc:
            log.error(
                "layer2: the ARP/NDP responder process (pid %s) does not take messages (%s); restarting it",
                self._pid,
                exc,
            )
            self._ready = False
            self._kill()

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:
                log.debug("layer2: responder channel: %s", exc)
                data = b""
            if not data:
                self._lost()
                return
            self._last_rx = self.clock()
            try:
                for msg in self._decoder.feed(data):
                    self._handle(msg)
            except ProtocolError as exc:
                log.error("layer2: bad message from the ARP/NDP responder process (%s); restarting it", exc)
                self._ready = False
                self._kill()
                return

    def _handle(self, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "report":
            merge_report(self.metrics, msg)
        elif t == "ready":
            self._ready = True
            self._pid = msg.get("pid") if isinstance(msg.get("pid"), int) else None
            self._realtime = msg.get("realtime") is True
            self._down_since = None
            self.metrics.responder_up = 1
            restarted = self._readies > 0
            self._readies += 1
            if self.realtime_priority and not self._realtime:
                log.warning(
                    "layer2: the responder process could not get SCHED_FIFO priority %d (see its log)",
                    self.realtime_priority,
                )
            log.log(
                logging.WARNING if restarted else logging.INFO,
                "layer2: the ARP/NDP responder process (pid %s) is answering%s",
                self._pid,
                f" again; re-sent {len(self._ports)} interface tables" if restarted else "",
            )
            if self._ports:
                self._send({"t": "apply", "ops": full_table(self._ports)})
            self._ops = []  # already in the full table
            self._was_ready.set()
            self._on_ready(restarted)
        else:
            raise ProtocolError(f"unknown message type {t!r}")

    def _check(self) -> None:
        """Every WATCH_EVERY: a child that never got ready, or went silent, is killed (then restarted)."""
        self._watch = None
        if self._closing:
            return
        self._on_readable()  # what arrived while the loop was busy counts: silence is judged on the wire
        now = self.clock()
        if self._proc is not None and self._sock is not None:
            if not self._ready and now - self._spawned_at > START_TIMEOUT:
                log.error(
                    "layer2: the ARP/NDP responder process (pid %d) did not start answering within %gs; killing it",
                    self._proc.pid,
                    START_TIMEOUT,
                )
                self._kill()
            elif self._ready and now - self._last_rx > SILENT_LIMIT:
                log.error(
                    "layer2: the ARP/NDP responder process (pid %d) sent nothing for %gs; killing it",
                    self._proc.pid,
                    SILENT_LIMIT,
                )
                self._ready = False
                self._kill()
        self._watch = self.loop.call_later(WATCH_EVERY, self._check)

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()  # its channel closes: _on_readable sees EOF, then _lost

    def _lost(self) -> None:
        """The channel closed: the child exited (or is exiting). Reap it, then restart."""
        self._ready = False
        self.metrics.responder_up = 0
        if self._down_since is None:
            self._down_since = self.clock()
        if self._sock is not None:
            self.loop.remove_reader(self._sock)
            self._sock = None
        proc = self._proc
        if proc is not None:
            self._reap(proc, self.clock() + 1.0)

    def _reap(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        """Wait (without blocking the loop) for the exit status, so no zombie is left; SIGKILL a child that
        closed its channel but lingers."""
        if proc.poll() is None:
            if self.clock() < deadline:
                self.loop.call_later(0.005, lambda: self._reap(proc, deadline))
                return
            proc.kill()
            self.loop.call_later(0.005, lambda: self._reap(proc, self.clock() + 5.0))
            return
        self._died(proc, proc.returncode)

    def _died(self, proc: subprocess.Popen[bytes] | None, returncode: int | None) -> None:
        self._proc = None
        if self._closing:
            return
        now = self.clock()
        self._deaths.append(now)
        while self._deaths and now - self._deaths[0] > RESTART_WINDOW:
            self._deaths.popleft()
        delay = restart_delay(len(self._deaths))
        self.restarts += 1
        self.metrics.responder_restarts += 1
        what = f"(pid {proc.pid}) {describe_exit(returncode)}" if proc is not None else "did not start"
        log.error(
            "layer2: the ARP/NDP responder process %s; restarting it%s",
            what,
            f" in {delay:g}s ({len(self._deaths)} restarts in the last {RESTART_WINDOW:g}s)" if delay else "",
        )
        self.loop.call_later(delay, self.spawn)
