"""The session state machine (RFC 4271 §8): the enforced table, timers, the NOTIFICATION for every error."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.bgp import fsm as F
from speaker.bgp.capability import Multiprotocol
from speaker.bgp.context import IPV4_UNICAST, IPV6_UNICAST
from speaker.bgp.errors import Notification
from speaker.bgp.fsm import State as S
from speaker.bgp.message import Keepalive, NotificationMessage, Open, RouteRefresh, Update

ME = ipaddress.IPv4Address("198.51.100.10")
THEM = ipaddress.IPv4Address("198.51.100.2")
CFG = F.SessionConfig(
    local_asn=64512,
    router_id=ME,
    peer_asn=64513,
    hold_time=9,
    families=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
    retry_cap=8,
)


def peer_open(asn=64513, hold=90, rid=THEM, families=((1, 1), (2, 1))):
    return Open.build(asn, hold, rid, tuple(Multiprotocol(a, s) for a, s in families))


def sample(event_type):
    """One instance of each event type."""
    return {
        F.OpenReceived: F.OpenReceived(peer_open()),
        F.MessageError: F.MessageError(Notification(3, 1, b"", "x")),
        F.NotificationReceived: F.NotificationReceived(NotificationMessage(6, 2)),
        F.UpdateReceived: F.UpdateReceived(Update()),
        F.RouteRefreshReceived: F.RouteRefreshReceived(RouteRefresh(1, 1)),
    }.get(event_type) or event_type()


def run(f, *events):
    actions = []
    for ev in events:
        f, a = F.step(f, ev)
        actions += a
    return f, actions


def established(cfg=CFG, peer=None):
    return run(
        F.Fsm(cfg), F.ManualStart(), F.TcpConnected(), F.OpenReceived(peer or peer_open()), F.KeepaliveReceived()
    )


def at(state):
    """An FSM in ``state`` reached the legal way."""
    paths = {
        S.IDLE: [],
        S.CONNECT: [F.ManualStart()],
        S.ACTIVE: [F.ManualStart(), F.TcpConnectionFails("refused")],
        S.OPENSENT: [F.ManualStart(), F.TcpConnected()],
        S.OPENCONFIRM: [F.ManualStart(), F.TcpConnected(), F.OpenReceived(peer_open())],
        S.ESTABLISHED: [F.ManualStart(), F.TcpConnected(), F.OpenReceived(peer_open()), F.KeepaliveReceived()],
    }
    f, _ = run(F.Fsm(CFG), *paths[state])
    assert f.state is state
    return f


def sent(actions):
    return [a.message for a in actions if isinstance(a, F.Send)]


def timers(actions):
    return {a.name: a.seconds for a in actions if isinstance(a, F.StartTimer)}


def test_happy_path_to_established():
    f, actions = established()
    assert f.state is S.ESTABLISHED
    msgs = sent(actions)
    assert isinstance(msgs[0], Open) and msgs[0].hold_time == 9 and isinstance(msgs[1], Keepalive)
    up = [a for a in actions if isinstance(a, F.SessionUp)]
    assert len(up) == 1 and up[0].negotiated.families == {IPV4_UNICAST, IPV6_UNICAST}


def test_hold_time_is_the_smaller_and_keepalive_a_third():
    f, actions = run(at(S.OPENSENT), F.OpenReceived(peer_open(hold=6)))
    assert f.negotiated.hold_time == 6 and f.negotiated.keepalive == 2
    assert timers(actions) == {"hold": 6.0, "keepalive": 2.0}
    f, _ = run(at(S.OPENSENT), F.OpenReceived(peer_open(hold=90)))
    assert f.negotiated.hold_time == 9 and f.negotiated.keepalive == 3


def test_configured_keepalive_is_used_when_shorter():
    cfg = replace(CFG, hold_time=90, keepalive_time=10)
    f, _ = run(F.Fsm(cfg), F.ManualStart(), F.TcpConnected(), F.OpenReceived(peer_open(hold=90)))
    assert f.negotiated.keepalive == 10


def test_hold_time_zero_means_no_keepalives_and_no_hold_timer():
    f, actions = run(at(S.OPENSENT), F.OpenReceived(peer_open(hold=0)))
    assert f.negotiated.hold_time == 0
    assert "hold" not in timers(actions) and "keepalive" not in timers(actions)
    f, actions = run(f, F.KeepaliveReceived())
    assert f.state is S.ESTABLISHED and "hold" not in timers(actions)


def test_hold_timer_restarts_on_every_keepalive_and_update():
    f, _ = established()
    for ev in (F.KeepaliveReceived(), F.UpdateReceived(Update())):
        f, actions = F.step(f, ev)
        assert timers(actions) == {"hold": 9.0}


@pytest.mark.parametrize("state", [S.OPENSENT, S.OPENCONFIRM, S.ESTABLISHED])
def test_hold_timer_expiry_sends_4_0_and_restarts_later(state):
    f, actions = F.step(at(state), F.HoldTimerExpires())
    assert f.state is S.IDLE
    (n,) = sent(actions)
    assert (n.code, n.subcode) == (4, 0)
    assert actions.index(F.Send(n)) < actions.index(F.Disconnect())
    assert "idle_hold" in timers(actions)  # automatic restart after the backoff


def test_keepalive_timer_sends_keepalive():
    f, actions = F.step(at(S.ESTABLISHED), F.KeepaliveTimerExpires())
    assert sent(actions) == [Keepalive()] and timers(actions) == {"keepalive": 3.0}


@pytest.mark.parametrize(
    "open_, subcode",
    [
        (peer_open(asn=64999), 2),  # bad peer AS
        (peer_open(families=((1, 128),)), 7),  # no common family
        (Open.build(64512, 90, ME), 3),  # iBGP... with our own identifier (peer_asn 64512 below)
    ],
)
def test_open_errors(open_, subcode):
    cfg = CFG if subcode != 3 else replace(CFG, peer_asn=64512)
    f, actions = run(F.Fsm(cfg), F.ManualStart(), F.TcpConnected(), F.OpenReceived(open_))
    assert f.state is S.IDLE
    n = sent(actions)[-1]
    assert (n.code, n.subcode) == (2, subcode)


def test_bad_peer_as_names_both_numbers():
    f, _ = run(at(S.OPENSENT), F.OpenReceived(peer_open(asn=64999)))
    assert "64999" in f.last_error and "64513" in f.last_error


def test_four_octet_peer_asn_behind_as_trans():
    cfg = replace(CFG, peer_asn=4200000001)
    f, _ = run(F.Fsm(cfg), F.ManualStart(), F.TcpConnected(), F.OpenReceived(peer_open(asn=4200000001)))
    assert f.state is S.OPENCONFIRM and f.negotiated.ctx.asn4


def test_two_octet_peer_gets_a_two_octet_context():
    f, _ = run(at(S.OPENSENT), F.OpenReceived(Open(64513, 90, THEM)))
    assert not f.negotiated.ctx.asn4 and f.negotiated.families == {IPV4_UNICAST}  # no MP capability: IPv4


@pytest.mark.parametrize(
    "dynamic, asn, ok",
    [("internal", 64512, True), ("internal", 64513, False), ("external", 64513, True), ("external", 64512, False)],
)
def test_dynamic_asn(dynamic, asn, ok):
    cfg = replace(CFG, peer_asn=None, dynamic_asn=dynamic)
    f, _ = run(F.Fsm(cfg), F.ManualStart(), F.TcpConnected(), F.OpenReceived(peer_open(asn=asn)))
    assert (f.state is S.OPENCONFIRM) == ok


def test_message_error_sends_the_decoders_notification():
    err = Notification(3, 11, b"\x01", "bad path")
    f, actions = F.step(at(S.ESTABLISHED), F.MessageError(err))
    assert f.state is S.IDLE and sent(actions) == [NotificationMessage(3, 11, b"\x01")]


def test_manual_stop_sends_cease_with_text_and_does_not_restart():
    f, actions = F.step(at(S.ESTABLISHED), F.ManualStop(2, "bye"))
    assert f.state is S.IDLE and f.stopped
    (n,) = sent(actions)
    assert (n.code, n.subcode) == (6, 2) and n.communication == "bye"
    assert "idle_hold" not in timers(actions)
    assert F.SessionDown("stopped", True) in actions


def test_connect_retry_backs_off_up_to_the_cap():
    f = at(S.CONNECT)
    delays = []
    for _ in range(6):
        f, actions = F.step(f, F.TcpConnectionFails("refused"))
        assert f.state is S.ACTIVE
        delays.append(timers(actions)["connect_retry"])
        f, actions = F.step(f, F.ConnectRetryTimerExpires())
        assert f.state is S.CONNECT and F.Connect() in actions
    assert delays[:4] == [1, 2, 4, 8] and max(delays) == 8  # cap = connectTime


def test_backoff_resets_once_established():
    f, _ = run(at(S.CONNECT), *[F.TcpConnectionFails("x"), F.ConnectRetryTimerExpires()] * 3)
    assert f.failures > 0
    f, _ = run(f, F.TcpConnected(), F.OpenReceived(peer_open()), F.KeepaliveReceived())
    assert f.state is S.ESTABLISHED and f.failures == 0


def test_passive_waits_in_active():
    f, actions = F.step(F.Fsm(replace(CFG, passive=True)), F.ManualStart())
    assert f.state is S.ACTIVE and F.Connect() not in actions
    f, _ = F.step(f, F.TcpConnected())
    assert f.state is S.OPENSENT


def test_route_refresh_asks_for_a_resend():
    f, actions = F.step(at(S.ESTABLISHED), F.RouteRefreshReceived(RouteRefresh(2, 1)))
    assert F.ResendRoutes(2, 1) in actions


FSM_SUBCODE = {S.OPENSENT: 1, S.OPENCONFIRM: 2, S.ESTABLISHED: 3}


ILLEGAL = [(s, e) for s in S for e in F.EVENTS if not F.is_legal(s, e)]


@pytest.mark.parametrize("state, event_type", ILLEGAL, ids=[f"{s.value}-{e.__name__}" for s, e in ILLEGAL])
def test_every_pair_outside_the_table_gets_the_rfc_error_handling(state, event_type):
    f, actions = F.step(at(state), sample(event_type))
    if state is S.IDLE:
        assert (f.state, actions) == (S.IDLE, [])  # ignored in Idle
    elif state in (S.CONNECT, S.ACTIVE):
        assert f.state is S.IDLE and F.Disconnect() in actions and not sent(actions)
    else:
        assert f.state is S.IDLE
        (n,) = sent(actions)
        assert (n.code, n.subcode) == (5, FSM_SUBCODE[state])
        assert actions.index(F.Send(n)) < actions.index(F.Disconnect())


def test_the_table_covers_what_the_rfc_requires():
    # Spot checks of RFC 4271 §8.2.2 entries that must not fall into the error handler.
    for pair in [
        (S.ESTABLISHED, F.UpdateReceived),
        (S.OPENCONFIRM, F.KeepaliveReceived),
        (S.OPENSENT, F.OpenReceived),
        (S.CONNECT, F.TcpConnected),
        (S.ACTIVE, F.TcpConnected),
        (S.ESTABLISHED, F.HoldTimerExpires),
        (S.OPENSENT, F.HoldTimerExpires),
    ]:
        assert F.is_legal(*pair)
    assert not F.is_legal(S.ESTABLISHED, F.OpenReceived)


def test_non_events_are_rejected():
    with pytest.raises(TypeError):
        F.step(F.Fsm(CFG), "ManualStart")


@settings(max_examples=300)
@given(st.lists(st.sampled_from(F.EVENTS), max_size=40))
def test_random_event_sequences(event_types):
    """Invariants for any sequence: no exception; Established only right after a KEEPALIVE in OpenConfirm;
    a NOTIFICATION is always followed by a disconnect and Idle."""
    f = F.Fsm(CFG)
    for et in event_types:
        before = f.state
        f, actions = F.step(f, sample(et))
        if f.state is S.ESTABLISHED and before is not S.ESTABLISHED:
            assert before is S.OPENCONFIRM and et is F.KeepaliveReceived
        if any(isinstance(m, NotificationMessage) for m in sent(actions)):
            assert f.state is S.IDLE and F.Disconnect() in actions
        if f.state is S.IDLE:
            assert f.negotiated is None
