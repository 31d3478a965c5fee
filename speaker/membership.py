"""Which speakers are alive, in well under a second: authenticated all-to-all UDP heartbeats.

Every speaker sends a small HMAC-signed heartbeat (``speaker.membership_wire``) to every peer each
``interval`` (50 ms); a peer not heard from for ``dead_after`` (200 ms: three missed heartbeats plus one of
slack) is dead; a speaker that stops cleanly sends "leaving" and its peers drop it at once. At rack scale
(<= 50 nodes) this costs each node <= 1,000 small packets/s each way, and every node observes every other first
hand, so views agree again one interval after a partition heals. See docs/design/0006.

Two layers, as everywhere in the speaker:

- :class:`Core` decides: what to do on a received packet, on a tick, on ``leave()``; it takes the clocks as
  arguments and returns actions (:class:`Send`, :class:`ViewChanged`, :class:`FenceChanged`, :class:`Dropped`,
  :class:`PeerEvent`). No sockets, no threads, no clock reads.
- :class:`Membership` runs it: one UDP socket, one thread that only reads, calls the core and writes; metrics
  and logs. Its constructor starts nothing; ``start()`` / ``stop()``.

``python -m speaker.membership --name n1 --listen ADDR:PORT --peer n2=ADDR ... --key-file F`` runs one member
alone and prints view changes as JSON lines (used by the integration tests; handy for checking a firewall).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge

from speaker.membership_wire import Kind, Message, WireError, decode, encode, parse_keys, view_digest

log = logging.getLogger("speaker.membership")

DEFAULT_PORT = 7947  # not 7946: MetalLB's memberlist (and Docker Swarm/Serf) use 7946; both may run during a migration
Address = tuple[str, int]

MEMBERS_ALIVE = Gauge("baremetal_lb_members_alive", "Speakers this node sees alive (itself included)")
BAD_MAC = Counter("baremetal_lb_membership_bad_mac_total", "Membership packets dropped for a bad MAC (wrong key?)")
DROPPED = Counter("baremetal_lb_membership_dropped_total", "Membership packets dropped", ["reason"])
SENT = Counter("baremetal_lb_membership_sent_total", "Membership packets sent", ["kind"])
RECEIVED = Counter("baremetal_lb_membership_received_total", "Valid membership packets accepted")
VIEW_CHANGES = Counter("baremetal_lb_membership_view_changes_total", "Changes of the alive set")
FENCED = Gauge("baremetal_lb_membership_fenced", "1 while this speaker is fenced (reaches no peer and no API)")


# --------------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Membership timers and addresses (the speaker config's ``membership:`` section).

    ``dead_after`` must exceed ``interval``; detection takes ``dead_after - U(0, interval)`` after the last
    heartbeat, i.e. 150-200 ms at the defaults. ``fence_after``: see :meth:`Core.fenced`. ``key_overlap``: how
    long a replaced key keeps signing and verifying after :meth:`Core.set_key` (see there).
    """

    listen: str = "::"
    port: int = DEFAULT_PORT
    interval: float = 0.05
    dead_after: float = 0.2
    fence_after: float = 3.0
    max_clock_skew: float = 10.0
    forget_after: float = 60.0
    leave_repeats: int = 3
    key_overlap: float = 120.0

    def __post_init__(self) -> None:
        for name in ("interval", "dead_after", "fence_after", "max_clock_skew", "forget_after", "key_overlap"):
            if getattr(self, name) <= 0:
                raise ValueError(f"membership.{name}: {getattr(self, name)!r} must be positive")
        if self.dead_after <= self.interval:
            raise ValueError(f"membership.dead_after: {self.dead_after!r} must be longer than membership.interval "
                             f"({self.interval!r}); use at least 3 intervals")
        if not 0 <= self.port < 65536:  # 0: any free port (tests)
            raise ValueError(f"membership.port: {self.port!r} is not a UDP port")
        if self.leave_repeats < 1:
            raise ValueError(f"membership.leave_repeats: {self.leave_repeats!r} must be at least 1")


