"""What the per-packet decisions share: the drop reasons, the reply, and the per-interface table they read.

``arp.handle`` and ``ndp.handle`` have one shape — ``handle(frame, table) -> Reply | DropReason`` — and are
pure: no sockets, no clock, no metrics. The responder loop reads a frame, calls ``handle``, writes the reply.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Mapping
from typing import NamedTuple


class DropReason(enum.Enum):
    """Why a frame got no answer (MetalLB's ``dropReason``, plus the RFC 4861 validity checks)."""

    MALFORMED = "malformed"  # too short, bad fixed fields, bad options (MetalLB: Error)
    MESSAGE_TYPE = "message-type"  # not an ARP request / not a Neighbor Solicitation
    ARP_REPLY = "arp-reply"  # an ARP reply: nothing to answer
    VLAN_TAGGED = "vlan-tagged"  # belongs to a VLAN interface, not this one
    ETHERNET_DESTINATION = "ethernet-destination"  # unicast to another MAC, or a multicast MAC not matching
    IP_DESTINATION = "ip-destination"  # NS to neither the solicited-node group nor the target
    FROM_US = "from-us"  # our own frame (looped back)
    ANNOUNCE_IP = "announce-ip"  # target is not an address we announce at all
    NOT_MATCH_INTERFACE = "not-match-interface"  # we announce it, but not on this interface
    GRATUITOUS = "gratuitous"  # someone else's gratuitous ARP for the address
    HOP_LIMIT = "hop-limit"  # NS with IPv6 hop limit != 255 (RFC 4861 7.1.1)
    CHECKSUM = "checksum"  # ICMPv6 checksum wrong
    NO_SOURCE_LL = "no-source-ll"  # multicast NS without a source link-layer option


class Reply(NamedTuple):
    frame: bytes
    ip: str  # the announced address, for metrics


class PortTable:
    """One interface as the decisions see it: our MAC and the addresses announced *on this interface*.

    ``v4`` / ``v6`` map packed addresses to their text form. The owner replaces whole dicts (never mutates
    them in place) so that the loop thread always reads a consistent table. ``elsewhere`` holds addresses
    announced on other interfaces only (to tell NOT_MATCH_INTERFACE from ANNOUNCE_IP).
    """

    __slots__ = ("name", "mac", "v4", "v6", "elsewhere")

    def __init__(
        self,
        name: str,
        mac: bytes,
        v4: Mapping[bytes, str] | None = None,
        v6: Mapping[bytes, str] | None = None,
        elsewhere: Container[bytes] = frozenset(),
    ) -> None:
        self.name = name
        self.mac = mac
        self.v4: Mapping[bytes, str] = v4 or {}
        self.v6: Mapping[bytes, str] = v6 or {}
        self.elsewhere: Container[bytes] = elsewhere

    def __repr__(self) -> str:
        return f"PortTable({self.name}, v4={sorted(self.v4.values())}, v6={sorted(self.v6.values())})"
