"""One BGP session on an asyncio loop: sockets and timers around the pure state machine (``fsm.step``).

Everything here runs on the speaker's loop thread. Socket and timer happenings become FSM events; the FSM's
actions are executed in order (connect, send, close, timers). Routes are not the FSM's business: when the FSM
says the session is up, the Adj-RIB-Out is sent; after that every change of the desired routes is diffed
against it and sent as batched UPDATEs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from speaker.bgp import fsm as F
from speaker.bgp.context import FAMILY_NAMES, IPV4_UNICAST, IPV6_UNICAST, Context
from speaker.bgp.errors import CEASE_ADMINISTRATIVE_SHUTDOWN, MESSAGE_HEADER_ERROR, Notification
from speaker.bgp.message import (
    Keepalive,
    NotificationMessage,
    Open,
    Reader,
    RouteRefresh,
    Update,
    pack_message,
    unpack_message,
)
from speaker.bgp.message.base import HEADER
from speaker.bgp.metrics import BGPMetrics
from speaker.bgp.netinfo import choose_next_hops, interface_addresses
from speaker.bgp.rib import (
    AdjRibOut,
    NextHops,
    Outbound,
    Prefix,
    Route,
    build_updates,
    count_prefixes,
    end_of_rib,
    sendable,
)
from speaker.bgp.sockopt import ebgp_ttl, set_md5, set_ttl
from speaker.config.cluster import BGPPeer

log = logging.getLogger("speaker.bgp")

CLOSE_GRACE = 2.0  # seconds a closing connection may take to flush before it is aborted


def session_config(peer: BGPPeer, router_id: ipaddress.IPv4Address | None) -> F.SessionConfig:
    """BGPPeer → what the FSM needs. ``router_id`` 0.0.0.0 means "choose when the connection is up"."""
    assert peer.address is not None
    if peer.disable_mp:
        families = frozenset({IPV4_UNICAST if peer.address.version == 4 else IPV6_UNICAST})
    else:
        families = frozenset({IPV4_UNICAST, IPV6_UNICAST})
    return F.SessionConfig(
        local_asn=peer.my_asn,
        router_id=peer.router_id or router_id or ipaddress.IPv4Address(0),
        peer_asn=peer.peer_asn,
        dynamic_asn=peer.dynamic_asn,
        hold_time=peer.hold_time,
        keepalive_time=peer.keepalive_time or None,
        families=families,
        graceful_restart=peer.enable_graceful_restart,
        retry_cap=float(peer.connect_time) if peer.connect_time else F.DEFAULT_RETRY_CAP,
    )


def fallback_router_id(node_name: str) -> ipaddress.IPv4Address:
    """For IPv6-only nodes without routerID: a stable 32-bit value from the node name (RFC 6286 allows any
    non-zero value unique within the AS)."""
    return ipaddress.IPv4Address(zlib.crc32(node_name.encode()) or 1)


@dataclass(frozen=True)
class SessionStatus:
    """One row of ``snapshot()``."""

    peer: str
    address: str
    port: int
    state: str
    uptime: float | None  # seconds in Established
    peer_asn: int | None
    peer_router_id: str | None
    hold_time: int | None
    keepalive: float | None
    families: tuple[str, ...]
    prefixes_sent: int
    prefixes_received: int
    prefixes_pending: int
    updates_sent: int
    last_error: str


class _Protocol(asyncio.Protocol):
    def __init__(self, session: Session, gen: int) -> None:
        self.session = session
        self.gen = gen
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.session._data(self.gen, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.session._lost(self.gen, exc)


class Session:
    def __init__(
        self,
        peer: BGPPeer,
        *,
        node_name: str,
        router_id: ipaddress.IPv4Address | None,
        metrics: BGPMetrics,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        addresses: Callable[[], list[Any]] = interface_addresses,
        link_local_next_hop: bool = False,
    ) -> None:
        assert peer.address is not None
        self.peer = peer
        self.name = peer.name
        self.label = str(peer.address)
        self.node_name = node_name
        self._loop = asyncio.get_running_loop()
        self._clock = clock
        self._rng = rng or random.Random()
        self._addresses = addresses
        self._link_local = link_local_next_hop
        self.metrics = metrics
        self.fsm = F.Fsm(session_config(peer, router_id))
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._gen = 0
        self._transport: asyncio.Transport | None = None
        self._protocol: _Protocol | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._reader = Reader()
        self._table: asyncio.Future[Any] | None = None
        self._closing: set[asyncio.Future[None]] = set()
        self.desired: dict[Prefix, Route] = {}
        self.rib = AdjRibOut()
        self.out: Outbound | None = None
        self.received: set[Prefix] = set()
        self.established_at: float | None = None
        self.updates_sent = 0
        self.pending = 0
        self._sync_scheduled = False
        metrics.session_up.labels(self.label).set(0)

    # ---- public (loop thread) ---------------------------------------------------------------------------

    def start(self) -> None:
        self.dispatch(F.ManualStart())

    def set_routes(self, routes: Mapping[Prefix, Route]) -> None:
        self.desired = dict(routes)
        if not self._sync_scheduled:
            self._sync_scheduled = True
            self._loop.call_soon(self._sync)

    async def shutdown(
        self,
        subcode: int = CEASE_ADMINISTRATIVE_SHUTDOWN,
        text: str = "",
        timeout: float = 3.0,
        *,
        forget_metrics: bool = True,
    ) -> None:
        """Withdraw everything, send Cease, close; wait (bounded) until the connection has flushed."""
        if self.fsm.state is F.State.ESTABLISHED and self.rib.sent and self.out is not None:
            msgs = build_updates([], list(self.rib.sent), self.out)
            self._write(b"".join(msgs))
            self._count_updates(len(msgs))
            self.rib.clear()
        self.dispatch(F.ManualStop(subcode, text))
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=timeout)
        self._cancel_all()
        if forget_metrics:
            self.metrics.forget(self.label)

    def status(self) -> SessionStatus:
        neg = self.fsm.negotiated
        return SessionStatus(
            peer=self.name,
            address=self.label,
            port=self.peer.port,
            state=self.fsm.state.value,
            uptime=(self._clock() - self.established_at) if self.established_at is not None else None,
            peer_asn=neg.peer_asn if neg else None,
            peer_router_id=str(neg.peer_id) if neg else None,
            hold_time=neg.hold_time if neg else None,
            keepalive=neg.keepalive if neg else None,
            families=tuple(FAMILY_NAMES.get(f, str(f)) for f in sorted(neg.families)) if neg else (),
            prefixes_sent=len(self.rib),
            prefixes_received=len(self.received),
            prefixes_pending=self.pending,
            updates_sent=self.updates_sent,
            last_error=self.fsm.last_error,
        )

    # ---- the state machine ------------------------------------------------------------------------------

    def dispatch(self, event: Any) -> None:
        before = self.fsm.state
        self.fsm, actions = F.step(self.fsm, event)
        if self.fsm.state is not before:
            log.debug(
                "BGPPeer %s (%s): %s -> %s on %s",
                self.name,
                self.label,
                before.value,
                self.fsm.state.value,
                type(event).__name__,
            )
        for action in actions:
            self._execute(action)

    def _execute(self, a: Any) -> None:
        if isinstance(a, F.Send):
            ctx = self.fsm.negotiated.ctx if self.fsm.negotiated else Context.initial()
            self._write(pack_message(a.message, ctx))
            if isinstance(a.message, NotificationMessage):
                level = logging.INFO if a.message.code == 6 else logging.WARNING  # a Cease is our own decision
                log.log(level, "BGPPeer %s (%s): sending NOTIFICATION %s", self.name, self.label, a.message)
        elif isinstance(a, F.StartTimer):
            self._start_timer(a.name, a.seconds)
        elif isinstance(a, F.StopTimer):
            handle = self._timers.pop(a.name, None)
            if handle:
                handle.cancel()
        elif isinstance(a, F.Connect):
            self._gen += 1
            self._connect_task = self._loop.create_task(self._connect(self._gen))
        elif isinstance(a, F.Disconnect):
            self._disconnect()
        elif isinstance(a, F.SessionUp):
            self._session_up(a.negotiated)
        elif isinstance(a, F.SessionDown):
            self._session_down(a)
        elif isinstance(a, F.ReceivedUpdate):
            reach, unreach = count_prefixes(a.message)
            self.received.difference_update(unreach)
            self.received.update(reach)
        elif isinstance(a, F.ResendRoutes):
            self._resend((a.afi, a.safi))
        else:  # pragma: no cover - the FSM's action set is closed
            raise TypeError(f"unknown action {a!r}")

    _TIMER_EVENTS = {
        F.CONNECT_RETRY: F.ConnectRetryTimerExpires,
        F.HOLD: F.HoldTimerExpires,
        F.KEEPALIVE: F.KeepaliveTimerExpires,
        F.IDLE_HOLD: F.IdleHoldTimerExpires,
    }

    def _start_timer(self, name: str, seconds: float) -> None:
        old = self._timers.pop(name, None)
        if old:
            old.cancel()
        if name in (F.CONNECT_RETRY, F.IDLE_HOLD):
            seconds *= self._rng.uniform(0.75, 1.0)  # RFC 4271 §10 jitter
        event = self._TIMER_EVENTS[name]
        self._timers[name] = self._loop.call_later(seconds, self._timer_fired, name, event)

    def _timer_fired(self, name: str, event: type) -> None:
        self._timers.pop(name, None)
        self.dispatch(event())

    def _cancel_all(self) -> None:
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()
        if self._connect_task:
            self._connect_task.cancel()

    # ---- connections ------------------------------------------------------------------------------------

    def _make_socket(self) -> socket.socket:
        peer = self.peer
        assert peer.address is not None
        family = socket.AF_INET if peer.address.version == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if peer.password is not None:
                set_md5(sock, peer.address, peer.password.reveal())
            ttl = ebgp_ttl(self._is_ebgp(), peer.ebgp_multihop)
            if ttl is not None:
                set_ttl(sock, peer.address.version, ttl)
            if peer.source_address is not None:
                sock.bind((str(peer.source_address), 0))
        except BaseException:
            sock.close()
            raise
        return sock

    def _is_ebgp(self) -> bool:
        p = self.peer
        if p.peer_asn is not None:
            return p.peer_asn != p.my_asn
        return p.dynamic_asn != "internal"

    async def _connect(self, gen: int) -> None:
        peer = self.peer
        sock: socket.socket | None = None
        try:
            sock = self._make_socket()
            await self._loop.sock_connect(sock, (str(peer.address), peer.port))
            transport, protocol = await self._loop.create_connection(lambda: _Protocol(self, gen), sock=sock)
        except asyncio.CancelledError:
            if sock is not None:
                sock.close()
            raise
        except OSError as exc:
            if sock is not None:
                sock.close()
            if gen == self._gen:
                self.dispatch(F.TcpConnectionFails(exc.strerror or str(exc)))
            return
        if gen != self._gen:
            transport.close()
            return
        self._adopt(transport, protocol)

    async def accept(self, sock: socket.socket) -> bool:
        """A connection the peer opened to our listener (passive side). Taken only while we have none that got
        as far as an OPEN (a simple form of RFC 4271 §6.8 collision handling: the older connection wins)."""
        if self.fsm.state not in (F.State.CONNECT, F.State.ACTIVE):
            return False
        self._gen += 1
        gen = self._gen
        if self._connect_task:
            self._connect_task.cancel()
        sock.setblocking(False)
        transport, protocol = await self._loop.connect_accepted_socket(lambda: _Protocol(self, gen), sock)
        if gen != self._gen or self.fsm.state not in (F.State.CONNECT, F.State.ACTIVE):
            transport.close()
            return False
        self._adopt(transport, protocol)
        return True

    def _adopt(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport, self._protocol = transport, protocol
        self._reader = Reader()
        # Read the interface table while the OPENs are exchanged; the next hops are needed at Established.
        self._table = self._loop.run_in_executor(None, self._addresses)
        self._table.add_done_callback(lambda f: f.exception())  # never "exception was never retrieved"
        if self.fsm.config.router_id == ipaddress.IPv4Address(0):
            local = ipaddress.ip_address(transport.get_extra_info("sockname")[0])
            rid = local if local.version == 4 else fallback_router_id(self.node_name)
            self.fsm = replace(self.fsm, config=replace(self.fsm.config, router_id=rid))
        self.dispatch(F.TcpConnected())

    def _disconnect(self) -> None:
        self._gen += 1
        if self._connect_task:
            self._connect_task.cancel()
            self._connect_task = None
        t, p = self._transport, self._protocol
        self._transport = self._protocol = None
        if t is not None and p is not None:
            t.close()  # flushes what was written (a NOTIFICATION) before closing
            self._closing.add(p.closed)
            p.closed.add_done_callback(self._closing.discard)
            self._loop.call_later(CLOSE_GRACE, t.abort)  # a silent peer must not keep it open

    def _write(self, data: bytes) -> None:
        if self._transport is not None and data:
            self._transport.write(data)

    def _lost(self, gen: int, exc: Exception | None) -> None:
        if gen == self._gen:
            self._transport = self._protocol = None
            self.dispatch(F.TcpConnectionFails(str(exc) if exc else "closed by peer"))

    def _data(self, gen: int, data: bytes) -> None:
        if gen != self._gen:
            return
        self._reader.feed(data)
        while gen == self._gen:
            try:
                raw = self._reader.next_raw()
                if raw is None:
                    return
                event = self._decode(raw)
            except Notification as err:
                self.dispatch(F.MessageError(err))
                return
            self.dispatch(event)

    def _decode(self, raw: bytes) -> Any:
        neg = self.fsm.negotiated
        if raw[18] == Update.TYPE and (neg is None or self.fsm.state is not F.State.ESTABLISHED):
            return F.UpdateReceived(Update())  # an UPDATE before Established is an FSM error, whatever it holds
        msg = unpack_message(raw, neg.ctx if neg else Context.initial())
        if isinstance(msg, Keepalive):
            return F.KeepaliveReceived()
        if isinstance(msg, Update):
            return F.UpdateReceived(msg)
        if isinstance(msg, Open):
            return F.OpenReceived(msg)
        if isinstance(msg, NotificationMessage):
            log.warning("BGPPeer %s (%s): peer sent NOTIFICATION %s", self.name, self.label, msg)
            return F.NotificationReceived(msg)
        if isinstance(msg, RouteRefresh):
            return F.RouteRefreshReceived(msg)
        raise Notification(MESSAGE_HEADER_ERROR, 3, bytes((raw[HEADER - 1],)), "unexpected message type")

    # ---- routes -----------------------------------------------------------------------------------------

    def _session_up(self, neg: F.Negotiated) -> None:
        assert self._transport is not None and self.peer.address is not None
        local = ipaddress.ip_address(self._transport.get_extra_info("sockname")[0])
        self.established_at = self._clock()
        self.metrics.session_up.labels(self.label).set(1)
        log.info(
            "BGPPeer %s (%s): Established with AS %d (router ID %s, %s, hold %ds, %s)",
            self.name,
            self.label,
            neg.peer_asn,
            neg.peer_id,
            "iBGP" if neg.ibgp else "eBGP",
            neg.hold_time,
            ", ".join(FAMILY_NAMES.get(f, str(f)) for f in sorted(neg.families)),
        )
        # The interface table is read off the loop (pyroute2 is blocking); routes go out once it is known.
        self._loop.create_task(self._send_initial(self._gen, neg, local, self.peer.address))

    async def _send_initial(self, gen: int, neg: F.Negotiated, local: Any, peer: Any) -> None:
        try:
            table = await (
                self._table if self._table is not None else self._loop.run_in_executor(None, self._addresses)
            )
            hops = choose_next_hops(local, peer, table, link_local=self._link_local)
        except Exception as exc:  # noqa: BLE001 - netlink trouble must not take the session down
            log.warning("BGPPeer %s: cannot read interface addresses (%s); next hop %s only", self.name, exc, local)
            hops = NextHops(
                ipv4=local if local.version == 4 else None,
                ipv6=local if local.version == 6 and not local.is_link_local else None,
            )
        if gen != self._gen or self.fsm.state is not F.State.ESTABLISHED:
            return
        self.out = Outbound(neg.ctx, self.peer.my_asn, neg.ibgp, hops)
        self._sync(initial=True)

    def _session_down(self, a: F.SessionDown) -> None:
        if a.was_established:
            log.log(
                logging.INFO if a.reason == "stopped" else logging.WARNING,
                "BGPPeer %s (%s): session down: %s",
                self.name,
                self.label,
                a.reason,
            )
        elif a.reason != "stopped":
            log.info("BGPPeer %s (%s): %s", self.name, self.label, a.reason)
        self.rib.clear()
        self.out = None
        self.received.clear()
        self.established_at = None
        self.metrics.session_up.labels(self.label).set(0)
        self.metrics.announced.labels(self.label).set(0)
        self.pending = len(self.desired)
        self.metrics.pending.labels(self.label).set(self.pending)

    def _sync(self, initial: bool = False) -> None:
        self._sync_scheduled = False
        out = self.out
        if self.fsm.state is not F.State.ESTABLISHED or out is None:
            self.pending = len(self.desired)
            self.metrics.pending.labels(self.label).set(self.pending)
            return
        wanted = {p: r for p, r in self.desired.items() if sendable(r, out)}
        announce, withdraw = self.rib.diff(wanted)
        msgs = build_updates(announce, withdraw, out)
        self.rib.commit(announce, withdraw)
        n = len(msgs)
        if initial:
            msgs += [end_of_rib(f, out.ctx) for f in sorted(out.ctx.families)]
        self._write(b"".join(msgs))
        self._count_updates(n)
        self.pending = len(self.desired) - len(wanted)
        self.metrics.announced.labels(self.label).set(len(self.rib))
        self.metrics.pending.labels(self.label).set(self.pending)
        if announce or withdraw:
            log.debug(
                "BGPPeer %s: announced %d, withdrew %d prefixes in %d UPDATEs",
                self.name,
                len(announce),
                len(withdraw),
                n,
            )

    def _resend(self, family: tuple[int, int]) -> None:
        if self.out is None or family not in self.out.ctx.families:
            return
        routes = [r for r in self.rib.sent.values() if r.family == family]
        msgs = build_updates(routes, [], self.out) + [end_of_rib(family, self.out.ctx)]
        self._write(b"".join(msgs))
        self._count_updates(len(msgs) - 1)

    def _count_updates(self, n: int) -> None:
        self.updates_sent += n
        if n:
            self.metrics.updates.labels(self.label).inc(n)