def parse_address(text: str | Address, default_port: int = DEFAULT_PORT) -> Address:
    """``198.51.100.12``, ``198.51.100.12:7947``, ``2001:db8::12``, ``[2001:db8::12]:7947`` → (ip, port)."""
    if isinstance(text, tuple):
        host, port = text
        return str(ipaddress.ip_address(host)), int(port)
    s = text.strip()
    port = default_port
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"peer address {text!r}: expected [ipv6]:port")
            port = int(rest[1:])
    elif s.count(":") == 1:
        host, _, p = s.partition(":")
        port = int(p)
    else:
        host = s
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"peer address {text!r}: {host!r} is not an IP address") from None
    if not 0 < port < 65536:
        raise ValueError(f"peer address {text!r}: port {port} out of range")
    return str(ip), port


# ---------------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Send:
    address: Address
    payload: bytes
    kind: Kind = Kind.HEARTBEAT


@dataclass(frozen=True)
class ViewChanged:
    alive: frozenset[str]


@dataclass(frozen=True)
class FenceChanged:
    fenced: bool


@dataclass(frozen=True)
class Dropped:
    reason: str  # malformed, version, bad_mac, self, stale, replay, left
    address: Address
    sender: str | None = None


@dataclass(frozen=True)
class PeerEvent:
    name: str
    what: str  # alive, dead, left, restarted, learned, forgotten
    incarnation: int = 0


Action = Send | ViewChanged | FenceChanged | Dropped | PeerEvent


@dataclass
class _Peer:
    name: str
    address: Address | None
    configured: bool
    alive: bool = False
    left: bool = False
    last_seen: float | None = None
    changed_at: float = 0.0  # when alive/dead last flipped (monotonic)
    incarnation: int = -1
    seq: int = -1
    digest: int = 0


# ------------------------------------------------------------------------------------------------------- core


