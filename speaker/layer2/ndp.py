"""NDP responder decision (IPv6): answer Neighbor Solicitations for a VIP with a Neighbor Advertisement. Pure.

Validation follows RFC 4861 section 7.1.1 (hop limit 255, code 0, length >= 24, checksum, options with
non-zero length, no source link-layer option when the source is unspecified).
"""

from __future__ import annotations

import struct

from speaker.layer2.decision import DropReason, PortTable, Reply
from speaker.layer2.frames import (
    ALL_NODES_MAC,
    ALL_NODES_V6,
    NA_FLAG_OVERRIDE,
    NA_FLAG_SOLICITED,
    NDP_OPT_SLLA,
    UNSPECIFIED_V6,
    icmp6_checksum,
    multicast_mac,
    ndp_options,
    neighbor_advert,
    solicited_node,
)

_ETYPE_IPV6 = b"\x86\xdd"
_VLAN_TYPES = (b"\x81\x00", b"\x88\xa8")
_U16 = struct.Struct("!H")


def handle(frame: bytes, table: PortTable) -> Reply | DropReason:
    """Decide what to do with one frame received on ``table``'s interface. No side effects.

    A solicitation with a unicast source gets a solicited NA (S and O flags) back to the solicitor's
    link-layer address. A DAD solicitation (source ``::``) for an address we announce is defended the way
    the kernel defends its own addresses: an NA to all-nodes (RFC 4862 5.4.3), so the other host gives
    the address up instead of sharing it.
    """
    if len(frame) < 78:
        return DropReason.MALFORMED
    etype = frame[12:14]
    if etype != _ETYPE_IPV6:
        return DropReason.VLAN_TAGGED if etype in _VLAN_TYPES else DropReason.MESSAGE_TYPE
    if frame[20] != 58 or frame[54] != 135:  # next header ICMPv6 (no extension headers), type NS
        return DropReason.MESSAGE_TYPE
    if frame[21] != 255:
        return DropReason.HOP_LIMIT
    plen = _U16.unpack_from(frame, 18)[0]
    if frame[55] != 0 or plen < 24 or 54 + plen > len(frame):
        return DropReason.MALFORMED
    target = frame[62:78]
    ip = table.v6.get(target)
    if ip is None:
        return DropReason.NOT_MATCH_INTERFACE if target in table.elsewhere else DropReason.ANNOUNCE_IP
    mac = table.mac
    if frame[6:12] == mac:
        return DropReason.FROM_US
    src = frame[22:38]
    dst = frame[38:54]
    if src[0] == 0xFF:
        return DropReason.MALFORMED
    eth_dst = frame[0:6]
    if dst == target:
        if eth_dst != mac:
            return DropReason.ETHERNET_DESTINATION
        multicast = False
    elif dst == solicited_node(target):
        if eth_dst != multicast_mac(dst):
            return DropReason.ETHERNET_DESTINATION
        multicast = True
    else:
        return DropReason.IP_DESTINATION
    if icmp6_checksum(src, dst, frame[54 : 54 + plen]) != 0:
        return DropReason.CHECKSUM
    opts = ndp_options(frame)
    if opts is None:
        return DropReason.MALFORMED
    slla = opts.get(NDP_OPT_SLLA)
    if src == UNSPECIFIED_V6:
        if slla is not None or not multicast:
            return DropReason.MALFORMED
        return Reply(neighbor_advert(mac, target, ALL_NODES_MAC, ALL_NODES_V6, NA_FLAG_OVERRIDE), ip)
    if slla is not None and len(slla) >= 6:
        to_mac = slla[:6]
    elif multicast:
        return DropReason.NO_SOURCE_LL
    else:
        to_mac = frame[6:12]
    return Reply(neighbor_advert(mac, target, to_mac, src, NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE), ip)
