"""The allocation controller: level-triggered, one deciding thread, effects applied elsewhere.

Informers notify ``(kind, key)``; this thread drains the notifications in batches, decides with
the pure allocator, and hands wishes to the appliers (status writes) and the event recorder.
Only the holder of the allocator lease applies anything; on acquiring the lease the allocator is
rebuilt from the Services' own status, Services that already hold addresses first, so a restart
or a leader change never moves an address.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from speaker import metrics
from speaker.config.cluster import ClusterConfig
from speaker.controllers.reconciler import Signal
from speaker.controllers.views import ViewSource
from speaker.ipam.allocator import Allocator, PoolStats, order_for_restore
from speaker.ipam.service import Extraction, request_for
from speaker.kube.kinds import Caches
from speaker.kube.writer import Applier, EventRecorder
from speaker.plan.actions import AllocationAction, CountFailure, ForgetStatus, Say, Unsay, WriteStatus
from speaker.plan.allocation import CONFIG_OBJECTS, config_actions, decide, pool_actions
from speaker.plan.clusterview import ServiceView

log = logging.getLogger(__name__)

CONFIG_KINDS = frozenset(
    {"ipaddresspools", "l2advertisements", "bgpadvertisements", "bgppeers", "communities", "bfdprofiles"}
)


@dataclass
class _Pending:
    services: set[str] = field(default_factory=set)
    config: bool = False
    namespaces: bool = False
    leader: bool | None = None


class AllocationController:
    def __init__(
        self,
        *,
        caches: Caches,
        views: ViewSource,
        synced: Callable[[], bool],
        status: Applier,
        pool_status: Applier,
        events: EventRecorder,
        namespace: str,
    ) -> None:
        self._caches = caches
        self._views = views
        self._synced = synced
        self._status = status
        self._pool_status = pool_status
        self._events = events
        self._namespace = namespace
        self._queue: queue.SimpleQueue[tuple[str | Signal, Any]] = queue.SimpleQueue()
        self._pending = _Pending()
        self._stopped = threading.Event()
        self._leader = False
        self._allocator: Allocator | None = None
        self._config: ClusterConfig | None = None
        self._pools: dict[str, Any] = {}
        self._failed: set[str] = set()  # LB Services without an address, retried when capacity appears
        self._capacity_freed = False
        self._said: dict[str, dict[str, str]] = {}  # object key -> reason -> last message, to not repeat Events
        self.generation = 0  # bumped after each handled batch (tests and `status` wait on it)

    # --- inputs (any thread) -------------------------------------------------------------------------
    def notify(self, kind: str, change: Any, key: str) -> None:
        self._queue.put((kind, key))

    def signal(self, signal: Signal) -> None:
        """``Signal.SYNCED``: decide now (a batch before it was not acted on)."""
        self._queue.put((signal, None))

    def set_leader(self, leader: bool) -> None:
        self._queue.put((Signal.LEADER, leader))

    def stop(self) -> None:
        self._stopped.set()
        self._queue.put((Signal.STOP, None))

    # --- the loop ------------------------------------------------------------------------------------
    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            batch = [item]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.handle(batch)
            except Exception:
                log.exception("allocation controller: unexpected error; full resync on next change")
                self._allocator = None
            self.generation += 1

    def handle(self, batch: list[tuple[str | Signal, Any]]) -> None:
        p = self._pending
        for kind, key in batch:
            if kind is Signal.LEADER:
                p.leader = key
            elif kind in CONFIG_KINDS:
                p.config = True
            elif kind == "namespaces":
                p.namespaces = True
            elif kind == "services":
                p.services.add(key)
        if not self._synced():
            return
        if p.leader is not None and p.leader != self._leader:
            self._leader = p.leader
            metrics.LEADER.set(1 if p.leader else 0)
            self._status.set_enabled(p.leader)
            self._pool_status.set_enabled(p.leader)
            self._allocator = None  # rebuilt from the Services' status on (re)acquiring
        p.leader = None
        if not self._leader:
            return  # standby: keep the caches warm, decide nothing
        if self._allocator is None:
            self._pending = _Pending()
            self._rebuild()
        else:
            self._pending = _Pending()
            if p.config:
                self._apply_config()
            if p.namespaces:  # namespace labels feed serviceAllocation.namespaceSelectors
                p.services.update(self._lb_service_keys())
            for key in sorted(p.services):
                self._reconcile(key)
            if self._capacity_freed:
                self._retry_failed()
        self._publish_pool_stats()

    # --- decisions -----------------------------------------------------------------------------------
    def _load_config(self) -> ClusterConfig:
        """The config every controller sees (``ViewSource.config``); its errors and warnings become Events here only:
        the allocator leader is the one speaker that tells the user."""
        cfg = self._views.config()
        self._execute(config_actions(cfg, self._namespace, self._config_object))
        metrics.CONFIG_LOADED.set(1)
        self._pools = dict(cfg.pools)
        return cfg

    def _rebuild(self) -> None:
        self._config = self._load_config()
        self._allocator = Allocator(self._pools.values())
        self._failed.clear()
        # Each Service is read once: the order needs its request, and deciding uses the same reading (a Service that
        # changed meanwhile is notified, so decided again in the next batch).
        ours: dict[str, tuple[ServiceView, Extraction]] = {}
        for key, sv in self._views.services().items():
            if sv.ours:
                ours[key] = (sv, self._extract(sv))
            else:
                self._reconcile(key)
        log.info("allocator rebuilt: %d pools, %d LoadBalancer Services", len(self._pools), len(ours))
        for req in order_for_restore([extraction.request for _, extraction in ours.values()]):
            self._decide(req.key, *ours.pop(req.key))

    def _apply_config(self) -> None:
        previous = self._config
        self._config = self._load_config()
        if self._config == previous:
            # Nothing we act on changed: typically our own write of a pool's status (after every batch) coming
            # back as a MODIFIED IPAddressPool. Re-checking every Service for it made each batch cost O(Services).
            return
        assert self._allocator is not None
        moved = self._allocator.set_pools(self._pools.values())
        self._capacity_freed = True
        for key in sorted(set(moved) | self._lb_service_keys()):
            self._reconcile(key)

    def _retry_failed(self) -> None:
        self._capacity_freed = False
        for key in sorted(self._failed, key=self._creation_order):
            self._reconcile(key)

    def _reconcile(self, key: str) -> None:
        svc = self._views.service(key)
        self._decide(key, svc, self._extract(svc) if svc is not None and svc.ours else None)

    def _decide(self, key: str, svc: ServiceView | None, extraction: Extraction | None) -> None:
        assert self._allocator is not None
        decision = decide(key, svc, extraction, self._allocator, self._pools)
        if decision.failed:
            self._failed.add(key)
        else:
            self._failed.discard(key)
        if decision.freed:
            self._capacity_freed = True
        for note in decision.notes:
            log.info("service %s: %s", key, note)
        self._execute(decision.actions)

    # --- effects: one small executor per kind of action ----------------------------------------------------
    def _execute(self, actions: Iterable[AllocationAction]) -> None:
        for action in actions:
            match action:
                case WriteStatus():
                    self._write_status(action)
                case ForgetStatus():
                    self._forget_status(action)
                case Say():
                    self._say(action)
                case Unsay():
                    self._unsay(action)
                case CountFailure():
                    self._count_failure(action)
                case _:
                    assert_never(action)

    def _write_status(self, action: WriteStatus) -> None:
        self._status.desire(action.key, action.status)

    def _forget_status(self, action: ForgetStatus) -> None:
        self._status.forget(action.key)

    def _say(self, action: Say) -> None:
        said = self._said.setdefault(action.subject, {})
        event = action.event
        if said.get(event.reason) == event.message:
            return
        said[event.reason] = event.message
        self._events.record(event)

    def _unsay(self, action: Unsay) -> None:
        if action.reason is None:
            self._said.pop(action.subject, None)
        else:
            self._said.get(action.subject, {}).pop(action.reason, None)

    def _count_failure(self, action: CountFailure) -> None:
        metrics.ALLOCATION_FAILURES.inc()

    def _config_object(self, kind: str, name: str) -> Mapping[str, Any] | None:
        plural = CONFIG_OBJECTS.get(kind, ("", ""))[0]
        return getattr(self._caches, plural).get(f"{self._namespace}/{name}") if plural else None

    def _extract(self, svc: ServiceView) -> Extraction:
        ns = (svc.obj.get("metadata") or {}).get("namespace", "")
        ns_obj = self._caches.namespaces.get(ns) or {}
        return request_for(svc.obj, (ns_obj.get("metadata") or {}).get("labels") or {})

    def _lb_service_keys(self) -> set[str]:
        return {key for key, sv in self._views.services().items() if sv.ours}

    def _creation_order(self, key: str) -> tuple[str, str]:
        svc = self._views.service(key)
        return (svc.created if svc is not None else "", key)

    def _publish_pool_stats(self) -> None:
        assert self._allocator is not None
        services = self._allocator.services_per_pool()
        stats: dict[str, PoolStats] = {}
        for name in self._pools:
            a4, f4, a6, f6 = stats[name] = self._allocator.pool_stats(name)
            metrics.ADDRESSES_IN_USE.labels(name).set(a4 + a6)
            metrics.ADDRESSES_TOTAL.labels(name).set(a4 + f4 + a6 + f6)
            metrics.IPV4_ADDRESSES_IN_USE.labels(name).set(a4)
            metrics.IPV4_ADDRESSES_TOTAL.labels(name).set(a4 + f4)
            metrics.IPV6_ADDRESSES_IN_USE.labels(name).set(a6)
            metrics.IPV6_ADDRESSES_TOTAL.labels(name).set(a6 + f6)
            metrics.SERVICES_ALLOCATED.labels(name).set(services.get(name, 0))
            self._pool_status.desire(
                f"{self._namespace}/{name}",
                {
                    "assignedIPv4": _int64(a4),
                    "availableIPv4": _int64(f4),
                    "assignedIPv6": _int64(a6),
                    "availableIPv6": _int64(f6),
                },
            )
        self._execute(pool_actions(stats, self._namespace, self._config_object))

    # --- introspection (``baremetal-lb status``) -----------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        alloc = self._allocator
        pools = {}
        if alloc is not None:
            for name in self._pools:
                a4, f4, a6, f6 = alloc.pool_stats(name)
                pools[name] = {"assignedIPv4": a4, "availableIPv4": f4, "assignedIPv6": a6, "availableIPv6": f6}
        return {
            "leader": self._leader,
            "pools": pools,
            "config_errors": [str(e) for e in (self._config.errors if self._config else ())],
            "unallocated": sorted(self._failed),
        }


def _int64(n: int) -> int:
    """Pool status fields are int64: a /64 has 2**64 addresses, so report the largest int64 instead."""
    return min(n, 2**63 - 1)