class Core:
    """The membership protocol's decisions. No side effects: every method returns the actions to carry out.

    Times: ``now`` is a monotonic clock (seconds), ``wall`` the wall clock (seconds since the epoch, only for
    the replay window). Not thread-safe; :class:`Membership` serialises calls.
    """

    def __init__(self, name: str, keys: Sequence[bytes], settings: Settings, *, incarnation: int, now: float) -> None:
        if not keys:
            raise ValueError("membership: no key")
        self.name = name
        # (key, signs, retire_at): a key file's first key signs and all verify, forever; a key replaced by
        # set_key() keeps signing and verifying until retire_at.
        self._keys: list[tuple[bytes, bool, float | None]] = [(k, i == 0, None) for i, k in enumerate(keys)]
        self.settings = settings
        self.incarnation = incarnation
        self._seq = 0
        self._peers: dict[str, _Peer] = {}
        self._api_reachable = True
        self._isolated_since: float | None = None
        self._fenced = False
        self._left = False
        self._next_send = now
        self._view = self._compute_alive()

    @property
    def keys(self) -> tuple[bytes, ...]:
        """Every key a heartbeat may be signed with (the one in force first)."""
        return tuple(k for k, _, _ in self._keys)

    @property
    def signing_keys(self) -> tuple[bytes, ...]:
        return tuple(k for k, signs, _ in self._keys if signs)

    def set_key(self, key: bytes, now: float) -> bool:
        """A new shared key (the memberlist Secret was created or rotated); returns whether anything changed.

        Why both keys for a while: the speakers learn the new key from their own watches, a few milliseconds to
        seconds apart. A speaker that signed only with the new key at once would be dropped (bad MAC) by every
        peer that has not seen it yet, and after ``dead_after`` those peers would take its addresses over — a
        rotation must not look like a failure. So for ``key_overlap`` every heartbeat is sent twice, once signed
        with each key, and both verify: a peer that knows either key hears us, whichever it learnt first. After
        the overlap the old key is dropped; a speaker that still has not seen the new key by then (its API watch
        down for minutes) loses its peers and, with the API away too, fences itself.
        """
        if self._keys and self._keys[0] == (key, True, None):
            return False
        retire = now + self.settings.key_overlap
        kept = [(k, signs, at if at is not None else retire) for k, signs, at in self._keys if k != key]
        self._keys = [(key, True, None), *kept]
        return True

    def _retire_keys(self, now: float) -> None:
        self._keys = [e for e in self._keys if e[2] is None or now < e[2]]

    # --- views
    def _compute_alive(self) -> frozenset[str]:
        own = set() if self._left else {self.name}
        return frozenset(own | {p.name for p in self._peers.values() if p.alive})

    def alive(self) -> frozenset[str]:
        return self._view

    @property
    def fenced(self) -> bool:
        """True once this speaker has reached no peer and not the API for ``fence_after``.

        Never with no peers known (a one-node cluster keeps answering: nobody could take over anyway).
        """
        return self._fenced

    @property
    def left(self) -> bool:
        return self._left

    def converged(self) -> bool:
        """Every live peer's last heartbeat carried the same alive set as ours."""
        d = view_digest(self._view)
        return all(p.digest == d for p in self._peers.values() if p.alive)

    def members(self) -> list[dict[str, Any]]:
        """A snapshot for ``/status`` and logs."""
        return [{"name": p.name, "address": f"{p.address[0]}:{p.address[1]}" if p.address else None,
                 "alive": p.alive, "left": p.left, "configured": p.configured, "incarnation": p.incarnation,
                 "last_seen": p.last_seen} for p in sorted(self._peers.values(), key=lambda p: p.name)]

    def _after(self, actions: list[Action], now: float) -> list[Action]:
        """Append ViewChanged / FenceChanged if the alive set or the fence changed."""
        view = self._compute_alive()
        if view != self._view:
            self._view = view
            actions.append(ViewChanged(view))
        others = [p for p in self._peers.values()]
        isolated = (bool(others) and not any(p.alive for p in others) and not self._api_reachable
                    and not self._left)
        if not isolated:
            self._isolated_since = None
        elif self._isolated_since is None:
            self._isolated_since = now
        since = self._isolated_since  # set exactly while isolated
        fenced = since is not None and now - since >= self.settings.fence_after
        if fenced != self._fenced:
            self._fenced = fenced
            actions.append(FenceChanged(fenced))
        return actions

    # --- inputs
    def set_peers(self, peers: Mapping[str, Address], now: float) -> list[Action]:
        """The configured peers (static list and/or Nodes' InternalIPs); our own name is ignored.

        Peers that are no longer listed are dropped (if still sending with the key they are learned again).
        """
        wanted = {n: a for n, a in peers.items() if n != self.name}
        actions: list[Action] = []
        for name in list(self._peers):
            if name not in wanted and self._peers[name].configured:
                del self._peers[name]
                actions.append(PeerEvent(name, "forgotten"))
        for name, addr in wanted.items():
            p = self._peers.get(name)
            if p is None:
                self._peers[name] = _Peer(name, addr, True, changed_at=now)
            else:
                p.address, p.configured = addr, True
        return self._after(actions, now)

    def set_api_reachable(self, reachable: bool, now: float) -> list[Action]:
        self._api_reachable = reachable
        return self._after([], now)

    def receive(self, data: bytes, address: Address, now: float, wall: float) -> list[Action]:
        try:
            msg = decode(data, self.keys)
        except WireError as exc:
            return [Dropped(exc.reason, address)]
        if msg.name == self.name:
            return [Dropped("self", address, msg.name)]
        if abs(wall * 1000 - msg.timestamp_ms) > self.settings.max_clock_skew * 1000:
            return [Dropped("stale", address, msg.name)]
        actions: list[Action] = []
        p = self._peers.get(msg.name)
        if p is None:
            p = self._peers[msg.name] = _Peer(msg.name, address, False, changed_at=now)
            actions.append(PeerEvent(msg.name, "learned", msg.incarnation))
        if not self._is_acceptable(p, msg, now):
            reason = "left" if p.left and msg.incarnation == p.incarnation else "replay"
            return actions + [Dropped(reason, address, msg.name)]
        restarted = p.incarnation >= 0 and msg.incarnation != p.incarnation
        p.incarnation, p.seq, p.last_seen, p.digest = msg.incarnation, msg.seq, now, msg.digest
        if not p.configured:
            p.address = address
        if msg.kind == Kind.LEAVE:
            p.left = True
            if p.alive:
                p.alive, p.changed_at = False, now
            actions.append(PeerEvent(p.name, "left", msg.incarnation))
        else:
            p.left = False
            if restarted:
                actions.append(PeerEvent(p.name, "restarted", msg.incarnation))
            if not p.alive:
                p.alive, p.changed_at = True, now
                actions.append(PeerEvent(p.name, "alive", msg.incarnation))
        return self._after(actions, now)

    def _is_acceptable(self, p: _Peer, msg: Message, now: float) -> bool:
        if p.left and msg.incarnation == p.incarnation:
            return False  # it said goodbye; only a new incarnation (a restart) brings it back
        if (msg.incarnation, msg.seq) > (p.incarnation, p.seq):
            return True
        # Not newer. A restart whose clock went backwards has a lower incarnation: accept it once the peer has
        # been dead longer than the replay window (by then nothing captured from before is fresh any more).
        return (not p.alive and msg.incarnation != p.incarnation
                and now - p.changed_at >= self.settings.max_clock_skew)

    def tick(self, now: float, wall: float) -> list[Action]:
        """Expire silent peers, forget long-dead learned ones, send a heartbeat when due, re-check the fence."""
        self._retire_keys(now)
        actions: list[Action] = []
        for p in list(self._peers.values()):
            if p.alive and p.last_seen is not None and now - p.last_seen > self.settings.dead_after:
                p.alive, p.changed_at = False, now
                actions.append(PeerEvent(p.name, "dead", p.incarnation))
            elif not p.alive and not p.configured and now - p.changed_at > self.settings.forget_after:
                del self._peers[p.name]
                actions.append(PeerEvent(p.name, "forgotten", p.incarnation))
        actions = self._after(actions, now)
        if not self._left and now >= self._next_send:
            self._next_send += self.settings.interval
            if self._next_send <= now:  # we were stalled: carry on from now, no burst to catch up
                self._next_send = now + self.settings.interval
            actions.extend(self._broadcast(Kind.HEARTBEAT, wall))
        return actions

    def _broadcast(self, kind: Kind, wall: float) -> list[Action]:
        """One message to every peer per signing key (two during a key rotation), each with its own sequence
        number so that a peer that knows both keys accepts both copies instead of counting one as a replay."""
        out: list[Action] = []
        addresses = [p.address for p in sorted(self._peers.values(), key=lambda p: p.name) if p.address is not None]
        for key in self.signing_keys:
            self._seq += 1
            msg = Message(kind, self.name, self.incarnation, self._seq, int(wall * 1000), view_digest(self._view))
            payload = encode(msg, key)
            out.extend(Send(address, payload, kind) for address in addresses)
        return out

    def leave(self, now: float, wall: float) -> list[Action]:
        """Say goodbye (``leave_repeats`` copies, each newer than the last); stop heartbeats; drop ourselves from
        our own view so the owner's election hands every VIP away."""
        if self._left:
            return []
        self._left = True
        actions: list[Action] = []
        for _ in range(self.settings.leave_repeats):
            actions.extend(self._broadcast(Kind.LEAVE, wall))
        return self._after(actions, now)

    def next_wakeup(self, now: float) -> float:
        """The monotonic time at which :meth:`tick` next has something to do."""
        t = self._next_send if not self._left else now + self.settings.interval
        for _, _, at in self._keys:
            if at is not None:
                t = min(t, at)
        for p in self._peers.values():
            if p.alive and p.last_seen is not None:
                t = min(t, p.last_seen + self.settings.dead_after + 1e-4)
        if self._isolated_since is not None and not self._fenced:
            t = min(t, self._isolated_since + self.settings.fence_after)
        return t


