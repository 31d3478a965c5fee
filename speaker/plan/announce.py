"""What this node announces (Layer 2 and BGP), decided from the caches — pure, no side effects.

Every speaker runs the same computation on the same inputs (Service status written by the allocator,
L2Advertisements, Nodes, EndpointSlices, and its membership view), so all agree on one announcer per
address without talking to each other; ``speaker.plan.election`` holds the rules that make that agreement
stable and balanced.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from speaker.bgp.rib import Route, routes_for
from speaker.config.cluster import BGPAdvertisement, BGPPeer, ClusterConfig
from speaker.events import NORMAL, WARNING, service_event
from speaker.ipam.service import ServiceStatus, is_load_balancer, live_status, service_key, wants_shared_ip
from speaker.labels import any_matches
from speaker.layer2.announcement import Announcement
from speaker.plan.actions import Announce, Emit, HandOver, Layer2Action
from speaker.plan.election import WHY_ENDPOINT, NodeInfo, assign, eligible_nodes, group_shared, ineligible


@dataclass(frozen=True)
class ServiceAddresses:
    """A LoadBalancer Service that holds addresses (from its status), as announcement needs it."""

    key: str
    ips: tuple[str, ...]
    pool: str | None
    local: bool  # externalTrafficPolicy: Local
    created: str
    labels: tuple[tuple[str, str], ...] = ()  # sorted; for advertisements' serviceSelectors (MetalLB 0.16)
    shared: bool = False  # carries the allow-shared-ip annotation (either spelling, any value)


def service_addresses(svc: Mapping[str, Any], lb_class: str | None) -> ServiceAddresses | None:
    """One Service as announcement needs it; ``None`` when it is not ours or holds no address."""
    if not is_load_balancer(svc, lb_class):
        return None
    return addresses_of(svc, live_status(svc))


def addresses_of(svc: Mapping[str, Any], live: ServiceStatus) -> ServiceAddresses | None:
    """``service_addresses`` of a Service known to be ours, whose live status is already read."""
    if not live.ips:
        return None
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    return ServiceAddresses(
        key=service_key(svc),
        ips=live.ips,
        pool=live.pool,
        local=spec.get("externalTrafficPolicy") == "Local",
        created=str(meta.get("creationTimestamp") or ""),
        labels=tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items())),
        shared=wants_shared_ip(svc),
    )


def addressed_services(services: Iterable[Mapping[str, Any]], lb_class: str | None) -> list[ServiceAddresses]:
    return [a for svc in services if (a := service_addresses(svc, lb_class)) is not None]


def _pool_of(ip: str, svc: ServiceAddresses, config: ClusterConfig) -> str | None:
    """The pool named by the allocator's annotation, else the pool whose ranges hold the address."""
    if svc.pool and svc.pool in config.pools:
        return svc.pool
    addr = ipaddress.ip_address(ip)
    for name, pool in config.pools.items():
        if any(addr in r for r in pool.ranges):
            return name
    return None


def _shared_with_selectors(svc: ServiceAddresses, advs: Iterable[Any]) -> bool:
    """MetalLB's Layer 2 refuses a Service that carries ``allow-shared-ip`` when one of the L2Advertisements that
    select it has ``serviceSelectors`` (``speaker/layer2_controller.go`` ``ShouldAnnounce``, reason
    ``sharedIPWithServiceSelector``; tests in ``layer2_controller_test.go`` from line 1879): the Services sharing
    the address might be selected by different advertisements, with different nodes or interfaces."""
    return svc.shared and any(a.service_selectors for a in advs)


@dataclass(frozen=True)
class L2Choice:
    node: str
    services: tuple[str, ...]
    interfaces: frozenset[str] | None  # None: the interface whose subnet holds the address


