"""What the controllers' decisions ask for, as values. Pure.

A decision returns a tuple of these; an executor in the controller performs each with one effect (a status write
handed to an applier, an Event handed to the recorder, a counter). Tests compare them as plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from speaker.events import Event
from speaker.ipam.service import ServiceStatus
from speaker.layer2.announcement import Announcement


@dataclass(frozen=True)
class WriteStatus:
    """Make the Service show ``status`` (an empty one takes its addresses back)."""

    key: str
    status: ServiceStatus


@dataclass(frozen=True)
class ForgetStatus:
    """Drop any pending wish for the Service: it is gone, or not ours to write."""

    key: str


@dataclass(frozen=True)
class Say:
    """Emit ``event`` about ``subject`` — once: not again while the last message for that subject and reason is
    the same (a reconcile sees the same problem again and again)."""

    subject: str
    event: Event


@dataclass(frozen=True)
class Unsay:
    """Forget what was said about ``subject`` (for ``reason`` only, or everything): a recurrence is news again."""

    subject: str
    reason: str | None = None


@dataclass(frozen=True)
class CountFailure:
    """An allocation failed (the ``allocation_failures`` counter)."""


@dataclass(frozen=True)
class Emit:
    """Emit ``event`` (the decision has already made sure it is news)."""

    event: Event


@dataclass(frozen=True)
class Announce:
    """Answer for exactly these addresses (declarative: every other address is withdrawn)."""

    addresses: Mapping[str, Announcement]  # the announcer's own value: handed over as it is


@dataclass(frozen=True)
class HandOver:
    """Before announcing addresses taken over from other nodes (VIP → the node that announced it until now): keep
    their connections in flight going to them (``speaker.layer2.handover``)."""

    taken: Mapping[str, str]


#: What the allocation decisions ask for, and what the Layer 2 decisions ask for: each controller's executor
#: matches its own union exhaustively (``assert_never``), so mypy names an action kind a controller cannot perform.
AllocationAction = WriteStatus | ForgetStatus | Say | Unsay | CountFailure
Layer2Action = Emit | Announce | HandOver
Action = AllocationAction | Layer2Action
