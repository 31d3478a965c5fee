"""A native BGP speaker: the codec (``message``, ``attribute``, ``capability``), the pure session state machine
(``fsm``), what to advertise (``rib``), and the asyncio sessions (``session``, ``speaker``).

The daemon uses :class:`BGPSpeaker` and :class:`Route` (and :func:`routes_for` to turn an address and its
BGPAdvertisements into routes).

The names below are loaded on first use (PEP 562), not on import: importing a pure submodule such as
``speaker.bgp.rib`` or ``speaker.bgp.fsm`` runs this file first, and it must not drag the asyncio sessions and
prometheus_client in with it (the import contracts in ``.importlinter`` hold the pure modules to that).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from speaker.bgp.errors import Notification
    from speaker.bgp.rib import Route, routes_for
    from speaker.bgp.session import SessionStatus
    from speaker.bgp.speaker import BGPSpeaker

_HOMES = {
    "BGPSpeaker": "speaker.bgp.speaker",
    "Notification": "speaker.bgp.errors",
    "Route": "speaker.bgp.rib",
    "SessionStatus": "speaker.bgp.session",
    "routes_for": "speaker.bgp.rib",
}

__all__ = ["BGPSpeaker", "Notification", "Route", "SessionStatus", "routes_for"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value
