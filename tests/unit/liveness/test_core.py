"""The membership protocol's decisions (``membership.Core``) with a fake clock: no sockets, no threads."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import pytest

from speaker.liveness.core import (
    Core,
    Dropped,
    FenceChanged,
    MembershipSettings,
    PeerEvent,
    Send,
    ViewChanged,
    parse_address,
)
from speaker.liveness.wire import Kind, Message, decode, encode, view_digest

KEY = b"shared-key-0123456789abcdef"
WALL = 1_800_000_000.0  # wall clock at t=0 (seconds); only the replay window uses it
S = MembershipSettings()
A2, A3 = ("198.51.100.12", 7947), ("198.51.100.13", 7947)


def core(name="n1", *, peers=None, settings=S, keys=(KEY,)) -> Core:
    c = Core(name, keys, settings, incarnation=1000, now=0.0)
    c.set_peers({"n2": A2, "n3": A3} if peers is None else peers, 0.0)
    return c


@dataclass
class Peer:
    """A remote speaker's outgoing messages, crafted by hand."""

    name: str
    incarnation: int = 500
    seq: int = 0
    key: bytes = KEY

    def msg(self, t: float, kind=Kind.HEARTBEAT, *, seq=None, incarnation=None, wall_offset=0.0) -> bytes:
        if seq is None:
            self.seq += 1
            seq = self.seq
        inc = self.incarnation if incarnation is None else incarnation
        return encode(Message(kind, self.name, inc, seq, int((WALL + t + wall_offset) * 1000), 0), self.key)


def recv(c: Core, data: bytes, t: float, addr=A2):
    return c.receive(data, addr, t, WALL + t)


def views(actions):
    return [a.alive for a in actions if isinstance(a, ViewChanged)]


def drops(actions):
    return [a.reason for a in actions if isinstance(a, Dropped)]


def events(actions):
    return [(a.name, a.what) for a in actions if isinstance(a, PeerEvent)]


def sends(actions):
    return [a for a in actions if isinstance(a, Send)]


# ------------------------------------------------------------------------------------------ join / dead


def test_starts_alone_and_a_heartbeat_joins():
    c = core()
    assert c.alive() == {"n1"}
    acts = recv(c, Peer("n2").msg(0.01), 0.01)
    assert views(acts) == [{"n1", "n2"}]
    assert ("n2", "alive") in events(acts)
    assert c.alive() == {"n1", "n2"}


def test_three_missed_heartbeats_means_dead():
    c, p = core(), Peer("n2")
    recv(c, p.msg(0.0), 0.0)
    assert views(c.tick(0.19, WALL)) == []
    assert c.next_wakeup(0.19) == pytest.approx(0.2, abs=1e-3)
    acts = c.tick(0.201, WALL)
    assert views(acts) == [{"n1"}] and ("n2", "dead") in events(acts)
    # it comes back with its next heartbeat
    assert views(recv(c, p.msg(0.3), 0.3)) == [{"n1", "n2"}]


def test_leave_drops_at_once_and_replays_of_that_incarnation_do_not_revive():
    c, p = core(), Peer("n2")
    recv(c, p.msg(0.0), 0.0)
    acts = recv(c, p.msg(0.01, Kind.LEAVE), 0.01)
    assert views(acts) == [{"n1"}] and ("n2", "left") in events(acts)
    # a heartbeat still in flight (or replayed) from the same incarnation is ignored
    assert drops(recv(c, p.msg(0.02), 0.02)) == ["left"]
    assert c.alive() == {"n1"}
    # a restart (new incarnation) is welcome
    p2 = Peer("n2", incarnation=p.incarnation + 1)
    acts = recv(c, p2.msg(1.0), 1.0)
    assert views(acts) == [{"n1", "n2"}] and ("n2", "restarted") in events(acts)


def test_restart_with_higher_incarnation_while_alive_is_noted_without_a_view_change():
    c = core()
    recv(c, Peer("n2", incarnation=500).msg(0.0), 0.0)
    acts = recv(c, Peer("n2", incarnation=900).msg(0.05), 0.05)
    assert views(acts) == [] and (
        "n2",
        "restarted",
    ) in events(acts)
    # the old incarnation is now stale
    assert drops(recv(c, Peer("n2", incarnation=500, seq=99).msg(0.06), 0.06)) == ["replay"]


def test_lower_incarnation_accepted_only_after_the_replay_window():
    """A restart whose clock stepped back: accepted once the peer was dead longer than max_clock_skew."""
    c = core()
    recv(c, Peer("n2", incarnation=900).msg(0.0), 0.0)
    c.tick(0.3, WALL + 0.3)  # dead at 0.3
    early = Peer("n2", incarnation=100).msg(5.0)
    assert drops(recv(c, early, 5.0)) == ["replay"]
    late = Peer("n2", incarnation=100).msg(10.4)
    assert views(recv(c, late, 10.4)) == [{"n1", "n2"}]


