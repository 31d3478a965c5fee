"""NDP decisions on crafted frames (RFC 4861 7.1.1 validation, 7.2.4 answers, RFC 4862 DAD defence)."""

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import Ether

from speaker.layer2 import ndp
from speaker.layer2.decision import DropReason, Reply
from tests.unit.layer2.crafted import CLIENT6, CLIENT_MAC, OTHER_MAC, OUR_MAC, VIP6, ns


def _valid_checksum(frame: bytes) -> bool:
    p = Ether(frame)
    sent = p[ICMPv6ND_NA].cksum
    del p[ICMPv6ND_NA].cksum
    return Ether(bytes(p))[ICMPv6ND_NA].cksum == sent


def test_ns_for_our_vip_gets_solicited_na(table):
    r = ndp.handle(ns(), table)
    assert isinstance(r, Reply) and r.ip == VIP6
    p = Ether(r.frame)
    assert p.dst == CLIENT_MAC and p.src == OUR_MAC
    assert p[IPv6].src == VIP6 and p[IPv6].dst == CLIENT6 and p[IPv6].hlim == 255
    na = p[ICMPv6ND_NA]
    assert na.tgt == VIP6 and na.S == 1 and na.O == 1 and na.R == 0
    assert p[ICMPv6NDOptDstLLAddr].lladdr == OUR_MAC
    assert _valid_checksum(r.frame)


def test_unicast_ns_for_nud(table):
    r = ndp.handle(ns(dst=VIP6, eth_dst=OUR_MAC), table)
    assert isinstance(r, Reply)
    assert Ether(r.frame).dst == CLIENT_MAC


def test_unicast_ns_without_slla_answers_ethernet_source(table):
    r = ndp.handle(ns(dst=VIP6, eth_dst=OUR_MAC, slla=None), table)
    assert isinstance(r, Reply) and Ether(r.frame).dst == CLIENT_MAC


def test_multicast_ns_without_slla_is_dropped(table):
    assert ndp.handle(ns(slla=None), table) is DropReason.NO_SOURCE_LL


def test_dad_ns_for_our_vip_is_defended_to_all_nodes(table):
    r = ndp.handle(ns(src="::", slla=None), table)
    assert isinstance(r, Reply)
    p = Ether(r.frame)
    assert p.dst == "33:33:00:00:00:01" and p[IPv6].dst == "ff02::1"
    assert p[ICMPv6ND_NA].S == 0 and p[ICMPv6ND_NA].O == 1
    assert _valid_checksum(r.frame)


def test_dad_ns_with_slla_is_invalid(table):
    assert ndp.handle(ns(src="::"), table) is DropReason.MALFORMED


def test_wrong_target(table):
    assert ndp.handle(ns("2001:db8:100::7"), table) is DropReason.ANNOUNCE_IP
    assert ndp.handle(ns("2001:db8:100::241"), table) is DropReason.NOT_MATCH_INTERFACE


def test_bad_hop_limit_is_dropped(table):
    assert ndp.handle(ns(hlim=64), table) is DropReason.HOP_LIMIT


def test_bad_code_is_dropped(table):
    assert ndp.handle(ns(code=1), table) is DropReason.MALFORMED


def test_bad_checksum_is_dropped(table):
    bad = bytearray(ns())
    bad[56] ^= 0xFF
    assert ndp.handle(bytes(bad), table) is DropReason.CHECKSUM


def test_zero_length_option_is_dropped(table):
    bad = bytearray(ns())
    bad[79] = 0  # the SLLA option's length; fix the checksum so only the option is wrong
    from speaker.layer2.frames import icmp6_checksum

    bad[56:58] = b"\x00\x00"
    bad[56:58] = icmp6_checksum(bytes(bad[22:38]), bytes(bad[38:54]), bytes(bad[54:])).to_bytes(2, "big")
    assert ndp.handle(bytes(bad), table) is DropReason.MALFORMED


def test_ns_to_a_wrong_group(table):
    assert ndp.handle(ns(dst="ff02::1"), table) is DropReason.IP_DESTINATION


def test_ethernet_destination_must_match(table):
    assert ndp.handle(ns(eth_dst=OTHER_MAC), table) is DropReason.ETHERNET_DESTINATION
    assert ndp.handle(ns(dst=VIP6, eth_dst=OTHER_MAC), table) is DropReason.ETHERNET_DESTINATION


def test_from_us(table):
    assert ndp.handle(ns(src_mac=OUR_MAC), table) is DropReason.FROM_US


def test_vlan_tagged(table):
    assert ndp.handle(ns(vlan=100), table) is DropReason.VLAN_TAGGED


def test_not_ns(table):
    p = bytes(Ether(src=CLIENT_MAC, dst=OUR_MAC) / IPv6(src=CLIENT6, dst=VIP6, hlim=255) / ICMPv6ND_NA(tgt=VIP6))
    p += b"\x00" * 8
    assert ndp.handle(p, table) is DropReason.MESSAGE_TYPE


def test_truncated(table):
    assert ndp.handle(ns()[:70], table) is DropReason.MALFORMED
