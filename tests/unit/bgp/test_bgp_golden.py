"""Messages captured from BIRD, FRR and GoBGP (tests/data/bgp, see its README) decode to what they carried."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from speaker.bgp.attribute import AsPath, Communities, LargeCommunities, MpReach, NextHop
from speaker.bgp.capability import FourOctetAs, Multiprotocol
from speaker.bgp.context import Context
from speaker.bgp.message import Open, Update, pack_message, unpack_message

DATA = Path(__file__).resolve().parents[2] / "data" / "bgp"
CTX = Context()
# Where our encoder makes the same choices as the daemon, the bytes must come out identical.
BYTE_IDENTICAL = {"bird-open", "bird-update4", "gobgp-open", "gobgp-update4", "gobgp-update6"}


def load(name: str) -> bytes:
    return bytes.fromhex((DATA / f"{name}.hex").read_text())


@pytest.mark.parametrize("daemon", ["bird", "frr", "gobgp"])
def test_open(daemon):
    o = unpack_message(load(f"{daemon}-open"), CTX)
    assert isinstance(o, Open)
    assert o.asn == 64513 and o.hold_time == 9 and o.router_id == ipaddress.IPv4Address("198.51.100.2")
    assert {(c.afi, c.safi) for c in o.capability(Multiprotocol)} == {(1, 1), (2, 1)}
    assert o.capability(FourOctetAs) == [FourOctetAs(64513)]


@pytest.mark.parametrize("daemon", ["bird", "frr", "gobgp"])
def test_update_ipv4(daemon):
    u = unpack_message(load(f"{daemon}-update4"), CTX)
    assert isinstance(u, Update) and u.nlri == (ipaddress.ip_network("192.0.2.0/24"),)
    assert u.get(AsPath) == AsPath.sequence(64513)
    assert u.get(NextHop).address == ipaddress.IPv4Address("198.51.100.2")
    assert u.get(Communities).values == ((64513 << 16) | 7,)
    assert u.get(LargeCommunities).values == ((64513, 1, 2),)


@pytest.mark.parametrize("daemon", ["bird", "frr", "gobgp"])
def test_update_ipv6(daemon):
    u = unpack_message(load(f"{daemon}-update6"), CTX)
    mp = u.get(MpReach)
    assert mp.nlri == (ipaddress.ip_network("2001:db8:200::/48"),)
    hops = mp.next_hops
    if daemon == "bird":
        assert hops[0] == ipaddress.IPv6Address("2001:db8:100::2") and hops[1].is_link_local
    else:  # IPv6 over an IPv4 session: IPv4-mapped next hop
        assert hops == (ipaddress.IPv6Address("::ffff:198.51.100.2"),)


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.hex")))
def test_reencode(name):
    raw = load(name)
    msg = unpack_message(raw, CTX)
    again = pack_message(msg, CTX)
    assert unpack_message(again, CTX) == msg
    if name in BYTE_IDENTICAL:
        assert again == raw
