"""The loop shared by the announcing controllers: mark dirty on a relevant change, recompute, repeat.

Level-triggered: a burst of notifications costs one recomputation, and a failed one keeps what was announced
and tries again on the next change.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Signal(enum.Enum):
    """What the daemon tells a controller besides "this object changed": kept off the kind channel, so no
    kind name can ever be mistaken for one (they were the strings "__synced__", "__leader__", "__stop__")."""

    SYNCED = "synced"  # every cache has listed once: decisions may start
    LEADER = "leader"  # this speaker took or lost the allocator lease (the allocation controller only)
    STOP = "stop"  # wake the loop so it sees it is stopped


class Reconciler:
    relevant: frozenset[str] = frozenset()
    name = "reconciler"

    def __init__(self, *, synced: Callable[[], bool], wake: threading.Event | None = None) -> None:
        self._synced = synced
        # ``wake``: given when a part built before this controller must poke it (the membership view, the Lease
        # view); it sets the event, which is all :meth:`poke` does.
        self._dirty = wake if wake is not None else threading.Event()
        self._stopped = threading.Event()
        self._frozen = False
        self.generation = 0

    def notify(self, kind: str, change: Any, key: str) -> None:
        if kind in self.relevant:
            self._dirty.set()

    def signal(self, signal: Signal) -> None:
        if signal is Signal.SYNCED:  # passes before it were dropped: recompute now
            self._dirty.set()

    def poke(self, *_: Any) -> None:
        """Something outside the API changed (membership view, fencing): recompute."""
        self._dirty.set()

    def freeze(self) -> None:
        """Stop changing what we announce (shutdown: keep answering through a grace period)."""
        self._frozen = True

    def stop(self) -> None:
        self._stopped.set()
        self._dirty.set()

    def run(self) -> None:
        while not self._stopped.is_set():
            dirty = self._dirty.wait(1.0)
            if self._stopped.is_set():
                break
            if dirty:
                self._dirty.clear()  # before syncing completes this is dropped; Signal.SYNCED marks dirty again
            if not self._synced() or self._frozen:
                continue
            try:
                if dirty:
                    self.recompute()
                    self.generation += 1
                self.tick()
            except Exception:
                log.exception("%s: could not recompute; keeping the current announcements", self.name)

    def recompute(self) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """After every pass and at least once a second (e.g. to notice state that changes outside the API)."""
