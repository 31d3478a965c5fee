"""The socket side: one event loop thread, AF_PACKET sockets per interface, timers.

Per interface that announces something (a ``Port``):
- an ARP socket (bound to ETH_P_ARP) while it announces IPv4 addresses, and an NDP socket (bound to
  ETH_P_IPV6) while it announces IPv6 addresses, each with a classic BPF filter (``bpf.py``) so that only
  ARP requests / Neighbor Solicitations — for our VIPs, up to the filter's size limit — wake Python;
- the NDP socket joins the solicited-node multicast group (33:33:ff:xx:xx:xx) of each IPv6 VIP with
  PACKET_ADD_MEMBERSHIP, so a NIC with a multicast filter delivers the solicitations at all.

The loop reads, calls the pure ``handle``, writes: ``recv → arp.handle / ndp.handle → send``. Everything
else (table changes, timers, probes) runs in the same thread between packets, so the tables need no lock.
Sockets are created with protocol 0 (receiving nothing), get their filter, and only then are bound — no
unfiltered frame is ever queued.

The same class serves twice (docs/design/0011): in the responder *process* (``child.py``: ports and the
hot path, counting into ``protocol.Counters``), and in the speaker as the Announcer's loop (timers, probes,
the channel to that process; with ``responder: thread`` it also holds the ports, as before). Its port
methods — ``sync_port``, ``remove_port``, ``forget_interface``, ``port_names``, ``set_elsewhere``,
``announce``, ``commit`` — are what the Announcer calls, on this object or on ``supervisor.ResponderProcess``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from speaker.layer2 import arp, bpf, ndp
from speaker.layer2.decision import PortTable, Reply
from speaker.layer2.frames import ETH_P_ARP, ETH_P_IPV6, solicited_node_mac
from speaker.layer2.gratuitous import announcement_frames

if TYPE_CHECKING:  # the responder process imports neither prometheus_client nor the metrics registry
    from speaker.layer2.metrics import Layer2Metrics
    from speaker.layer2.protocol import Counters

    CounterSink = Layer2Metrics | Counters

log = logging.getLogger(__name__)

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_MR_MULTICAST = 0
ETH_P_ALL = 0x0003
RCVBUF = 4 << 20
BATCH = 512  # frames handled per readiness event before timers get a turn


def packet_socket(ifname: str, proto: int, program: list[bpf.Insn]) -> socket.socket:
    """A non-blocking AF_PACKET socket on ``ifname`` for ethertype ``proto`` with ``program`` attached
    before it is bound (so nothing unfiltered is queued)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        bpf.attach(s, program)
        s.bind((ifname, proto))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def _mreq(ifindex: int, mac: bytes) -> bytes:
    return struct.pack("iHH8s", ifindex, PACKET_MR_MULTICAST, 6, mac)


class Timer:
    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Port:
    """The sockets of one interface and the table its answers come from (loop thread only)."""

    def __init__(self, name: str, index: int, mac: bytes) -> None:
        self.name = name
        self.index = index
        self.mac = mac
        self.table = PortTable(name, mac)
        self.arp_sock: socket.socket | None = None
        self.ndp_sock: socket.socket | None = None
        self.groups: set[bytes] = set()  # solicited-node multicast MACs joined on ndp_sock
        self.filter_v4: frozenset[bytes] | None = None
        self.filter_v6: frozenset[bytes] | None = None