def l2_plan(
    services: Iterable[ServiceAddresses],
    config: ClusterConfig,
    nodes: Mapping[str, NodeInfo],
    ready: Mapping[str, frozenset[str]],
    alive: frozenset[str],
    serving: frozenset[str] | None = None,
) -> dict[str, L2Choice]:
    """Every Layer 2 address in the cluster → the node that announces it (all nodes, not only ours).

    Addresses whose pool has no L2Advertisement, or with no eligible live node, are absent. ``serving``: the
    Services with a serving endpoint anywhere (``speaker.plan.endpoints.serving_services``); an externalTrafficPolicy
    Cluster Service outside it is not announced, as in MetalLB (None: not known, nothing is withdrawn for it).
    """
    services = sorted(services, key=lambda s: (s.created, s.key))  # oldest first: seniority in the election
    if serving is not None:  # eTP=Local: the endpoints' nodes decide (``ready``), as in ``bgp_plan``
        services = [s for s in services if s.local or s.key in serving]
    vip_of: dict[str, tuple[str, ...]] = {}
    eligible_of: dict[str, frozenset[str]] = {}
    interfaces_of: dict[str, set[str] | None] = {}
    seniority: list[str] = []
    for svc in services:
        ips = []
        for ip in svc.ips:
            pool = _pool_of(ip, svc, config)
            advs = [a for a in config.l2_for_pool(pool) if a.selects_service(dict(svc.labels))] if pool else []
            if not advs or _shared_with_selectors(svc, advs):
                continue
            ips.append(ip)
            if ip not in seniority:
                seniority.append(ip)
            named = set().union(*(a.interfaces for a in advs))
            wildcard = any(not a.interfaces for a in advs)
            prev = interfaces_of.get(ip, set())
            interfaces_of[ip] = None if (wildcard or prev is None) else (prev | named)
            eligible_of[svc.key] = eligible_nodes(
                nodes, [a.node_selectors for a in advs], ready.get(svc.key, frozenset()) if svc.local else None
            )
        if ips:
            vip_of[svc.key] = tuple(ips)
    per_ip = group_shared(vip_of, eligible_of)
    chosen = assign(alive, per_ip, seniority=seniority)
    holders: dict[str, list[str]] = {}
    for key, vips in vip_of.items():
        for ip in vips:
            holders.setdefault(ip, []).append(key)
    return {
        ip: L2Choice(
            node,
            tuple(sorted(holders[ip])),
            None if interfaces_of.get(ip) is None else frozenset(interfaces_of[ip] or ()),
        )
        for ip, node in chosen.items()
    }


NO_ELIGIBLE_NODE = "NoEligibleNode"  # the Warning Event's reason
NO_LIVE_SPEAKER = "NoLiveSpeaker"  # /status only: liveness changes by the second, Events are for what a user fixes
# Why an externalTrafficPolicy Cluster Service is withdrawn (MetalLB's "noEndpoints"): its Pods are all gone or not
# serving, so every node would drop its traffic.
WHY_NOT_SERVING = "no serving endpoint (externalTrafficPolicy: Cluster)"
SHARED_IP_WITH_SERVICE_SELECTOR = "SharedIPWithServiceSelector"  # the Warning Event's reason (MetalLB's verdict)
#: The gaps a user fixes by editing objects: each gets a Warning Event (once per change of its message).
USER_FIXES = frozenset({NO_ELIGIBLE_NODE, SHARED_IP_WITH_SERVICE_SELECTOR})


@dataclass(frozen=True)
class L2Gap:
    """A Layer 2 Service whose address(es) no node announces, and why."""

    service: str
    ips: tuple[str, ...]
    reason: str  # NO_ELIGIBLE_NODE | NO_LIVE_SPEAKER | SHARED_IP_WITH_SERVICE_SELECTOR
    message: str


