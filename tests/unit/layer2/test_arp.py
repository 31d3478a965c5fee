"""ARP decisions on crafted frames: who gets an answer, and what the answer says."""

from scapy.layers.l2 import ARP, Ether

from speaker.layer2 import arp
from speaker.layer2.decision import DropReason, Reply
from tests.unit.layer2.crafted import CLIENT4, CLIENT_MAC, OTHER_MAC, OUR_MAC, VIP4, arp_req


def test_request_for_our_vip_gets_reply_with_our_mac(table):
    r = arp.handle(arp_req(), table)
    assert isinstance(r, Reply) and r.ip == VIP4
    p = Ether(r.frame)
    assert p.dst == CLIENT_MAC and p.src == OUR_MAC and p.type == 0x0806
    a = p[ARP]
    assert (a.op, a.hwsrc, a.psrc, a.hwdst, a.pdst) == (2, OUR_MAC, VIP4, CLIENT_MAC, CLIENT4)


def test_padded_frame_is_fine(table):
    assert isinstance(arp.handle(arp_req() + b"\x00" * 18, table), Reply)


def test_unicast_revalidation_to_our_mac_is_answered(table):
    assert isinstance(arp.handle(arp_req(dst=OUR_MAC), table), Reply)


def test_unicast_to_another_mac_is_dropped(table):
    assert arp.handle(arp_req(dst=OTHER_MAC), table) is DropReason.ETHERNET_DESTINATION


def test_not_ours(table):
    assert arp.handle(arp_req("198.51.100.7"), table) is DropReason.ANNOUNCE_IP


def test_ours_but_on_another_interface(table):
    assert arp.handle(arp_req("198.51.100.241"), table) is DropReason.NOT_MATCH_INTERFACE


def test_from_us(table):
    assert arp.handle(arp_req(src_mac=OUR_MAC), table) is DropReason.FROM_US


def test_gratuitous_from_someone_else_is_not_answered(table):
    assert arp.handle(arp_req(sender=VIP4), table) is DropReason.GRATUITOUS


def test_probe_for_our_vip_is_answered_so_the_prober_backs_off(table):
    r = arp.handle(arp_req(sender="0.0.0.0"), table)
    assert isinstance(r, Reply)
    a = Ether(r.frame)[ARP]
    assert a.op == 2 and a.psrc == VIP4 and a.hwdst == CLIENT_MAC and a.pdst == "0.0.0.0"


def test_reply_is_not_answered(table):
    assert arp.handle(arp_req(op=2), table) is DropReason.ARP_REPLY


def test_other_op(table):
    assert arp.handle(arp_req(op=3), table) is DropReason.MESSAGE_TYPE


def test_vlan_tagged_is_dropped(table):
    assert arp.handle(arp_req(vlan=100), table) is DropReason.VLAN_TAGGED


def test_truncated_and_garbage(table):
    assert arp.handle(arp_req()[:41], table) is DropReason.MALFORMED
    bad = bytearray(arp_req())
    bad[18] = 8  # hlen 8
    assert arp.handle(bytes(bad), table) is DropReason.MALFORMED
    ipv4 = bytes(Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x0800) / (b"\x00" * 40))
    assert arp.handle(ipv4, table) is DropReason.MESSAGE_TYPE


def test_multicast_sender_hardware_address_is_dropped(table):
    assert arp.handle(arp_req(src_mac="01:00:5e:00:00:01"), table) is DropReason.MALFORMED


def test_table_swap_takes_effect(table):
    table.v4 = {}
    assert arp.handle(arp_req(), table) is DropReason.NOT_MATCH_INTERFACE
