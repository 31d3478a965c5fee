"""The session state machine of RFC 4271 §8, pure: ``step(fsm, event) -> (fsm, actions)``.

No sockets, no clocks: the I/O layer (``session.py``) turns socket and timer happenings into events, and
executes the actions (connect, send, close, start/stop a timer). Every legal (state, event) pair is in
:data:`TRANSITIONS`; any other pair gets RFC 4271 §8.2.2's "any other event" handling, in one place
(:func:`_unexpected`): ignored in Idle; back to Idle in Connect/Active; NOTIFICATION Finite State Machine
Error (with RFC 6608's subcode for the state) and back to Idle once the OPEN went out.

Simplifications against §8 (documented in docs/design/0007-bgp.md): DelayOpen and peer oscillation damping
are not implemented; the IdleHoldTimer of §8.1.1 is how automatic restart backs off (1 s doubling, capped by
BGPPeer ``connectTime``, default 30 s); collisions (§6.8) are resolved by the I/O layer before events
reach the machine.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from speaker.bgp.capability import FourOctetAs, GracefulRestart, Multiprotocol, RouteRefreshCapability, pack_capability
from speaker.bgp.context import FAMILY_NAMES, IPV4_UNICAST, Context, Family
from speaker.bgp.errors import (
    BAD_BGP_IDENTIFIER,
    BAD_PEER_AS,
    CEASE,
    CEASE_ADMINISTRATIVE_SHUTDOWN,
    FSM_ERROR,
    FSM_UNEXPECTED_IN_ESTABLISHED,
    FSM_UNEXPECTED_IN_OPENCONFIRM,
    FSM_UNEXPECTED_IN_OPENSENT,
    FSM_UNSPECIFIED,
    HOLD_TIMER_EXPIRED,
    OPEN_MESSAGE_ERROR,
    UNSUPPORTED_CAPABILITY,
    Notification,
)
from speaker.bgp.message import Keepalive, NotificationMessage, Open, RouteRefresh, Update

OPEN_HOLD_TIME = 240.0  # RFC 4271 §8.2.2: "a large value", 4 minutes suggested
INITIAL_RETRY = 1.0
DEFAULT_RETRY_CAP = 30.0


class State(enum.Enum):
    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPENSENT = "OpenSent"
    OPENCONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


# ---------------------------------------------------------------------------------------------------------
# Configuration and negotiated parameters
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionConfig:
    """What one session needs from a BGPPeer, already resolved (router ID chosen, password not here)."""

    local_asn: int
    router_id: ipaddress.IPv4Address
    peer_asn: int | None = None  # None: dynamic
    dynamic_asn: str | None = None  # "internal" | "external"
    hold_time: int = 90
    keepalive_time: float | None = None  # None: hold/3
    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    graceful_restart: bool = False
    restart_time: int = 120
    passive: bool = False  # wait for the peer to connect (RFC 4271 PassiveTcpEstablishment)
    retry_cap: float = DEFAULT_RETRY_CAP  # BGPPeer connectTime

    def open_message(self) -> Open:
        caps: list[Any] = [Multiprotocol(afi, safi) for afi, safi in sorted(self.families)]
        caps.append(RouteRefreshCapability())
        if self.graceful_restart:
            # We keep no forwarding state across restarts (we are not a router): R=0, no per-family F bit,
            # which is what a "receiving speaker" or helper-only GR speaker sends (RFC 4724 §3).
            caps.append(GracefulRestart(0, self.restart_time, tuple((a, s, 0) for a, s in sorted(self.families))))
        return Open.build(self.local_asn, self.hold_time, self.router_id, tuple(caps))


@dataclass(frozen=True)
class Negotiated:
    ctx: Context
    hold_time: int  # 0: no keepalives, no hold timer
    keepalive: float
    peer_asn: int
    peer_id: ipaddress.IPv4Address
    ibgp: bool
    peer_open: Open

    @property
    def families(self) -> frozenset[Family]:
        return self.ctx.families


def negotiate(cfg: SessionConfig, peer: Open) -> Negotiated:
    """Check a received OPEN against our configuration (RFC 4271 §6.2, RFC 5492, RFC 6793); raise Notification."""
    asn = peer.asn
    if cfg.peer_asn is not None and asn != cfg.peer_asn:
        raise Notification(
            OPEN_MESSAGE_ERROR,
            BAD_PEER_AS,
            peer.my_as.to_bytes(2, "big"),
            f"peer says AS {asn}, BGPPeer expects {cfg.peer_asn} (RFC 4271 §6.2)",
        )
    if cfg.dynamic_asn == "internal" and asn != cfg.local_asn:
        raise Notification(
            OPEN_MESSAGE_ERROR,
            BAD_PEER_AS,
            peer.my_as.to_bytes(2, "big"),
            f"peer says AS {asn}, dynamicASN internal expects {cfg.local_asn} (RFC 4271 §6.2)",
        )
    if cfg.dynamic_asn == "external" and asn == cfg.local_asn:
        raise Notification(
            OPEN_MESSAGE_ERROR,
            BAD_PEER_AS,
            peer.my_as.to_bytes(2, "big"),
            f"peer says AS {asn}, our own; dynamicASN external expects another (RFC 4271 §6.2)",
        )
    if peer.my_as == 0:
        raise Notification(OPEN_MESSAGE_ERROR, BAD_PEER_AS, b"\0\0", "My Autonomous System 0 (RFC 7607)")
    ibgp = asn == cfg.local_asn
    if ibgp and peer.router_id == cfg.router_id:
        raise Notification(
            OPEN_MESSAGE_ERROR,
            BAD_BGP_IDENTIFIER,
            b"",
            f"peer uses our own BGP identifier {cfg.router_id} (RFC 6286 §2.2)",
        )
    theirs = {(c.afi, c.safi) for c in peer.capability(Multiprotocol)} or {IPV4_UNICAST}  # RFC 4760 §8 default
    common = frozenset(cfg.families & theirs)
    if not common:
        ours = b"".join(pack_capability(Multiprotocol(a, s)) for a, s in sorted(cfg.families))
        names = ", ".join(FAMILY_NAMES.get(f, str(f)) for f in sorted(cfg.families))
        raise Notification(
            OPEN_MESSAGE_ERROR,
            UNSUPPORTED_CAPABILITY,
            ours,
            f"peer supports none of our address families ({names}) (RFC 5492 §3)",
        )
    hold = min(cfg.hold_time, peer.hold_time)
    if hold == 0:
        keepalive = 0.0
    else:
        keepalive = hold / 3
        if cfg.keepalive_time:
            keepalive = min(float(cfg.keepalive_time), keepalive)
    ctx = Context(asn4=bool(peer.capability(FourOctetAs)), families=common)
    return Negotiated(ctx, hold, keepalive, asn, peer.router_id, ibgp, peer)


def retry_delay(failures: int, cap: float) -> float:
    """Automatic restart backoff: 1, 2, 4 … seconds, at most ``cap`` (and at least 1 s)."""
    return max(1.0, min(cap, INITIAL_RETRY * 2.0 ** min(failures, 16)))


# ---------------------------------------------------------------------------------------------------------
# Events (RFC 4271 §8.1 numbers in the docstrings)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManualStart:
    """Event 1 (4 when ``cfg.passive``)."""


@dataclass(frozen=True)
class ManualStop:
    """Event 2. ``subcode``/``text``: the Cease sent if a connection is open (RFC 4486, RFC 9003)."""

    subcode: int = CEASE_ADMINISTRATIVE_SHUTDOWN
    text: str = ""


@dataclass(frozen=True)
class IdleHoldTimerExpires:
    """Event 13: automatic restart after the backoff."""


@dataclass(frozen=True)
class ConnectRetryTimerExpires:
    """Event 9."""


@dataclass(frozen=True)
class HoldTimerExpires:
    """Event 10."""


@dataclass(frozen=True)
class KeepaliveTimerExpires:
    """Event 11."""


@dataclass(frozen=True)
class TcpConnected:
    """Events 16/17 (Tcp_CR_Acked, TcpConnectionConfirmed)."""


@dataclass(frozen=True)
class TcpConnectionFails:
    """Event 18. ``reason`` is for the log."""

    reason: str = ""


@dataclass(frozen=True)
class OpenReceived:
    """Event 19."""

    message: Open


@dataclass(frozen=True)
class MessageError:
    """Events 21/22/28 (BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr): a decode error to be sent."""

    error: Notification


@dataclass(frozen=True)
class NotificationReceived:
    """Events 24/25."""

    message: NotificationMessage


@dataclass(frozen=True)
class KeepaliveReceived:
    """Event 26."""


@dataclass(frozen=True)
class UpdateReceived:
    """Event 27."""

    message: Update


@dataclass(frozen=True)
class RouteRefreshReceived:
    """RFC 2918 §4: the peer asks for our routes again."""

    message: RouteRefresh


Event = (
    ManualStart
    | ManualStop
    | IdleHoldTimerExpires
    | ConnectRetryTimerExpires
    | HoldTimerExpires
    | KeepaliveTimerExpires
    | TcpConnected
    | TcpConnectionFails
    | OpenReceived
    | MessageError
    | NotificationReceived
    | KeepaliveReceived
    | UpdateReceived
    | RouteRefreshReceived
)
EVENTS: tuple[type, ...] = Event.__args__

# ---------------------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------------------

CONNECT_RETRY, HOLD, KEEPALIVE, IDLE_HOLD = "connect_retry", "hold", "keepalive", "idle_hold"


@dataclass(frozen=True)
class Connect:
    """Open the TCP connection (the I/O layer answers with TcpConnected or TcpConnectionFails)."""


@dataclass(frozen=True)
class Disconnect:
    """Close the TCP connection, if any (after flushing what was sent)."""


@dataclass(frozen=True)
class Send:
    message: Any


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class StopTimer:
    name: str


@dataclass(frozen=True)
class SessionUp:
    """Entered Established: send the whole Adj-RIB-Out."""

    negotiated: Negotiated


@dataclass(frozen=True)
class SessionDown:
    """Left Established (or failed before it): forget what the peer had. ``reason`` for the log."""

    reason: str
    was_established: bool


@dataclass(frozen=True)
class ReceivedUpdate:
    message: Update


@dataclass(frozen=True)
class ResendRoutes:
    """ROUTE-REFRESH: send every route of the family again."""

    afi: int
    safi: int


Action = Connect | Disconnect | Send | StartTimer | StopTimer | SessionUp | SessionDown | ReceivedUpdate | ResendRoutes

# ---------------------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------------------

ALL_TIMERS = (CONNECT_RETRY, HOLD, KEEPALIVE, IDLE_HOLD)


@dataclass(frozen=True)
class Fsm:
    config: SessionConfig
    state: State = State.IDLE
    failures: int = 0  # RFC 4271 ConnectRetryCounter, also the backoff exponent
    negotiated: Negotiated | None = None
    last_error: str = ""
    stopped: bool = True  # ManualStop seen (no automatic restart)


Result = tuple[Fsm, list[Action]]
Handler = Callable[[Fsm, Any], Result]


def _to_idle(f: Fsm, reason: str, *, notify: NotificationMessage | None = None, restart: bool = True) -> Result:
    """Release everything and go Idle; on errors, schedule the automatic restart after the backoff."""
    actions: list[Action] = []
    if notify is not None:
        actions.append(Send(notify))
    actions += [Disconnect(), *(StopTimer(t) for t in ALL_TIMERS)]
    actions.append(SessionDown(reason, f.state is State.ESTABLISHED))
    failures = f.failures + 1 if restart else 0
    if restart:
        actions.append(StartTimer(IDLE_HOLD, retry_delay(failures - 1, f.config.retry_cap)))
    return replace(
        f, state=State.IDLE, failures=failures, negotiated=None, last_error=reason, stopped=not restart
    ), actions


def _error(f: Fsm, err: Notification) -> Result:
    return _to_idle(f, f"sent {err}", notify=NotificationMessage.from_error(err))


def _start(f: Fsm, ev: Any) -> Result:
    f = replace(f, stopped=False)
    if f.config.passive:
        return replace(f, state=State.ACTIVE), [StartTimer(CONNECT_RETRY, retry_delay(f.failures, f.config.retry_cap))]
    return replace(f, state=State.CONNECT), [
        StartTimer(CONNECT_RETRY, retry_delay(f.failures, f.config.retry_cap)),
        Connect(),
    ]


def _auto_start(f: Fsm, ev: Any) -> Result:
    return _start(f, ev)


def _ignore(f: Fsm, ev: Any) -> Result:
    return f, []


def _stop(f: Fsm, ev: ManualStop) -> Result:
    notify = None
    if f.state in (State.OPENSENT, State.OPENCONFIRM, State.ESTABLISHED):
        notify = (
            NotificationMessage.shutdown(ev.subcode, ev.text) if ev.text else NotificationMessage(CEASE, ev.subcode)
        )
    return _to_idle(f, "stopped", notify=notify, restart=False)


def _stop_in_idle(f: Fsm, ev: ManualStop) -> Result:
    return replace(f, stopped=True, failures=0), [StopTimer(IDLE_HOLD)]


def _retry_connect(f: Fsm, ev: Any) -> Result:
    if f.state is State.CONNECT:  # the attempt hung until the timer fired: that is a failure too
        f = replace(f, failures=f.failures + 1)
    delay = retry_delay(f.failures, f.config.retry_cap)
    if f.config.passive:
        return replace(f, state=State.ACTIVE), [StartTimer(CONNECT_RETRY, delay)]
    return replace(f, state=State.CONNECT), [Disconnect(), StartTimer(CONNECT_RETRY, delay), Connect()]


def _tcp_up(f: Fsm, ev: TcpConnected) -> Result:
    return replace(f, state=State.OPENSENT), [
        StopTimer(CONNECT_RETRY),
        Send(f.config.open_message()),
        StartTimer(HOLD, OPEN_HOLD_TIME),
    ]


def _tcp_fails_connect(f: Fsm, ev: TcpConnectionFails) -> Result:
    # RFC 4271 §8.2.2 Connect, event 18: restart the ConnectRetryTimer and move to Active; it reconnects
    # when the timer fires, with a longer wait each time (the backoff).
    delay = retry_delay(f.failures, f.config.retry_cap)
    return replace(f, state=State.ACTIVE, failures=f.failures + 1, last_error=ev.reason), [
        Disconnect(),
        StartTimer(CONNECT_RETRY, delay),
    ]


def _tcp_fails(f: Fsm, ev: TcpConnectionFails) -> Result:
    return _to_idle(f, f"connection lost: {ev.reason}" if ev.reason else "connection lost")


def _tcp_fails_opensent(f: Fsm, ev: TcpConnectionFails) -> Result:
    # §8.2.2 OpenSent, event 18: close, restart the ConnectRetryTimer, continue in Active.
    delay = retry_delay(f.failures, f.config.retry_cap)
    return replace(f, state=State.ACTIVE, failures=f.failures + 1, last_error=f"connection lost: {ev.reason}"), [
        Disconnect(),
        StopTimer(HOLD),
        StartTimer(CONNECT_RETRY, delay),
    ]


def _hold_expired(f: Fsm, ev: Any) -> Result:
    return _error(
        f,
        Notification(
            HOLD_TIMER_EXPIRED,
            0,
            b"",
            f"nothing received for {f.negotiated.hold_time if f.negotiated else OPEN_HOLD_TIME:g}s (RFC 4271 §6.5)",
        ),
    )


def _open_received(f: Fsm, ev: OpenReceived) -> Result:
    try:
        neg = negotiate(f.config, ev.message)
    except Notification as err:
        return _error(f, err)
    actions: list[Action] = [Send(Keepalive())]
    if neg.hold_time:
        actions += [StartTimer(HOLD, float(neg.hold_time)), StartTimer(KEEPALIVE, neg.keepalive)]
    else:
        actions.append(StopTimer(HOLD))
    return replace(f, state=State.OPENCONFIRM, negotiated=neg), actions


def _message_error(f: Fsm, ev: MessageError) -> Result:
    return _error(f, ev.error)


def _notification(f: Fsm, ev: NotificationReceived) -> Result:
    return _to_idle(f, f"peer sent {ev.message}")


def _send_keepalive(f: Fsm, ev: Any) -> Result:
    assert f.negotiated is not None
    return f, [Send(Keepalive()), StartTimer(KEEPALIVE, f.negotiated.keepalive)]


def _restart_hold(f: Fsm) -> list[Action]:
    return [StartTimer(HOLD, float(f.negotiated.hold_time))] if f.negotiated and f.negotiated.hold_time else []


def _established(f: Fsm, ev: KeepaliveReceived) -> Result:
    negotiated = f.negotiated
    assert negotiated is not None
    f = replace(f, state=State.ESTABLISHED, failures=0, last_error="")
    return f, _restart_hold(f) + [SessionUp(negotiated)]


def _keepalive(f: Fsm, ev: KeepaliveReceived) -> Result:
    return f, _restart_hold(f)


def _update(f: Fsm, ev: UpdateReceived) -> Result:
    return f, _restart_hold(f) + [ReceivedUpdate(ev.message)]


def _refresh(f: Fsm, ev: RouteRefreshReceived) -> Result:
    return f, _restart_hold(f) + [ResendRoutes(ev.message.afi, ev.message.safi)]


S = State
TRANSITIONS: dict[tuple[State, type], Handler] = {
    (S.IDLE, ManualStart): _start,
    (S.IDLE, IdleHoldTimerExpires): _auto_start,
    (S.IDLE, ManualStop): _stop_in_idle,
    (S.CONNECT, ManualStart): _ignore,
    (S.CONNECT, ManualStop): _stop,
    (S.CONNECT, ConnectRetryTimerExpires): _retry_connect,
    (S.CONNECT, TcpConnected): _tcp_up,
    (S.CONNECT, TcpConnectionFails): _tcp_fails_connect,
    (S.ACTIVE, ManualStart): _ignore,
    (S.ACTIVE, ManualStop): _stop,
    (S.ACTIVE, ConnectRetryTimerExpires): _retry_connect,
    (S.ACTIVE, TcpConnected): _tcp_up,
    (S.ACTIVE, TcpConnectionFails): _tcp_fails,
    (S.OPENSENT, ManualStart): _ignore,
    (S.OPENSENT, ManualStop): _stop,
    (S.OPENSENT, HoldTimerExpires): _hold_expired,
    (S.OPENSENT, TcpConnectionFails): _tcp_fails_opensent,
    (S.OPENSENT, OpenReceived): _open_received,
    (S.OPENSENT, MessageError): _message_error,
    (S.OPENSENT, NotificationReceived): _notification,
    (S.OPENCONFIRM, ManualStart): _ignore,
    (S.OPENCONFIRM, ManualStop): _stop,
    (S.OPENCONFIRM, HoldTimerExpires): _hold_expired,
    (S.OPENCONFIRM, KeepaliveTimerExpires): _send_keepalive,
    (S.OPENCONFIRM, TcpConnectionFails): _tcp_fails,
    (S.OPENCONFIRM, MessageError): _message_error,
    (S.OPENCONFIRM, NotificationReceived): _notification,
    (S.OPENCONFIRM, KeepaliveReceived): _established,
    (S.ESTABLISHED, ManualStart): _ignore,
    (S.ESTABLISHED, ManualStop): _stop,
    (S.ESTABLISHED, HoldTimerExpires): _hold_expired,
    (S.ESTABLISHED, KeepaliveTimerExpires): _send_keepalive,
    (S.ESTABLISHED, TcpConnectionFails): _tcp_fails,
    (S.ESTABLISHED, MessageError): _message_error,
    (S.ESTABLISHED, NotificationReceived): _notification,
    (S.ESTABLISHED, KeepaliveReceived): _keepalive,
    (S.ESTABLISHED, UpdateReceived): _update,
    (S.ESTABLISHED, RouteRefreshReceived): _refresh,
}

_FSM_SUBCODE = {
    S.OPENSENT: FSM_UNEXPECTED_IN_OPENSENT,
    S.OPENCONFIRM: FSM_UNEXPECTED_IN_OPENCONFIRM,
    S.ESTABLISHED: FSM_UNEXPECTED_IN_ESTABLISHED,
}


def _unexpected(f: Fsm, ev: Any) -> Result:
    """RFC 4271 §8.2.2 "any other event", per state (RFC 6608 subcodes for the FSM error)."""
    if f.state is S.IDLE:
        return f, []
    if f.state in (S.CONNECT, S.ACTIVE):
        return _to_idle(f, f"unexpected {type(ev).__name__} in {f.state.value}")
    err = Notification(
        FSM_ERROR,
        _FSM_SUBCODE.get(f.state, FSM_UNSPECIFIED),
        b"",
        f"unexpected {type(ev).__name__} in {f.state.value} (RFC 4271 §8.2.2, RFC 6608)",
    )
    return _error(f, err)


def step(f: Fsm, event: Any) -> Result:
    """One transition. No side effects: the returned actions say what the I/O layer must do, in order."""
    if not isinstance(event, EVENTS):
        raise TypeError(f"not a BGP FSM event: {event!r}")
    handler = TRANSITIONS.get((f.state, type(event)))
    if handler is None:
        return _unexpected(f, event)
    return handler(f, event)


def is_legal(state: State, event_type: type) -> bool:
    return (state, event_type) in TRANSITIONS