# ---------------------------------------------------------------------------------- authenticity / replay


def test_bad_mac_is_dropped_and_counted_by_reason():
    c = core()
    acts = recv(c, Peer("n2", key=b"the-wrong-key-0123456789").msg(0.0), 0.0)
    assert drops(acts) == ["bad_mac"] and c.alive() == {"n1"}


def test_rotated_key_is_accepted():
    c = core(keys=(KEY, b"old-key-0123456789abcdef"))
    assert views(recv(c, Peer("n2", key=b"old-key-0123456789abcdef").msg(0.0), 0.0)) == [{"n1", "n2"}]


def test_replayed_and_reordered_messages_are_dropped():
    c, p = core(), Peer("n2")
    first = p.msg(0.0)
    second = p.msg(0.05)
    recv(c, second, 0.05)
    assert drops(recv(c, second, 0.06)) == ["replay"]
    assert drops(recv(c, first, 0.07)) == ["replay"]


def test_stale_timestamp_is_dropped_even_after_receiver_restart():
    c = core()  # a fresh receiver has no sequence memory: the timestamp bounds replays
    assert drops(recv(c, Peer("n2").msg(0.0, wall_offset=-11), 0.0)) == ["stale"]
    assert drops(recv(c, Peer("n2").msg(0.0, wall_offset=+11), 0.0)) == ["stale"]
    assert views(recv(c, Peer("n2").msg(0.0, wall_offset=-9), 0.0)) == [{"n1", "n2"}]


def test_own_name_and_garbage_are_dropped():
    c = core()
    assert drops(recv(c, Peer("n1").msg(0.0), 0.0)) == ["self"]
    assert drops(recv(c, b"GET / HTTP/1.0\r\n\r\n" * 5, 0.0)) == ["malformed"]


# -------------------------------------------------------------------------------------------- sending


def test_heartbeats_go_to_every_peer_each_interval_without_bursts_after_a_stall():
    c = core()
    out = sends(c.tick(0.0, WALL))
    assert sorted(s.address for s in out) == [A2, A3]
    assert out[0].payload == out[1].payload
    msg = decode(out[0].payload, [KEY])
    assert (msg.kind, msg.name, msg.incarnation, msg.seq) == (Kind.HEARTBEAT, "n1", 1000, 1)
    assert msg.digest == view_digest({"n1"})
    assert sends(c.tick(0.02, WALL)) == []
    assert len(sends(c.tick(0.05, WALL))) == 2
    assert len(sends(c.tick(1.0, WALL))) == 2  # stalled for ~1 s: one heartbeat, not twenty
    assert sends(c.tick(1.01, WALL)) == []
    assert c.next_wakeup(1.01) == pytest.approx(1.05)


def test_own_leave_says_goodbye_repeatedly_and_goes_quiet():
    c = core()
    recv(c, Peer("n2").msg(0.0), 0.0)
    acts = c.leave(0.1, WALL + 0.1)
    out = sends(acts)
    assert len(out) == 2 * S.leave_repeats
    msgs = [decode(s.payload, [KEY]) for s in out]
    assert {m.kind for m in msgs} == {Kind.LEAVE}
    assert len({m.seq for m in msgs}) == S.leave_repeats  # each copy newer than the last
    assert views(acts) == [{"n2"}]  # we drop ourselves: the owner's election hands everything away
    assert sends(c.tick(0.2, WALL)) == [] and c.leave(0.3, WALL) == []


def test_peer_processes_our_leave():
    a, b = core("n1"), core("n2", peers={"n1": ("198.51.100.11", 7947)})
    for s in sends(a.tick(0.0, WALL)):
        if s.address == A2:
            b.receive(s.payload, ("198.51.100.11", 7947), 0.0, WALL)
    assert b.alive() == {"n1", "n2"}
    leaves = [s for s in sends(a.leave(0.05, WALL + 0.05)) if s.address == A2]
    acts = [x for s in leaves for x in b.receive(s.payload, ("198.51.100.11", 7947), 0.05, WALL + 0.05)]
    assert views(acts) == [{"n2"}]
    assert drops(acts) == ["left", "left"]  # the repeats are recognised, not counted as attacks


# ------------------------------------------------------------------------------------------- peers


