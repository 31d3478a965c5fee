"""The codec: round trips, RFC error codes for malformed input, fuzzing (only Notification is ever raised)."""

from __future__ import annotations

import contextlib
import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speaker.bgp.attribute import (
    AS_SEQUENCE,
    As4Path,
    AsPath,
    Communities,
    LargeCommunities,
    LocalPref,
    MpReach,
    MpUnreach,
    NextHop,
    Origin,
    merge_as4_path,
)
from speaker.bgp.capability import FourOctetAs, GracefulRestart, Multiprotocol, RouteRefreshCapability
from speaker.bgp.context import AFI_IPV6, AS_TRANS, IPV4_UNICAST, SAFI_UNICAST, Context
from speaker.bgp.errors import Notification
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
from tests.unit.bgp.strategies import contexts, messages, updates

CTX = Context()
CTX2 = Context(asn4=False)
RID = ipaddress.IPv4Address("192.0.2.1")
N = ipaddress.ip_network


def roundtrip(msg, ctx=CTX):
    return unpack_message(pack_message(msg, ctx), ctx)


# ---- examples ------------------------------------------------------------------------------------------


def test_open_with_every_capability_round_trips():
    o = Open.build(
        4200000001,
        90,
        RID,
        (
            Multiprotocol(1, 1),
            Multiprotocol(2, 1),
            RouteRefreshCapability(),
            GracefulRestart(0, 120, ((1, 1, 0), (2, 1, 0))),
        ),
    )
    assert o.my_as == AS_TRANS and o.asn == 4200000001 and o.asn4
    assert roundtrip(o) == o


def test_open_two_octet_asn_keeps_its_value_in_the_header():
    o = Open.build(64512, 3, RID)
    assert o.my_as == 64512 and o.capabilities == (FourOctetAs(64512),)


def test_keepalive_is_19_octets():
    assert pack_message(Keepalive(), CTX) == b"\xff" * 16 + b"\x00\x13\x04"


def test_update_ipv4_with_communities_and_local_pref():
    u = Update.of(
        [N("192.0.2.0/25")],
        [
            Origin(2),
            AsPath.sequence(64512),
            NextHop(ipaddress.IPv4Address("198.51.100.1")),
            LocalPref(200),
            Communities((64512 << 16 | 100,)),
            LargeCommunities(((64512, 1, 2),)),
        ],
        [N("198.51.100.100/32"), N("198.51.100.0/24")],
    )
    assert roundtrip(u) == u
    assert roundtrip(u, CTX2) == u


def test_update_ipv6_next_hop_global_and_link_local():
    mp = MpReach(
        AFI_IPV6,
        SAFI_UNICAST,
        (ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("fe80::1")),
        (N("2001:db8:100::100/128"),),
    )
    u = Update.of(attributes=[Origin(0), AsPath.sequence(64512), mp])
    assert roundtrip(u) == u
    assert roundtrip(u).get(MpReach).next_hops[1].is_link_local


def test_two_octet_session_sends_as_trans_and_as4_path():
    u = Update.of(
        attributes=[Origin(0), AsPath.sequence(4200000001, 64512), NextHop(ipaddress.IPv4Address("192.0.2.1"))],
        nlri=[N("198.51.100.0/24")],
    )
    raw = pack_message(u, CTX2)
    assert struct.pack("!HH", AS_TRANS, 64512) in raw  # AS_PATH with AS_TRANS
    assert bytes((0xC0, 17)) in raw  # AS4_PATH, optional transitive
    assert unpack_message(raw, CTX2) == u


def test_as4_path_merge_keeps_leading_two_octet_asns():
    # A 2-octet speaker prepended 65000 after the AS4_PATH was formed (RFC 6793 §4.2.3).
    as_path = AsPath(((AS_SEQUENCE, (65000, AS_TRANS, 64512)),))
    as4 = As4Path(((AS_SEQUENCE, (4200000001, 64512)),))
    assert merge_as4_path(as_path, as4) == AsPath(((AS_SEQUENCE, (65000, 4200000001, 64512)),))
    # An AS4_PATH longer than AS_PATH is ignored.
    assert merge_as4_path(AsPath.sequence(1), as4) == AsPath.sequence(1)


