"""Gratuitous announcements on takeover: what to send, and when. Pure.

IPv4 sends two frames per address and interface — a gratuitous ARP *request* (sender IP = target IP) and a
gratuitous ARP *reply* whose target MAC is our own MAC. LAB-NOTES measured that both make a Linux client
replace an existing entry at once, in any state and even within ``locktime``, while a reply with a broadcast
target MAC is ignored for 1 s after the entry's last update; other stacks honour one or the other, so both go.
IPv6 sends one unsolicited Neighbor Advertisement to all-nodes with the Override flag (RFC 4861 7.2.6).

No client *creates* an entry from these (arp_accept=0): they only correct clients that already talk to the
VIP — exactly the ones a takeover must move.

The burst (``DEFAULT_BURST``) repeats the announcement shortly after the first, for frames lost while a
switch relearns the port or a client was busy; RFC 5227 section 2.3 asks for two announcements 2 s apart,
which is too slow for failover, so the repeats are front-loaded.
"""

from __future__ import annotations

from speaker.layer2.frames import garp_reply, garp_request, unsolicited_na

#: seconds after taking over at which the announcement is (re)sent
DEFAULT_BURST: tuple[float, ...] = (0.0, 0.05, 0.25, 1.0)


def announcement_frames(mac: bytes, ip: bytes) -> tuple[bytes, ...]:
    """The frames that tell the LAN ``ip`` is now at ``mac`` (packed addresses)."""
    if len(ip) == 4:
        return (garp_request(mac, ip), garp_reply(mac, ip))
    return (unsolicited_na(mac, ip),)


def burst_times(start: float, schedule: tuple[float, ...] = DEFAULT_BURST) -> list[float]:
    return [start + d for d in schedule]