def _names(nodes: Iterable[str], limit: int = 5) -> str:
    names = sorted(nodes)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def l2_unannounced(
    services: Iterable[ServiceAddresses],
    config: ClusterConfig,
    nodes: Mapping[str, NodeInfo],
    ready: Mapping[str, frozenset[str]],
    alive: frozenset[str],
    plan: Mapping[str, L2Choice],
    serving: frozenset[str] | None = None,
) -> dict[str, L2Gap]:
    """Service key → why its Layer 2 address(es) are announced by nobody (absent when all are announced). Pure.

    ``NoEligibleNode`` when the Service's eligibility filters leave no node — every node excluded by the
    ``node.kubernetes.io/exclude-from-external-load-balancers`` label or NetworkUnavailable, the L2Advertisements'
    nodeSelectors select none, no ready endpoint for eTP=Local — with every node's reason, grouped (what the user
    must change), or — an externalTrafficPolicy Cluster Service outside ``serving`` (as ``l2_plan``) — because no
    endpoint of it serves anywhere. ``NoLiveSpeaker`` when nodes are eligible but no speaker on them is alive.
    ``SharedIPWithServiceSelector`` when MetalLB's rule refuses it (``_shared_with_selectors``), naming the
    advertisements. An address shared with a Service that does have a node is announced (see ``group_shared``): no
    gap.
    """
    out: dict[str, L2Gap] = {}
    for svc in sorted(services, key=lambda s: s.key):
        missing: list[str] = []
        selectors: list[Any] = []
        refused: set[str] = set()
        for ip in svc.ips:
            pool = _pool_of(ip, svc, config)
            advs = [a for a in config.l2_for_pool(pool) if a.selects_service(dict(svc.labels))] if pool else []
            if _shared_with_selectors(svc, advs):
                refused.update(a.name for a in advs if a.service_selectors)
            elif advs and ip not in plan:
                missing.append(ip)
                selectors.extend(a.node_selectors for a in advs)
        if refused:
            out[svc.key] = L2Gap(
                svc.key,
                svc.ips,
                SHARED_IP_WITH_SERVICE_SELECTOR,
                f"{', '.join(svc.ips)}: not announced: the Service has the allow-shared-ip annotation "
                f"and L2Advertisement {', '.join(sorted(refused))} selects it by serviceSelectors; "
                "MetalLB refuses the two together (remove one)",
            )
            continue
        if not missing:
            continue
        where = ", ".join(missing)
        if not svc.local and serving is not None and svc.key not in serving:
            out[svc.key] = L2Gap(
                svc.key, tuple(missing), NO_ELIGIBLE_NODE, f"{where}: no node may announce it: {WHY_NOT_SERVING}"
            )
            continue
        endpoints = ready.get(svc.key, frozenset()) if svc.local else None
        eligible = eligible_nodes(nodes, selectors, endpoints)
        if eligible:
            out[svc.key] = L2Gap(
                svc.key,
                tuple(missing),
                NO_LIVE_SPEAKER,
                f"{where}: no speaker is alive on the eligible nodes ({_names(eligible)})",
            )
            continue
        by_reason: dict[str, list[str]] = {}
        for node, why in ineligible(nodes, selectors, endpoints).items():
            by_reason.setdefault(why, []).append(node)
        detail = (
            "; ".join(f"{_names(names)}: {why}" for why, names in sorted(by_reason.items())) or "there are no Nodes"
        )
        out[svc.key] = L2Gap(svc.key, tuple(missing), NO_ELIGIBLE_NODE, f"{where}: no node may announce it: {detail}")
    return out


def peers_for_node(peers: Iterable[BGPPeer], node_labels: Mapping[str, str]) -> list[BGPPeer]:
    """The BGPPeers whose ``nodeSelectors`` select this node (none: every node)."""
    return [p for p in peers if any_matches(p.node_selectors, node_labels)]


RoutesMemo = dict[tuple[str, tuple[BGPAdvertisement, ...]], frozenset[Route]]


