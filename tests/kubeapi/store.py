"""The object store and its event log: one global resourceVersion, like etcd's revision.

Every write bumps the version by one and appends exactly one event, so event ``n`` has
resourceVersion ``n`` and "everything after version N" is a slice of a list. Objects are
kept as plain dicts *and* as their JSON encoding: a stored dict is never mutated after it
is committed (writers build a new one), so readers and watchers can share it and GET/LIST
and watch streams reuse the bytes instead of re-encoding per request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]  # (group, plural)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Entry:
    """A committed object: the dict (treat as frozen) and its JSON bytes."""

    __slots__ = ("obj", "raw")

    def __init__(self, obj: dict[str, Any], raw: bytes) -> None:
        self.obj = obj
        self.raw = raw


@dataclass(slots=True, frozen=True)
class Event:
    rv: int
    type: str
    key: Key
    namespace: str
    entry: Entry
    old: dict[str, Any] | None  # the previous state, for label-selector transitions


class Store:
    """Objects by ``(group, plural) → namespace → name`` plus a bounded event log.

    ``lock`` guards everything. Watch streams sleep on the condition of their resource (``cond_for``, all on
    the same lock), notified by each commit of that resource; ``wake_all`` wakes every stream (close, pause,
    fault injection). One condition per resource, as kube-apiserver keeps one ``Cacher`` per resource
    (staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go, made per resource by ``StorageWithCacher``) whose
    ``dispatchEvents`` hands an event to that resource's watchers only. With one condition for all, every Service
    write woke the speaker's ~14 other watches, and ``notify_all`` was a fifth of the emulator's CPU in
    bench/allocate_services.py (issue 10) — a cost the real server does not have.
    """

    def __init__(self, history: int = 100_000) -> None:
        self.lock = threading.RLock()
        self._conds: dict[Key, threading.Condition] = {}
        self.rv = 0
        self.history = max(1, history)
        self._objects: dict[Key, dict[str, dict[str, Entry]]] = {}
        self._log: list[Event] = []
        self._log_start = 1  # resourceVersion of _log[0] (or of the next event if empty)
        self._min_resume = 0  # oldest version a watch may resume from
        self.closed = False
        self.watch_epoch = 0  # bumped to make every open watch end (fault injection)

    def cond_for(self, key: Key) -> threading.Condition:
        """The condition notified on each commit of resource ``key`` (and by ``wake_all``)."""
        with self.lock:
            cond = self._conds.get(key)
            if cond is None:
                cond = self._conds[key] = threading.Condition(self.lock)
            return cond

    def wake_all(self) -> None:
        with self.lock:
            for cond in self._conds.values():
                cond.notify_all()

    # -- reads (callers hold no lock: dict reads of committed entries are atomic) --
    def get(self, key: Key, namespace: str, name: str) -> Entry | None:
        return self._objects.get(key, {}).get(namespace, {}).get(name)

    def iter(self, key: Key, namespace: str | None) -> Iterator[Entry]:
        """Entries of one resource, in one namespace or (``None``) all of them."""
        with self.lock:
            by_ns = self._objects.get(key, {})
            if namespace is not None:
                entries = list(by_ns.get(namespace, {}).values())
            else:
                entries = [e for objs in by_ns.values() for e in objs.values()]
        return iter(entries)

    def count(self, key: Key) -> int:
        return sum(len(v) for v in self._objects.get(key, {}).values())

    # -- writes (caller holds self.lock) --
    def commit(
        self, key: Key, namespace: str, name: str, type_: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> Entry:
        """Assign the next resourceVersion, store (or remove) the object, log the event."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        entry = Entry(obj, dumps(obj))
        objs = self._objects.setdefault(key, {}).setdefault(namespace, {})
        if type_ == DELETED:
            objs.pop(name, None)
        else:
            objs[name] = entry
        self._log.append(Event(self.rv, type_, key, namespace, entry, old))
        if len(self._log) > self.history + self.history // 8:
            drop = len(self._log) - self.history
            del self._log[:drop]
            self._log_start = self._log[0].rv
            self._min_resume = self._log_start - 1
        cond = self._conds.get(key)
        if cond is not None:
            cond.notify_all()
        return entry

    def drop_resource(self, key: Key) -> None:
        self._objects.pop(key, None)

    # -- the log --
    def events_after(self, rv: int) -> list[Event] | None:
        """Events with resourceVersion > ``rv``; ``None`` if some were compacted away."""
        if rv < self._min_resume:
            return None
        return self._log[max(0, rv + 1 - self._log_start) :]

    @property
    def oldest(self) -> int:
        """The oldest resourceVersion a watch can still resume from."""
        return self._min_resume

    def compact(self, *, including_current: bool = False) -> None:
        """Forget all history: resuming a watch from any earlier version gets 410.

        A watch resumed from the *current* version still works (nothing was missed), as
        with etcd; ``including_current=True`` expires that one too, for tests that must see
        a 410 without writing first.
        """
        with self.lock:
            self._log.clear()
            self._log_start = self.rv + 1
            self._min_resume = self.rv + (1 if including_current else 0)