def test_learned_peer_is_answered_and_forgotten_long_after_death():
    c = core(peers={})
    addr = ("2001:db8::42", 7947)
    acts = c.receive(Peer("n9").msg(0.0), addr, 0.0, WALL)
    assert ("n9", "learned") in events(acts) and c.alive() == {"n1", "n9"}
    assert [s.address for s in sends(c.tick(0.0, WALL))] == [addr]
    c.tick(0.5, WALL + 0.5)
    assert c.alive() == {"n1"}
    assert ("n9", "forgotten") in events(c.tick(61.0, WALL + 61))
    assert sends(c.tick(61.1, WALL + 61.1)) == []


def test_unlisting_a_peer_removes_it_from_the_view():
    c = core()
    recv(c, Peer("n2").msg(0.0), 0.0)
    acts = c.set_peers({"n3": A3, "n1": ("198.51.100.11", 7947)}, 0.01)  # our own name is ignored
    assert views(acts) == [{"n1"}] and ("n2", "forgotten") in events(acts)
    assert [m["name"] for m in c.members()] == ["n3"]


def test_converged_compares_view_digests():
    c, p2, p3 = core(), Peer("n2"), Peer("n3")
    recv(c, p2.msg(0.0), 0.0)
    recv(c, p3.msg(0.0), 0.0, A3)
    assert not c.converged()  # their heartbeats carried digest 0
    full = view_digest({"n1", "n2", "n3"})
    for p, a in ((p2, A2), (p3, A3)):
        p.seq += 1
        raw = encode(Message(Kind.HEARTBEAT, p.name, p.incarnation, p.seq, int((WALL + 0.05) * 1000), full), KEY)
        recv(c, raw, 0.05, a)
    assert c.converged()


# ------------------------------------------------------------------------------------------- fencing


def fence_events(actions):
    return [a.fenced for a in actions if isinstance(a, FenceChanged)]


def test_fences_only_without_peers_and_api_for_fence_after():
    c = core()
    assert fence_events(c.set_api_reachable(False, 1.0)) == []
    assert fence_events(c.tick(3.9, WALL)) == [] and not c.fenced
    assert c.next_wakeup(3.9) <= 4.0
    assert fence_events(c.tick(4.0, WALL)) == [True] and c.fenced
    # a peer is heard: not fenced any more
    assert fence_events(recv(c, Peer("n2").msg(4.1), 4.1)) == [False]
    # it dies again: the timer starts from then
    c.tick(4.4, WALL + 4.4)
    assert not c.fenced
    c.tick(7.3, WALL + 7.3)
    assert not c.fenced
    c.tick(7.41, WALL + 7.41)
    assert c.fenced
    assert fence_events(c.set_api_reachable(True, 7.5)) == [False]


def test_api_reachable_never_fences():
    c = core()
    c.tick(100.0, WALL)
    assert not c.fenced


def test_one_node_cluster_never_fences():
    c = core(peers={})
    c.set_api_reachable(False, 0.0)
    c.tick(100.0, WALL)
    assert not c.fenced


# ------------------------------------------------------------------------------ a simulated LAN of cores


@dataclass
class Net:
    """Cores exchanging their Send actions instantly; ``blocked`` pairs lose packets (a partition)."""

    cores: dict[str, Core]
    addr: dict[str, tuple[str, int]]
    blocked: set[frozenset[str]] = field(default_factory=set)

    def step(self, t: float) -> None:
        by_addr = {a: n for n, a in self.addr.items()}
        queue = [(n, s) for n, c in self.cores.items() for s in sends(c.tick(t, WALL + t))]
        for src, s in queue:
            dst = by_addr[s.address]
            if frozenset((src, dst)) not in self.blocked:
                self.cores[dst].receive(s.payload, self.addr[src], t, WALL + t)

    def views(self) -> dict[str, frozenset[str]]:
        return {n: c.alive() for n, c in self.cores.items()}


def test_partition_and_heal_converge_within_an_interval_or_two():
    names = ["n1", "n2", "n3"]
    addr = {n: (f"198.51.100.{11 + i}", 7947) for i, n in enumerate(names)}
    cores = {n: Core(n, (KEY,), S, incarnation=1000 + i, now=0.0) for i, n in enumerate(names)}
    for n, c in cores.items():
        c.set_peers({m: a for m, a in addr.items() if m != n}, 0.0)
    net = Net(cores, addr)
    t = 0.0
    while t < 0.2:
        net.step(t)
        t = round(t + 0.01, 3)
    assert set(net.views().values()) == {frozenset(names)}
    assert all(c.converged() for c in cores.values())
    net.blocked = {frozenset(("n3", "n1")), frozenset(("n3", "n2"))}
    while t < 0.5:
        net.step(t)
        t = round(t + 0.01, 3)
    assert net.views() == {"n1": {"n1", "n2"}, "n2": {"n1", "n2"}, "n3": {"n3"}}
    net.blocked = set()
    healed = t
    while set(net.views().values()) != {frozenset(names)} or not all(c.converged() for c in cores.values()):
        net.step(t)
        t = round(t + 0.01, 3)
        assert t - healed < 1.0
    assert t - healed <= 2 * S.interval + 0.011


