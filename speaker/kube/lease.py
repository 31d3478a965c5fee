"""Who allocates: one speaker at a time holds a ``coordination.k8s.io/v1`` Lease.

Why not ``kubernetes.leaderelection``: it cannot release the lease on a clean stop (a
standby would then wait the whole lease duration after every ``systemctl restart``), it
runs its callbacks on threads it never joins, and it exits the process-level loop on loss.
The rules here are client-go's: a lease is judged expired by *our own* clock, counted from
when we last saw the record change (never by comparing timestamps written by another
machine's clock), a leader that cannot renew within ``renew_deadline`` steps down before
anyone else may take over (``renew_deadline < duration``), and a released lease (empty
holder) is taken at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from speaker.config.node import LeaseSettings
from speaker.kube.client import REQUEST_TIMEOUT, read_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """The last lease record we saw, and when (our monotonic clock) we first saw it."""

    holder: str
    resource_version: str
    seen_at: float


def may_acquire(obs: Observation | None, identity: str, now: float, duration: float) -> bool:
    """Pure rule: take the lease if it is free, ours, released, or not renewed for ``duration`` by our clock."""
    if obs is None or not obs.holder or obs.holder == identity:
        return True
    return now - obs.seen_at >= duration


def micro_time() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaign for, renew and release the allocator lease; ``on_change(bool)`` runs on this thread."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        namespace: str,
        identity: str,
        settings: LeaseSettings,
        on_change: Callable[[bool], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Called raw (dict bodies; _preload_content=False returns urllib3 responses): the client's types model neither.
        self._api: Any = client.CoordinationV1Api(api)
        self._ns = namespace
        self._identity = identity
        self._settings = settings
        self._on_change = on_change
        self._clock = clock
        self._stopped = threading.Event()
        self._obs: Observation | None = None
        self._last_renew: float | None = None
        self._held_by_other = False
        self.is_leader = False

    def run(self) -> None:
        while not self._stopped.is_set():
            ok = self._try_acquire_or_renew()
            now = self._clock()
            if ok:
                self._last_renew = now
                self._set_leader(True)
            elif self.is_leader and self._held_by_other:
                log.warning(
                    "the allocator lease %s/%s is held by %s; standing by",
                    self._ns,
                    self._settings.name,
                    self._obs.holder if self._obs else "?",
                )
                self._set_leader(False)
            elif self.is_leader and (
                self._last_renew is None or now - self._last_renew >= self._settings.renew_deadline
            ):
                log.warning(
                    "lost the allocator lease %s/%s (could not renew within %.0fs)",
                    self._ns,
                    self._settings.name,
                    self._settings.renew_deadline,
                )
                self._set_leader(False)
            self._stopped.wait(self._settings.retry_period)

    def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; hand the lease over at once if we hold it."""
        self._stopped.set()
        if release and self.is_leader:
            self._set_leader(False)
            self._release()

    def _set_leader(self, leader: bool) -> None:
        if leader != self.is_leader:
            self.is_leader = leader
            log.info("%s the allocator lease %s/%s", "acquired" if leader else "gave up", self._ns, self._settings.name)
            self._on_change(leader)

    def _body(self, existing: dict[str, Any] | None, *, release: bool = False) -> dict[str, Any]:
        now = micro_time()
        spec_old = (existing or {}).get("spec") or {}
        ours = spec_old.get("holderIdentity") == self._identity
        transitions = int(spec_old.get("leaseTransitions") or 0)
        spec = {
            "holderIdentity": "" if release else self._identity,
            "leaseDurationSeconds": 1 if release else max(1, round(self._settings.duration)),
            "acquireTime": spec_old.get("acquireTime") if ours else now,
            "renewTime": now,
            "leaseTransitions": transitions if ours or not existing else transitions + 1,
        }
        meta: dict[str, Any] = {"name": self._settings.name, "namespace": self._ns}
        if existing:
            meta["resourceVersion"] = existing["metadata"]["resourceVersion"]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def _get(self) -> dict[str, Any] | None:
        try:
            lease: dict[str, Any] = read_json(
                self._api.read_namespaced_lease(
                    self._settings.name, self._ns, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                )
            )
            return lease
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _try_acquire_or_renew(self) -> bool:
        self._held_by_other = False
        try:
            current = self._get()
            now = self._clock()
            if current is None:
                self._api.create_namespaced_lease(
                    self._ns, self._body(None), _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                ).release_conn()
                return True
            spec = current.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            rv = current["metadata"]["resourceVersion"]
            if self._obs is None or self._obs.resource_version != rv:
                self._obs = Observation(holder, rv, now)
            duration = float(spec.get("leaseDurationSeconds") or self._settings.duration)
            if not may_acquire(self._obs, self._identity, now, duration):
                self._held_by_other = True
                return False
            if holder and holder != self._identity:
                log.info("lease %s/%s: %s stopped renewing; taking over", self._ns, self._settings.name, holder)
            self._api.replace_namespaced_lease(
                self._settings.name,
                self._ns,
                self._body(current),
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            ).release_conn()
            return True
        except ApiException as exc:
            if exc.status != 409:  # 409: someone else wrote first; judged again next round
                log.warning("lease %s/%s: HTTP %s %s", self._ns, self._settings.name, exc.status, exc.reason)
            return False
        except (HTTPError, OSError) as exc:
            log.warning("lease %s/%s: API unreachable (%s)", self._ns, self._settings.name, type(exc).__name__)
            return False

    def _release(self) -> None:
        try:
            current = self._get()
            if current and (current.get("spec") or {}).get("holderIdentity") == self._identity:
                self._api.replace_namespaced_lease(
                    self._settings.name,
                    self._ns,
                    self._body(current, release=True),
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                ).release_conn()
                log.info("released the allocator lease %s/%s", self._ns, self._settings.name)
        except (ApiException, HTTPError, OSError) as exc:
            log.warning(
                "could not release the allocator lease (%s); standbys take over after %.0fs",
                type(exc).__name__,
                self._settings.duration,
            )