def bgp_plan(
    services: Iterable[ServiceAddresses],
    config: ClusterConfig,
    node: str,
    node_labels: Mapping[str, str],
    ready: Mapping[str, frozenset[str]],
    peers: Iterable[BGPPeer],
    *,
    node_excluded: str | None = None,
    previous: RoutesMemo | None = None,
    memo: RoutesMemo | None = None,
    serving: frozenset[str] | None = None,
) -> dict[str, frozenset[Route]]:
    """Peer name → the routes this node advertises to it.

    ``node_excluded`` (``NodeInfo.why_excluded``): this node carries the exclude-from-external-load-balancers label
    (and ``ignore_exclude_lb`` is off) or is NetworkUnavailable — it advertises nothing, its sessions stay up
    (MetalLB's ``speaker/bgp_controller.go`` ``shouldAnnounce``: ``nodeLabeledExcludeBalancers``,
    ``nodeNetworkUnavailable``).

    Every node whose labels match a BGPAdvertisement's ``nodeSelectors`` advertises (the router balances across
    them: ECMP); for ``externalTrafficPolicy: Local`` only nodes with a ready endpoint do, and with none ready
    nobody advertises. An advertisement with ``peers`` goes to those peers only.

    ``previous``/``memo``: the routes of one address under the same advertisements are the same, and building
    them costs ~10 µs an address; the controller recomputes the whole plan after every batch of changes, so it
    passes the last pass's memo as ``previous`` and a fresh dict as ``memo`` (which keeps only what is in use).

    As MetalLB's BGP ``ShouldAnnounce``: a ``Cluster`` Service outside ``serving`` (no serving endpoint anywhere;
    None: not known) is withdrawn.
    """
    out: dict[str, set[Route]] = {p.name: set() for p in peers}
    if not out:
        return {}  # no session: nothing to advertise, and no Service needs looking at
    previous = previous if previous is not None else {}
    memo = memo if memo is not None else {}
    for svc in services if node_excluded is None else ():
        if svc.local and node not in ready.get(svc.key, frozenset()):
            continue
        if not svc.local and serving is not None and svc.key not in serving:
            continue
        for ip in svc.ips:
            pool = _pool_of(ip, svc, config)
            if not pool:
                continue
            advs = tuple(
                a
                for a in config.bgp_for_pool(pool)
                if any_matches(a.node_selectors, node_labels) and a.selects_service(dict(svc.labels))
            )
            for peer in out:
                for_peer = tuple(a for a in advs if not a.peers or peer in a.peers)
                if for_peer:
                    key = (ip, for_peer)
                    routes = memo.get(key) or previous.get(key)
                    if routes is None:
                        routes = routes_for(ip, for_peer)
                    memo[key] = routes
                    out[peer] |= routes
    return {name: frozenset(routes) for name, routes in out.items()}


def advertised_peers(
    services: Iterable[ServiceAddresses], routes: Mapping[str, Iterable[Route]]
) -> dict[str, tuple[str, ...]]:
    """Service key → the peers (sorted) that get a route covering one of its addresses (ServiceBGPStatus).

    A route may be an aggregate (``aggregationLength``), so "covering" is containment; it is checked by looking
    the address's network up at each prefix length in use (a few), not by testing every route (that was
    Services × routes per recompute).
    """
    # A prefix as (version, length, its network bits): an address is in it when its top ``length`` bits match.
    index: dict[str, tuple[set[tuple[int, int, int]], set[tuple[int, int]]]] = {}
    for peer, rs in routes.items():
        prefixes: set[tuple[int, int, int]] = {
            (
                r.prefix.version,
                r.prefix.prefixlen,
                int(r.prefix.network_address) >> (r.prefix.max_prefixlen - r.prefix.prefixlen),
            )
            for r in rs
        }
        if prefixes:
            index[peer] = (prefixes, {(v, length) for v, length, _ in prefixes})
    out: dict[str, tuple[str, ...]] = {}
    if not index:
        return out
    for svc in services:
        addrs = [ipaddress.ip_address(ip) for ip in svc.ips]
        keys = [(a.version, int(a), a.max_prefixlen) for a in addrs]
        peers = tuple(
            sorted(
                peer
                for peer, (prefixes, lengths) in index.items()
                if any(
                    (v, length, n >> (bits - length)) in prefixes
                    for v, n, bits in keys
                    for version, length in lengths
                    if version == v
                )
            )
        )
        if peers:
            out[svc.key] = peers
    return out


@dataclass(frozen=True)
class L2Memory:
    """What one node's Layer 2 decisions remember from one plan to the next."""

    plan: Mapping[str, L2Choice] = field(default_factory=dict)  # the last plan (every node's addresses)
    known_at_sync: frozenset[str] | None = None  # the addresses Services held at our first plan
    ever_planned: frozenset[str] = frozenset()  # addresses some plan since our start gave to a node (any node)
    ever_mine: frozenset[str] = frozenset()  # addresses this node has announced since its start


