"""The one place that turns list/watch streams into cache events.

Three layers, as kopf does it:

* ``Informer.run`` — a forever loop: errors are logged, retried with capped, jittered
  backoff, and the cache is kept (the speaker goes on with its last state while the API is away);
* ``_list_then_watch`` — list, reconcile the cache against it (synthetic ADDED/MODIFIED/DELETED,
  so a relist after a gap is just another diff), mark "synced", then watch from the list's
  resourceVersion, following bookmarks; a 410 Gone ends it so the loop relists;
* ``_stream`` — the raw chunked stream from the official client, decoded line by line.

Consumers never see raw watch types: they get ``(kind, key)`` notifications and read objects
from the cache (the client-go lister pattern), so a burst of changes to one object costs one
reconcile. Cached objects are plain API dicts, decoded compactly (:func:`decode`): the cache of
10,000 Services was the largest part of the speaker's memory.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError

from speaker.kube.client import REQUEST_TIMEOUT

log = logging.getLogger(__name__)


class Change(enum.Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class ResourceKind:
    """How to list/watch one resource with the official client.

    ``lister(api_client)`` returns a bound list function that accepts the generated client's
    ``watch``/``resource_version``/``timeout_seconds`` keywords and returns the unread response:
    ``speaker.kube.client.lister(path)`` for what the speaker watches, or a generated method
    (``CoordinationV1Api(...).list_namespaced_lease``).
    """

    name: str
    lister: Callable[[client.ApiClient], Callable[..., Any]]
    #: A kind whose CRD may not be installed (404): then an empty, synced cache, listed again every backoff
    #: maximum, instead of a speaker that never syncs. For kinds read only to refuse their use (BFDProfile).
    optional: bool = False


#: Strings worth sharing between cached objects: field names and short values ("LoadBalancer", "TCP", a
#: namespace). A plain dict rather than ``sys.intern``: on Python 3.12 interned strings are never freed, and
#: short unique values (resourceVersions) would pile up; this one is emptied when it grows past its bound.
_SHARED: dict[str, str] = {}
_SHARED_MAX = 100_000
_SHORT = 16


def _shared_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The decoder's object hook: each JSON object, with its names and short strings (also in lists) shared."""
    share = _SHARED.setdefault
    out = {}
    for key, value in pairs:
        kind = type(value)
        if kind is str:
            if len(value) <= _SHORT:
                value = share(value, value)
        elif kind is list:
            value = [share(v, v) if type(v) is str and len(v) <= _SHORT else v for v in value]
        out[share(key, key)] = value
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_shared_pairs)


def decode(data: bytes | str) -> Any:
    """``json.loads`` for what goes into a cache: one copy of each field name and short string, shared.

    ``json.loads`` gives every object its own copy of every key: a Service held ~5.4 KB, about half of it the
    strings "apiVersion", "metadata", "LoadBalancer", ... again. Sharing them while decoding (rather than
    copying afterwards) costs ~6 µs per Service and never holds both forms at once.
    """
    if len(_SHARED) > _SHARED_MAX:
        _SHARED.clear()
    return _DECODER.decode(data.decode() if isinstance(data, (bytes, bytearray)) else data)


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop ``metadata.managedFields``: never read by the speaker (client-go informers strip it with a transform
    for the same reason), and on a real cluster often the largest part of an object."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


class Expired(Exception):
    """The server no longer has the history we asked to resume from (HTTP 410): relist."""


Sink = Callable[[str, Change, str], None]


