"""Who is alive, from the API: every speaker renews its own Lease; a node whose Lease expired is dead.

Every speaker keeps a ``coordination.k8s.io/v1`` Lease ``baremetal-lb-speaker-<node>`` in the speaker namespace
(``kubectl get leases -n metallb-system`` lists them), renewed every ``membership.lease_renew_interval`` (2 s) with
``leaseDurationSeconds`` = ``membership.lease_duration`` (6 s), and watches everyone's. Two uses:

- **Layer 2 liveness without heartbeats** (no ``membership.key_file``): the live set is the speakers with Layer 2
  enabled whose Lease is held and was renewed within its duration. A speaker killed with -9 drops out
  ``lease_duration`` after its last renewal (4-6 s at the defaults); one that stops cleanly releases its Lease
  (empty holder) and drops out at once, as a heartbeat LEAVE does.
- **Status objects of dead nodes** (every mode): :meth:`LeaseView.gone` tells the allocator leader when a node's
  speaker has stopped for good (``speaker.controllers.statusgc``); a restart within the Lease duration is not a death.

The rules are client-go's leader-election rules applied to many Leases: a Lease is judged by *our* clock, counted
from when we last saw its record change (never by comparing ``renewTime``, written by another machine's clock).
And one of our own: **silence counts only while we can see.** While our watch is down or our own renewals fail
(the API or etcd is away, for us or for everyone) the view is frozen — nobody is declared dead — and when sight
returns every Lease gets a fresh duration. An API outage must not make every speaker think every other one died
and answer for every address. The price: a speaker cut off from the API keeps answering for its addresses while
the others take them over after ``lease_duration`` (heartbeats can fence such a node; a Lease cannot tell "the API
is away for me" from "the API is away for everyone", and going quiet in the second case would take every address
off the LAN). So there is no fencing in this mode.

Two layers, as in ``speaker.liveness.heartbeats``: :class:`LeaseView` decides (pure: the Leases and the clock are
arguments); :class:`SpeakerLease` runs it (renews, reads the watch cache, reports changes). Nothing starts in a
constructor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from speaker.kube.informer import ResourceKind
from speaker.kube.lease import micro_time

log = logging.getLogger(__name__)

PREFIX = "baremetal-lb-speaker-"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
LAYER2_LABEL = "baremetal-lb/layer2"  # "true" when the speaker answers ARP/NDP: only those count for Layer 2
# How that speaker's Layer 2 tells who is alive now: "heartbeats" or "leases" (the fallback), so a cluster-wide view
# (``baremetal-lb status --cluster``) reads each node's mode from the API instead of guessing it from the Secret.
LIVENESS_LABEL = "baremetal-lb/layer2-liveness"
SELECTOR = f"{NAME_LABEL}=baremetal-lb-speaker,{COMPONENT_LABEL}=liveness"
MERGE_PATCH = "application/merge-patch+json"


def lease_name(node: str) -> str:
    return PREFIX + node


def node_of(name: str) -> str | None:
    """The node a speaker Lease belongs to (its name without the prefix); None for any other Lease."""
    return name[len(PREFIX) :] if name.startswith(PREFIX) and len(name) > len(PREFIX) else None


def leases_kind(namespace: str) -> ResourceKind:
    """The speakers' Leases in ``namespace``, for an ``Informer`` (only ours, by label)."""
    return ResourceKind(
        "leases",
        lambda api: partial(client.CoordinationV1Api(api).list_namespaced_lease, namespace, label_selector=SELECTOR),
    )


# ------------------------------------------------------------------------------------------------------ core


@dataclass(frozen=True)
class _Record:
    holder: str
    resource_version: str
    duration: float
    layer2: bool
    seen_at: float  # our monotonic clock: when we last saw the record change


