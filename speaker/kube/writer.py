"""Effects: the only module that writes Services' status, pool status and Events.

The controller decides (``desire``) and returns at once; worker threads apply. Per key only the
latest wish is ever written and a key is never written by two threads at once (client-go's
workqueue rules), so a burst of changes to one Service costs at most one write in flight plus one.
A write is skipped when the live object already shows the wish — which is what makes restarts and
leader changes write nothing when nothing moved.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError
from urllib3.response import HTTPResponse

from speaker import metrics
from speaker.events import Event
from speaker.ipam.service import IP_ALLOCATED_FROM_POOL, ServiceStatus, key_of, live_status
from speaker.kube.client import REQUEST_TIMEOUT, api_path, read_json, request
from speaker.logformat import log_fields

log = logging.getLogger(__name__)

POOL_ANNOTATION = IP_ALLOCATED_FROM_POOL
MERGE_PATCH = "application/merge-patch+json"


def _release(resp: object) -> None:
    """Returns an unread response's connection to the pool. The custom-objects API is typed as returning
    ``object``; with ``_preload_content=False`` it is the urllib3 response."""
    cast(HTTPResponse, resp).release_conn()


def status_patch(want: ServiceStatus) -> dict[str, Any]:
    """One merge patch to ``services/status`` carries both the ingress and the pool annotation.

    The API server's Service status strategy resets only ``spec`` on the status subresource, so
    metadata sent there is kept: one write per Service instead of MetalLB's two.
    """
    return {
        "metadata": {"annotations": {POOL_ANNOTATION: want.pool}},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in want.ips] or None}},
    }


class WorkQueue:
    """Deduplicating queue: a key is queued once, handed to one worker at a time, re-queued if dirtied meanwhile."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._closed = False

    def add(self, key: str) -> None:
        with self._cond:
            if key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def get(self) -> str | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            key = self._queue.popleft()
            self._dirty.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._queue and not self._processing

    def holds(self, key: str) -> bool:
        """Whether ``key`` is queued or being processed (a worker will look at it again)."""
        with self._cond:
            return key in self._dirty or key in self._processing

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Applier:
    """Applies the latest wish per key with a few worker threads; ``apply(key, want)`` does one write.

    ``apply`` returns normally when done (or nothing needed doing) and raises ``RetryLater``
    when the write should be tried again; only the lease holder applies (``set_enabled``).

    ``satisfied(key, want)``: whether the live object already shows the wish (a cache read, no I/O). A wish that
    is satisfied while no worker holds its key is recorded and not queued: the worker would only have read the
    same cache and returned. The allocation controller repeats every wish when its own write comes back (and the
    pool status after every batch), so this keeps thousands of no-op hand-overs to the workers out of a cold start.
    """

    def __init__(
        self,
        name: str,
        apply: Callable[[str, Any], None],
        *,
        workers: int = 4,
        retry_delay: float = 1.0,
        satisfied: Callable[[str, Any], bool] | None = None,
    ) -> None:
        self._name = name
        self._apply = apply
        self._satisfied = satisfied
        self._workers = workers
        self._retry_delay = retry_delay
        self._queue = WorkQueue()
        self._lock = threading.Lock()
        self._wanted: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []
        self._enabled = threading.Event()

    def start(self) -> None:
        for i in range(self._workers):
            t = threading.Thread(target=self._work, name=f"{self._name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._queue.close()
        for t in self._threads:
            t.join(timeout=5)

    def set_enabled(self, enabled: bool) -> None:
        if enabled:
            self._enabled.set()
        else:
            self._enabled.clear()

    def desire(self, key: str, want: Any) -> None:
        with self._lock:
            self._wanted[key] = want
        # Not queued when nothing is to be done, and only while no worker holds the key: one that does may be
        # writing an older wish, and must look again once done.
        if self._satisfied is not None and not self._queue.holds(key) and self._satisfied(key, want):
            return
        self._queue.add(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._wanted.pop(key, None)

    def idle(self) -> bool:
        return self._queue.idle()

    def _work(self) -> None:
        while (key := self._queue.get()) is not None:
            try:
                with self._lock:
                    want = self._wanted.get(key, _MISSING)
                if want is not _MISSING and self._enabled.is_set():
                    self._apply(key, want)
            except RetryLater as exc:
                log.warning("%s %s: %s; retrying in %.0fs", self._name, key, exc, self._retry_delay)
                timer = threading.Timer(self._retry_delay, self._queue.add, args=(key,))
                timer.daemon = True
                timer.start()
            except Exception:
                log.exception("%s %s: unexpected error", self._name, key)
            finally:
                self._queue.done(key)


_MISSING = object()


class RetryLater(Exception):
    """A write that failed in a way worth retrying; the message is logged."""


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return type(exc).__name__


def service_status_applier(
    api: client.ApiClient, live: Callable[[str], Mapping[str, Any] | None], *, workers: int = 4
) -> Applier:
    """Writes ``services/status`` (ingress + pool annotation) when the live object differs from the wish."""

    def satisfied(key: str, want: ServiceStatus) -> bool:
        svc = live(key)
        return svc is None or live_status(svc) == want  # gone: the watch tells the controller

    def apply(key: str, want: ServiceStatus) -> None:
        if satisfied(key, want):
            return
        ns, name = key.split("/", 1)
        try:
            _patch_service_status(api, ns, name, status_patch(want))
            metrics.K8S_UPDATES.inc()
        except ApiException as exc:
            if exc.status == 404:
                return  # deleted meanwhile; the watch tells the controller
            metrics.K8S_UPDATE_ERRORS.inc()
            raise RetryLater(f"status write failed: {_describe(exc)}") from None
        except (HTTPError, OSError) as exc:
            metrics.K8S_UPDATE_ERRORS.inc()
            raise RetryLater(f"status write failed: {_describe(exc)}") from None

    return Applier("service-status", apply, workers=workers, satisfied=satisfied)


def pool_status_applier(
    api: client.ApiClient, namespace: str, live: Callable[[str], Mapping[str, Any] | None]
) -> Applier:
    """Writes ``ipaddresspools/status`` (assigned/available per family) when it differs."""
    custom = client.CustomObjectsApi(api)

    def satisfied(key: str, want: Mapping[str, int]) -> bool:
        pool = live(key)
        return pool is None or all((pool.get("status") or {}).get(k) == v for k, v in want.items())

    def apply(key: str, want: Mapping[str, int]) -> None:
        if satisfied(key, want):
            return
        name = key.split("/", 1)[-1]
        try:
            resp = custom.patch_namespaced_custom_object_status(
                "metallb.io",
                "v1beta1",
                namespace,
                "ipaddresspools",
                name,
                {"status": dict(want)},
                _content_type=MERGE_PATCH,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            _release(resp)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise RetryLater(f"pool status write failed: {_describe(exc)}") from None
        except (HTTPError, OSError) as exc:
            raise RetryLater(f"pool status write failed: {_describe(exc)}") from None

    return Applier("pool-status", apply, workers=1, satisfied=satisfied)


def _timestamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Best-effort, non-blocking Events: a bounded queue drained by one thread; never delays allocation.

    Status writes go first: while ``busy()`` (the Service status writes have work queued), an Event waits, at most
    ``max_defer`` seconds after it was recorded, so a busy cluster still gets every Event. At a cold start with
    10,000 Services the allocator says IPAllocated 10,000 times at once; sent beside the status writes they were a
    fifth of the API requests and of the speaker's CPU before the last address was written. An Event carries the
    time it was recorded (``firstTimestamp``), not the time it was sent.
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        component: str,
        host: str,
        capacity: int = 10000,
        busy: Callable[[], bool] = lambda: False,
        max_defer: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._component = component
        self._host = host
        self._queue: queue.Queue[tuple[Event, float, float] | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._busy = busy
        self._max_defer = max_defer
        self._clock = clock
        self._wall_clock = wall_clock
        self._flushing = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Flush what is queued (briefly, without waiting for the status writes), then stop."""
        self._flushing.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        if self._thread:
            self._thread.join(timeout=timeout)

    def record(self, event: Event) -> None:
        log_fn = log.warning if event.type == "Warning" else log.info
        api_version, kind, ns, name, _ = event.involved
        log_fn(
            "%s %s: %s: %s",
            kind,
            f"{ns}/{name}" if ns else name,
            event.reason,
            event.message,
            extra=log_fields(service=f"{ns}/{name}" if kind == "Service" else None),
        )
        try:
            self._queue.put_nowait((event, self._clock(), self._wall_clock()))
        except queue.Full:
            metrics.EVENTS_DROPPED.inc()

    def _hold_back(self, recorded: float) -> None:
        """Wait while the status writes are busy, until ``max_defer`` after ``recorded``; polled (20 a second)
        only while they are."""
        while self._busy() and not self._flushing.is_set():
            left = recorded + self._max_defer - self._clock()
            if left <= 0:
                return
            self._flushing.wait(min(left, 0.05))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            event, recorded, recorded_at = item
            self._hold_back(recorded)
            api_version, kind, ns, name, uid = event.involved
            # An Event about a cluster-scoped object (a Node) lives in "default", as client-go's recorder puts it.
            where = ns or "default"
            when = _timestamp(recorded_at)
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{name}.", "namespace": where},
                "involvedObject": {"apiVersion": api_version, "kind": kind, "namespace": ns, "name": name, "uid": uid},
                "type": event.type,
                "reason": event.reason,
                "message": event.message,
                "source": {"component": self._component, "host": self._host},
                "reportingComponent": self._component,
                "reportingInstance": self._host,
                "firstTimestamp": when,
                "lastTimestamp": when,
                "count": 1,
            }
            for attempt in range(3):
                try:
                    _create_event(self._api, where, body)
                    break
                except (ApiException, HTTPError, OSError) as exc:
                    if isinstance(exc, ApiException) and exc.status in (403, 404, 422):
                        break
                    time.sleep(0.5 * (attempt + 1))


# --- how the two writes made by the thousand are sent: by path, without the generated API classes (kube/client.py)
def _patch_service_status(api: client.ApiClient, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
    request(
        api,
        "PATCH",
        api_path("api/v1/namespaces", namespace, "services", name, "status"),
        body=patch,
        content_type=MERGE_PATCH,
    ).release_conn()


def _create_event(api: client.ApiClient, namespace: str, body: Mapping[str, Any]) -> None:
    request(api, "POST", api_path("api/v1/namespaces", namespace, "events"), body=body).release_conn()


def status_object_name(prefix: str, node: str, service_key: str) -> str:
    """One status object per (node, Service), with a stable name of bounded length."""
    import hashlib

    return f"{prefix}-" + hashlib.sha256(f"{node}/{service_key}".encode()).hexdigest()[:16]


def l2_status_name(node: str, service_key: str) -> str:
    return status_object_name("l2", node, service_key)


def bgp_status_name(node: str, service_key: str) -> str:
    return status_object_name("bgp", node, service_key)


def announcement_status_applier(
    api: client.ApiClient,
    namespace: str,
    live: Callable[[str], Mapping[str, Any] | None],
    *,
    kind: str,
    plural: str,
    detail: str,
) -> Applier:
    """Keeps MetalLB's per-announcement status objects (ServiceL2Status, ServiceBGPStatus): one per
    (node, Service) announced.

    Keyed by object name; the wish is ``(node, "ns/name", details)`` or ``None`` to delete, where ``details``
    fills ``status.<detail>`` (interfaces or peers). Status is a subresource, so a new object costs two writes
    (create, then status); an unchanged one costs none — also when the same wish comes again before the watch
    cache has caught up with our own write (the versions we wrote, or saw just before, count as done).
    """
    custom = client.CustomObjectsApi(api)
    group, version = "metallb.io", "v1beta1"
    done: dict[str, tuple[Any, frozenset[str]]] = {}  # live objects: name → (wish, versions showing it)

    def rv(obj: Mapping[str, Any] | None) -> str | None:
        return ((obj or {}).get("metadata") or {}).get("resourceVersion")

    def apply(name: str, want: tuple[str, str, tuple[str, ...]] | None) -> None:
        current = live(f"{namespace}/{name}")
        last = done.pop(name, None)
        if want is not None and last is not None and last[0] == want and rv(current) in last[1]:
            done[name] = last
            return
        try:
            if want is None:
                if current is not None:
                    _release(
                        custom.delete_namespaced_custom_object(
                            group,
                            version,
                            namespace,
                            plural,
                            name,
                            _preload_content=False,
                            _request_timeout=REQUEST_TIMEOUT,
                        )
                    )
                return
            node, key, details = want
            svc_ns, svc_name = key.split("/", 1)
            seen = {rv(current) or ""} if current is not None else set()
            if current is None:
                created = read_json(
                    custom.create_namespaced_custom_object(
                        group,
                        version,
                        namespace,
                        plural,
                        {
                            "apiVersion": f"{group}/{version}",
                            "kind": kind,
                            "metadata": {
                                "name": name,
                                "labels": {
                                    "metallb.io/node": node,
                                    "metallb.io/service-name": svc_name,
                                    "metallb.io/service-namespace": svc_ns,
                                },
                            },
                        },
                        _preload_content=False,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
                seen.add(rv(created) or "")
            values: list[Any] = [{"name": d} for d in details] if detail == "interfaces" else list(details)
            status = {"node": node, "serviceName": svc_name, "serviceNamespace": svc_ns, detail: values}
            if current is None or (current.get("status") or {}) != status:
                patched = read_json(
                    custom.patch_namespaced_custom_object_status(
                        group,
                        version,
                        namespace,
                        plural,
                        name,
                        {"status": status},
                        _content_type=MERGE_PATCH,
                        _preload_content=False,
                        _request_timeout=REQUEST_TIMEOUT,
                    )
                )
                seen.add(rv(patched) or "")
            done[name] = (want, frozenset(seen))
        except ApiException as exc:
            if exc.status == 404 and want is None:
                return
            raise RetryLater(f"{kind} {name}: {_describe(exc)}") from None
        except (HTTPError, OSError) as exc:
            raise RetryLater(f"{kind} {name}: {_describe(exc)}") from None

    return Applier(plural, apply, workers=1)


def announced_service(labels: Mapping[str, str]) -> str:
    """The Service a status object (ServiceL2Status / ServiceBGPStatus) is about, from the labels set at its create
    (its ``status`` may not be written yet)."""
    return key_of(labels.get("metallb.io/service-namespace"), labels.get("metallb.io/service-name"))


def publish_announcements(
    applier: Applier,
    existing: Iterable[Mapping[str, Any]],
    node: str,
    wanted: Mapping[str, tuple[str, ...]],
    name_of: Callable[[str, str], str],
    *,
    exclusive: bool,
) -> None:
    """Wish for one status object per Service in ``wanted``; ours that no longer apply are deleted.

    ``exclusive`` (Layer 2: one announcer per address): other nodes' objects for a Service we announce are
    deleted too — a node killed with -9 cannot delete its own.
    """
    for obj in existing:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        key = announced_service(labels)
        owner = labels.get("metallb.io/node")
        if (owner == node and key not in wanted) or (exclusive and owner != node and key in wanted):
            applier.desire(meta.get("name", ""), None)
    for key, details in wanted.items():
        applier.desire(name_of(node, key), (node, key, details))