@dataclass(frozen=True)
class L2NodeDecision:
    memory: L2Memory
    actions: tuple[Layer2Action, ...]
    mine: Mapping[str, L2Choice]  # this node's share of the plan


def l2_node_decision(
    node: str,
    services: Iterable[ServiceAddresses],
    plan: Mapping[str, L2Choice],
    memory: L2Memory,
    *,
    fenced: bool,
    service_obj: Callable[[str], Mapping[str, Any] | None],
) -> L2NodeDecision:
    """This node's share of a Layer 2 plan → what it announces and says. Pure (``service_obj(key)``: the cached
    Service an Event names, or None).

    Probe only an address nobody can be announcing yet: one allocated after we started, never planned on any node
    (also not before a moment in which no node was eligible — the endpoint of an eTP=Local Service moving), and
    never announced here. A takeover must not wait for, or be confused by, the old owner still answering. A
    ``nodeAssigned`` Event per Service whose address this node takes; a fenced node (no peer, no API) announces
    nothing.
    """
    all_ips = {ip for s in services for ip in s.ips}
    known = memory.known_at_sync if memory.known_at_sync is not None else frozenset(all_ips)
    planned_before = memory.ever_planned
    # Remembered across plans that leave an address unassigned for a moment (its only endpoint moving, a Node
    # update): the node that announced it before the gap may still be answering, and a probe would take its answer
    # for a conflict and keep the address dark for the probe retry (30 s).
    ever_planned = frozenset((planned_before | plan.keys()) & all_ips)
    if fenced:
        return L2NodeDecision(
            replace(memory, plan=plan, known_at_sync=known, ever_planned=ever_planned), (Announce({}),), {}
        )
    previous = memory.plan
    desired: dict[str, Announcement] = {}
    taken: dict[str, str] = {}
    said: list[Layer2Action] = []
    for ip, choice in plan.items():
        if choice.node != node:
            continue
        prev = previous.get(ip)
        if prev is not None and prev.node != node:
            taken[ip] = prev.node
        fresh = ip not in known and ip not in planned_before and ip not in memory.ever_mine
        desired[ip] = Announcement(choice.services[0], choice.interfaces, fresh)
        if prev is None or prev.node != node:
            said += [
                Emit(
                    service_event(
                        service_obj(key),
                        key,
                        NORMAL,
                        "nodeAssigned",
                        f'announcing from node "{node}" with protocol "layer2"',
                    )
                )
                for key in choice.services
            ]
    actions: list[Layer2Action] = [*said, HandOver(taken)] if taken else said
    actions.append(Announce(desired))
    return L2NodeDecision(
        L2Memory(plan, known, ever_planned, memory.ever_mine | desired.keys()),
        tuple(actions),
        {ip: plan[ip] for ip in desired},
    )


def l2_gap_actions(
    gaps: Mapping[str, L2Gap],
    warned: Mapping[str, str],
    *,
    leader: bool,
    service_obj: Callable[[str], Mapping[str, Any] | None],
) -> tuple[dict[str, str], tuple[Layer2Action, ...]]:
    """A Warning Event per Service whose address no node may announce — once per change of the reason, not per
    reconcile, and from the allocator leader only (every speaker computes the same gaps; one Event, not one per
    node). Liveness gaps (``NoLiveSpeaker``) only go to ``/status``: they change by the second. ``warned``: Service
    → the message last emitted; returns it updated, with the Events. Pure."""
    still = {
        key: message for key, message in warned.items() if key in gaps and gaps[key].reason in USER_FIXES
    }  # resolved: a recurrence is a change again
    if not leader:
        return still, ()
    actions: list[Layer2Action] = []
    for key, gap in gaps.items():
        if gap.reason in USER_FIXES and still.get(key) != gap.message:
            still[key] = gap.message
            # spelled out (USER_FIXES holds exactly these two), so every reason the speaker emits is a constant
            # that tests/unit/test_event_reasons_documented.py can find and check against docs/speaker.md
            reason = NO_ELIGIBLE_NODE if gap.reason == NO_ELIGIBLE_NODE else SHARED_IP_WITH_SERVICE_SELECTOR
            actions.append(Emit(service_event(service_obj(key), key, WARNING, reason, gap.message)))
    return still, tuple(actions)


