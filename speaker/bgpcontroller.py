"""The BGP side of the speaker: sessions from BGPPeers, routes from the pure ``announce.bgp_plan``.

Every node that an advertisement selects advertises (routers spread traffic over them: ECMP), so there is no
election here; ``externalTrafficPolicy: Local`` narrows it to nodes with a ready endpoint.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Mapping

from speaker.announce import AddressedServices, RoutesMemo, advertised_peers, bgp_plan, peers_for_node
from speaker.clusterconfig import build_config
from speaker.election import node_info
from speaker.endpoints import ready_nodes_by_service
from speaker.kube.writer import Applier, Event, EventRecorder, bgp_status_name, publish_announcements
from speaker.kube.kinds import Caches
from speaker.reconciler import Reconciler

log = logging.getLogger(__name__)


class BGPController(Reconciler):
    relevant = frozenset({"services", "endpointslices", "nodes", "ipaddresspools", "bgpadvertisements", "bgppeers",
                          "communities", "secrets", "servicebgpstatuses"})
    name = "bgp"

    def __init__(self, *, node: str, caches: Caches, synced: Callable[[], bool], bgp: Any,
                 load_balancer_class: str | None, status: Applier | None = None,
                 events: EventRecorder | None = None, namespace: str = "metallb-system",
                 ignore_exclude_lb: bool = False) -> None:
        super().__init__(synced=synced)
        self._ignore_exclude_lb = ignore_exclude_lb
        self._excluded: str | None = None
        self._node = node
        self._caches = caches
        self._bgp = bgp
        self._lb_class = load_balancer_class
        self._addressed = AddressedServices(load_balancer_class)
        self._routes_memo: RoutesMemo = {}
        self._last_good_pools: Mapping[str, Any] = {}
        self._peer_names: list[str] = []
        self._status = status
        self._events = events
        self._namespace = namespace
        self._session_up: dict[str, bool] = {}

    def recompute(self) -> None:
        c = self._caches
        secrets = {s["metadata"]["name"]: s for s in c.secrets.items()}
        cfg = build_config(c.ipaddresspools.items(), (), c.bgpadvertisements.items(), c.bgppeers.items(),
                           c.communities.items(), secrets=secrets, last_good_pools=self._last_good_pools)
        self._last_good_pools = cfg.pools
        me = c.nodes.get(self._node) or {}
        labels = (me.get("metadata") or {}).get("labels") or {}
        peers = peers_for_node(cfg.peers.values(), labels)
        excluded = node_info(me, ignore_exclude_lb=self._ignore_exclude_lb).why_excluded if me else None
        if excluded != self._excluded:
            self._excluded = excluded
            if excluded:
                log.warning("bgp: this node advertises nothing: %s", excluded)
        if peers and excluded is None:
            services = self._addressed(c.services.items())
            ready = ready_nodes_by_service(c.endpointslices.items()) if any(s.local for s in services) else {}
            memo: RoutesMemo = {}
            routes = bgp_plan(services, cfg, self._node, labels, ready, peers, previous=self._routes_memo, memo=memo)
            self._routes_memo = memo
        else:  # no session, or nothing to advertise on it: no Service needs reading (issue 10)
            services, self._routes_memo = [], {}
            routes = bgp_plan(services, cfg, self._node, labels, {}, peers, node_excluded=excluded)
        names = sorted(p.name for p in peers)
        if names != self._peer_names:
            log.info("bgp: sessions for this node: %s", ", ".join(names) or "none")
            self._peer_names = names
        self._bgp.set_peers(peers)
        self._bgp.set_routes(routes)
        if self._status is not None:  # ServiceBGPStatus: which peers this node advertises each Service to
            publish_announcements(self._status, c.servicebgpstatuses.items(), self._node,
                                  advertised_peers(services, routes), bgp_status_name, exclusive=False)

    def tick(self) -> None:
        """Tell the user when a session comes up or goes down: an Event on the BGPPeer object."""
        if self._events is None:
            return
        for st in self._bgp.snapshot():
            up = st.state == "Established"
            if self._session_up.get(st.peer, False) == up:
                continue
            was_known = st.peer in self._session_up
            self._session_up[st.peer] = up
            if not up and not was_known:
                continue  # a session that never came up yet: nothing changed for the user
            peer = self._caches.bgppeers.get(f"{self._namespace}/{st.peer}") or {}
            meta = peer.get("metadata") or {}
            reason, etype = ("SessionEstablished", "Normal") if up else ("SessionDown", "Warning")
            message = (f"node {self._node}: BGP session with {st.address} established" if up else
                       f"node {self._node}: BGP session with {st.address} down ({st.last_error or st.state})")
            self._events.record(Event((peer.get("apiVersion") or "metallb.io/v1beta2", "BGPPeer", self._namespace,
                                       st.peer, meta.get("uid", "")), etype, reason, message))

    def snapshot(self) -> list[dict[str, Any]]:
        return [{k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                 for k, v in dataclasses.asdict(st).items()} for st in self._bgp.snapshot()]
