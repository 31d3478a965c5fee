"""The loop shared by the announcing controllers: mark dirty on a relevant change, recompute, repeat.

Level-triggered: a burst of notifications costs one recomputation, and a failed one keeps what was announced
and tries again on the next change.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class Reconciler:
    relevant: frozenset[str] = frozenset()
    name = "reconciler"

    def __init__(self, *, synced: Callable[[], bool]) -> None:
        self._synced = synced
        self._dirty = threading.Event()
        self._stopped = threading.Event()
        self._frozen = False
        self.generation = 0

    def notify(self, kind: str, change: Any, key: str) -> None:
        if kind in self.relevant or kind == "__synced__":
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
                self._dirty.clear()  # before syncing completes this is dropped; "__synced__" marks dirty again
            if not self._synced() or self._frozen:
                continue
            try:
                if dirty:
                    self.recompute()
                    self.generation += 1
                self.tick()
            except Exception:  # noqa: BLE001 - keep announcing what we had; try again on the next change
                log.exception("%s: could not recompute; keeping the current announcements", self.name)

    def recompute(self) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """After every pass and at least once a second (e.g. to notice state that changes outside the API)."""