class Informer:
    """A cache of one resource kind kept current by list+watch; never starts threads by itself."""

    def __init__(
        self,
        kind: ResourceKind,
        api: client.ApiClient,
        *,
        sink: Sink,
        on_synced: Callable[[str], None] = lambda name: None,
        watch_timeout: tuple[int, int] = (240, 360),
        backoff: tuple[float, float] = (0.2, 30.0),
        sleep: Callable[[float], bool] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.kind = kind
        self._on_error = on_error
        self._list = kind.lister(api)
        self._sink = sink
        self._on_synced = on_synced
        self._watch_timeout = watch_timeout
        self._backoff = backoff
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}
        self._stopped = threading.Event()
        self._sleep = sleep or self._stopped.wait
        self._response: Any = None
        self.synced = False
        self.resource_version: str | None = None
        self.healthy = False  # False while the API cannot be reached (metrics: config stale)
        self.last_error: str | None = None  # why the last list/watch failed ("HTTP 403 Forbidden"); None once it works

    # --- the cache, read by consumers from any thread -------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._cache.get(key)

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._cache.values())

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._cache)

    # --- layer 1: forever ----------------------------------------------------------------------------
    def run(self) -> None:
        delay = self._backoff[0]
        while not self._stopped.is_set():
            try:
                self._list_then_watch()
                delay = self._backoff[0]
            except Expired:
                log.info("%s: watch history expired, relisting", self.kind.name)
                delay = self._backoff[0]
            except ApiException as exc:
                if exc.status == 404 and self.kind.optional and not self._stopped.is_set():
                    self._not_served()
                    self._sleep(self._backoff[1])
                    continue
                delay = self._failed(exc, delay)
            except (HTTPError, OSError, ValueError) as exc:
                delay = self._failed(exc, delay)

    def _not_served(self) -> None:
        """An optional kind the API does not serve (its CRD is not installed): nothing of it exists."""
        if not self.synced or self.last_error != "not served":
            log.info(
                "%s: not served by the API (no CRD?): taken as none, looked for again every %gs",
                self.kind.name,
                self._backoff[1],
            )
        self._replace([], "")
        self.healthy = True
        self.last_error = "not served"
        if not self.synced:
            self.synced = True
            self._on_synced(self.kind.name)

    def _failed(self, exc: BaseException, delay: float) -> float:
        """Keep the last state, say why, wait (jittered), and return the next delay."""
        if self._stopped.is_set():
            return delay
        self.healthy = False
        self.last_error = _describe(exc)
        if self._on_error is not None:  # the owner reports it (e.g. once, not every retry)
            self._on_error(self.last_error)
        else:
            log.warning(
                "%s: API unavailable (%s); keeping last state, retrying in %.1fs",
                self.kind.name,
                self.last_error,
                delay,
            )
        self._sleep(delay * random.uniform(0.8, 1.2))
        return min(delay * 2, self._backoff[1])

    def stop(self) -> None:
        self._stopped.set()
        resp = self._response
        if resp is not None:
            with contextlib.suppress(Exception):  # best effort wake-up of a blocked read
                resp.shutdown() if hasattr(resp, "shutdown") else resp.close()

    # --- layer 2: list, then watch until the stream ends ---------------------------------------------
    def _list_then_watch(self) -> None:
        self.resource_version = self._relist()
        self.healthy = True
        self.last_error = None
        if not self.synced:
            self.synced = True
            self._on_synced(self.kind.name)
        while not self._stopped.is_set():
            for event in self._stream(self.resource_version):
                etype = event.get("type")
                obj = event.get("object") or {}
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if etype == "BOOKMARK":
                    self.resource_version = rv or self.resource_version
                    continue
                if etype == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired()
                    raise ApiException(status=obj.get("code"), reason=f"{obj.get('reason')}: {obj.get('message')}")
                if etype not in ("ADDED", "MODIFIED", "DELETED"):
                    log.warning("%s: ignoring watch event of type %r", self.kind.name, etype)
                    continue
                self._apply(Change(etype), obj)
                self.resource_version = rv or self.resource_version

    def _relist(self) -> str | None:
        """List, make the cache equal to the listing, and return its resourceVersion.

        A method of its own so that the listing (its response body and its ``items``) is gone when the watch
        starts: held as locals of the watch loop, they kept every listed object alive after the watch replaced
        it, a second copy of each Service updated since the list (all 10,000 after a cold start: ~20 MiB).
        """
        resp = self._list(_preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        try:
            listing = decode(resp.data)
        finally:
            resp.release_conn()
        self._replace(listing.get("items") or [], listing.get("kind", ""))
        rv: str | None = (listing.get("metadata") or {}).get("resourceVersion")
        return rv

    def _replace(self, items: list[dict[str, Any]], list_kind: str) -> None:
        """Make the cache equal to a fresh listing, announcing only what differs."""
        item_kind = list_kind[:-4] if list_kind.endswith("List") else ""
        fresh = {}
        for obj in items:
            _slim(obj)
            if item_kind and "kind" not in obj:
                obj["kind"] = item_kind  # lists omit per-item kind; watches include it
            fresh[object_key(obj)] = obj
        with self._lock:
            old = self._cache
            self._cache = fresh
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None:
                self._sink(self.kind.name, Change.ADDED, key)
            elif _rv(before) != _rv(obj):
                self._sink(self.kind.name, Change.MODIFIED, key)
        for key in old.keys() - fresh.keys():
            self._sink(self.kind.name, Change.DELETED, key)

    def _apply(self, change: Change, obj: dict[str, Any]) -> None:
        key = object_key(obj)
        with self._lock:
            if change is Change.DELETED:
                self._cache.pop(key, None)
            else:
                self._cache[key] = _slim(obj)
        self._sink(self.kind.name, change, key)

    # --- layer 3: the raw stream ---------------------------------------------------------------------
    def _stream(self, resource_version: str | None) -> Iterator[dict[str, Any]]:
        timeout = random.randint(*self._watch_timeout)
        resp = self._list(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout,
            _preload_content=False,
            _request_timeout=(REQUEST_TIMEOUT[0], timeout + 30),
        )
        self._response = resp
        try:
            for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]  # untyped in kubernetes
                if self._stopped.is_set():
                    return
                if line:
                    yield decode(line)
        except (ProtocolError, ReadTimeoutError) as exc:
            if not self._stopped.is_set():
                log.info("%s: watch stream ended (%s); resuming", self.kind.name, _describe(exc))
        finally:
            self._response = None
            resp.release_conn()


def _rv(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {str(exc)[:160]}"