def test_long_as_sequence_is_split_into_255_segments_and_rejoined():
    path = AsPath.sequence(*range(1, 600))
    u = Update.of(attributes=[Origin(0), path, NextHop(RID)], nlri=[N("192.0.2.0/24")])
    raw = pack_message(u, CTX)
    assert raw.count(bytes((AS_SEQUENCE, 255))) == 2
    assert unpack_message(raw, CTX) == u


def test_end_of_rib():
    assert Update().is_end_of_rib
    assert Update(attributes=(MpUnreach(AFI_IPV6, SAFI_UNICAST, ()),)).is_end_of_rib
    assert roundtrip(Update()) == Update()


def test_notification_with_shutdown_communication():
    n = NotificationMessage.shutdown(2, "maintenance ☕")
    assert roundtrip(n) == n and n.communication == "maintenance ☕"
    assert "Administrative Shutdown" in str(n)
    long = NotificationMessage.shutdown(2, "é" * 200)  # cut at 255 octets without splitting a character
    assert long.data[0] <= 255 and long.communication == "é" * 127


def test_route_refresh():
    assert roundtrip(RouteRefresh(2, 1)) == RouteRefresh(2, 1)


def test_reader_splits_a_stream():
    ka = pack_message(Keepalive(), CTX)
    u = pack_message(Update(), CTX)
    r = Reader()
    r.feed(ka + u[:10])
    assert r.next_raw() == ka
    assert r.next_raw() is None
    r.feed(u[10:])
    assert r.next_raw() == u


# ---- errors: the right code, the RFC cited ------------------------------------------------------------------


def hdr(length, type_, marker=b"\xff" * 16):
    return marker + struct.pack("!HB", length, type_)


def update_body(attrs=b"", nlri=b"", withdrawn=b""):
    body = struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri
    return hdr(19 + len(body), 2) + body


ORIGIN = bytes((0x40, 1, 1, 0))
ASPATH = bytes((0x40, 2, 6, 2, 1)) + struct.pack("!I", 64512)
NEXTHOP = bytes((0x40, 3, 4, 192, 0, 2, 1))


@pytest.mark.parametrize(
    "raw, code, subcode",
    [
        (hdr(19, 4, b"\x00" * 16), 1, 1),  # marker
        (hdr(18, 4), 1, 2),  # too short
        (hdr(20, 4) + b"\0", 1, 2),  # KEEPALIVE must be 19
        (hdr(4097, 2), 1, 2),  # longer than 4096
        (hdr(19, 9), 1, 3),  # unknown type
        (hdr(29, 1) + bytes((3,)) + struct.pack("!HHIB", 64512, 90, 1, 0), 2, 1),  # version 3
        (hdr(29, 1) + bytes((4,)) + struct.pack("!HHIB", 64512, 1, 1, 0), 2, 6),  # hold 1
        (hdr(29, 1) + bytes((4,)) + struct.pack("!HHIB", 64512, 90, 0, 0), 2, 3),  # BGP identifier 0
        (hdr(32, 1) + bytes((4,)) + struct.pack("!HHIB", 64512, 90, 1, 3) + bytes((1, 1, 0)), 2, 4),  # auth param
        (update_body(bytes((0x40, 1, 1, 5)) + ASPATH + NEXTHOP, bytes((24, 192, 0, 2))), 3, 6),  # ORIGIN 5
        (update_body(ORIGIN + ORIGIN + ASPATH + NEXTHOP, bytes((24, 192, 0, 2))), 3, 1),  # duplicate
        (update_body(ORIGIN + NEXTHOP, bytes((24, 192, 0, 2))), 3, 3),  # no AS_PATH
        (update_body(ORIGIN + ASPATH, bytes((24, 192, 0, 2))), 3, 3),  # no NEXT_HOP
        (update_body(bytes((0xC0, 1, 1, 0)) + ASPATH + NEXTHOP, bytes((24, 192, 0, 2))), 3, 4),  # ORIGIN optional
        (update_body(ORIGIN + ASPATH + bytes((0x40, 3, 3, 1, 2, 3)), bytes((24, 192, 0, 2))), 3, 5),  # NEXT_HOP of 3
        (update_body(ORIGIN + ASPATH + NEXTHOP, bytes((33, 192, 0, 2, 1, 0))), 3, 10),  # /33
        (update_body(ORIGIN + ASPATH + NEXTHOP, bytes((24, 192, 0))), 3, 10),  # truncated prefix
        (
            update_body(ORIGIN + bytes((0x40, 2, 6, 9, 1)) + struct.pack("!I", 1) + NEXTHOP, bytes((24, 192, 0, 2))),
            3,
            11,
        ),
        (
            update_body(ORIGIN + bytes((0x40, 2, 6, 2, 2)) + struct.pack("!I", 1) + NEXTHOP, bytes((24, 192, 0, 2))),
            3,
            11,
        ),
        (update_body(bytes((0x40, 99, 0))), 3, 2),  # unknown well-known
        (update_body(bytes((0x80, 15, 3)) + struct.pack("!HB", 2, 128)), 3, 9),  # MP_UNREACH VPN SAFI
        (update_body(bytes((0xC0, 8, 3, 1, 2, 3))), 3, 5),  # COMMUNITIES of 3
        (update_body(withdrawn=b"\x18\xc0"), 3, 10),  # truncated withdrawn
        (hdr(23, 2) + struct.pack("!HH", 10, 0), 3, 1),  # withdrawn overrun
    ],
)
def test_malformed_messages_raise_the_rfc_notification(raw, code, subcode):
    with pytest.raises(Notification) as err:
        unpack_message(raw, CTX)
    assert (err.value.code, err.value.subcode) == (code, subcode)
    assert "RFC" in err.value.reason  # every error cites its section


