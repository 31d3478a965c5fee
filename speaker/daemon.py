"""Wiring: builds the speaker's parts from its config and owns their threads.

Nothing starts in a constructor: ``start()`` starts, ``stop()`` stops in the order that
hands over cleanly (give up the lease first so a standby allocates at once, then stop writing,
then stop watching).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client

from speaker import metrics, systemd
from speaker.config.node import ConfigError, SpeakerConfig, parse_listen
from speaker.controllers.allocation import AllocationController
from speaker.controllers.bgp import BGPController
from speaker.controllers.layer2 import ConflictReporter, Layer2Controller, internal_ip
from speaker.controllers.reconciler import Signal
from speaker.controllers.statusgc import StatusCollector
from speaker.controllers.views import ViewSource
from speaker.ipam.service import live_status, service_key
from speaker.kube.informer import Informer
from speaker.kube.kinds import Caches, speaker_kinds
from speaker.kube.lease import LeaderElector
from speaker.kube.speakerlease import SpeakerLease, leases_kind
from speaker.kube.writer import EventRecorder, announcement_status_applier, pool_status_applier, service_status_applier
from speaker.liveness.memberkey import HEARTBEATS, LEASES, SecretKeyError, Source, key_from_secret, liveness_source
from speaker.nodeevents import FallbackMemory, key_mismatch_events, lease_fallback_events

if TYPE_CHECKING:
    from speaker.liveness.heartbeats import Membership

log = logging.getLogger(__name__)

COMPONENT = "baremetal-lb-controller"
#: After a key arrives, how long the Leases stay in force at most while the heartbeats find the other speakers.
HEARTBEAT_CATCH_UP = 2.0
#: The cyclic collector's thresholds for the running speaker (CPython's default is (700, 10, 10)). Its heap is mostly
#: the caches' API objects, long-lived and without cycles; with the default, a full collection walks all of them
#: every few thousand new objects, and in a burst of new Services those walks were the slowest answers (p99 330 ms
#: against 65 ms with this setting, 10,000 Services; design record 0023). Cycles are still collected, less often.
GC_THRESHOLDS = (700, 10, 1000)


class Speaker:
    """One speaker process. Parts are built in dependency order and handed bound methods: what must wake the
    Layer 2 controller before it exists (the membership and Lease views) is handed ``_layer2_wake``, the event the
    controller is then built around."""

    def __init__(self, cfg: SpeakerConfig, *, api: client.ApiClient) -> None:
        self.cfg = cfg
        self._api = api
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self.informers: dict[str, Informer] = {}
        for kind in speaker_kinds(cfg.namespace):
            self.informers[kind.name] = Informer(kind, api, sink=self._notify, on_synced=self._on_synced)
        self.informers["leases"] = Informer(
            leases_kind(cfg.namespace), api, sink=self._notify, on_synced=self._on_synced
        )
        self.caches = caches = Caches.of(self.informers)
        self.status_applier = service_status_applier(api, caches.services.get, workers=cfg.status_writers)
        self.pool_status_applier = pool_status_applier(api, cfg.namespace, caches.ipaddresspools.get)
        # One applier per announcement status kind, shared by its publisher (this node's Layer 2 or BGP side) and
        # the garbage collector, so one object is never written by two queues at once.
        self.l2_status_applier = announcement_status_applier(
            api,
            cfg.namespace,
            caches.servicel2statuses.get,
            kind="ServiceL2Status",
            plural="servicel2statuses",
            detail="interfaces",
        )
        self.bgp_status_applier = announcement_status_applier(
            api,
            cfg.namespace,
            caches.servicebgpstatuses.get,
            kind="ServiceBGPStatus",
            plural="servicebgpstatuses",
            detail="peers",
        )
        self.status_appliers = {
            "servicel2statuses": self.l2_status_applier,
            "servicebgpstatuses": self.bgp_status_applier,
        }
        # Events wait while Service status writes are queued (bounded): the address first, then the Event about it.
        status_applier = self.status_applier
        self.events = EventRecorder(
            api, component=COMPONENT, host=cfg.node_name, busy=lambda: not status_applier.idle()
        )
        # The one reading of the caches every controller shares: the config (one last-good memory), parsed Services.
        self.views = ViewSource(
            caches, load_balancer_class=cfg.load_balancer_class, ignore_exclude_lb=cfg.ignore_exclude_lb
        )
        self.controller = AllocationController(
            caches=caches,
            views=self.views,
            synced=self.synced,
            status=self.status_applier,
            pool_status=self.pool_status_applier,
            events=self.events,
            namespace=cfg.namespace,
        )
        self.elector = LeaderElector(
            api,
            namespace=cfg.namespace,
            identity=cfg.node_name,
            settings=cfg.lease,
            on_change=self._on_leader_change,
        )
        # Every speaker renews its own Lease: Layer 2 liveness when there are no heartbeats (no key file), and
        # in every mode what tells the allocator leader whose status objects to delete (speaker.controllers.statusgc).
        self._layer2_wake = threading.Event()  # the Layer 2 controller's "recompute" flag (Reconciler.poke)
        self.liveness = SpeakerLease(
            api,
            namespace=cfg.namespace,
            node=cfg.node_name,
            leases=caches.leases,
            layer2=cfg.layer2.enabled,
            duration=cfg.membership.lease_duration,
            renew_interval=cfg.membership.lease_renew_interval,
            on_change=self._on_lease_view,
        )
        self.status_gc = StatusCollector(
            caches=caches,
            synced=self.synced,
            is_leader=self._is_leader,
            gone=self.liveness.gone,
            appliers=self.status_appliers,
        )
        self.membership: Membership | None = None
        # The heartbeat key: a key file, else MetalLB's memberlist Secret (speaker.liveness.memberkey). Until a key is
        # known and the heartbeats have caught up, Layer 2 liveness comes from the Leases; _switched makes it final.
        self._switched = False
        self._membership_lock = threading.Lock()
        self._key_informer: Informer | None = None
        self._key_since: float | None = None
        self._key_reason: str | None = None
        self._key_logged: str | None = None
        self._create_error: str | None = None
        self._key_wake = threading.Event()
        # What the Node's Events last said (speaker.nodeevents): the Lease fallback, heartbeat key mismatches.
        self._fallback_said = FallbackMemory()
        self._mismatch_said: frozenset[str] = frozenset()
        if not cfg.membership.key_file:
            # Watched (and, by the allocator leader, created) on every speaker, Layer 2 or not: the leader may be
            # a BGP-only node while the others answer ARP/NDP.
            from speaker.kube.memberlist import memberlist_kind

            self._key_reason = f"waiting for Secret {self._secret_where()}"
            self._key_informer = Informer(
                memberlist_kind(cfg.namespace, cfg.membership.secret_name),
                api,
                sink=self._on_key_change,
                on_synced=self._on_key_change,
                on_error=self._on_key_error,
            )
        self.announcer: Any = None
        self.layer2: Layer2Controller | None = None
        # MetalLB's metallb-excludel2 ConfigMap (speaker.layer2.exclude), watched by name where Layer 2 runs; the
        # Layer 2 plan waits for its first reading (or a failure to read it), so no address is answered on an
        # interface the list excludes, not even for a moment after start.
        self._exclusion_informer: Informer | None = None
        self._exclusion_ready = threading.Event()
        self._exclusion_error: str | None = None
        self._exclusion_said: str | None = None
        self._exclusion_source = "built-in default"  # where the list in force came from (for the log)
        if cfg.layer2.enabled:
            self._build_layer2()
        self.bgp: Any = None
        self.bgp_controller: BGPController | None = None
        if cfg.bgp.enabled:
            from speaker.bgp import BGPSpeaker

            self.bgp = BGPSpeaker(cfg.node_name)
            self.bgp_controller = BGPController(
                node=cfg.node_name,
                caches=caches,
                views=self.views,
                synced=self.synced,
                bgp=self.bgp,
                status=self.bgp_status_applier,
                events=self.events,
                namespace=cfg.namespace,
                is_leader=self._is_leader,
            )
            metrics.ANNOUNCED.set_source("bgp", self.bgp_controller.announced)
        self._http: metrics.MetricsEndpoint | None = None
        self._metrics_token = _read_token(cfg.metrics_bearer_token_file)
        self._metrics_tls = (
            metrics.tls_context(
                cfg.metrics_tls_cert_file, cfg.metrics_tls_key_file, client_ca_file=cfg.metrics_tls_client_ca_file
            )
            if cfg.metrics_tls_cert_file and cfg.metrics_tls_key_file
            else None
        )

    def _build_layer2(self) -> None:
        # Imported here: raw sockets and netlink are only needed (and only allowed) where Layer 2 runs.
        from speaker.layer2.announcer import Announcer
        from speaker.liveness.wire import parse_keys

        cfg = self.cfg
        if cfg.membership.key_file:
            try:
                keys = parse_keys(Path(cfg.membership.key_file).read_bytes())
            except OSError as exc:
                raise ConfigError(
                    f"membership.key_file: {cfg.membership.key_file}: cannot read: {exc.strerror}"
                ) from None
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            self.membership = self._new_membership(keys)
            self._switched = True  # a key from the start: heartbeats from the first reconcile, as always
        conflicts = ConflictReporter(
            services=self.caches.services, events=self.events, nodes=self.caches.nodes, node=cfg.node_name
        )
        from speaker.kube.kinds import named_kind
        from speaker.layer2.exclude import CONFIGMAP, DEFAULT

        self.announcer = Announcer(
            cfg.node_name,
            settings=cfg.layer2,
            on_conflict=conflicts.report,
            peer_of=conflicts.peer_of,
            exclude=DEFAULT,
        )
        metrics.ANNOUNCED.set_source("layer2", self.announcer.metrics.announced)
        self._exclusion_informer = Informer(
            named_kind("excludel2", cfg.namespace, "configmaps", CONFIGMAP),
            self._api,
            sink=self._on_exclusion,
            on_synced=self._on_exclusion,
            on_error=self._on_exclusion_error,
        )
        from speaker.layer2.handover import HandoverForwarder

        self.handover = HandoverForwarder()
        self.layer2 = Layer2Controller(
            node=cfg.node_name,
            caches=self.caches,
            views=self.views,
            synced=self._layer2_synced,
            announcer=self.announcer,
            events=self.events,
            alive=self._layer2_alive,
            fenced=self._layer2_fenced,
            l2_status=self.l2_status_applier,
            is_leader=self._is_leader,
            # a peer that stopped cleanly still holds its connections: a takeover forwards them to it
            departed=self._layer2_departed,
            handover=self.handover,
            conflicts=conflicts,
            wake=self._layer2_wake,
        )

    # --- what the parts built before the Layer 2 controller call (bound methods, not closures) ------------
    def _is_leader(self) -> bool:
        return self.elector.is_leader

    def _layer2_synced(self) -> bool:
        """With Leases, wait for the first view of them too (before it the view knows only this node); and for
        the first reading of the interfaces Layer 2 never answers on."""
        return self.synced() and (self._switched or self.liveness.ready) and self._exclusion_ready.is_set()

    # --- the interfaces Layer 2 never answers on (MetalLB's metallb-excludel2 ConfigMap) -------------------
    def _on_exclusion(self, *_: Any) -> None:
        """The ConfigMap was listed, added, changed or deleted (informer thread): parse it; a bad one is refused
        whole, said once, and the list in force stays (the last good one, else MetalLB's default)."""
        from speaker.layer2.exclude import ExclusionError, from_configmap

        assert self._exclusion_informer is not None
        items = self._exclusion_informer.items()
        try:
            exclude = from_configmap(items[0] if items else None, self.cfg.namespace)
        except ExclusionError as exc:
            self._exclusion_error = str(exc)
            self._say_exclusion(logging.WARNING, f"layer2: {exc}; the list in force stays ({self._exclusion_source})")
        else:
            self._exclusion_error = None
            self._say_exclusion(
                logging.INFO,
                f"layer2: never answering on interfaces matching "
                f"{', '.join(exclude.patterns) or '(none)'} ({exclude.source})",
            )
            self.announcer.set_exclusion(exclude)
            self._exclusion_source = exclude.source
        self._exclusion_ready.set()
        self._layer2_wake.set()

    def _on_exclusion_error(self, error: str) -> None:
        """The ConfigMap cannot be read (e.g. no RBAC for it): Layer 2 goes on with the list in force."""
        from speaker.layer2.exclude import CONFIGMAP

        self._exclusion_error = f"cannot read ConfigMap {self.cfg.namespace}/{CONFIGMAP} ({error})"
        self._say_exclusion(
            logging.WARNING, f"layer2: {self._exclusion_error}; using the list in force ({self._exclusion_source})"
        )
        self._exclusion_ready.set()
        self._layer2_wake.set()

    def _say_exclusion(self, level: int, message: str) -> None:
        if message != self._exclusion_said:
            self._exclusion_said = message
            log.log(level, "%s", message)

    def _layer2_fenced(self) -> bool:
        return self._switched and self.membership is not None and self.membership.fenced

    def _wake_layer2(self, *_: Any) -> None:
        """The membership view changed (who is alive, or fencing): Layer 2 recomputes."""
        self._layer2_wake.set()

    def _on_lease_view(self, alive: frozenset[str]) -> None:
        """The Lease view changed: it matters to Layer 2 until heartbeats are in force."""
        if not self._switched:
            self._layer2_wake.set()

    # --- the heartbeat key and which liveness Layer 2 uses -------------------------------------------------
    def _new_membership(self, keys: Sequence[bytes]) -> Membership:
        from speaker.liveness.heartbeats import Membership

        m = self.cfg.membership
        return Membership(
            self.cfg.node_name,
            keys,
            m,
            on_change=self._wake_layer2,
            on_fence=self._wake_layer2,
        )

    def _secret_where(self) -> str:
        return f"{self.cfg.namespace}/{self.cfg.membership.secret_name}"

    def _on_key_change(self, *_: Any) -> None:
        """The memberlist Secret was listed, added, changed or deleted (informer thread)."""
        assert self._key_informer is not None
        self._key_wake.set()  # the leader may have to create it
        items = self._key_informer.items()
        if not items:
            self._no_key(
                f"Secret {self._secret_where()} does not exist"
                + (
                    " yet (the allocator leader creates it)"
                    if self.cfg.membership.create_secret
                    else " and membership.create_secret is off"
                ),
                quiet=True,
            )
            return
        try:
            key = key_from_secret(items[0], f"Secret {self._secret_where()}")
        except SecretKeyError as exc:
            self._no_key(str(exc))
            return
        self._use_key(key)

    def _on_key_error(self, error: str) -> None:
        self._no_key(f"cannot read Secret {self._secret_where()} ({error})")

    def _no_key(self, reason: str, *, quiet: bool = False) -> None:
        """No usable key: say so once per reason. Before the first key the Leases stay in force; after it, the
        last key does (a deleted or unreadable Secret must not make the speakers lose each other)."""
        self._key_reason = reason
        if reason == self._key_logged:
            return
        self._key_logged = reason
        if self.membership is not None:
            log.warning("membership: %s; keeping the heartbeat key in force", reason)
        else:
            log.log(
                logging.INFO if quiet else logging.WARNING,
                "membership: %s; until there is a key, Layer 2 tells who is alive from the speakers' Leases "
                "(a dead node is noticed after up to %gs instead of %gs)",
                reason,
                self.cfg.membership.lease_duration,
                self.cfg.membership.dead_after,
            )

    def _use_key(self, key: bytes) -> None:
        with self._membership_lock:
            self._key_reason = self._key_logged = None
            if not self.cfg.layer2.enabled:
                return  # nothing here answers ARP/NDP: no heartbeats to send
            if self.membership is not None:
                self.membership.set_key(key)
                return
            log.info(
                "membership: heartbeat key from Secret %s; switching Layer 2 liveness to heartbeats",
                self._secret_where(),
            )
            membership = self._new_membership((key,))
            if self._stopped.is_set():
                return
            try:
                membership.start()
            except OSError as exc:  # e.g. the UDP port is taken: stay on Leases, try again on the next Secret event
                self._no_key(str(exc))
                return
            self._key_since = time.monotonic()
            self.membership = membership
            self._update_peers()
        self._key_wake.set()
        self._layer2_wake.set()

    def liveness_source(self) -> Source:
        """Heartbeats or Leases for Layer 2 now (``speaker.liveness.memberkey.liveness_source``); makes the switch
        final."""
        m = self.membership
        if m is None or self._key_since is None and not self._switched:
            return liveness_source(
                key_known=False,
                no_key_reason=self._key_reason,
                switched=False,
                heartbeat_alive=frozenset(),
                lease_alive=frozenset(),
                lease_ready=False,
                since_key=0.0,
                catch_up=1.0,
            )
        src = liveness_source(
            key_known=True,
            no_key_reason=None,
            switched=self._switched,
            heartbeat_alive=m.alive(),
            lease_alive=self.liveness.alive(),
            lease_ready=self.liveness.ready,
            since_key=time.monotonic() - (self._key_since or 0.0),
            catch_up=HEARTBEAT_CATCH_UP,
        )
        if src.mode == HEARTBEATS and not self._switched:
            self._switched = True
            log.info("membership: Layer 2 liveness now from heartbeats (alive: %s)", ", ".join(sorted(m.alive())))
        return src

    def _layer2_alive(self) -> frozenset[str]:
        if self.liveness_source().mode == HEARTBEATS:
            return self._heartbeats().alive()
        return self.liveness.alive()

    def _layer2_departed(self) -> frozenset[str]:
        """The peers that stopped cleanly (heartbeat LEAVE, or their Lease released): still up, still holding
        their connections, which a takeover forwards to them (speaker/layer2/handover.py)."""
        if self.liveness_source().mode == HEARTBEATS:
            return frozenset(m["name"] for m in self._heartbeats().members() if m["left"])
        return self.liveness.released()

    def _heartbeats(self) -> Membership:
        """The heartbeat membership, once ``liveness_source`` has said HEARTBEATS: it does so only when a membership
        exists, and ``self.membership`` is never reset to None."""
        m = self.membership
        if m is None:
            raise RuntimeError("Layer 2 liveness is HEARTBEATS but no membership exists")
        return m

    def _on_leader_change(self, leader: bool) -> None:
        self.controller.set_leader(leader)
        self._key_wake.set()
        self._layer2_wake.set()  # a new leader reports the addresses nobody may announce
        if self.bgp_controller is not None:
            self.bgp_controller.poke()  # the same for BGP

    def _key_loop(self) -> None:
        """The allocator leader creates the memberlist Secret when it is missing (as MetalLB's controller does);
        every speaker finishes its switch to heartbeats here if no membership change does it first."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        from speaker.kube.memberlist import create_memberlist_secret

        retry_at = 0.0
        while not self._stopped.is_set():
            self._key_wake.wait(0.5 if not self._switched else 5.0)
            self._key_wake.clear()
            if self._stopped.is_set():
                return
            inf = self._key_informer
            if (
                inf is not None
                and inf.synced
                and inf.healthy
                and not inf.items()
                and self.cfg.membership.create_secret
                and self.elector.is_leader
                and time.monotonic() >= retry_at
            ):
                try:
                    if create_memberlist_secret(self._api, self.cfg.namespace, self.cfg.membership.secret_name):
                        log.info(
                            "membership: created Secret %s with a new heartbeat key (MetalLB's format)",
                            self._secret_where(),
                        )
                    self._create_error = None
                except (ApiException, HTTPError, OSError) as exc:
                    why = f"HTTP {exc.status} {exc.reason}" if isinstance(exc, ApiException) else type(exc).__name__
                    if why != self._create_error:
                        log.warning(
                            "membership: cannot create Secret %s (%s); Layer 2 stays on Leases",
                            self._secret_where(),
                            why,
                        )
                    self._create_error = why
                    self._key_reason = f"Secret {self._secret_where()} does not exist and creating it failed ({why})"
                    retry_at = time.monotonic() + 30.0
            if self.membership is not None and not self._switched and self.liveness_source().mode == HEARTBEATS:
                self._layer2_wake.set()

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        gc.set_threshold(*GC_THRESHOLDS)
        self.status_applier.start()
        self.pool_status_applier.start()
        self.events.start()
        self._spawn("controller", self.controller.run)
        self._spawn("liveness", self.liveness.run)
        for applier in self.status_appliers.values():
            # Every speaker publishes what it announces; the collector deletes only while this speaker leads.
            applier.set_enabled(True)
            applier.start()
        self._spawn("status-gc", self.status_gc.run)
        if self.layer2 is not None:
            self.handover.start()
            self.announcer.start()
            if self.membership is not None:
                self._update_peers()
                self.membership.start()
            self._spawn("layer2", self.layer2.run)
        if self._exclusion_informer is not None:
            self._spawn("watch-excludel2", self._exclusion_informer.run)
        if self._key_informer is not None:
            self._spawn("watch-memberlist", self._key_informer.run)
            self._spawn("membership-key", self._key_loop)
        if self.bgp_controller is not None:
            self.bgp.start()
            self._spawn("bgp", self.bgp_controller.run)
        for name, inf in self.informers.items():
            self._spawn(f"watch-{name}", inf.run)
        self._spawn("lease", self.elector.run)
        self._spawn("health", self._health_loop)
        self._start_http()

    def stop(self) -> None:
        """SIGTERM path: release the lease (a standby takes over at its next retry), then wind down."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._key_wake.set()
        systemd.notify("STOPPING=1")
        if self.layer2 is not None:
            # Planned maintenance loses nothing: tell the peers first (they take our addresses over and
            # send gratuitous ARP/NA at once), keep answering through the grace period, then go quiet.
            self.layer2.freeze()
            if self.membership is not None:
                self.membership.leave()
            self.liveness.leave()  # released Lease: without heartbeats, this is how the peers learn it
            deadline = time.monotonic() + self.cfg.layer2.leave_grace
            time.sleep(min(0.2, self.cfg.layer2.leave_grace))  # the peers' gratuitous ARP/NA goes out first
            while not self.layer2.handed_over() and time.monotonic() < deadline:
                time.sleep(0.05)
            log.info(
                "told peers we are leaving; %s",
                "they took over"
                if self.layer2.handed_over()
                else f"no takeover seen within {self.cfg.layer2.leave_grace:g}s",
            )
            self.layer2.stop()
            self.handover.stop()
            self.announcer.stop()
            if self.membership is not None:
                self.membership.stop()
        if self.bgp_controller is not None:
            self.bgp_controller.freeze()
            self.bgp_controller.stop()
            self.bgp.stop()  # withdraw everything, then Cease / Administrative Shutdown
        self.liveness.leave()
        self.liveness.stop()
        self.status_gc.stop()
        for applier in self.status_appliers.values():
            applier.stop()
        log.info("stopping: releasing the allocator lease and closing watches")
        self.elector.stop(release=True)
        self.controller.stop()
        self.status_applier.stop()
        self.pool_status_applier.stop()
        for inf in self.informers.values():
            inf.stop()
        if self._key_informer is not None:
            self._key_informer.stop()
        if self._exclusion_informer is not None:
            self._exclusion_informer.stop()
        self.events.stop()
        if self._http is not None:
            self._http.close()
        for t in self._threads:
            t.join(timeout=5)
        log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def synced(self) -> bool:
        return all(inf.synced for inf in self.informers.values())

    def _spawn(self, name: str, target: Any) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _notify(self, kind: str, change: Any, key: str) -> None:
        self.controller.notify(kind, change, key)
        self.status_gc.notify(kind, change, key)
        if kind == "leases":
            self.liveness.poke()
        if self.bgp_controller is not None:
            self.bgp_controller.notify(kind, change, key)
        if self.layer2 is not None:
            self.layer2.notify(kind, change, key)
            if kind == "nodes" and self.membership is not None:
                self._update_peers()

    def _update_peers(self) -> None:
        """Heartbeat peers: the configured ones, else every other Node's InternalIP (nothing without heartbeats)."""
        from speaker.liveness.core import parse_address

        membership = self.membership
        if membership is None:
            return

        port = self.cfg.membership.port
        if self.cfg.membership.peers:
            peers = {name: parse_address(addr, default_port=port) for name, addr in self.cfg.membership.peers}
        else:
            peers = {n["metadata"]["name"]: (ip, port) for n in self.caches.nodes.items() if (ip := internal_ip(n))}
        peers.pop(self.cfg.node_name, None)
        membership.set_peers(peers)

    def _on_synced(self, name: str) -> None:
        if self.synced():
            log.info("caches synced (%s)", ", ".join(sorted(self.informers)))
            self.controller.signal(Signal.SYNCED)
            for reconciler in (self.layer2, self.bgp_controller, self.status_gc):
                if reconciler is not None:
                    reconciler.signal(Signal.SYNCED)
            systemd.notify("READY=1\nSTATUS=caches synced")

    def _health_loop(self) -> None:
        """Feed the systemd watchdog only while the deciding thread is alive and, with Layer 2, the ARP/NDP
        responder answers (or has been down for less than its bound: a dead responder process is restarted
        within a second; one that keeps failing gets the whole speaker restarted); report a stale API."""
        interval = systemd.watchdog_interval() or 5.0
        while not self._stopped.wait(interval):
            healthy = all(i.healthy for i in self.informers.values())
            metrics.CONFIG_STALE.set(0 if healthy else 1)
            # Layer 2 liveness still from Leases (no heartbeat key, or not switched yet): BaremetalLBLeaseFallback.
            source = self.liveness_source() if self.layer2 is not None else None
            mode = source.mode if source is not None else None
            metrics.LEASE_FALLBACK.set(1 if mode == LEASES else 0)
            if mode is not None:  # the same fact on our Lease, for `baremetal-lb status --cluster`
                self.liveness.set_liveness_mode(mode)
            self._node_events(source)
            if self.membership is not None:
                self.membership.set_api_reachable(healthy)
            if self.announcer is not None and not self.announcer.healthy():
                log.error("layer2: the ARP/NDP responder is not answering; not feeding the systemd watchdog")
                continue
            if any(t.name == "controller" and t.is_alive() for t in self._threads):
                systemd.notify("WATCHDOG=1")

    def _node_events(self, source: Source | None) -> None:
        """The Node's Events (``speaker.nodeevents``): the Lease fallback lasting, heartbeats with another key."""
        node = self.cfg.node_name
        self._fallback_said, said = lease_fallback_events(
            node,
            source.mode if source else None,
            source.reason if source else None,
            self._fallback_said,
            now=time.monotonic(),
            key_known=self.membership is not None,
        )
        if self.membership is not None:
            mismatched = {m["address"]: m["node"] for m in self.membership.key_mismatches()}
            self._mismatch_said, more = key_mismatch_events(node, mismatched, self._mismatch_said)
            said += more
        for action in said:
            self.events.record(action.event)

    # --- status and metrics endpoint -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        snap = self.controller.snapshot()
        source = self.liveness_source() if self.layer2 is not None else None
        services = [
            {"service": service_key(svc), "ips": list(live.ips), "pool": live.pool}
            for svc in self.caches.services.items()
            if (live := live_status(svc)).ips
        ]
        return {
            "node": self.cfg.node_name,
            "namespace": self.cfg.namespace,
            "allocator_leader": snap["leader"],
            "api_reachable": all(i.healthy for i in self.informers.values()),
            "synced": self.synced(),
            "pools": snap["pools"],
            "config_errors": snap["config_errors"],
            "unallocated": snap["unallocated"],
            "services": sorted(services, key=lambda s: s["service"]),
            "layer2": self._layer2_status(),
            "bgp": self.bgp_controller.snapshot() if self.bgp_controller is not None else None,
            # Services BGP would advertise from this node but withdrew: no endpoint of theirs serves.
            "bgp_withdrawn": self.bgp_controller.withdrawn() if self.bgp_controller is not None else None,
            # BGP addresses no node may advertise (computed by the allocator leader only)
            "bgp_unannounced": self.bgp_controller.unannounced() if self.bgp_controller is not None else [],
            # Who is alive by the speakers' Leases; "layer2_source" says what the Layer 2 election uses.
            "liveness": {"layer2_source": source.mode if source else LEASES, **self.liveness.snapshot()},
            "membership": self._membership_status(source),
        }

    def _layer2_status(self) -> dict[str, Any] | None:
        if self.layer2 is None:
            return None
        snap = self.layer2.snapshot()
        snap["excluded_interfaces"] = {**snap.get("excluded_interfaces", {}), "error": self._exclusion_error}
        return snap

    def _membership_status(self, source: Source | None) -> dict[str, Any]:
        """How this speaker tells who is alive for Layer 2 (``mode``: None without Layer 2), why Leases when it is
        not heartbeats, and why there is no key (``key_error``: also shown by speakers without Layer 2, e.g. the
        allocator leader that could not create the Secret)."""
        m = self.cfg.membership
        return {
            "mode": source.mode if source else None,
            "reason": source.reason if source and source.mode == LEASES else None,
            "key_source": f"file {m.key_file}" if m.key_file else f"Secret {self._secret_where()}",
            "key_error": self._key_reason,
            "port": m.port,
            "members": self.membership.members() if self.membership is not None else [],
            # Senders whose heartbeats fail authentication while none verify: a speaker with another key.
            "key_mismatch": self.membership.key_mismatches() if self.membership is not None else [],
        }

    def _start_http(self) -> None:
        if not self.cfg.metrics_listen:
            return
        token = self._metrics_token
        self._http = metrics.MetricsEndpoint(
            parse_listen(self.cfg.metrics_listen),
            status=self.status,
            ready=self.synced,
            bearer_token=token,
            tls=self._metrics_tls,
        )
        self.http_port = self._http.port
        for i, server in enumerate(self._http.servers):
            self._spawn(f"http-{i}", server.serve_forever)
        log.info(
            "metrics on %s (/metrics%s); /status on loopback only",
            ", ".join(self._http.urls),
            ", bearer token required" if token else "",
        )


def _read_token(path: str | None) -> str | None:
    """The bearer token ``/metrics`` asks for (``metrics_bearer_token_file``), read once at start-up."""
    if not path:
        return None
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"metrics_bearer_token_file: {path}: cannot read: {exc.strerror}") from None
    if not token:
        raise ConfigError(f"metrics_bearer_token_file: {path}: the file is empty")
    return token