class LeaseView:
    """The speakers' Leases as this speaker observed them → who is alive, whose speaker is gone.

    No side effects, no clock reads: ``now`` is a monotonic time passed in. Not thread-safe (the runner locks).
    """

    def __init__(self, me: str) -> None:
        self.me = me
        self._records: dict[str, _Record] = {}
        self._vanished: dict[str, float] = {}  # node → when its Lease disappeared
        self._blind_since: float | None = 0.0  # blind until the first observation
        self._sight_since = 0.0
        self._observed = False
        self._left = False

    @property
    def blind(self) -> bool:
        return self._blind_since is not None

    @property
    def observed(self) -> bool:
        """At least one observation was made (before it, the view knows nobody)."""
        return self._observed

    def observe(self, leases: Iterable[Mapping[str, Any]], now: float) -> None:
        """A full listing of the speakers' Leases (the watch cache) at ``now``, taken while we can see."""
        if self._blind_since is not None:  # sight (re)gained: silence before now proves nothing
            self._blind_since = None
            self._sight_since = now
            self._records = {n: replace(r, seen_at=now) for n, r in self._records.items()}
            self._vanished = {n: now for n in self._vanished}
        self._observed = True
        fresh: dict[str, _Record] = {}
        for lease in leases:
            meta = lease.get("metadata") or {}
            node = node_of(str(meta.get("name") or ""))
            if node is None:
                continue
            spec = lease.get("spec") or {}
            rv = str(meta.get("resourceVersion") or "")
            old = self._records.get(node)
            try:
                duration = float(spec.get("leaseDurationSeconds") or 0)
            except (TypeError, ValueError):
                duration = 0.0
            fresh[node] = _Record(
                holder=str(spec.get("holderIdentity") or ""),
                resource_version=rv,
                duration=duration,
                layer2=(meta.get("labels") or {}).get(LAYER2_LABEL) == "true",
                seen_at=old.seen_at if old is not None and old.resource_version == rv else now,
            )
        for node in self._records.keys() - fresh.keys():
            self._vanished[node] = now
        for node in fresh:
            self._vanished.pop(node, None)
        self._records = fresh

    def lose_sight(self, now: float) -> None:
        """Our watch is down or our own renewals fail: freeze the view from ``now`` on."""
        if self._blind_since is None:
            self._blind_since = now

    def leave(self) -> None:
        """We stop cleanly: drop ourselves from our own view (the election hands everything away)."""
        self._left = True

    def _clock(self, now: float) -> float:
        return now if self._blind_since is None else self._blind_since

    def renewing(self, node: str, now: float) -> bool:
        """``node``'s speaker holds its Lease and renewed it within the Lease's duration (by our clock)."""
        r = self._records.get(node)
        return r is not None and r.holder == node and self._clock(now) - r.seen_at < r.duration

    def alive(self, now: float, *, layer2_only: bool = False) -> frozenset[str]:
        """The live speakers, ourselves included unless we left; ``layer2_only``: those that answer ARP/NDP."""
        live = {n for n, r in self._records.items() if (r.layer2 or not layer2_only) and self.renewing(n, now)}
        live.discard(self.me)
        return frozenset(live if self._left else live | {self.me})

    def released(self) -> frozenset[str]:
        """The peers whose speaker stopped cleanly: their Lease is released (empty holder), not merely expired."""
        return frozenset(n for n, r in self._records.items() if not r.holder and n != self.me)

    def gone(self, node: str, now: float, *, node_exists: bool, grace: float) -> bool:
        """``node``'s speaker stopped for good, so its status objects may go: its Lease is released, expired or
        missing, and either its Node is deleted too or that has lasted a Lease duration (``grace`` when there is
        no Lease) — a restart within it renews the Lease in time. Never while blind, never for ourselves."""
        if self._blind_since is not None or not self._observed or node == self.me or self.renewing(node, now):
            return False
        if not node_exists:
            return True
        r = self._records.get(node)
        if r is not None:
            return now - r.seen_at >= (r.duration if r.duration > 0 else grace)
        return now - max(self._vanished.get(node, 0.0), self._sight_since) >= grace

    def next_expiry(self, now: float) -> float | None:
        """When the next peer's held Lease runs out (for the runner's wake-up), or None."""
        times = [r.seen_at + r.duration for n, r in self._records.items() if n != self.me and self.renewing(n, now)]
        return min(times) if times else None

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "blind": self.blind,
            "speakers": {
                n: {
                    "alive": self.renewing(n, now) or (n == self.me and not self._left),
                    "holder": r.holder,
                    "layer2": r.layer2,
                    "changed_seconds_ago": round(now - r.seen_at, 3),
                }
                for n, r in sorted(self._records.items())
            },
        }


