"""ARP responder decision (IPv4): answer "who has VIP" with this interface's MAC. Pure."""

from __future__ import annotations

from speaker.layer2.decision import DropReason, PortTable, Reply
from speaker.layer2.frames import BROADCAST, arp_reply

_ETYPE_ARP = b"\x08\x06"
_VLAN_TYPES = (b"\x81\x00", b"\x88\xa8")
_ARP_FIXED = b"\x00\x01\x08\x00\x06\x04"
_OP_REQUEST = b"\x00\x01"
_OP_REPLY = b"\x00\x02"


def handle(frame: bytes, table: PortTable) -> Reply | DropReason:
    """Decide what to do with one frame received on ``table``'s interface. No side effects.

    Answers requests (broadcast, or unicast to us: Linux re-validates a STALE entry by unicast) for an
    address announced on this interface, and RFC 5227 probes for it (sender IP 0.0.0.0: telling a
    probing host "taken" is what keeps DHCP clients off the VIP). Never answers gratuitous ARPs.
    """
    if len(frame) < 42:
        return DropReason.MALFORMED
    etype = frame[12:14]
    if etype != _ETYPE_ARP:
        return DropReason.VLAN_TAGGED if etype in _VLAN_TYPES else DropReason.MESSAGE_TYPE
    if frame[14:20] != _ARP_FIXED:
        return DropReason.MALFORMED
    op = frame[20:22]
    if op != _OP_REQUEST:
        return DropReason.ARP_REPLY if op == _OP_REPLY else DropReason.MESSAGE_TYPE
    dst = frame[0:6]
    mac = table.mac
    if dst != BROADCAST and dst != mac:
        return DropReason.ETHERNET_DESTINATION
    sha = frame[22:28]
    if sha == mac or frame[6:12] == mac:
        return DropReason.FROM_US
    tpa = frame[38:42]
    ip = table.v4.get(tpa)
    if ip is None:
        return DropReason.NOT_MATCH_INTERFACE if tpa in table.elsewhere else DropReason.ANNOUNCE_IP
    spa = frame[28:32]
    if spa == tpa:
        return DropReason.GRATUITOUS
    if sha[0] & 1:  # a multicast/broadcast sender hardware address is not a host
        return DropReason.MALFORMED
    return Reply(arp_reply(mac, tpa, sha, spa), ip)
