"""Ethernet / ARP / IPv6 Neighbor Discovery frames, encoded and decoded with slicing and ``struct``.

This is the per-packet path: no scapy here (scapy costs ~0.6 ms per packet, LAB-NOTES). Addresses are
``bytes`` (6 for a MAC, 4 for IPv4, 16 for IPv6) so that table lookups and frame building are plain
slicing and concatenation. The tests check every builder against scapy's dissection.

Offsets (untagged Ethernet II, which is all a packet socket hands us: the kernel strips an offloaded VLAN
tag into metadata, and the BPF filter rejects frames that had one):

    ARP   14 htype(2) ptype(2) hlen(1) plen(1) op(2) sha(6)@22 spa(4)@28 tha(6)@32 tpa(4)@38   -> 42 bytes
    IPv6  14 ver/tc/flow(4) plen(2)@18 nh(1)@20 hlim(1)@21 src(16)@22 dst(16)@38
    ICMPv6 54 type(1) code(1)@55 csum(2)@56 reserved/flags(4)@58 target(16)@62 options@78
"""

from __future__ import annotations

import ipaddress
import struct

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8

BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ZERO_V4 = b"\x00" * 4
UNSPECIFIED_V6 = b"\x00" * 16
ALL_NODES_V6 = ipaddress.IPv6Address("ff02::1").packed
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"

ARP_REQUEST = 1
ARP_REPLY = 2
ICMP6_NS = 135
ICMP6_NA = 136
NDP_OPT_SLLA = 1
NDP_OPT_TLLA = 2
NA_FLAG_ROUTER = 0x80
NA_FLAG_SOLICITED = 0x40
NA_FLAG_OVERRIDE = 0x20

_ETYPE_ARP = b"\x08\x06"
_ETYPE_IPV6 = b"\x86\xdd"
# htype=Ethernet, ptype=IPv4, hlen=6, plen=4
_ARP_FIXED = b"\x00\x01\x08\x00\x06\x04"
_ARP_REQ_HDR = _ETYPE_ARP + _ARP_FIXED + b"\x00\x01"
_ARP_REP_HDR = _ETYPE_ARP + _ARP_FIXED + b"\x00\x02"
# IPv6 header for a 32-byte ICMPv6 payload (NA with a TLLA option): version 6, len 32, nh 58, hop limit 255
_IP6_HDR_32 = b"\x60\x00\x00\x00\x00\x20\x3a\xff"
# ... and for a 24-byte payload (NS without options: DAD probe)
_IP6_HDR_24 = b"\x60\x00\x00\x00\x00\x18\x3a\xff"
_SOLICITED_PREFIX = ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13]

_U16 = struct.Struct("!H")


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ip_bytes(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    return ipaddress.ip_address(ip).packed


def ip_str(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


# --- IPv6 helpers --------------------------------------------------------------------------------------
def solicited_node(ip6: bytes) -> bytes:
    """ff02::1:ffXX:XXXX for an IPv6 address (16 bytes in, 16 out)."""
    return _SOLICITED_PREFIX + ip6[13:]


def multicast_mac(ip6: bytes) -> bytes:
    """33:33 + the low 32 bits of an IPv6 multicast address (RFC 2464)."""
    return b"\x33\x33" + ip6[12:]


def solicited_node_mac(ip6: bytes) -> bytes:
    return b"\x33\x33\xff" + ip6[13:]


def icmp6_checksum(src: bytes, dst: bytes, payload: bytes) -> int:
    """RFC 4443 section 2.3: one's complement sum over the pseudo-header and the message."""
    data = src + dst + payload
    if len(data) & 1:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data)) + len(payload) + 58
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# --- ARP builders ---------------------------------------------------------------------------------------
def arp_reply(our_mac: bytes, vip: bytes, to_mac: bytes, to_ip: bytes) -> bytes:
    """Answer "who has vip" from (to_mac, to_ip): unicast back to the requester."""
    return to_mac + our_mac + _ARP_REP_HDR + our_mac + vip + to_mac + to_ip


def garp_request(our_mac: bytes, vip: bytes) -> bytes:
    """Gratuitous ARP request (RFC 5227 announcement): sender IP = target IP, broadcast."""
    return BROADCAST + our_mac + _ARP_REQ_HDR + our_mac + vip + ZERO_MAC + vip


