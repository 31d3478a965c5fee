"""The Layer 2 side of the speaker: turns the pure plan into what this node answers for.

Runs on every speaker (not only the allocator): recompute ``announce.l2_plan`` when anything it reads
changes (Services, EndpointSlices, Nodes, pools/advertisements, the membership view), hand this node's
share to the ARP/NDP ``Announcer``, and tell the user (a ``nodeAssigned`` Event per Service when this
node takes an address over, a ServiceL2Status per Service it announces, naming the interfaces the announcer
really answers on, and — from the allocator leader only, once per change — a ``NoEligibleNode`` Warning on a
Service whose address no node may announce, with every node's reason). A fenced speaker (no peers, no API)
announces nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, assert_never

from speaker import metrics
from speaker.controllers.reconciler import Reconciler
from speaker.controllers.views import ViewSource
from speaker.events import WARNING, service_event
from speaker.kube.kinds import Cache, Caches
from speaker.kube.writer import Applier, EventRecorder, announced_service, l2_status_name, publish_announcements
from speaker.layer2.announcer import Announcer
from speaker.layer2.handover import CONFIRM, DRAIN, HandoverForwarder
from speaker.layer2.interfaces import dump_neighbours
from speaker.plan.actions import Announce, Emit, HandOver, Layer2Action
from speaker.plan.announce import (
    L2Choice,
    L2Gap,
    L2Memory,
    all_interfaces_actions,
    l2_gap_actions,
    l2_node_decision,
    l2_plan,
    l2_unannounced,
)

log = logging.getLogger(__name__)

RELEVANT = frozenset({"services", "endpointslices", "nodes", "ipaddresspools", "l2advertisements", "servicel2statuses"})


def internal_ip(node: Mapping[str, Any]) -> str | None:
    ips = internal_ips(node)
    return ips[0] if ips else None


def internal_ips(node: Mapping[str, Any]) -> list[str]:
    """Every InternalIP of a Node (a dual-stack node has one per family)."""
    return [
        str(addr["address"])
        for addr in (node.get("status") or {}).get("addresses") or []
        if addr.get("type") == "InternalIP" and addr.get("address")
    ]


class ConflictReporter:
    """Tells the user when the announcer's probe finds another host answering for an address, and tells the
    announcer when that "host" is one of our own speakers (not a conflict: a handover still under way).

    Built before the announcer (which calls :meth:`report` from its loop thread) and before the controller (which
    hands it each new plan), so the wiring needs no reference back to a part that does not exist yet.
    """

    def __init__(
        self,
        *,
        services: Cache,
        events: EventRecorder,
        nodes: Cache,
        node: str,
        neighbours: Callable[[], Iterable[tuple[str, str]]] = dump_neighbours,
    ) -> None:
        self._services = services
        self._events = events
        self._nodes = nodes
        self._node = node
        self._neighbours = neighbours
        self._plan: Mapping[str, L2Choice] = {}

    def peer_of(self, mac: str) -> str | None:
        """The node whose speaker answered with ``mac``: the kernel's neighbour table maps its InternalIP to that
        MAC (heartbeats to every peer keep those entries fresh). Only a peer that answers on the interface of its
        InternalIP is recognised; any other answer counts as a conflict, as before."""
        ips = {ip for ip, m in self._neighbours() if m == mac.lower()}
        if not ips:
            return None
        for obj in self._nodes.items():
            name = str((obj.get("metadata") or {}).get("name") or "")
            if name != self._node and ips.intersection(internal_ips(obj)):
                return name
        return None

    def set_plan(self, plan: Mapping[str, L2Choice]) -> None:
        self._plan = plan

    def report(self, ip: str, mac: str) -> None:
        """From the announcer's probe: another host already answers for ``ip``."""
        choice = self._plan.get(ip)
        for key in choice.services if choice else ():
            self._events.record(
                service_event(
                    self._services.get(key),
                    key,
                    WARNING,
                    "AddressConflict",
                    f"{ip} is already in use on the LAN by {mac}; not announcing it",
                )
            )


