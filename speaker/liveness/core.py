"""The pure core of the speakers' heartbeats: what to do on a received packet, on a tick, on ``leave()``.

:class:`Core` takes the clocks as arguments and returns actions (:class:`Send`, :class:`ViewChanged`,
:class:`FenceChanged`, :class:`Dropped`, :class:`PeerEvent`). No sockets, no threads, no clock reads, no metrics:
``speaker.liveness.heartbeats`` runs it (one UDP socket, one thread), ``speaker.liveness.__main__`` is its debug entry
point. See docs/design/0006.

:class:`MembershipSettings` is the speaker config's ``membership:`` section, validated once, here;
:func:`parse_address` is the one parser of peer addresses (the config file's ``membership.peers`` and the
Nodes' addresses).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from speaker.liveness.wire import Kind, Message, WireError, decode, encode, view_digest

DEFAULT_PORT = 7947  # not 7946: MetalLB's memberlist (and Docker Swarm/Serf) use 7946; both may run during a migration
Address = tuple[str, int]

# --------------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MembershipSettings:
    """``membership:`` in the speaker config — the speakers' UDP heartbeats and Leases; the one type for it.

    Heartbeats notice a dead node in ~0.2 s: ``dead_after`` must exceed ``interval``; detection takes
    ``dead_after - U(0, interval)`` after the last heartbeat, i.e. 150-200 ms at the defaults. ``fence_after``: see
    :meth:`Core.fenced`. Their key comes from ``key_file`` when set, else from MetalLB's ``memberlist`` Secret
    (``secret_name``) in the speakers' namespace, which the allocator leader creates when it is missing
    (``create_secret``) and every speaker watches, following a rotation (a replaced key keeps signing and verifying
    for ``key_overlap`` after :meth:`Core.set_key`; ``speaker.liveness.memberkey``). Until a key is known — the Secret
    cannot be read (RBAC, the API down at start) or does not exist yet — Layer 2 liveness falls back to the speakers'
    Leases (``speaker.kube.speakerlease``): every speaker renews its own Lease every ``lease_renew_interval`` and a node
    whose Lease was not renewed for ``lease_duration`` is dead (4-6 s at the defaults). The Leases run in every mode:
    they also tell the allocator leader whose status objects to delete. ``peers`` maps node name → address; empty means
    "the Nodes' InternalIP addresses".

    Validated here, once, whoever builds it (the config file, the debug CLI, tests): a bad value raises
    ``ValueError`` naming the setting (``speaker.config.node`` turns it into its ``ConfigError``).
    """

    listen: str = "::"
    port: int = DEFAULT_PORT
    interval: float = 0.05
    dead_after: float = 0.2
    fence_after: float = 3.0
    max_clock_skew: float = 10.0
    forget_after: float = 60.0
    leave_repeats: int = 3
    key_file: str | None = None
    secret_name: str = "memberlist"
    create_secret: bool = True
    key_overlap: float = 120.0
    peers: tuple[tuple[str, str], ...] = ()
    lease_duration: float = 6.0
    lease_renew_interval: float = 2.0

    def __post_init__(self) -> None:
        for name in (
            "interval",
            "dead_after",
            "fence_after",
            "max_clock_skew",
            "forget_after",
            "key_overlap",
            "lease_duration",
            "lease_renew_interval",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"membership.{name}: {getattr(self, name)!r} must be positive")
        if self.dead_after <= self.interval:
            raise ValueError(
                f"membership.dead_after: {self.dead_after:g}s must be longer than membership.interval "
                f"({self.interval:g}s); use at least 3 intervals"
            )
        if not 0 <= self.port < 65536:  # 0: any free port (tests)
            raise ValueError(f"membership.port: {self.port!r} is not a UDP port")
        if self.leave_repeats < 1:
            raise ValueError(f"membership.leave_repeats: {self.leave_repeats!r} must be at least 1")
        if self.lease_duration < 1:  # whole seconds too: speaker.config.node names the value as written
            raise ValueError(f"membership.lease_duration: {self.lease_duration:g}s must be at least 1s")
        if self.lease_renew_interval * 3 > self.lease_duration:
            raise ValueError(
                f"membership.lease_renew_interval: {self.lease_renew_interval:g}s must be at most a "
                f"third of membership.lease_duration ({self.lease_duration:g}s), so that two failed "
                f"renewals are not taken for a death"
            )
        for name, addr in self.peers:
            try:
                parse_address(addr, self.port)
            except ValueError:
                raise ValueError(
                    f"membership.peers.{name}: {addr!r} is not an IP address (ip, ip:port, [ip6]:port)"
                ) from None


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

    def __init__(
        self, name: str, keys: Sequence[bytes], settings: MembershipSettings, *, incarnation: int, now: float
    ) -> None:
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
        return [
            {
                "name": p.name,
                "address": f"{p.address[0]}:{p.address[1]}" if p.address else None,
                "alive": p.alive,
                "left": p.left,
                "configured": p.configured,
                "incarnation": p.incarnation,
                "last_seen": p.last_seen,
            }
            for p in sorted(self._peers.values(), key=lambda p: p.name)
        ]

    def _after(self, actions: list[Action], now: float) -> list[Action]:
        """Append ViewChanged / FenceChanged if the alive set or the fence changed."""
        view = self._compute_alive()
        if view != self._view:
            self._view = view
            actions.append(ViewChanged(view))
        others = [p for p in self._peers.values()]
        isolated = bool(others) and not any(p.alive for p in others) and not self._api_reachable and not self._left
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
        return not p.alive and msg.incarnation != p.incarnation and now - p.changed_at >= self.settings.max_clock_skew

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


# ------------------------------------------------------------------------------------------ heartbeat key mismatch


class KeyMismatchTracker:
    """Which senders' heartbeats fail authentication while none of theirs verify: a speaker with another key.

    A bad MAC alone is not a mismatch. During a key rotation a speaker that has the new key signs every heartbeat
    twice (old and new key, ``Core.set_key``), so a peer that has not seen the new key yet drops the new-key copies
    as ``bad_mac`` — and accepts the old-key copies from the same sender. A mismatch is a sender from which only
    bad MACs have come for ``settle`` seconds (20 heartbeat intervals at the defaults); any packet from it that
    verifies clears it. A sender silent for ``forget`` seconds is forgotten (stopped, or fixed and restarted).
    Memory is bounded (``limit`` senders: the oldest is dropped), since anyone on the LAN can send bad MACs.
    Pure: the clock is an argument.
    """

    def __init__(self, *, settle: float = 1.0, forget: float = 5.0, limit: int = 256) -> None:
        self.settle = settle
        self.forget = forget
        self.limit = limit
        self._bad: dict[Address, tuple[float, float]] = {}  # sender → (first bad MAC since its last valid one, last)

    def bad(self, sender: Address, now: float) -> None:
        first = self._bad.pop(sender, (now, now))[0]
        self._bad[sender] = (first, now)  # re-inserted: the dict stays ordered by last bad MAC
        while len(self._bad) > self.limit:
            del self._bad[next(iter(self._bad))]

    def good(self, sender: Address) -> None:
        self._bad.pop(sender, None)

    def current(self, now: float) -> dict[Address, float]:
        """Sender (ip, port) → since when (the clock's time) only bad MACs have come from it, for the mismatched."""
        for sender in [sender for sender, (_, last) in self._bad.items() if now - last > self.forget]:
            del self._bad[sender]
        return {sender: first for sender, (first, _) in self._bad.items() if now - first >= self.settle}