ALL_INTERFACES = "AnnouncedOnAllInterfaces"  # the Normal Event's reason


def all_interfaces_actions(
    rows: Iterable[Mapping[str, Any]],
    mine: Mapping[str, L2Choice],
    said: Mapping[str, tuple[str, ...]],
    *,
    node: str,
    service_obj: Callable[[str], Mapping[str, Any] | None],
) -> tuple[dict[str, tuple[str, ...]], tuple[Layer2Action, ...]]:
    """A Normal Event per Service whose address this node answers on every interface, because none of them holds
    the address's subnet (``speaker.layer2.interfaces.choose_interfaces``: MetalLB's behaviour, kept only as a
    fallback). Once per change of the interfaces; an address that leaves the fallback is forgotten, so a return is
    said again. ``rows``: the announcer's snapshot rows; ``said``: address → the interfaces last said. Pure."""
    now: dict[str, tuple[str, ...]] = {}
    actions: list[Layer2Action] = []
    for row in rows:
        ip = str(row.get("ip"))
        if not row.get("all_interfaces") or row.get("state") != "announced" or ip not in mine:
            continue
        ifaces = tuple(sorted(row.get("interfaces") or ()))
        now[ip] = ifaces
        if said.get(ip) == ifaces:
            continue
        message = (
            f'{ip}: no interface of node "{node}" has an address in its subnet, so it is answered on every '
            f"interface that may announce ({', '.join(ifaces)}), as MetalLB does; list the right one in the "
            "L2Advertisement's interfaces, or exclude the others in the metallb-excludel2 ConfigMap"
        )
        actions += [
            Emit(service_event(service_obj(key), key, NORMAL, ALL_INTERFACES, message)) for key in mine[ip].services
        ]
    return now, tuple(actions)


class _Lazy(Protocol):
    """What the BGP decision reads from a ``ClusterView``: properties computed on first use."""

    @property
    def addressed(self) -> list[ServiceAddresses]: ...

    @property
    def ready(self) -> Mapping[str, frozenset[str]]: ...

    @property
    def serving(self) -> frozenset[str]: ...


def bgp_withdrawn(
    services: Iterable[ServiceAddresses], config: ClusterConfig, node_labels: Mapping[str, str], serving: frozenset[str]
) -> dict[str, tuple[str, ...]]:
    """Service key → its addresses that a BGPAdvertisement would have this node advertise, withdrawn because the
    Service (externalTrafficPolicy Cluster) has no serving endpoint anywhere (``bgp_plan``'s ``serving``): what the
    speaker tells the user, so a Service that went dark because its Pods did says why. Pure."""
    out: dict[str, tuple[str, ...]] = {}
    for svc in services:
        if svc.local or svc.key in serving:
            continue
        ips = tuple(
            ip
            for ip in svc.ips
            if (pool := _pool_of(ip, svc, config))
            and any(
                any_matches(a.node_selectors, node_labels) and a.selects_service(dict(svc.labels))
                for a in config.bgp_for_pool(pool)
            )
        )
        if ips:
            out[svc.key] = ips
    return out


@dataclass(frozen=True)
class BGPNodeDecision:
    """This node's BGP: its sessions, the routes each carries, and which Services they advertise."""

    peers: tuple[BGPPeer, ...]
    routes: Mapping[str, frozenset[Route]]
    advertised: Mapping[str, tuple[str, ...]]  # Service key → the peers (ServiceBGPStatus)
    excluded: str | None  # why this node advertises nothing (its sessions stay up)
    memo: RoutesMemo  # pass as ``previous`` next time
    withdrawn: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # ``bgp_withdrawn``: no serving endpoint
    announced: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # Service key → its addresses advertised


