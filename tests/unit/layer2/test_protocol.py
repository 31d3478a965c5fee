"""The speaker ↔ responder-process channel (protocol.py): framing, transactions on the tables, deltas, counts.

No sockets, no processes, no timing: these are the pure parts. The child side (``child.Child``) and the
speaker side (``supervisor.ResponderProcess``) are exercised with a fake responder / a fake loop in
test_process_sides.py, and for real in tests/integration/test_layer2_process.py.
"""

from __future__ import annotations

import copy
import random

import pytest

from speaker.layer2.frames import ip_bytes, mac_bytes
from speaker.layer2.metrics import Layer2Metrics
from speaker.layer2.protocol import (
    MAX_MESSAGE,
    Changes,
    Counters,
    Decoder,
    PortState,
    ProtocolError,
    all_addresses,
    announce_msg,
    apply_ops,
    encode,
    full_table,
    merge_report,
    parse_announce,
    port_op,
)

MAC = "02:00:00:00:00:01"
MAC2 = "02:00:00:00:00:02"
V4, V4B = "198.51.100.240", "198.51.100.241"
V6, V6B = "2001:db8:100::240", "2001:db8:100::241"


def port(name="eth0", index=2, mac=MAC, add=(), dele=(), reset=False):
    return {"op": "port", "name": name, "index": index, "mac": mac, "reset": reset, "add": list(add), "del": list(dele)}


def state(index=2, mac=MAC, *ips):
    v4 = {ip_bytes(i): i for i in ips if ":" not in i}
    v6 = {ip_bytes(i): i for i in ips if ":" in i}
    return PortState(index, mac_bytes(mac), v4, v6)


# --- framing --------------------------------------------------------------------------------------------------
def test_messages_survive_any_split():
    msgs = [
        {"t": "apply", "ops": [port(add=[V4, V6], reset=True)]},
        {"t": "report"},
        {"t": "announce", "items": [["eth0", MAC, V4]]},
    ]
    wire = b"".join(encode(m) for m in msgs)
    for cut in range(len(wire) + 1):
        d = Decoder()
        got = d.feed(wire[:cut]) + d.feed(wire[cut:])
        assert got == msgs, cut
        assert d.pending == 0
    d = Decoder()
    got = [m for b in wire for m in d.feed(bytes([b]))]  # one byte at a time
    assert got == msgs


@pytest.mark.parametrize(
    "raw, message",
    [
        ((MAX_MESSAGE + 1).to_bytes(4, "big"), "exceeds"),
        (b"\x00\x00\x00\x03abc", "not JSON"),
        (b"\x00\x00\x00\x02[]", "not a message object"),
        (b'\x00\x00\x00\x08{"x": 1}', "not a message object"),
    ],
)
def test_decoder_rejects_garbage(raw, message):
    with pytest.raises(ProtocolError, match=message):
        Decoder().feed(raw)


# --- transactions on the child's tables -----------------------------------------------------------------------
def test_a_new_port_gets_exactly_its_addresses():
    new, changes = apply_ops({}, [port(add=[V4, V6], reset=True)])
    assert new == {"eth0": state(2, MAC, V4, V6)}
    assert new["eth0"].v4 == {ip_bytes(V4): V4} and new["eth0"].v6 == {ip_bytes(V6): V6}
    assert changes == Changes(synced=("eth0",))


def test_deltas_change_the_table_and_leave_the_input_alone():
    before = {"eth0": state(2, MAC, V4, V6)}
    kept = copy.deepcopy(before)
    new, changes = apply_ops(before, [port(add=[V4B], dele=[V6])])
    assert new["eth0"] == state(2, MAC, V4, V4B)
    assert before == kept and before["eth0"].v4 is not new["eth0"].v4
    assert changes.synced == ("eth0",)


def test_a_transaction_moving_an_address_between_ports_applies_as_one():
    before = {"eth0": state(2, MAC, V4, V4B), "vx0": state(5, MAC2, V6)}
    new, changes = apply_ops(before, [port(dele=[V4]), port("vx0", 5, MAC2, add=[V4])])
    assert new == {"eth0": state(2, MAC, V4B), "vx0": state(5, MAC2, V4, V6)}
    assert set(changes.synced) == {"eth0", "vx0"}
    assert all_addresses(new) == {ip_bytes(V4), ip_bytes(V4B), ip_bytes(V6)}