def garp_reply(our_mac: bytes, vip: bytes) -> bytes:
    """Gratuitous ARP reply with target MAC = sender MAC: Linux updates its entry even within locktime
    (LAB-NOTES; a reply with a broadcast target MAC is ignored for 1 s after the entry's last update)."""
    return BROADCAST + our_mac + _ARP_REP_HDR + our_mac + vip + our_mac + vip


def arp_probe(our_mac: bytes, ip: bytes) -> bytes:
    """RFC 5227 probe: sender IP 0.0.0.0, target hardware address zero, broadcast."""
    return BROADCAST + our_mac + _ARP_REQ_HDR + our_mac + ZERO_V4 + ZERO_MAC + ip


def arp_request(our_mac: bytes, our_ip: bytes, ip: bytes) -> bytes:
    """An ordinary "who has ip, tell our_ip" (used by tests and the bench as a client)."""
    return BROADCAST + our_mac + _ARP_REQ_HDR + our_mac + our_ip + ZERO_MAC + ip


# --- NDP builders ---------------------------------------------------------------------------------------
def neighbor_advert(our_mac: bytes, target: bytes, dst_mac: bytes, dst_ip: bytes, flags: int) -> bytes:
    """NA for ``target`` from ``target`` (a VIP is the node's address as far as the LAN knows), with a
    target link-layer address option carrying ``our_mac``."""
    body = bytes((ICMP6_NA, 0, 0, 0, flags, 0, 0, 0)) + target + bytes((NDP_OPT_TLLA, 1)) + our_mac
    csum = icmp6_checksum(target, dst_ip, body)
    return dst_mac + our_mac + _ETYPE_IPV6 + _IP6_HDR_32 + target + dst_ip + body[:2] + _U16.pack(csum) + body[4:]


def unsolicited_na(our_mac: bytes, target: bytes) -> bytes:
    """RFC 4861 7.2.6 unsolicited NA to all-nodes with the Override flag: neighbours replace the entry."""
    return neighbor_advert(our_mac, target, ALL_NODES_MAC, ALL_NODES_V6, NA_FLAG_OVERRIDE)


def dad_probe(our_mac: bytes, target: bytes) -> bytes:
    """RFC 4862 DAD NS: source ::, to the target's solicited-node group, no source link-layer option."""
    dst = solicited_node(target)
    body = bytes((ICMP6_NS, 0, 0, 0, 0, 0, 0, 0)) + target
    csum = icmp6_checksum(UNSPECIFIED_V6, dst, body)
    return (
        solicited_node_mac(target)
        + our_mac
        + _ETYPE_IPV6
        + _IP6_HDR_24
        + UNSPECIFIED_V6
        + dst
        + body[:2]
        + _U16.pack(csum)
        + body[4:]
    )


def neighbor_solicit(our_mac: bytes, our_ip: bytes, target: bytes) -> bytes:
    """An ordinary multicast NS with a source link-layer option (tests and the bench act as clients)."""
    dst = solicited_node(target)
    body = bytes((ICMP6_NS, 0, 0, 0, 0, 0, 0, 0)) + target + bytes((NDP_OPT_SLLA, 1)) + our_mac
    csum = icmp6_checksum(our_ip, dst, body)
    return (
        solicited_node_mac(target)
        + our_mac
        + _ETYPE_IPV6
        + _IP6_HDR_32
        + our_ip
        + dst
        + body[:2]
        + _U16.pack(csum)
        + body[4:]
    )


# --- decoders -------------------------------------------------------------------------------------------
def ndp_options(frame: bytes, start: int = 78) -> dict[int, bytes] | None:
    """NDP options after the fixed part; None if any option has length 0 or overruns (RFC 4861 7.1.1)."""
    out: dict[int, bytes] = {}
    end = 54 + _U16.unpack_from(frame, 18)[0]
    end = min(end, len(frame))
    i = start
    while i + 2 <= end:
        otype, olen = frame[i], frame[i + 1] * 8
        if olen == 0 or i + olen > end:
            return None
        out.setdefault(otype, frame[i + 2 : i + olen])
        i += olen
    return out