class Responder:
    """The event loop. Nothing starts in ``__init__``; ``start()`` runs ``run()`` on a thread.

    Other threads only use ``call_soon``; every other method runs on the loop thread.
    """

    def __init__(
        self, *, metrics: CounterSink, clock: Callable[[], float] = time.monotonic, realtime_priority: int = 0
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self.realtime_priority = realtime_priority
        self.realtime = False  # SCHED_FIFO actually granted
        self.ports: dict[str, Port] = {}
        self._ep: select.epoll | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._handlers: dict[int, Callable[[], None]] = {}
        self._socks: dict[int, socket.socket] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._calls: deque[Callable[[], None]] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop_ident: int | None = None
        self._send_socks: dict[str, socket.socket] = {}  # for interfaces without a Port (probes, bursts)

    # --- lifecycle (any thread) ----------------------------------------------------------------------
    def open(self) -> None:
        if self._ep is None:
            self._ep = select.epoll()
            self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._ep.register(self._wake_r, select.EPOLLIN)
            self._handlers[self._wake_r] = self._drain_wake

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self.run, name="layer2-responder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping = True
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def alive(self) -> bool:
        """False once the loop thread (started with ``start()``) has ended."""
        return self._thread is None or self._thread.is_alive()

    def call_soon(self, fn: Callable[[], None]) -> None:
        self._calls.append(fn)
        self._wake()

    def in_loop(self) -> bool:
        return threading.get_ident() == self._loop_ident

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"x")

    # --- the loop --------------------------------------------------------------------------------------
    def run(self) -> None:
        """Serve until ``stop()``; closes every socket on the way out (sends nothing)."""
        self.open()
        assert self._ep is not None
        self._loop_ident = threading.get_ident()
        if self.realtime_priority > 0:
            self._go_realtime()
        poll = self._ep.poll
        handlers = self._handlers
        try:
            while not self._stopping:
                timeout = -1.0
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - self.clock())
                if self._calls:
                    timeout = 0.0
                for fd, _ev in poll(timeout):
                    h = handlers.get(fd)
                    if h is not None:
                        h()
                self._run_calls()
                self._run_timers()
        finally:
            self._close_all()

    def _go_realtime(self) -> None:
        """SCHED_FIFO for this thread only (pid 0 = the calling thread): a woken responder preempts normal
        processes at once instead of waiting for its CPU share (keepalived's ``vrrp_rt_priority``). The loop
        never spins: it handles at most BATCH frames per wake-up, then sleeps in epoll, and the kernel's RT
        throttling (95%) still bounds it under a flood."""
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))
            self.realtime = True
            log.info(
                "layer2: the ARP/NDP responder (pid %d, thread %d) runs SCHED_FIFO priority %d",
                os.getpid(),
                threading.get_native_id(),
                self.realtime_priority,
            )
        except (PermissionError, OSError) as exc:
            log.warning(
                "layer2: cannot use real-time priority %d (%s); answering at normal priority",
                self.realtime_priority,
                exc,
            )

    def _run_calls(self) -> None:
        while self._calls:
            fn = self._calls.popleft()
            try:
                fn()
            except Exception:  # one bad callback must not stop the responder
                log.exception("layer2: callback failed")

    def _run_timers(self) -> None:
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, _, t = heapq.heappop(self._timers)
            if t.cancelled:
                continue
            try:
                t.fn()
            except Exception:  # one bad timer must not stop the responder
                log.exception("layer2: timer failed")

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def call_at(self, when: float, fn: Callable[[], None]) -> Timer:
        t = Timer(when, fn)
        heapq.heappush(self._timers, (when, next(self._seq), t))
        return t

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        return self.call_at(self.clock() + delay, fn)

    # --- serving -----------------------------------------------------------------------------------------
    def _serve(
        self, sock: socket.socket, port: Port, decide: Callable[[bytes, PortTable], object]
    ) -> Callable[[], None]:
        recv = sock.recv
        send = sock.send
        m = self.metrics
        requests, responses, dropped = m.requests, m.responses, m.dropped

        def on_ready() -> None:
            for _ in range(BATCH):
                try:
                    frame = recv(2048)
                except BlockingIOError:
                    return
                except OSError as exc:  # ENETDOWN while the link goes away: the link watcher cleans up
                    log.debug("layer2: recv on %s: %s", port.name, exc)
                    return
                r = decide(frame, port.table)
                if r.__class__ is Reply:
                    ip = r.ip
                    requests[ip] = requests.get(ip, 0) + 1
                    try:
                        send(r.frame)
                    except OSError as exc:
                        log.debug("layer2: send on %s: %s", port.name, exc)
                        continue
                    responses[ip] = responses.get(ip, 0) + 1
                else:
                    # attr-defined: `decide` returns Reply | DropReason; the class identity test above (the fast
                    # path) narrows only the Reply side
                    key = r.value  # type: ignore[attr-defined]
                    dropped[key] = dropped.get(key, 0) + 1

        return on_ready

    def _register(self, sock: socket.socket, handler: Callable[[], None]) -> None:
        assert self._ep is not None
        self._handlers[sock.fileno()] = handler
        self._socks[sock.fileno()] = sock
        self._ep.register(sock.fileno(), select.EPOLLIN)

    def _unregister(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if fd >= 0:
            self._handlers.pop(fd, None)
            self._socks.pop(fd, None)
            try:
                assert self._ep is not None
                self._ep.unregister(fd)
            except (OSError, ValueError):
                pass
        sock.close()

    def add_reader(self, sock: socket.socket, handler: Callable[[], None]) -> None:
        """Call ``handler`` on the loop thread whenever ``sock`` is readable (closed with the loop)."""
        self._register(sock, handler)

    def remove_reader(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` and close it."""
        self._unregister(sock)

    # --- ports (loop thread) -----------------------------------------------------------------------------
    def port_names(self) -> list[str]:
        return list(self.ports)

    def set_elsewhere(self, elsewhere: frozenset[bytes]) -> None:
        """Every address answered on some interface (for the NOT_MATCH_INTERFACE drop reason)."""
        for port in self.ports.values():
            port.table.elsewhere = elsewhere

    def commit(self) -> None:
        """End of a batch of port changes (they are already live here; the process proxy sends them)."""

    def announce(self, items: Sequence[tuple[str, bytes, bytes, str]]) -> None:
        """Gratuitous ARP / unsolicited NA for each (ifname, our MAC there, packed ip, text ip), counted."""
        g = self.metrics.gratuitous
        for ifname, mac, packed, ip in items:
            sent = self.send(ifname, announcement_frames(mac, packed))
            if sent:
                g[ip] = g.get(ip, 0) + sent

    def sync_port(
        self,
        name: str,
        index: int,
        mac: bytes,
        v4: Mapping[bytes, str],
        v6: Mapping[bytes, str],
        elsewhere: frozenset[bytes],
    ) -> None:
        """Make interface ``name`` answer for exactly ``v4`` / ``v6``. Order: a removed address leaves the
        table before the filter; an added one enters the filter before the table (either way Python's
        table decides, the filter only saves work)."""
        port = self.ports.get(name)
        if port is not None and (port.index != index or port.mac != mac):
            self.remove_port(name)
            port = None
        if port is None:
            port = Port(name, index, mac)
            self.ports[name] = port
        port.table = PortTable(name, mac, v4, v6, elsewhere)
        self._sync_arp(port, v4)
        self._sync_ndp(port, v6)

    def _sync_arp(self, port: Port, v4: Mapping[bytes, str]) -> None:
        if not v4:
            if port.arp_sock is not None:
                self._unregister(port.arp_sock)
                port.arp_sock = None
                port.filter_v4 = None
            return
        want = frozenset(v4)
        if port.arp_sock is None:
            port.arp_sock = packet_socket(port.name, ETH_P_ARP, bpf.arp_program(want))
            self._register(port.arp_sock, self._serve(port.arp_sock, port, arp.handle))
        elif want != port.filter_v4:
            bpf.attach(port.arp_sock, bpf.arp_program(want))
        port.filter_v4 = want

    def _sync_ndp(self, port: Port, v6: Mapping[bytes, str]) -> None:
        if not v6:
            if port.ndp_sock is not None:
                self._unregister(port.ndp_sock)
                port.ndp_sock = None
                port.groups = set()
                port.filter_v6 = None
            return
        want = frozenset(v6)
        if port.ndp_sock is None:
            port.ndp_sock = packet_socket(port.name, ETH_P_IPV6, bpf.ndp_program(want))
            self._register(port.ndp_sock, self._serve(port.ndp_sock, port, ndp.handle))
        elif want != port.filter_v6:
            bpf.attach(port.ndp_sock, bpf.ndp_program(want))
        port.filter_v6 = want
        groups = {solicited_node_mac(ip) for ip in want}
        for g in groups - port.groups:
            port.ndp_sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, _mreq(port.index, g))
        for g in port.groups - groups:
            with contextlib.suppress(OSError):
                port.ndp_sock.setsockopt(SOL_PACKET, PACKET_DROP_MEMBERSHIP, _mreq(port.index, g))
        port.groups = groups

    def remove_port(self, name: str) -> None:
        port = self.ports.pop(name, None)
        if port is None:
            return
        for s in (port.arp_sock, port.ndp_sock):
            if s is not None:
                self._unregister(s)  # closing drops the multicast memberships too
        port.arp_sock = port.ndp_sock = None

    def send(self, ifname: str, frames: Iterable[bytes]) -> int:
        """Send frames out of ``ifname`` (a send-only socket: its filter rejects everything). Returns sent."""
        s = self._send_socks.get(ifname)
        if s is None:
            try:
                s = packet_socket(ifname, ETH_P_ALL, bpf.reject_all())
            except OSError as exc:
                log.debug("layer2: cannot open %s for sending: %s", ifname, exc)
                return 0
            self._send_socks[ifname] = s
        n = 0
        for f in frames:
            try:
                s.send(f)
                n += 1
            except OSError as exc:
                log.debug("layer2: send on %s: %s", ifname, exc)
                self._send_socks.pop(ifname, None)
                s.close()
                break
        return n

    def forget_interface(self, ifname: str) -> None:
        s = self._send_socks.pop(ifname, None)
        if s is not None:
            s.close()

    def open_listener(
        self, ifname: str, proto: int, program: list[bpf.Insn], on_frame: Callable[[bytes], None]
    ) -> socket.socket:
        """A receive socket whose frames go to ``on_frame`` (probes). Close with ``close_listener``."""
        s = packet_socket(ifname, proto, program)

        def on_ready() -> None:
            for _ in range(BATCH):
                try:
                    frame = s.recv(2048)
                except (BlockingIOError, OSError):
                    return
                on_frame(frame)

        self._register(s, on_ready)
        return s

    def close_listener(self, s: socket.socket) -> None:
        self._unregister(s)

    def _close_all(self) -> None:
        for name in list(self.ports):
            self.remove_port(name)
        for s in list(self._socks.values()):
            self._unregister(s)
        self._handlers.clear()
        for s in self._send_socks.values():
            s.close()
        self._send_socks.clear()
        if self._ep is not None:
            self._ep.close()
            self._ep = None
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = None