def test_a_bad_op_anywhere_applies_nothing():
    before = {"eth0": state(2, MAC, V4)}
    kept = copy.deepcopy(before)
    with pytest.raises(ProtocolError, match=r"apply.ops\[1\].add\[0\]: 'not-an-ip' is not an address"):
        apply_ops(before, [port(add=[V4B]), port(add=["not-an-ip"])])
    assert before == kept


def test_remove_and_forget():
    before = {"eth0": state(2, MAC, V4), "vx0": state(5, MAC2, V6)}
    new, changes = apply_ops(before, [{"op": "remove", "name": "vx0"}, {"op": "forget", "name": "vx0"}])
    assert new == {"eth0": before["eth0"]}
    assert changes == Changes(removed=("vx0",), forgotten=("vx0",))
    # forgetting an interface that never answered (only sent gratuitous frames) is fine
    assert apply_ops(before, [{"op": "forget", "name": "dummy0"}])[1].forgotten == ("dummy0",)


def test_a_port_removed_then_added_again_in_one_transaction_is_synced_not_removed():
    before = {"eth0": state(2, MAC, V4)}
    new, changes = apply_ops(before, [{"op": "remove", "name": "eth0"}, port(add=[V4B], reset=True)])
    assert new == {"eth0": state(2, MAC, V4B)}
    assert changes == Changes(synced=("eth0",))


@pytest.mark.parametrize(
    "ops, message",
    [
        ("nope", "apply.ops: 'nope' is not a list"),
        ([["port"]], r"apply.ops\[0\]: \['port'\] is not an object"),
        ([{"op": "flood"}], r"apply.ops\[0\].op: 'flood' is not one of port, remove, forget"),
        ([port(name="")], r"apply.ops\[0\].name: '' is not an interface name"),
        ([port(name="x" * 16)], r"apply.ops\[0\].name"),
        ([port(index=0, reset=True)], r"apply.ops\[0\].index: 0 is not an interface index"),
        ([port(index=True, reset=True)], r"apply.ops\[0\].index: True"),
        ([port(mac="02:00:00:00:01", reset=True)], r"apply.ops\[0\].mac: '02:00:00:00:01' is not a MAC address"),
        ([port(mac="zz:00:00:00:00:01", reset=True)], r"apply.ops\[0\].mac"),
        ([{**port(reset=True), "reset": "yes"}], r"apply.ops\[0\].reset: 'yes' must be true or false"),
        ([{**port(reset=True), "add": V4}], r"apply.ops\[0\]: add/del must be lists"),
        ([port(add=[V4])], r"apply.ops\[0\]: change to eth0, which has no table \(a new port needs reset\)"),
        ([port(add=[V4], dele=[V4], reset=True)], r"apply.ops\[0\].del: a reset has nothing to delete"),
        ([port(add=[4], reset=True)], r"apply.ops\[0\].add\[0\]: 4 is not an address"),
        ([port(add=[V4, V4], reset=True)], r"apply.ops\[0\].add\[1\]: 198.51.100.240 is already in eth0's table"),
        ([{"op": "remove", "name": "eth0"}], r"apply.ops\[0\]: remove eth0, which has no table"),
    ],
)
def test_malformed_ops_name_the_op_and_field(ops, message):
    with pytest.raises(ProtocolError, match=message):
        apply_ops({}, ops)


@pytest.mark.parametrize(
    "op, message",
    [
        (port(dele=[V4B]), r"del\[0\]: 198.51.100.241 is not in eth0's table"),
        (port(add=[V4]), r"add\[0\]: 198.51.100.240 is already in eth0's table"),
        (port(mac=MAC2, add=[V4B]), "eth0 changed ifindex/MAC without reset"),
        (port(index=3, add=[V4B]), "eth0 changed ifindex/MAC without reset"),
        ({"op": "forget", "name": "eth0"}, "forget eth0, which still has a table"),
    ],
)
def test_ops_that_do_not_match_the_childs_table_are_errors(op, message):
    """A delta that does not fit means the two sides disagree: an error (the child exits and is restarted
    with the full table) rather than a guess."""
    with pytest.raises(ProtocolError, match=message):
        apply_ops({"eth0": state(2, MAC, V4)}, [op])


