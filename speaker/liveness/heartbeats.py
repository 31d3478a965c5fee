"""Which speakers are alive, in well under a second: authenticated all-to-all UDP heartbeats.

Every speaker sends a small HMAC-signed heartbeat (``speaker.liveness.wire``) to every peer each
``interval`` (50 ms); a peer not heard from for ``dead_after`` (200 ms: three missed heartbeats plus one of
slack) is dead; a speaker that stops cleanly sends "leaving" and its peers drop it at once. At rack scale
(<= 50 nodes) this costs each node <= 1,000 small packets/s each way, and every node observes every other first
hand, so views agree again one interval after a partition heals. See docs/design/0006.

Two layers, as everywhere in the speaker:

- :class:`Core` (``speaker.liveness.core``) decides: what to do on a received packet, on a tick, on
  ``leave()``; it takes the clocks as arguments and returns actions (:class:`Send`, :class:`ViewChanged`,
  :class:`FenceChanged`, :class:`Dropped`, :class:`PeerEvent`). No sockets, no threads, no clock reads.
- :class:`Membership` runs it: one UDP socket, one thread that only reads, calls the core and writes; metrics
  and logs. Its constructor starts nothing; ``start()`` / ``stop()``.

``python -m speaker.liveness --name n1 --listen ADDR:PORT --peer n2=ADDR ... --key-file F`` runs one member
alone and prints view changes as JSON lines (used by the integration tests; handy for checking a firewall).
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import Counter, Gauge

from speaker.liveness.core import (
    Action,
    Address,
    Core,
    Dropped,
    FenceChanged,
    KeyMismatchTracker,
    MembershipSettings,
    PeerEvent,
    Send,
    ViewChanged,
    parse_address,
)

log = logging.getLogger("speaker.liveness.heartbeats")


MEMBERS_ALIVE = Gauge("baremetal_lb_members_alive", "Speakers this node sees alive (itself included)")
BAD_MAC = Counter("baremetal_lb_membership_bad_mac_total", "Membership packets dropped for a bad MAC (wrong key?)")
DROPPED = Counter("baremetal_lb_membership_dropped_total", "Membership packets dropped", ["reason"])
SENT = Counter("baremetal_lb_membership_sent_total", "Membership packets sent", ["kind"])
RECEIVED = Counter("baremetal_lb_membership_received_total", "Valid membership packets accepted")
VIEW_CHANGES = Counter("baremetal_lb_membership_view_changes_total", "Changes of the alive set")
FENCED = Gauge("baremetal_lb_membership_fenced", "1 while this speaker is fenced (reaches no peer and no API)")
KEY_MISMATCH = Gauge(
    "baremetal_lb_membership_key_mismatch",
    "Senders whose heartbeats fail authentication while none of theirs verify (another key)",
)


# ----------------------------------------------------------------------------------------------------- runner


class Membership:
    """One speaker's membership: a UDP socket and a thread around :class:`Core`.

    ``on_change(alive)`` and ``on_fence(fenced)`` run on the membership thread (or on the thread calling
    ``leave``/``set_peers``/``set_api_reachable``) and must return quickly — queue a reconcile, do not announce
    from inside. The key is never logged.
    """

    def __init__(
        self,
        name: str,
        keys: Sequence[bytes],
        settings: MembershipSettings = MembershipSettings(),
        *,
        on_change: Callable[[frozenset[str]], None] | None = None,
        on_fence: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._wall = wall_clock
        self._on_change = on_change
        self._on_fence = on_fence
        self._core = Core(name, keys, settings, incarnation=int(wall_clock() * 1000), now=clock())
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._warned: dict[tuple[str, Address], float] = {}
        self._mismatch = KeyMismatchTracker()
        MEMBERS_ALIVE.set(len(self._core.alive()))
        KEY_MISMATCH.set(0)

    # --- queries
    @property
    def name(self) -> str:
        return self._core.name

    @property
    def incarnation(self) -> int:
        return self._core.incarnation

    def alive(self) -> frozenset[str]:
        with self._lock:
            return self._core.alive()

    @property
    def fenced(self) -> bool:
        with self._lock:
            return self._core.fenced

    def converged(self) -> bool:
        with self._lock:
            return self._core.converged()

    def members(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._core.members()

    def key_mismatches(self) -> list[dict[str, Any]]:
        """The senders whose heartbeats fail authentication while none of theirs verify
        (:class:`~speaker.liveness.core.KeyMismatchTracker`): ``address``, ``node`` (the peer at that address, if
        known) and ``for_seconds``. For ``/status`` and the daemon's ``HeartbeatKeyMismatch`` Event."""
        with self._lock:
            now = self._clock()
            since = self._mismatch.current(now)
            names = {m["address"]: m["name"] for m in self._core.members() if m["address"]}
        return [
            {"address": where, "node": names.get(where), "for_seconds": round(now - first, 1)}
            for where, first in sorted((f"{ip}:{port}", first) for (ip, port), first in since.items())
        ]

    @property
    def address(self) -> Address | None:
        """The bound (ip, port) once started."""
        if self._sock is None:
            return None
        host, port = self._sock.getsockname()[:2]
        return _unmap(host), port

    # --- inputs
    def set_peers(self, peers: Mapping[str, str | Address]) -> None:
        """``{name: "ip" | "ip:port" | (ip, port)}``; the port defaults to ``settings.port``."""
        parsed = {n: parse_address(a, self.settings.port) for n, a in peers.items()}
        self._run(lambda core: core.set_peers(parsed, self._clock()))

    def set_api_reachable(self, reachable: bool) -> None:
        self._run(lambda core: core.set_api_reachable(reachable, self._clock()))

    def set_key(self, key: bytes) -> bool:
        """Sign with ``key`` from now on, and with the previous key too for ``key_overlap`` (:meth:`Core.set_key`)."""
        with self._lock:
            changed = self._core.set_key(key, self._clock())
        if changed:
            log.info(
                "membership: new heartbeat key in force; the previous one stays valid for %.0f s",
                self.settings.key_overlap,
            )
        return changed

    def leave(self) -> None:
        """Tell every peer we are leaving (they drop us at once) and stop heartbeats. Call before stopping the
        announcer; give peers a moment (an interval or two) to take over before the node stops answering."""
        self._run(lambda core: core.leave(self._clock(), self._wall()))
        log.info("membership: %s left (incarnation %d)", self.name, self.incarnation)

    # --- lifecycle
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("membership already started")
        self._sock = _bind(self.settings.listen, self.settings.port)
        self._thread = threading.Thread(target=self._loop, name="membership", daemon=True)
        self._thread.start()
        host, port = self.address or ("?", 0)
        log.info(
            "membership: %s listening on %s port %d (incarnation %d, interval %.0f ms, dead after %.0f ms)",
            self.name,
            host,
            port,
            self.incarnation,
            self.settings.interval * 1000,
            self.settings.dead_after * 1000,
        )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the socket (sends nothing: call :meth:`leave` first for a clean exit)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()

    # --- internals
    def _run(self, step: Callable[[Core], list[Action]]) -> None:
        with self._lock:
            actions = step(self._core)
        self._execute(actions)

    def _loop(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while not self._stopping.is_set():
            with self._lock:
                now = self._clock()
                timeout = min(max(self._core.next_wakeup(now) - now, 0.0), self.settings.interval)
            try:
                readable, _, _ = select.select([sock], [], [], timeout)
            except (OSError, ValueError):
                if self._stopping.is_set():
                    return
                raise
            actions: list[Action] = []
            if readable:
                for _ in range(1000):  # bounded drain
                    try:
                        data, addr = sock.recvfrom(2048, socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # e.g. ICMP port unreachable surfaced as ECONNREFUSED
                        log.debug("membership: recvfrom: %s", exc)
                        break
                    with self._lock:
                        now, sender = self._clock(), (_unmap(addr[0]), addr[1])
                        got = self._core.receive(data, sender, now, self._wall())
                        self._track_key(sender, got, now)
                    if not any(isinstance(a, Dropped) for a in got):
                        RECEIVED.inc()
                    actions.extend(got)
            with self._lock:
                actions.extend(self._core.tick(self._clock(), self._wall()))
                mismatched = len(self._mismatch.current(self._clock()))
            KEY_MISMATCH.set(mismatched)
            self._execute(actions)

    def _track_key(self, sender: Address, got: list[Action], now: float) -> None:
        """Feed the key-mismatch tracker: a bad MAC, or a packet whose MAC verified (accepted, or dropped for
        another reason after verifying: stale, replay, self, left). Malformed packets say nothing about the key."""
        reasons = {a.reason for a in got if isinstance(a, Dropped)}
        if "bad_mac" in reasons:
            self._mismatch.bad(sender, now)
        elif not reasons & {"malformed", "version"}:
            self._mismatch.good(sender)

    def _execute(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Send):
                self._send(a)
            elif isinstance(a, ViewChanged):
                VIEW_CHANGES.inc()
                MEMBERS_ALIVE.set(len(a.alive))
                log.info("membership: alive: %s", ", ".join(sorted(a.alive)) or "(none)")
                if self._on_change is not None:
                    self._on_change(a.alive)
            elif isinstance(a, FenceChanged):
                FENCED.set(1 if a.fenced else 0)
                if a.fenced:
                    log.error(
                        "membership: fenced: no peer and no API reachable for %.1f s; stop announcing",
                        self.settings.fence_after,
                    )
                else:
                    log.warning("membership: no longer fenced")
                if self._on_fence is not None:
                    self._on_fence(a.fenced)
            elif isinstance(a, Dropped):
                DROPPED.labels(a.reason).inc()
                if a.reason == "bad_mac":
                    BAD_MAC.inc()
                if a.reason in ("bad_mac", "self", "stale", "version"):
                    self._warn_once(a)
            elif isinstance(a, PeerEvent):
                level = logging.DEBUG if a.what in ("alive", "learned") else logging.INFO
                log.log(level, "membership: peer %s %s (incarnation %d)", a.name, a.what, a.incarnation)

    def _send(self, a: Send) -> None:
        sock = self._sock
        if sock is None:
            return
        host = a.address[0]
        if sock.family == socket.AF_INET6 and ":" not in host:
            host = "::ffff:" + host
        elif sock.family == socket.AF_INET and ":" in host:
            log.debug("membership: cannot reach IPv6 peer %s: bound to IPv4 only", host)
            return
        try:
            sock.sendto(a.payload, (host, a.address[1]))
            SENT.labels(a.kind.name.lower()).inc()
        except OSError as exc:  # unreachable network, no route: the peer just looks dead
            log.debug("membership: send to %s:%d: %s", a.address[0], a.address[1], exc)

    def _warn_once(self, a: Dropped, every: float = 10.0) -> None:
        key = (a.reason, a.address)
        now = self._clock()
        if now - self._warned.get(key, -every) < every:
            return
        self._warned[key] = now
        why = {
            "bad_mac": "bad MAC (a different membership key?)",
            "self": f"it uses our own name {a.sender!r} (two nodes with one name?)",
            "stale": "its timestamp is outside max_clock_skew (clocks not in sync?)",
            "version": "unknown protocol version",
        }[a.reason]
        log.warning("membership: dropped packet from %s:%d: %s", a.address[0], a.address[1], why)


def _unmap(host: str) -> str:
    ip = ipaddress.ip_address(host.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _bind(listen: str, port: int) -> socket.socket:
    ip = ipaddress.ip_address(listen)
    if ip.version == 6:
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        except OSError:
            if listen != "::":
                raise
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # IPv6 disabled on this host
            listen = "0.0.0.0"
        else:
            if listen == "::":
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Heartbeats are small and latency-sensitive: mark them like interactive traffic (DSCP CS6, network control).
        if s.family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xC0)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xC0)
        s.bind((listen, port))
    except OSError as exc:
        s.close()
        raise OSError(exc.errno, f"membership: cannot bind UDP {listen} port {port}: {exc.strerror}") from None
    return s
