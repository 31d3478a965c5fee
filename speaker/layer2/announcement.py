"""``Announcement``: one address this node answers ARP/NDP for, as a value.

It lives apart from the ``Announcer`` (threads, sockets, pyroute2) so the pure Layer 2 plan
(``speaker.plan.announce``) can return it in an ``Announce`` action and the announcer take it as it is: one type
from the decision to the loop, no conversion between a plan's copy and the I/O side's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Announcement:
    """One address this node should announce."""

    service: str  # "namespace/name" (metrics label, status)
    interfaces: frozenset[str] | None = None  # L2Advertisement.interfaces; None: the VIP's subnet
    probe: bool = True  # look for another holder first: only for an address nobody can
    # be announcing yet (False for a takeover: the previous owner may
    # still answer)