class Layer2Controller(Reconciler):
    relevant = RELEVANT
    name = "layer2"

    def __init__(
        self,
        *,
        node: str,
        caches: Caches,
        views: ViewSource,
        synced: Callable[[], bool],
        announcer: Announcer,
        events: EventRecorder,
        alive: Callable[[], frozenset[str]],
        fenced: Callable[[], bool] = lambda: False,
        l2_status: Applier | None = None,
        is_leader: Callable[[], bool] = lambda: False,
        departed: Callable[[], frozenset[str]] = frozenset,
        handover: HandoverForwarder | None = None,
        conflicts: ConflictReporter | None = None,
        wake: threading.Event | None = None,
    ) -> None:
        super().__init__(synced=synced, wake=wake)
        self._conflicts = conflicts
        self._node = node
        self._caches = caches
        self._views = views
        self._announcer = announcer
        self._events = events
        self._alive = alive
        self._fenced = fenced
        self._l2_status = l2_status
        self._departed = departed
        self._handover = handover
        self._unconfirmed: dict[str, tuple[str, float]] = {}  # VIP → (old owner declared dead, when taken over)
        self._plan: dict[str, L2Choice] = {}
        self._mine: dict[str, L2Choice] = {}
        self._in_use: dict[str, tuple[str, ...]] = {}
        self._rows: list[Mapping[str, Any]] = []  # the announcer's last snapshot rows
        self._said_all: dict[str, tuple[str, ...]] = {}  # address → interfaces last said in AnnouncedOnAllInterfaces
        self._published: dict[str, tuple[str, ...]] | None = None
        self._memory = L2Memory()  # what the decisions remember between plans (announce.l2_node_decision)
        self._nodes: Mapping[str, Mapping[str, Any]] = {}
        self._is_leader = is_leader
        self._gaps: dict[str, L2Gap] = {}
        self._warned: dict[str, str] = {}  # service → the NoEligibleNode message last emitted
        self._why_not_me: str | None = None

    def alive_nodes(self) -> frozenset[str]:
        """The live speakers that answer ARP/NDP: heartbeats (``speaker.liveness.heartbeats``) or Leases
        (``speaker.kube.speakerlease``), as the daemon chose."""
        return self._alive()

    def recompute(self) -> None:
        view = self._views.view()
        cfg, services, nodes, ready, serving = view.config, view.addressed, view.nodes, view.ready, view.serving
        alive = self.alive_nodes()
        plan = l2_plan(services, cfg, nodes, ready, alive, serving)
        self._plan = plan
        if self._conflicts is not None:
            self._conflicts.set_plan(plan)
        me = nodes.get(self._node)
        self._why_not_me = me.why_excluded if me is not None else None
        self._report_gaps(l2_unannounced(services, cfg, nodes, ready, alive, plan, serving))
        fenced = self._fenced()
        if fenced:
            log.warning("layer2: fenced (no peer and no API reachable): announcing nothing")
        decision = l2_node_decision(
            self._node, services, plan, self._memory, fenced=fenced, service_obj=self._caches.services.get
        )
        self._memory = decision.memory
        self._nodes = view.node_by_name
        self._execute(decision.actions)
        self._mine = dict(decision.mine)
        self._publish(force=True)

    # --- effects: one small executor per kind of action ----------------------------------------------------
    def _execute(self, actions: Iterable[Layer2Action]) -> None:
        for action in actions:
            match action:
                case Emit():
                    self._events.record(action.event)
                case HandOver():
                    if self._handover is not None:
                        self._forward_handed_over(action.taken, self._nodes)
                case Announce():
                    self._announcer.set_desired(action.addresses)
                case _:
                    assert_never(action)

    def _report_gaps(self, gaps: dict[str, L2Gap]) -> None:
        """What nobody announces, for ``/status`` and ``baremetal_lb_address_unannounced``; the NoEligibleNode
        Warnings ``announce.l2_gap_actions`` decides."""
        self._gaps = gaps
        metrics.set_unannounced("layer2", ((g.service, ip, g.reason) for g in gaps.values() for ip in g.ips))
        self._warned, said = l2_gap_actions(
            gaps, self._warned, leader=self._is_leader(), service_obj=self._caches.services.get
        )
        self._execute(said)

    def _forward_handed_over(self, handed: Mapping[str, str], nodes: Mapping[str, Mapping[str, Any]]) -> None:
        """Before announcing addresses taken over from another node: its connections in flight keep going to it
        (``speaker.layer2.handover``), so the announcement resets none of them — for the drain period if it left
        cleanly, else for a short while, extended if its LEAVE follows (``_confirm_departures``)."""
        if not handed:
            return
        assert self._handover is not None
        departed = self._departed()
        ips = {name: internal_ips(n) for name, n in nodes.items()}
        for left in (True, False):
            group = {ip: ips.get(node, []) for ip, node in handed.items() if (node in departed) == left}
            if not group:
                continue
            now = time.monotonic()
            for f in self._handover.begin(group, hold=None if left else CONFIRM):
                node = handed[f.ip]
                if left:
                    log.info(
                        "layer2: %s taken over from %s, which left: its connections in flight go on to %s via "
                        "%s for %gs",
                        f.ip,
                        node,
                        f.via,
                        f.device,
                        DRAIN,
                    )
                else:  # declared dead, or still alive (a rebalance): it may yet say it left
                    self._unconfirmed[f.ip] = (node, now)
                    log.info(
                        "layer2: %s taken over from %s: its connections in flight go on to %s via %s for %gs "
                        "(%gs if it left)",
                        f.ip,
                        node,
                        f.via,
                        f.device,
                        CONFIRM,
                        DRAIN,
                    )

    def _confirm_departures(self) -> None:
        """A node declared dead whose LEAVE (or released Lease) came after our takeover was stopping: its
        connections get the whole drain period."""
        if not self._unconfirmed or self._handover is None:
            return
        now = time.monotonic()
        self._unconfirmed = {ip: v for ip, v in self._unconfirmed.items() if now - v[1] < CONFIRM}
        departed = self._departed()
        late = [ip for ip, (node, _) in self._unconfirmed.items() if node in departed]
        if not late:
            return
        for f in self._handover.confirm(late):
            log.info(
                "layer2: %s: %s left after all: its connections in flight go on to %s for %gs",
                f.ip,
                self._unconfirmed[f.ip][0],
                f.via,
                DRAIN,
            )
        for ip in late:
            self._unconfirmed.pop(ip, None)

    def tick(self) -> None:
        """Links come and go without any API event: publish again when the interfaces in use changed."""
        if self._handover is not None:
            self._confirm_departures()
            self._handover.tick()
        if self._published is not None:  # not before the first recompute: an empty plan would delete ours
            self._publish(force=False)

    def _interfaces_in_use(self) -> dict[str, tuple[str, ...]]:
        """Address → the interfaces the announcer answers on (probing: is about to), from its snapshot — what
        ``/status`` shows. If the responder does not answer in time, the last known answer stands."""
        try:
            snap = self._announcer.snapshot()
        except TimeoutError:
            return self._in_use
        self._rows = list(snap.get("addresses", ()))
        self._in_use = {
            row["ip"]: tuple(row.get("interfaces") or ())
            for row in self._rows
            if row.get("state") in ("announced", "probing")
        }
        return self._in_use

    def _publish(self, *, force: bool) -> None:
        """ServiceL2Status: one per Service this node announces, with the interfaces it answers on (see
        ``publish_announcements``). ``force``: after a recompute (objects or the plan changed); otherwise only
        when the interfaces changed, so a steady state costs no request."""
        if self._l2_status is None:
            return
        in_use = self._interfaces_in_use() if self._mine else {}
        self._said_all, said = all_interfaces_actions(
            self._rows if self._mine else (),
            self._mine,
            self._said_all,
            node=self._node,
            service_obj=self._caches.services.get,
        )
        self._execute(said)
        wanted: dict[str, set[str]] = {}
        for ip, choice in self._mine.items():
            for key in choice.services:
                wanted.setdefault(key, set()).update(in_use.get(ip, ()))
        details = {key: tuple(sorted(ifaces)) for key, ifaces in wanted.items()}
        if not force and details == self._published:
            return
        self._published = details
        publish_announcements(
            self._l2_status, self._caches.servicel2statuses.items(), self._node, details, l2_status_name, exclusive=True
        )

    def handed_over(self) -> bool:
        """True once every Service this node announced is announced by another node (its ServiceL2Status says
        so): on a planned stop the speaker keeps answering until then, so clients are moved before it goes quiet."""
        mine = {key for ip, c in self._plan.items() if c.node == self._node for key in c.services}
        if not mine:
            return True
        others = set()
        for obj in self._caches.servicel2statuses.items():
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if labels.get("metallb.io/node") not in (None, self._node) and (obj.get("status") or {}).get("node"):
                others.add(announced_service(labels))
        return mine <= others

    def snapshot(self) -> dict[str, Any]:
        return {
            "alive": sorted(self.alive_nodes()),
            "fenced": self._fenced(),
            "elected": sorted(ip for ip, c in self._plan.items() if c.node == self._node),
            "plan": {ip: c.node for ip, c in sorted(self._plan.items())},
            # Why this node may announce nothing (the exclude label, NetworkUnavailable), and the addresses that
            # nobody announces, with the reason: what the role's preflight and a person troubleshooting read.
            "excluded": self._why_not_me,
            "ignore_exclude_lb": self._views.ignore_exclude_lb,
            "unannounced": [
                {"service": g.service, "ips": list(g.ips), "reason": g.reason, "message": g.message}
                for g in sorted(self._gaps.values(), key=lambda g: g.service)
            ],
            **self._announcer.snapshot(),
        }
