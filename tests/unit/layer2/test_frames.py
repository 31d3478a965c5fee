"""The struct-built frames are what scapy (an independent implementation) says they should be."""

import ipaddress

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from speaker.layer2 import frames as F
from tests.unit.layer2.crafted import CLIENT4, CLIENT6, CLIENT_MAC, OUR_MAC, VIP4, VIP6

MAC = F.mac_bytes(OUR_MAC)


def _rebuilt_checksum(frame: bytes, layer) -> tuple[int, int]:
    p = Ether(frame)
    sent = p[layer].cksum
    del p[layer].cksum
    return sent, Ether(bytes(p))[layer].cksum


def test_address_helpers_round_trip():
    assert F.mac_str(F.mac_bytes(OUR_MAC)) == OUR_MAC
    assert F.ip_str(F.ip_bytes(VIP4)) == VIP4 and F.ip_str(F.ip_bytes(VIP6)) == VIP6
    assert F.ip_str(F.solicited_node(F.ip_bytes(VIP6))) == "ff02::1:ff00:240"
    assert F.mac_str(F.solicited_node_mac(F.ip_bytes(VIP6))) == "33:33:ff:00:02:40"
    assert F.multicast_mac(F.solicited_node(F.ip_bytes(VIP6))) == F.solicited_node_mac(F.ip_bytes(VIP6))


def test_arp_reply():
    f = F.arp_reply(MAC, F.ip_bytes(VIP4), F.mac_bytes(CLIENT_MAC), F.ip_bytes(CLIENT4))
    assert len(f) == 42
    p = Ether(f)
    assert (p.dst, p.src) == (CLIENT_MAC, OUR_MAC)
    a = p[ARP]
    assert (a.hwtype, a.ptype, a.hwlen, a.plen, a.op) == (1, 0x0800, 6, 4, 2)
    assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == (OUR_MAC, VIP4, CLIENT_MAC, CLIENT4)
    # byte-identical to scapy's own construction
    assert f == bytes(
        Ether(dst=CLIENT_MAC, src=OUR_MAC) / ARP(op=2, hwsrc=OUR_MAC, psrc=VIP4, hwdst=CLIENT_MAC, pdst=CLIENT4)
    )


@pytest.mark.parametrize(
    "builder,op,hwdst,psrc",
    [
        (F.garp_request, 1, "00:00:00:00:00:00", VIP4),
        (F.garp_reply, 2, OUR_MAC, VIP4),  # target MAC = sender MAC (LAB-NOTES)
    ],
)
def test_gratuitous_arp(builder, op, hwdst, psrc):
    p = Ether(builder(MAC, F.ip_bytes(VIP4)))
    assert p.dst == "ff:ff:ff:ff:ff:ff" and p.src == OUR_MAC
    a = p[ARP]
    assert (a.op, a.hwsrc, a.psrc, a.hwdst, a.pdst) == (op, OUR_MAC, psrc, hwdst, VIP4)


def test_arp_probe_rfc5227():
    a = Ether(F.arp_probe(MAC, F.ip_bytes(VIP4)))[ARP]
    assert (a.op, a.hwsrc, a.psrc, a.hwdst, a.pdst) == (1, OUR_MAC, "0.0.0.0", "00:00:00:00:00:00", VIP4)


def test_solicited_na():
    f = F.neighbor_advert(
        MAC, F.ip_bytes(VIP6), F.mac_bytes(CLIENT_MAC), F.ip_bytes(CLIENT6), F.NA_FLAG_SOLICITED | F.NA_FLAG_OVERRIDE
    )
    p = Ether(f)
    assert p[IPv6].plen == 32 and p[IPv6].nh == 58 and p[IPv6].hlim == 255
    na = p[ICMPv6ND_NA]
    assert (na.R, na.S, na.O, na.tgt) == (0, 1, 1, VIP6)
    assert p[ICMPv6NDOptDstLLAddr].lladdr == OUR_MAC
    sent, good = _rebuilt_checksum(f, ICMPv6ND_NA)
    assert sent == good


def test_unsolicited_na():
    f = F.unsolicited_na(MAC, F.ip_bytes(VIP6))
    p = Ether(f)
    assert p.dst == "33:33:00:00:00:01" and p[IPv6].dst == "ff02::1" and p[IPv6].src == VIP6
    na = p[ICMPv6ND_NA]
    assert (na.S, na.O) == (0, 1)
    sent, good = _rebuilt_checksum(f, ICMPv6ND_NA)
    assert sent == good


def test_dad_probe():
    f = F.dad_probe(MAC, F.ip_bytes(VIP6))
    p = Ether(f)
    assert p.dst == "33:33:ff:00:02:40" and p[IPv6].src == "::" and p[IPv6].dst == "ff02::1:ff00:240"
    assert p[IPv6].plen == 24 and p[ICMPv6ND_NS].tgt == VIP6
    assert ICMPv6NDOptSrcLLAddr not in p
    sent, good = _rebuilt_checksum(f, ICMPv6ND_NS)
    assert sent == good


def test_client_ns_builder():
    f = F.neighbor_solicit(F.mac_bytes(CLIENT_MAC), F.ip_bytes(CLIENT6), F.ip_bytes(VIP6))
    p = Ether(f)
    assert p[ICMPv6NDOptSrcLLAddr].lladdr == CLIENT_MAC
    sent, good = _rebuilt_checksum(f, ICMPv6ND_NS)
    assert sent == good


def test_checksum_of_a_valid_message_is_zero():
    f = F.unsolicited_na(MAC, F.ip_bytes(VIP6))
    assert F.icmp6_checksum(f[22:38], f[38:54], f[54:]) == 0


def test_ndp_options_parsing():
    f = F.neighbor_solicit(F.mac_bytes(CLIENT_MAC), F.ip_bytes(CLIENT6), F.ip_bytes(VIP6))
    assert F.ndp_options(f) == {1: F.mac_bytes(CLIENT_MAC)}
    assert F.ndp_options(f[:78] + b"\x01\x00" + f[80:]) is None
    assert F.ndp_options(F.dad_probe(MAC, F.ip_bytes(VIP6))) == {}


def test_every_solicited_node_group_is_in_ff02_1_ff00_0_104():
    net = ipaddress.IPv6Network("ff02::1:ff00:0/104")
    for ip in ("2001:db8::1", "2001:db8:ffff::abcd:ef12", "fe80::1"):
        assert ipaddress.IPv6Address(F.solicited_node(F.ip_bytes(ip))) in net
