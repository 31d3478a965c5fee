"""What counts as a conflict while probing (RFC 5227 2.1.1, RFC 4862 5.4)."""

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import Ether

from speaker.layer2.frames import arp_probe, dad_probe, ip_bytes, mac_bytes
from speaker.layer2.gratuitous import announcement_frames, burst_times
from speaker.layer2.probe import conflicting_mac, probe_frames
from tests.unit.layer2.crafted import OTHER_MAC, OUR_MAC, VIP4, VIP6, arp_req, ns

US = frozenset({mac_bytes(OUR_MAC)})
V4, V6 = ip_bytes(VIP4), ip_bytes(VIP6)


def test_arp_reply_from_the_owner_is_a_conflict():
    assert conflicting_mac(arp_req("198.51.100.20", src_mac=OTHER_MAC, sender=VIP4, op=2), V4, US) == mac_bytes(
        OTHER_MAC
    )


def test_any_arp_with_the_address_as_sender_is_a_conflict():
    assert conflicting_mac(arp_req("198.51.100.1", src_mac=OTHER_MAC, sender=VIP4), V4, US) == mac_bytes(OTHER_MAC)


def test_simultaneous_probe_is_a_conflict():
    assert conflicting_mac(arp_probe(mac_bytes(OTHER_MAC), V4), V4, US) == mac_bytes(OTHER_MAC)


def test_ordinary_request_for_the_address_is_not():
    assert conflicting_mac(arp_req(VIP4, src_mac=OTHER_MAC), V4, US) is None


def test_our_own_frames_are_not():
    assert conflicting_mac(probe_frames(mac_bytes(OUR_MAC), V4), V4, US) is None
    assert conflicting_mac(probe_frames(mac_bytes(OUR_MAC), V6), V6, US) is None


def test_na_for_the_target_is_a_conflict():
    na = bytes(
        Ether(src=OTHER_MAC)
        / IPv6(src=VIP6, dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(tgt=VIP6, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:77")
    )
    assert conflicting_mac(na, V6, US) == mac_bytes("02:00:00:00:00:77")
    assert conflicting_mac(na, ip_bytes("2001:db8::9"), US) is None


def test_simultaneous_dad_is_a_conflict_but_a_normal_ns_is_not():
    assert conflicting_mac(dad_probe(mac_bytes(OTHER_MAC), V6), V6, US) == mac_bytes(OTHER_MAC)
    assert conflicting_mac(ns(VIP6, src_mac=OTHER_MAC), V6, US) is None


def test_announcement_frames():
    mac = mac_bytes(OUR_MAC)
    assert len(announcement_frames(mac, V4)) == 2  # request + reply
    assert len(announcement_frames(mac, V6)) == 1  # unsolicited NA
    assert burst_times(10.0, (0.0, 0.05)) == [10.0, 10.05]
