"""Layer 2 announcement: ARP (IPv4) and NDP (IPv6) responders, gratuitous announcements, conflict probes.

- ``frames``: packet encode/decode with ``struct`` (the per-packet path); ``decision``: DropReason, Reply.
- ``arp`` / ``ndp``: pure ``handle(frame, table) -> Reply | DropReason`` decisions.
- ``gratuitous`` / ``probe``: what to send on takeover / before first announcing, and what counts as a conflict.
- ``bpf``: the kernel socket filters. ``interfaces``: which interfaces may announce a VIP, link events.
- ``responder``: the event loop and the AF_PACKET sockets. ``announcer``: ``Announcer``, what the daemon drives.
- ``metrics``: MetalLB's layer2 metric names.
"""

from speaker.layer2.announcer import Announcement, Announcer, Layer2Settings
from speaker.layer2.decision import DropReason
from speaker.layer2.probe import ProbeSettings

__all__ = ["Announcement", "Announcer", "DropReason", "Layer2Settings", "ProbeSettings"]