# --- the speaker's side: deltas from what it last sent -----------------------------------------------------------
def test_port_op_sends_a_reset_for_a_new_port_or_a_new_mac_and_deltas_otherwise():
    s = state(2, MAC, V4, V6)
    op = port_op("eth0", None, 2, s.mac, s.v4, s.v6)
    assert op["reset"] is True and sorted(op["add"]) == sorted([V4, V6]) and op["del"] == []
    assert port_op("eth0", s, 2, s.mac, dict(s.v4), dict(s.v6)) is None
    assert port_op("eth0", s, 2, mac_bytes(MAC2), s.v4, s.v6)["reset"] is True
    assert port_op("eth0", s, 3, s.mac, s.v4, s.v6)["reset"] is True
    t = state(2, MAC, V4, V4B)
    op = port_op("eth0", s, 2, t.mac, t.v4, t.v6)
    assert op == port(add=[V4B], dele=[V6])


def test_deltas_replayed_on_the_child_reproduce_the_speakers_tables():
    """Random walks: whatever the speaker's tables become, the child's copy (built only from port_op deltas,
    reset ops and removes) equals them after every transaction."""
    rnd = random.Random(7)
    pool = [f"198.51.100.{i}" for i in range(1, 40)] + [f"2001:db8:100::{i:x}" for i in range(1, 40)]
    ifaces = {"eth0": (2, MAC), "eth1": (3, MAC2), "vx0": (9, "02:00:00:00:00:09")}
    for _ in range(30):
        speaker: dict[str, PortState] = {}
        child: dict[str, PortState] = {}
        for _step in range(25):
            ops = []
            for name in rnd.sample(sorted(ifaces), rnd.randint(1, 3)):
                index, mac = ifaces[name]
                if rnd.random() < 0.1:
                    index += 100  # the interface was re-created
                    ifaces[name] = (index, mac)
                ips = rnd.sample(pool, rnd.randint(0, 8))
                if not ips:
                    if speaker.pop(name, None) is not None:
                        ops.append({"op": "remove", "name": name})
                    continue
                new = state(index, mac, *ips)
                op = port_op(name, speaker.get(name), index, new.mac, new.v4, new.v6)
                if op is not None:
                    ops.append(op)
                speaker[name] = new
            child, _ = apply_ops(child, ops)
            assert child == speaker
        assert apply_ops({}, full_table(speaker))[0] == speaker  # what a restarted child gets


# --- gratuitous orders -----------------------------------------------------------------------------------------
def test_announce_round_trip_and_errors():
    msg = announce_msg([("eth0", mac_bytes(MAC), V4), ("eth0", mac_bytes(MAC), V6)])
    assert parse_announce(msg) == [
        ("eth0", mac_bytes(MAC), ip_bytes(V4), V4),
        ("eth0", mac_bytes(MAC), ip_bytes(V6), V6),
    ]
    with pytest.raises(ProtocolError, match=r"announce.items\[0\]: \['eth0'\] is not \[ifname, mac, ip\]"):
        parse_announce({"t": "announce", "items": [["eth0"]]})
    with pytest.raises(ProtocolError, match=r"announce.items\[0\].ip: '1.2.3' is not an address"):
        parse_announce({"t": "announce", "items": [["eth0", MAC, "1.2.3"]]})


# --- counts ------------------------------------------------------------------------------------------------------
def test_counters_are_taken_in_place_and_added_up_on_the_speaker():
    c = Counters()
    hot = c.requests  # the responder's hot path holds this very dict
    hot[V4] = 3
    c.responses[V4] = 3
    c.dropped["from-us"] = 1
    first = c.take()
    assert first == {"requests": {V4: 3}, "responses": {V4: 3}, "dropped": {"from-us": 1}}
    assert hot == {} and c.requests is hot
    assert c.take() == {}
    hot[V4] = 2
    c.gratuitous[V6] = 4
    m = Layer2Metrics()
    merge_report(m, {"t": "report", **first})
    merge_report(m, {"t": "report", **c.take()})
    merge_report(m, {"t": "report"})  # a heartbeat
    assert m.requests == {V4: 5} and m.responses == {V4: 3} and m.gratuitous == {V6: 4}
    assert m.dropped == {"from-us": 1}


@pytest.mark.parametrize(
    "report, message",
    [
        ({"requests": [1]}, r"report.requests: \[1\] is not an object"),
        ({"responses": {V4: -1}}, r"report.responses\['198.51.100.240'\]: -1 is not a count"),
        ({"requests": {V4: 1}, "dropped": {"x": "1"}}, r"report.dropped\['x'\]: '1' is not a count"),
    ],
)
def test_a_bad_report_adds_nothing(report, message):
    m = Layer2Metrics()
    with pytest.raises(ProtocolError, match=message):
        merge_report(m, {"t": "report", **report})
    assert m.requests == {} and m.responses == {} and m.dropped == {}
