"""Failure handling against real sockets: a peer that goes silent is torn down at hold-time expiry (MetalLB #777),
and garbage from a fake peer gets a clean NOTIFICATION with the right code, never a crash."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from speaker.bgp.attribute import NextHop, Origin
from speaker.bgp.context import Context
from speaker.bgp.message import Keepalive, NotificationMessage, Open, Reader, pack_message, unpack_message
from tests.bgplab import Bird, Neighbor, Node, route, wait_for
from tests.netlab import Lab, require_root

pytestmark = pytest.mark.timeout(60)
ROUTER4, NODE4 = "198.51.100.2", "198.51.100.10"


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        yield lab


def test_silent_peer_is_torn_down_at_hold_time_expiry(lab: Lab, tmp_path: Path) -> None:
    r = lab.host("r", f"{ROUTER4}/24")
    n = lab.host("n1", f"{NODE4}/24")
    bird = Bird(r, tmp_path, asn=64513, router_id=ROUTER4, neighbors=[Neighbor("n1", NODE4, 64512, hold=3)]).start()
    node = Node(n)
    node.speaker.set_routes({"r": [route("198.51.100.100/32")]})
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513, hold_time=3, keepalive_time=1, connect_time=30)])
    node.wait_established("r")

    # Keepalives flow both ways: the session outlives a hold time (3 s), and both ends stay up all along.
    def up_past_hold_time() -> bool:
        st = node.status("r")
        assert st.state == "Established" and bird.established(NODE4), st
        return st.uptime is not None and st.uptime > 3 + 1

    wait_for("the session to outlive a hold time", up_past_hold_time, timeout=20)
    # The peer goes silent: its namespace drops every BGP packet (the process keeps running).
    r.run(
        ["nft", "-f", "-"],
        input="""table inet silent {
      chain in { type filter hook input priority 0; policy accept; tcp sport 179 drop; tcp dport 179 drop; }
      chain out { type filter hook output priority 0; policy accept; tcp sport 179 drop; tcp dport 179 drop; }
    }""",
    )
    t0 = time.monotonic()
    wait_for("our session to go down", lambda: node.status("r").state != "Established", timeout=20)
    print(f"silent peer: torn down {time.monotonic() - t0:.1f}s after it went silent (hold time 3 s)")
    st = node.status("r")
    assert "Hold Timer Expired (4/0)" in st.last_error  # the hold timer did it, not a TCP error
    assert node.speaker.metrics.session_up.labels(ROUTER4)._value.get() == 0


def _fake_peer(lab: Lab) -> tuple[Any, socket.socket]:
    r = lab.host("r", f"{ROUTER4}/24")
    lst = r.listen(ROUTER4, 179)
    lst.settimeout(10)
    return r, lst


def _read_all(conn: socket.socket, timeout: float = 5) -> list[Any]:
    """Every message the speaker sends until it closes the connection."""
    conn.settimeout(timeout)
    reader, out = Reader(), []
    while True:
        try:
            chunk = conn.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        reader.feed(chunk)
        while (raw := reader.next_raw()) is not None:
            out.append(unpack_message(raw, Context()))
    return out


def _open_bytes(**kw: Any) -> bytes:
    return pack_message(Open.build(kw.get("asn", 64513), 9, ipaddress.IPv4Address(ROUTER4)), Context())


GARBAGE = [
    ("random bytes", lambda: b"\x00" + os.urandom(63), (1, 1)),
    ("unknown message type", lambda: b"\xff" * 16 + struct.pack("!HB", 19, 42), (1, 3)),
    ("bad length", lambda: b"\xff" * 16 + struct.pack("!HB", 5000, 2), (1, 2)),
    ("OPEN version 3", lambda: _open_bytes()[:19] + b"\x03" + _open_bytes()[20:], (2, 1)),
    ("OPEN from the wrong AS", lambda: _open_bytes(asn=64999), (2, 2)),
    (
        "UPDATE before OPEN",
        lambda: pack_message(Keepalive(), Context())[:16] + struct.pack("!HB", 23, 2) + b"\0\0\0\0",
        (5, 1),
    ),
]


@pytest.mark.parametrize("what, garbage, code", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_gets_a_clean_notification(lab: Lab, what: str, garbage: Any, code: tuple[int, int]) -> None:
    r, lst = _fake_peer(lab)
    n = lab.host("n1", f"{NODE4}/24")
    node = Node(n)
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513)])
    conn, _ = lst.accept()
    with conn:
        conn.settimeout(5)
        first = conn.recv(4096)
        assert isinstance(unpack_message(first[: struct.unpack_from("!H", first, 16)[0]], Context()), Open)
        conn.sendall(garbage())
        msgs = _read_all(conn)
    notes = [m for m in msgs if isinstance(m, NotificationMessage)]
    assert notes and (notes[-1].code, notes[-1].subcode) == code, msgs
    st = node.status("r")  # the speaker is alive and will retry
    assert st.state in ("Idle", "Connect", "Active") and str(code[0]) in st.last_error
    conn2, _ = lst.accept()  # it reconnects (backoff 1 s)
    conn2.close()
    lst.close()


def test_malformed_update_after_established_gets_3_x_and_the_session_recovers(lab: Lab) -> None:
    r, lst = _fake_peer(lab)
    n = lab.host("n1", f"{NODE4}/24")
    node = Node(n)
    node.speaker.set_routes({"r": [route("198.51.100.100/32")]})
    node.speaker.set_peers([node.peer("r", ROUTER4, 64513)])
    conn, _ = lst.accept()
    with conn:
        conn.settimeout(5)
        conn.recv(4096)  # OPEN
        conn.sendall(_open_bytes() + pack_message(Keepalive(), Context()))
        node.wait_established("r")
        wait_for("our route sent", lambda: node.status("r").prefixes_sent == 1, timeout=5)
        # ORIGIN 9 (3/6)
        attrs = bytes((0x40, 1, 1, 9)) + bytes((0x40, 2, 0)) + bytes((0x40, 3, 4)) + bytes([198, 51, 100, 2])
        body = struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + bytes((24, 192, 0, 2))
        conn.sendall(b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body)
        msgs = _read_all(conn)
    notes = [m for m in msgs if isinstance(m, NotificationMessage)]
    assert (notes[-1].code, notes[-1].subcode) == (3, 6)
    assert notes[-1].data == bytes((0x40, 1, 1, 9))
    # What it announced before the error arrived, the fake peer saw as an UPDATE with our next hop.
    from speaker.bgp.message import Update

    ups = [m for m in msgs if isinstance(m, Update) and m.nlri]
    assert ups and ups[0].get(NextHop).address == ipaddress.IPv4Address(NODE4) and ups[0].get(Origin).value == 2
    lst.close()