# ------------------------------------------------------------------------------------------ settings


def test_settings_validation():
    with pytest.raises(ValueError, match="dead_after"):
        MembershipSettings(interval=0.1, dead_after=0.1)
    with pytest.raises(ValueError, match="membership.port"):
        MembershipSettings(port=70000)
    with pytest.raises(ValueError, match="membership.interval"):
        MembershipSettings(interval=0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("198.51.100.12", ("198.51.100.12", 7947)),
        ("198.51.100.12:8000", ("198.51.100.12", 8000)),
        ("2001:db8::12", ("2001:db8::12", 7947)),
        ("[2001:db8::12]:8000", ("2001:db8::12", 8000)),
        (("198.51.100.12", 9), ("198.51.100.12", 9)),
    ],
)
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("bad", ["node-2", "198.51.100.12:0", "[2001:db8::1]x"])
def test_parse_address_errors(bad):
    with pytest.raises(ValueError, match="peer address"):
        parse_address(bad)


# ------------------------------------------------------------------------------------------ key rotation

NEW_KEY = b"rotated-key-0123456789abcdef"


def _three(settings=S):
    names = ["n1", "n2", "n3"]
    addr = {n: (f"198.51.100.{11 + i}", 7947) for i, n in enumerate(names)}
    cores = {n: Core(n, (KEY,), settings, incarnation=1000 + i, now=0.0) for i, n in enumerate(names)}
    for n, c in cores.items():
        c.set_peers({m: a for m, a in addr.items() if m != n}, 0.0)
    return names, cores, Net(cores, addr)


def _run(net, t, until, check=None):
    while t < until:
        net.step(t)
        if check is not None:
            check()
        t = round(t + 0.01, 3)
    return t


def test_rotation_learnt_seconds_apart_never_looks_like_a_death():
    """n1 learns the new key first, n3 five seconds later: at no step does any speaker lose any peer."""
    names, cores, net = _three(MembershipSettings(key_overlap=30.0))
    everyone = {n: frozenset(names) for n in names}
    t = _run(net, 0.0, 0.3)
    assert net.views() == everyone

    def all_alive():
        assert net.views() == everyone, f"t={t}: a rotation made a peer look dead"

    assert cores["n1"].set_key(NEW_KEY, t)
    assert cores["n1"].set_key(NEW_KEY, t) is False  # the same key again changes nothing
    t = _run(net, t, t + 2.0, all_alive)
    cores["n2"].set_key(NEW_KEY, t)
    t = _run(net, t, t + 3.0, all_alive)
    cores["n3"].set_key(NEW_KEY, t)
    t = _run(net, t, 40.0, all_alive)  # past the overlap: the old key is gone everywhere
    assert all(c.keys == (NEW_KEY,) for c in cores.values())
    assert all(c.converged() for c in cores.values())


def test_rotation_sends_one_copy_per_key_only_during_the_overlap():
    c = core(settings=MembershipSettings(key_overlap=10.0))
    c.set_key(NEW_KEY, 1.0)
    sends = [a for a in c.tick(1.0, WALL + 1.0) if isinstance(a, Send)]
    assert len(sends) == 4  # two peers x two keys
    by_key = {}
    for s in sends:
        for k in (KEY, NEW_KEY):
            with contextlib.suppress(ValueError):
                by_key.setdefault(k, []).append(decode(s.payload, (k,)).seq)
    assert sorted(by_key) == sorted((KEY, NEW_KEY)) and by_key[KEY][0] != by_key[NEW_KEY][0]
    assert c.next_wakeup(1.0) <= 11.0
    sends = [a for a in c.tick(11.0, WALL + 11.0) if isinstance(a, Send)]
    assert len(sends) == 2 and c.keys == (NEW_KEY,)
    assert drops(recv(c, Peer("n2").msg(11.0), 11.0)) == ["bad_mac"]  # the old key no longer verifies
    assert not drops(recv(c, Peer("n2", key=NEW_KEY).msg(11.0), 11.0))


def test_a_speaker_that_never_learns_the_new_key_loses_its_peers_after_the_overlap():
    names, cores, net = _three(MembershipSettings(key_overlap=5.0))
    t = _run(net, 0.0, 0.3)
    cores["n1"].set_key(NEW_KEY, t)
    cores["n2"].set_key(NEW_KEY, t)
    t = _run(net, t, t + 4.0)
    assert net.views()["n3"] == frozenset(names)
    t = _run(net, t, t + 2.0)
    assert net.views() == {"n1": {"n1", "n2"}, "n2": {"n1", "n2"}, "n3": {"n3"}}
