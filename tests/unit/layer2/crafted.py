"""Crafted frames for the layer 2 tests (scapy builds the inputs; the code under test never imports scapy)."""

from __future__ import annotations

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from speaker.layer2.decision import PortTable
from speaker.layer2.frames import ip_bytes, mac_bytes

OUR_MAC = "02:00:00:00:00:01"
CLIENT_MAC = "02:00:00:00:00:99"
OTHER_MAC = "02:00:00:00:00:42"
VIP4 = "198.51.100.240"
VIP6 = "2001:db8:100::240"
CLIENT4 = "198.51.100.20"
CLIENT6 = "2001:db8:100::20"


def make_table() -> PortTable:
    return PortTable(
        "eth0",
        mac_bytes(OUR_MAC),
        {ip_bytes(VIP4): VIP4},
        {ip_bytes(VIP6): VIP6},
        elsewhere=frozenset(
            {ip_bytes("198.51.100.241"), ip_bytes("2001:db8:100::241"), ip_bytes(VIP4), ip_bytes(VIP6)}
        ),
    )


def arp_req(
    target: str = VIP4,
    *,
    src_mac: str = CLIENT_MAC,
    sender: str = CLIENT4,
    dst: str = "ff:ff:ff:ff:ff:ff",
    op: int = 1,
    vlan: int | None = None,
) -> bytes:
    l2 = Ether(src=src_mac, dst=dst)
    if vlan is not None:
        l2 = l2 / Dot1Q(vlan=vlan)
    return bytes(l2 / ARP(op=op, hwsrc=src_mac, psrc=sender, hwdst="00:00:00:00:00:00", pdst=target))


def solicited(ip: str) -> str:
    import ipaddress

    raw = ipaddress.IPv6Address(ip).packed
    return str(ipaddress.IPv6Address(bytes.fromhex("ff0200000000000000000001ff") + raw[13:]))


def ns(
    target: str = VIP6,
    *,
    src: str = CLIENT6,
    dst: str | None = None,
    src_mac: str = CLIENT_MAC,
    eth_dst: str | None = None,
    hlim: int = 255,
    slla: str | None = CLIENT_MAC,
    code: int = 0,
    vlan: int | None = None,
) -> bytes:
    dst = dst or solicited(target)
    if eth_dst is None:
        import ipaddress

        eth_dst = "33:33:" + ":".join(f"{b:02x}" for b in ipaddress.IPv6Address(dst).packed[12:])
    l2 = Ether(src=src_mac, dst=eth_dst)
    if vlan is not None:
        l2 = l2 / Dot1Q(vlan=vlan)
    pkt = l2 / IPv6(src=src, dst=dst, hlim=hlim) / ICMPv6ND_NS(tgt=target, code=code)
    if slla:
        pkt = pkt / ICMPv6NDOptSrcLLAddr(lladdr=slla)
    return bytes(pkt)


__all__ = ["ARP", "Ether", "IPv6", "ICMPv6ND_NA", "ICMPv6ND_NS", "ICMPv6NDOptDstLLAddr"]