def bgp_node_decision(
    config: ClusterConfig, node: str, me: NodeInfo | None, view: _Lazy, previous: RoutesMemo
) -> BGPNodeDecision:
    """The BGPPeers that select this node, and what it advertises to each (``bgp_plan``). Pure.

    With no session, or nothing to advertise on it (the node excluded), no Service is read at all: ``view``'s
    properties are computed on first use (issue 10)."""
    labels = me.labels if me is not None else {}
    peers = tuple(peers_for_node(config.peers.values(), labels))
    excluded = me.why_excluded if me is not None else None
    if peers and excluded is None:
        services, memo, serving = view.addressed, RoutesMemo(), view.serving
        routes = bgp_plan(
            services, config, node, labels, view.ready, peers, previous=previous, memo=memo, serving=serving
        )
        advertised = advertised_peers(services, routes)
        return BGPNodeDecision(
            peers,
            routes,
            advertised,
            excluded,
            memo,
            bgp_withdrawn(services, config, labels, serving),
            {s.key: s.ips for s in services if s.key in advertised},
        )
    routes = bgp_plan((), config, node, labels, {}, peers, node_excluded=excluded)
    return BGPNodeDecision(peers, routes, {}, excluded, {})


WHY_BGP_SELECTOR = "not selected by the BGPAdvertisement nodeSelectors"
WHY_NO_PEER = "no BGPPeer selects it (BGPPeer nodeSelectors)"
WHY_OTHER_PEERS = "its BGPPeers are not among the BGPAdvertisement's peers"


def bgp_unannounced(
    services: Iterable[ServiceAddresses],
    config: ClusterConfig,
    nodes: Mapping[str, NodeInfo],
    ready: Mapping[str, frozenset[str]],
    serving: frozenset[str] | None = None,
) -> dict[str, L2Gap]:
    """Service key → why no node advertises its BGP address(es) (``NoEligibleNode``, every node's reason). Pure.

    The rules of :func:`bgp_plan`, applied to every node at once: a node advertises an address when it is not
    excluded, has a ready endpoint (eTP=Local), a BGPAdvertisement of the address's pool selects it, and one of its
    BGPPeers (their nodeSelectors) is one that advertisement sends to. Liveness is not judged here: a node whose
    speaker is down loses its sessions and the routers withdraw its routes (``MetalLBBGPSessionDown``).
    ``serving`` as for :func:`bgp_plan`: an externalTrafficPolicy Cluster Service outside it is withdrawn everywhere.
    """
    out: dict[str, L2Gap] = {}
    peers_of = {
        name: {p.name for p in peers_for_node(config.peers.values(), info.labels)} for name, info in nodes.items()
    }
    for svc in sorted(services, key=lambda s: s.key):
        endpoints = ready.get(svc.key, frozenset()) if svc.local else None
        missing: list[str] = []
        why: dict[str, str] = {}
        for ip in svc.ips:
            pool = _pool_of(ip, svc, config)
            advs = [a for a in config.bgp_for_pool(pool) if a.selects_service(dict(svc.labels))] if pool else []
            if not advs:
                continue
            reasons: dict[str, str] = {}
            for name, info in nodes.items():
                selecting = [a for a in advs if any_matches(a.node_selectors, info.labels)]
                if info.why_excluded:
                    reasons[name] = info.why_excluded
                elif endpoints is None and serving is not None and svc.key not in serving:
                    reasons[name] = WHY_NOT_SERVING
                elif endpoints is not None and name not in endpoints:
                    reasons[name] = WHY_ENDPOINT
                elif not selecting:
                    reasons[name] = WHY_BGP_SELECTOR
                elif not peers_of[name]:
                    reasons[name] = WHY_NO_PEER
                elif not any(not a.peers or peers_of[name] & set(a.peers) for a in selecting):
                    reasons[name] = WHY_OTHER_PEERS
                else:
                    break  # this node advertises it
            else:
                missing.append(ip)
                why = reasons
        if not missing:
            continue
        by_reason: dict[str, list[str]] = {}
        for node, reason in why.items():
            by_reason.setdefault(reason, []).append(node)
        detail = (
            "; ".join(f"{_names(names)}: {reason}" for reason, names in sorted(by_reason.items()))
            or "there are no Nodes"
        )
        out[svc.key] = L2Gap(
            svc.key,
            tuple(missing),
            NO_ELIGIBLE_NODE,
            f"{', '.join(missing)}: no node may advertise it over BGP: {detail}",
        )
    return out
