"""Layer 2 announcement: ARP (IPv4) and NDP (IPv6) responders, gratuitous announcements, conflict probes.

- ``frames``: packet encode/decode with ``struct`` (the per-packet path); ``decision``: DropReason, Reply.
- ``arp`` / ``ndp``: pure ``handle(frame, table) -> Reply | DropReason`` decisions.
- ``gratuitous`` / ``probe``: what to send on takeover / before first announcing, and what counts as a conflict.
- ``bpf``: the kernel socket filters. ``interfaces``: which interfaces may announce a VIP, link events.
- ``responder``: the event loop and the AF_PACKET sockets. ``announcer``: ``Announcer``, what the daemon drives;
  ``announcement``: the pure value it is driven with (one address), which the Layer 2 plan returns.
- ``child``: the responder process (``python -m speaker.layer2.child``, started by the Announcer);
  ``supervisor``: the speaker's side of it (start, restart, table updates); ``protocol``: the pure channel.
- ``metrics``: MetalLB's layer2 metric names. ``handover``: on a planned hand-over, the new owner forwards the
  connections the old one still holds (nftables), so the announcement resets none of them.

The names below are imported on first use, so that the responder process (which imports this package on
its way to ``child``) starts without the Announcer, pyroute2 or prometheus_client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Announcement", "Announcer", "DropReason", "Layer2Settings", "ProbeSettings"]

_WHERE = {
    "Announcement": "announcement",
    "Announcer": "announcer",
    "Layer2Settings": "settings",
    "DropReason": "decision",
    "ProbeSettings": "probe",
}

if TYPE_CHECKING:
    from speaker.layer2.announcement import Announcement
    from speaker.layer2.announcer import Announcer
    from speaker.layer2.decision import DropReason
    from speaker.layer2.probe import ProbeSettings
    from speaker.layer2.settings import Layer2Settings


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'speaker.layer2' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"speaker.layer2.{module}"), name)