def test_attribute_errors_carry_the_attribute_as_data():
    raw = update_body(ORIGIN + ASPATH + bytes((0x40, 3, 3, 1, 2, 3)), bytes((24, 192, 0, 2)))
    with pytest.raises(Notification) as err:
        unpack_message(raw, CTX)
    assert err.value.data == bytes((0x40, 3, 3, 1, 2, 3))
    assert "RFC 4271 §6.3" in err.value.reason


def test_unknown_optional_attribute_is_kept():
    raw = update_body(bytes((0xC0, 16, 8)) + bytes(8))
    assert unpack_message(raw, CTX).attributes[0].type_code == 16


def test_mp_reach_for_a_family_not_negotiated_is_an_optional_attribute_error():
    u = Update.of(
        attributes=[Origin(0), AsPath(), MpReach(AFI_IPV6, SAFI_UNICAST, (ipaddress.IPv6Address("2001:db8::1"),), ())]
    )
    with pytest.raises(Notification) as err:
        unpack_message(pack_message(u, CTX), Context(families=frozenset({IPV4_UNICAST})))
    assert (err.value.code, err.value.subcode) == (3, 9)


# ---- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(messages, contexts)
def test_decode_encode_round_trip(msg, ctx):
    assert roundtrip(msg, ctx) == msg


@settings(max_examples=300)
@given(updates())
def test_updates_round_trip_in_two_octet_sessions(u):
    assert roundtrip(u, CTX2) == u


@settings(max_examples=1500)
@given(st.binary(max_size=200), contexts)
def test_random_bytes_raise_only_notification(data, ctx):
    with contextlib.suppress(Notification):
        unpack_message(data, ctx)


@settings(max_examples=1500)
@given(st.binary(max_size=200), contexts, st.sampled_from([1, 2, 3, 4, 5]))
def test_random_bodies_behind_a_valid_header_raise_only_notification(body, ctx, type_):
    with contextlib.suppress(Notification):
        unpack_message(hdr(19 + len(body), type_) + body, ctx)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(messages, contexts, st.data())
def test_corrupted_valid_messages_raise_only_notification(msg, ctx, data):
    raw = bytearray(pack_message(msg, ctx))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(18, len(raw) - 1)) if len(raw) > 19 else 18
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(19, len(raw)))
    raw = raw[:cut]
    raw[16:18] = struct.pack("!H", len(raw))
    with contextlib.suppress(Notification):
        unpack_message(bytes(raw), ctx)
