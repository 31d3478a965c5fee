"""A native BGP speaker: the codec (``message``, ``attribute``, ``capability``), the pure session state machine
(``fsm``), what to advertise (``rib``), and the asyncio sessions (``session``, ``speaker``).

The daemon uses :class:`BGPSpeaker` and :class:`Route` (and :func:`routes_for` to turn an address and its
BGPAdvertisements into routes).
"""

from speaker.bgp.errors import Notification
from speaker.bgp.rib import Route, routes_for
from speaker.bgp.session import SessionStatus
from speaker.bgp.speaker import BGPSpeaker

__all__ = ["BGPSpeaker", "Notification", "Route", "SessionStatus", "routes_for"]