# ---------------------------------------------------------------------------------------------------- runner


class SpeakerLease:
    """Renews this speaker's Lease and keeps the view of everyone's current. Constructing it starts nothing:
    the owner runs :meth:`run` on a thread and calls :meth:`leave` / :meth:`stop`.

    ``leases`` is the watch cache of the speakers' Leases (an ``Informer`` over :func:`leases_kind`: ``items()``
    and ``healthy``); call :meth:`poke` when it changes. ``on_change(alive)`` receives the Layer 2 live set when it
    changes, on the runner's thread: it must only queue work.
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        namespace: str,
        node: str,
        leases: Any,
        layer2: bool,
        duration: float,
        renew_interval: float,
        on_change: Callable[[frozenset[str]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Called raw (dict bodies; _preload_content=False returns urllib3 responses): the client's types model neither.
        self._api: Any = client.CoordinationV1Api(api)
        self._ns = namespace
        self.node = node
        self.name = lease_name(node)
        self._leases = leases
        self._layer2 = layer2
        self._liveness_mode: str | None = None  # set_liveness_mode(); published with the next renewal
        self._duration = duration
        self._renew_interval = renew_interval
        self._on_change = on_change
        self._clock = clock
        self._view = LeaseView(node)
        self._lock = threading.Lock()  # the view
        self._write_lock = threading.Lock()  # our Lease: a renewal never overtakes the release
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._left = False
        self._own_ok_at: float | None = None
        self._acquired = False
        self._failing = False
        self._last_alive: frozenset[str] | None = None

    # --- queries (any thread)
    def set_liveness_mode(self, mode: str) -> None:
        """What this speaker's Layer 2 uses to tell who is alive ("heartbeats" / "leases"): a label of our Lease
        from the next renewal on (no extra write; the renewal patches the labels anyway)."""
        self._liveness_mode = mode

    def alive(self) -> frozenset[str]:
        """The speakers that answer ARP/NDP and are alive by their Leases (ourselves included unless we left)."""
        with self._lock:
            return self._view.alive(self._clock(), layer2_only=True)

    @property
    def ready(self) -> bool:
        """The view has been built from the API at least once (before that it knows only ourselves)."""
        with self._lock:
            return self._view.observed

    @property
    def fenced(self) -> bool:
        return False  # see the module docstring: a Lease cannot tell who is cut off

    def released(self) -> frozenset[str]:
        with self._lock:
            return self._view.released()

    def gone(self, node: str, node_exists: bool) -> bool:
        with self._lock:
            return self._view.gone(node, self._clock(), node_exists=node_exists, grace=self._duration)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "lease": f"{self._ns}/{self.name}",
                "duration": self._duration,
                "renew_interval": self._renew_interval,
                **self._view.snapshot(self._clock()),
            }

    # --- inputs
    def poke(self) -> None:
        """The Lease cache changed: look again now."""
        self._wake.set()

    def leave(self) -> None:
        """Clean stop: release our Lease (peers drop us at once) and leave our own view. Idempotent."""
        with self._write_lock:
            if self._left:
                return
            self._left = True
            if self._acquired and self._write(release=True):
                log.info("liveness: released Lease %s/%s", self._ns, self.name)
        with self._lock:
            self._view.leave()
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    # --- the loop
    def run(self) -> None:
        next_renew = self._clock()
        while not self._stopped.is_set():
            self._wake.clear()
            now = self._clock()
            if now >= next_renew:
                ok = self._renew()
                now = self._clock()
                if ok:
                    self._own_ok_at = now
                next_renew = now + (self._renew_interval if ok else min(self._renew_interval, 1.0))
            self._refresh(now)
            with self._lock:
                expiry = self._view.next_expiry(now)
            wake_at = min(next_renew, expiry if expiry is not None else next_renew, now + 1.0)
            self._wake.wait(max(0.01, wake_at - now))

    def _refresh(self, now: float) -> None:
        own_fresh = self._left or (self._own_ok_at is not None and now - self._own_ok_at <= 2 * self._renew_interval)
        sees = bool(self._leases.healthy) and own_fresh
        with self._lock:
            was_blind = self._view.blind and self._view.observed
            if sees:
                self._view.observe(self._leases.items(), now)
            else:
                self._view.lose_sight(now)
            blind_now = self._view.blind and self._view.observed
            alive = self._view.alive(now, layer2_only=True)
        if blind_now and not was_blind:
            log.warning(
                "liveness: cannot see the speakers' Leases (%s); nobody is declared dead until we can",
                "watch down" if not self._leases.healthy else "our own renewals fail",
            )
        elif was_blind and not blind_now:
            log.info("liveness: the speakers' Leases are visible again; every Lease gets a fresh %gs", self._duration)
        if alive != self._last_alive:
            self._last_alive = alive
            log.info("liveness: alive (Leases, Layer 2): %s", ", ".join(sorted(alive)) or "(none)")
            if self._on_change is not None:
                self._on_change(alive)

    def _renew(self) -> bool:
        with self._write_lock:
            if self._left:
                return True
            return self._write(release=False)

    def _write(self, *, release: bool) -> bool:
        """One merge patch of our Lease (created if missing); called under ``_write_lock``."""
        now = micro_time()
        spec: dict[str, Any] = {
            "holderIdentity": "" if release else self.node,
            "leaseDurationSeconds": max(1, round(self._duration)),
            "renewTime": now,
        }
        if not self._acquired and not release:
            spec["acquireTime"] = now  # this process took it (again)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self._ns,
                "labels": {
                    NAME_LABEL: "baremetal-lb-speaker",
                    COMPONENT_LABEL: "liveness",
                    LAYER2_LABEL: "true" if self._layer2 else "false",
                    **({LIVENESS_LABEL: self._liveness_mode} if self._layer2 and self._liveness_mode else {}),
                },
            },
            "spec": spec,
        }
        timeout = (2.0, max(2.0, self._renew_interval))
        try:
            try:
                self._api.patch_namespaced_lease(
                    self.name,
                    self._ns,
                    body,
                    _content_type=MERGE_PATCH,
                    _preload_content=False,
                    _request_timeout=timeout,
                ).release_conn()
            except ApiException as exc:
                if exc.status != 404 or release:
                    raise
                spec["acquireTime"] = now
                self._api.create_namespaced_lease(
                    self._ns, body, _preload_content=False, _request_timeout=timeout
                ).release_conn()
                log.info(
                    "liveness: created Lease %s/%s (renewed every %gs, expires after %gs)",
                    self._ns,
                    self.name,
                    self._renew_interval,
                    self._duration,
                )
        except (ApiException, HTTPError, OSError) as exc:
            if not self._failing:
                why = f"HTTP {exc.status} {exc.reason}" if isinstance(exc, ApiException) else type(exc).__name__
                log.warning(
                    "liveness: cannot %s Lease %s/%s (%s); peers drop this node %gs after its last renewal",
                    "release" if release else "renew",
                    self._ns,
                    self.name,
                    why,
                    self._duration,
                )
            self._failing = True
            return False
        if self._failing:
            log.info("liveness: Lease %s/%s renewed again", self._ns, self.name)
        self._failing = False
        self._acquired = True
        return True