# ----------------------------------------------------------------------------------------------------- runner


class Membership:
    """One speaker's membership: a UDP socket and a thread around :class:`Core`.

    ``on_change(alive)`` and ``on_fence(fenced)`` run on the membership thread (or on the thread calling
    ``leave``/``set_peers``/``set_api_reachable``) and must return quickly — queue a reconcile, do not announce
    from inside. The key is never logged.
    """

    def __init__(self, name: str, keys: Sequence[bytes], settings: Settings = Settings(), *,
                 on_change: Callable[[frozenset[str]], None] | None = None,
                 on_fence: Callable[[bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
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
        MEMBERS_ALIVE.set(len(self._core.alive()))

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
            log.info("membership: new heartbeat key in force; the previous one stays valid for %.0f s",
                     self.settings.key_overlap)
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
        log.info("membership: %s listening on %s port %d (incarnation %d, interval %.0f ms, dead after %.0f ms)",
                 self.name, host, port, self.incarnation, self.settings.interval * 1000,
                 self.settings.dead_after * 1000)

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
                        got = self._core.receive(data, (_unmap(addr[0]), addr[1]), self._clock(), self._wall())
                    if not any(isinstance(a, Dropped) for a in got):
                        RECEIVED.inc()
                    actions.extend(got)
            with self._lock:
                actions.extend(self._core.tick(self._clock(), self._wall()))
            self._execute(actions)

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
                    log.error("membership: fenced: no peer and no API reachable for %.1f s; stop announcing",
                              self.settings.fence_after)
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
        why = {"bad_mac": "bad MAC (a different membership key?)",
               "self": f"it uses our own name {a.sender!r} (two nodes with one name?)",
               "stale": "its timestamp is outside max_clock_skew (clocks not in sync?)",
               "version": "unknown protocol version"}[a.reason]
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


# ---------------------------------------------------------------------------------------- debug entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run one member and print JSON lines (``start``, ``view``, ``fenced``, ``left``) with monotonic times."""
    ap = argparse.ArgumentParser(prog="python -m speaker.membership", description=main.__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--listen", default=f"[::]:{DEFAULT_PORT}", help="ADDR:PORT to bind")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=ADDR[:PORT]")
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--interval", type=float, default=Settings.interval)
    ap.add_argument("--dead-after", type=float, default=Settings.dead_after)
    ap.add_argument("--fence-after", type=float, default=Settings.fence_after)
    ap.add_argument("--api-unreachable", action="store_true", help="pretend the API is unreachable (fencing)")
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    host, port = parse_address(args.listen)
    with open(args.key_file, "rb") as f:
        keys = parse_keys(f.read())
    peers = {}
    for spec in args.peer:
        name, sep, addr = spec.partition("=")
        if not sep:
            ap.error(f"--peer {spec!r}: expected NAME=ADDR[:PORT]")
        peers[name] = addr
    out_lock = threading.Lock()

    def emit(**obj: Any) -> None:
        with out_lock:
            sys.stdout.write(json.dumps({"t": time.monotonic(), **obj}) + "\n")
            sys.stdout.flush()

    settings = Settings(listen=host, port=port, interval=args.interval, dead_after=args.dead_after,
                        fence_after=args.fence_after)
    m = Membership(args.name, keys, settings, on_change=lambda alive: emit(event="view", alive=sorted(alive)),
                   on_fence=lambda fenced: emit(event="fenced", fenced=fenced))
    m.set_peers(peers)
    if args.api_unreachable:
        m.set_api_reachable(False)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    m.start()
    emit(event="start", name=args.name, incarnation=m.incarnation, alive=sorted(m.alive()))
    while not done.wait(0.5):
        pass
    m.leave()
    emit(event="left")
    m.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
