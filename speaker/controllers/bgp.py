"""The BGP side of the speaker: sessions from BGPPeers, routes from the pure ``announce.bgp_plan``.

Every node that an advertisement selects advertises (routers spread traffic over them: ECMP), so there is no
election here; ``externalTrafficPolicy: Local`` narrows it to nodes with a ready endpoint, and an
``externalTrafficPolicy: Cluster`` Service with no serving endpoint anywhere is withdrawn, as MetalLB does (logged
once, and listed in ``/status`` with the reason). What it advertises is also ``metallb_speaker_announced``'s BGP
series (:meth:`BGPController.announced`). The allocator leader also tells the user about a BGP address that no
node may advertise (``announce.bgp_unannounced``): a ``NoEligibleNode`` Warning on the Service once per change,
``baremetal_lb_address_unannounced{protocol="bgp"}``, and ``bgp_unannounced`` in ``/status``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from speaker import metrics
from speaker.controllers.reconciler import Reconciler
from speaker.controllers.views import ViewSource
from speaker.events import NORMAL, WARNING, event_about
from speaker.kube.kinds import Caches
from speaker.kube.writer import Applier, EventRecorder, bgp_status_name, publish_announcements
from speaker.logformat import log_fields
from speaker.plan.actions import Emit
from speaker.plan.announce import (
    WHY_NOT_SERVING,
    L2Gap,
    RoutesMemo,
    bgp_node_decision,
    bgp_unannounced,
    l2_gap_actions,
)

log = logging.getLogger(__name__)


#: What a node with no BGPPeer never reads (``bgp_node_decision`` reads no Service without a session).
SERVICE_SIDE = frozenset({"services", "endpointslices"})


class BGPController(Reconciler):
    relevant = frozenset(
        {
            "services",
            "endpointslices",
            "nodes",
            "ipaddresspools",
            "bgpadvertisements",
            "bgppeers",
            "communities",
            "secrets",
            "bfdprofiles",
            "servicebgpstatuses",
        }
    )
    name = "bgp"

    def __init__(
        self,
        *,
        node: str,
        caches: Caches,
        views: ViewSource,
        synced: Callable[[], bool],
        bgp: Any,
        status: Applier | None = None,
        events: EventRecorder | None = None,
        namespace: str = "metallb-system",
        is_leader: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(synced=synced)
        self._is_leader = is_leader
        self._gaps: dict[str, L2Gap] = {}
        self._warned: dict[str, str] = {}  # service → the NoEligibleNode message last emitted
        self._views = views
        self._excluded: str | None = None
        self._node = node
        self._caches = caches
        self._bgp = bgp
        self._routes_memo: RoutesMemo = {}
        self._peer_names: list[str] = []
        self._status = status
        self._events = events
        self._namespace = namespace
        self._session_up: dict[str, bool] = {}
        self._withdrawn: Mapping[str, tuple[str, ...]] = {}  # Service → addresses withdrawn: no serving endpoint
        self._announced: tuple[tuple[str, str, str], ...] = ()  # (ip, node, service) advertised to some peer
        # What the BGP speaker was last handed: each hand-over crosses to its event loop's thread, and during a cold
        # start this controller recomputes after every batch of status writes (None: nothing handed yet).
        self._handed_peers: list[Any] | None = None
        self._handed_routes: Any = None
        # Set by a change of anything but Services (any thread): the next pass must decide again even with no
        # BGPPeer. Only Services changed and no BGPPeer: the decision cannot change, and the pass is skipped.
        self._beyond_services = True
        # A Service change while no BGPPeer was handed over: not worth waking for (every status write of a cold
        # start was a wake-up of this thread), but owed a pass if peers arrive from a pass that read Services
        # before it. Under the lock with _handed_peers, so no change falls between the two.
        self._lock = threading.Lock()
        self._unseen_services = False

    def notify(self, kind: str, change: Any, key: str) -> None:
        if kind not in self.relevant:
            return
        if kind in SERVICE_SIDE and not self._reports_gaps():
            with self._lock:
                if self._handed_peers == []:
                    self._unseen_services = True
                    return
        else:
            self._beyond_services = True
        self._dirty.set()

    def _reports_gaps(self) -> bool:
        """The allocator leader, with a BGPAdvertisement: a Service change may open or close a BGP gap
        (``_report_gaps``) even with no BGPPeer, so it is never skipped. Two cache reads, no config build."""
        return self._is_leader() and bool(self._caches.bgpadvertisements.keys())

    def poke(self, *args: Any) -> None:
        self._beyond_services = True
        super().poke(*args)

    def recompute(self) -> None:
        if not self._beyond_services and self._handed_peers == [] and not self._reports_gaps():
            return  # a cold start's thousands of status writes, on a node with no BGPPeer
        self._beyond_services = False  # before reading the caches: a change from now on is seen by the next pass
        try:
            self._decide_and_hand_over()
        except Exception:
            self._beyond_services = True  # not done: the next pass tries again, whatever changes next
            raise

    def _decide_and_hand_over(self) -> None:
        views = self._views
        d = bgp_node_decision(views.config(), self._node, views.node(self._node), views.lazy(), self._routes_memo)
        self._routes_memo = d.memo
        if d.excluded != self._excluded:
            self._excluded = d.excluded
            if d.excluded:
                log.warning("bgp: this node advertises nothing: %s", d.excluded)
        names = sorted(p.name for p in d.peers)
        if names != self._peer_names:
            log.info("bgp: sessions for this node: %s", ", ".join(names) or "none")
            self._peer_names = names
        peers = list(d.peers)
        if peers != self._handed_peers:
            self._bgp.set_peers(peers)
            with self._lock:
                self._handed_peers = peers
                unseen, self._unseen_services = self._unseen_services, False
            if peers and unseen:
                self._dirty.set()  # a Service changed after this pass may have read it: once more
        if d.routes != self._handed_routes:
            self._bgp.set_routes(d.routes)
            self._handed_routes = d.routes
        self._announced = tuple((ip, self._node, key) for key, ips in d.announced.items() for ip in ips)
        for key in sorted(d.withdrawn.keys() - self._withdrawn.keys()):
            ips = ", ".join(d.withdrawn[key])
            log.info(
                "bgp: not advertising %s (%s): %s",
                ips,
                key,
                WHY_NOT_SERVING,
                extra=log_fields(service=key, ip=d.withdrawn[key][0]),
            )
        self._withdrawn = d.withdrawn
        self._report_gaps()
        if self._status is not None:  # ServiceBGPStatus: which peers this node advertises each Service to
            publish_announcements(
                self._status,
                self._caches.servicebgpstatuses.items(),
                self._node,
                d.advertised,
                bgp_status_name,
                exclusive=False,
            )

    def _report_gaps(self) -> None:
        """The BGP addresses no node may advertise, from the allocator leader only: one Event, not one per node,
        and the cluster-wide rule reads every Service, which a node with no session otherwise never does."""
        cfg = self._views.config()
        gaps: dict[str, L2Gap] = {}
        if self._is_leader() and cfg.bgp_advertisements:
            view = self._views.view()
            gaps = bgp_unannounced(view.addressed, cfg, view.nodes, view.ready, view.serving)
        self._gaps = gaps
        metrics.set_unannounced("bgp", ((g.service, ip, g.reason) for g in gaps.values() for ip in g.ips))
        self._warned, said = l2_gap_actions(gaps, self._warned, leader=True, service_obj=self._caches.services.get)
        for action in said:
            if isinstance(action, Emit) and self._events is not None:
                self._events.record(action.event)

    def unannounced(self) -> list[dict[str, Any]]:
        """For ``/status`` (the allocator leader's; empty elsewhere)."""
        return [
            {"service": g.service, "ips": list(g.ips), "reason": g.reason, "message": g.message}
            for g in sorted(self._gaps.values(), key=lambda g: g.service)
        ]

    def tick(self) -> None:
        """Tell the user when a session comes up or goes down: an Event on the BGPPeer object."""
        if self._events is None or not self._handed_peers:
            return  # no BGPPeer for this node, so no session to report on: no round trip to the BGP loop to learn it
        for st in self._bgp.snapshot():
            up = st.state == "Established"
            if self._session_up.get(st.peer, False) == up:
                continue
            was_known = st.peer in self._session_up
            self._session_up[st.peer] = up
            if not up and not was_known:
                continue  # a session that never came up yet: nothing changed for the user
            peer = self._caches.bgppeers.get(f"{self._namespace}/{st.peer}")
            reason, etype = ("SessionEstablished", NORMAL) if up else ("SessionDown", WARNING)
            message = (
                f"node {self._node}: BGP session with {st.address} established"
                if up
                else f"node {self._node}: BGP session with {st.address} down ({st.last_error or st.state})"
            )
            self._events.record(
                event_about(
                    peer,
                    kind="BGPPeer",
                    api_version="metallb.io/v1beta2",
                    namespace=self._namespace,
                    name=st.peer,
                    type=etype,
                    reason=reason,
                    message=message,
                )
            )

    def announced(self) -> tuple[tuple[str, str, str], ...]:
        """(ip, node, service) of every address this node advertises to at least one peer (the routes it wants
        on its sessions, up or not: desired state, as MetalLB's gauge): ``metallb_speaker_announced``'s BGP rows."""
        return self._announced

    def withdrawn(self) -> list[dict[str, Any]]:
        """Services an advertisement would have this node advertise, withdrawn because no endpoint of theirs
        serves (``/status``: ``bgp_withdrawn``)."""
        return [
            {"service": key, "ips": list(ips), "reason": WHY_NOT_SERVING}
            for key, ips in sorted(self._withdrawn.items())
        ]

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                for k, v in dataclasses.asdict(st).items()
            }
            for st in self._bgp.snapshot()
        ]
