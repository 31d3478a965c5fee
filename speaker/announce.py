"""What this node announces (Layer 2 and BGP), decided from the caches — pure, no side effects.

Every speaker runs the same computation on the same inputs (Service status written by the allocator,
L2Advertisements, Nodes, EndpointSlices, and its membership view), so all agree on one announcer per
address without talking to each other; ``speaker.election`` holds the rules that make that agreement
stable and balanced.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from speaker.bgp.rib import Route, routes_for
from speaker.clusterconfig import BGPPeer, ClusterConfig
from speaker.election import NodeInfo, assign, eligible_nodes, group_shared, ineligible
from speaker.labels import any_matches
from speaker.service import IP_ALLOCATED_FROM_POOL, is_load_balancer


@dataclass(frozen=True)
class ServiceAddresses:
    """A LoadBalancer Service that holds addresses (from its status), as announcement needs it."""

    key: str
    ips: tuple[str, ...]
    pool: str | None
    local: bool  # externalTrafficPolicy: Local
    created: str


def addressed_services(services: Iterable[Mapping[str, Any]], lb_class: str | None) -> list[ServiceAddresses]:
    out = []
    for svc in services:
        if not is_load_balancer(svc, lb_class):
            continue
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = tuple(i["ip"] for i in ingress if isinstance(i, Mapping) and i.get("ip"))
        if not ips:
            continue
        meta = svc.get("metadata") or {}
        spec = svc.get("spec") or {}
        out.append(ServiceAddresses(
            key=f"{meta.get('namespace')}/{meta.get('name')}",
            ips=ips,
            pool=(meta.get("annotations") or {}).get(IP_ALLOCATED_FROM_POOL),
            local=spec.get("externalTrafficPolicy") == "Local",
            created=str(meta.get("creationTimestamp") or ""),
        ))
    return out


def _pool_of(ip: str, svc: ServiceAddresses, config: ClusterConfig) -> str | None:
    """The pool named by the allocator's annotation, else the pool whose ranges hold the address."""
    if svc.pool and svc.pool in config.pools:
        return svc.pool
    addr = ipaddress.ip_address(ip)
    for name, pool in config.pools.items():
        if any(addr in r for r in pool.ranges):
            return name
    return None


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
) -> dict[str, L2Choice]:
    """Every Layer 2 address in the cluster → the node that announces it (all nodes, not only ours).

    Addresses whose pool has no L2Advertisement, or with no eligible live node, are absent.
    """
    services = sorted(services, key=lambda s: (s.created, s.key))  # oldest first: seniority in the election
    vip_of: dict[str, tuple[str, ...]] = {}
    eligible_of: dict[str, frozenset[str]] = {}
    interfaces_of: dict[str, set[str] | None] = {}
    seniority: list[str] = []
    for svc in services:
        ips = []
        for ip in svc.ips:
            pool = _pool_of(ip, svc, config)
            advs = config.l2_for_pool(pool) if pool else ()
            if not advs:
                continue
            ips.append(ip)
            if ip not in seniority:
                seniority.append(ip)
            named = set().union(*(a.interfaces for a in advs))
            wildcard = any(not a.interfaces for a in advs)
            prev = interfaces_of.get(ip, set())
            interfaces_of[ip] = None if (wildcard or prev is None) else (prev | named)
            eligible_of[svc.key] = eligible_nodes(
                nodes, [a.node_selectors for a in advs], ready.get(svc.key, frozenset()) if svc.local else None)
        if ips:
            vip_of[svc.key] = tuple(ips)
    per_ip = group_shared(vip_of, eligible_of)
    chosen = assign(alive, per_ip, seniority=seniority)
    holders: dict[str, list[str]] = {}
    for key, ips in vip_of.items():
        for ip in ips:
            holders.setdefault(ip, []).append(key)
    return {
        ip: L2Choice(node, tuple(sorted(holders[ip])),
                     None if interfaces_of.get(ip) is None else frozenset(interfaces_of[ip] or ()))
        for ip, node in chosen.items()
    }


NO_ELIGIBLE_NODE = "NoEligibleNode"  # the Warning Event's reason
NO_LIVE_SPEAKER = "NoLiveSpeaker"  # /status only: liveness changes by the second, Events are for what a user fixes


@dataclass(frozen=True)
class L2Gap:
    """A Layer 2 Service whose address(es) no node announces, and why."""

    service: str
    ips: tuple[str, ...]
    reason: str  # NO_ELIGIBLE_NODE | NO_LIVE_SPEAKER
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
) -> dict[str, L2Gap]:
    """Service key → why its Layer 2 address(es) are announced by nobody (absent when all are announced). Pure.

    ``NoEligibleNode`` when the Service's eligibility filters leave no node — every node excluded by the
    ``node.kubernetes.io/exclude-from-external-load-balancers`` label or NetworkUnavailable, the L2Advertisements'
    nodeSelectors select none, no ready endpoint for eTP=Local — with every node's reason, grouped (what the user
    must change). ``NoLiveSpeaker`` when nodes are eligible but no speaker on them is alive.
    An address shared with a Service that does have a node is announced (see ``group_shared``): no gap.
    """
    out: dict[str, L2Gap] = {}
    for svc in sorted(services, key=lambda s: s.key):
        missing: list[str] = []
        selectors: list[Any] = []
        for ip in svc.ips:
            pool = _pool_of(ip, svc, config)
            advs = config.l2_for_pool(pool) if pool else ()
            if advs and ip not in plan:
                missing.append(ip)
                selectors.extend(a.node_selectors for a in advs)
        if not missing:
            continue
        endpoints = ready.get(svc.key, frozenset()) if svc.local else None
        eligible = eligible_nodes(nodes, selectors, endpoints)
        where = ", ".join(missing)
        if eligible:
            out[svc.key] = L2Gap(svc.key, tuple(missing), NO_LIVE_SPEAKER,
                                 f"{where}: no speaker is alive on the eligible nodes ({_names(eligible)})")
            continue
        by_reason: dict[str, list[str]] = {}
        for node, why in ineligible(nodes, selectors, endpoints).items():
            by_reason.setdefault(why, []).append(node)
        detail = "; ".join(f"{_names(names)}: {why}" for why, names in sorted(by_reason.items())) or "there are no Nodes"
        out[svc.key] = L2Gap(svc.key, tuple(missing), NO_ELIGIBLE_NODE, f"{where}: no node may announce it: {detail}")
    return out


def peers_for_node(peers: Iterable[BGPPeer], node_labels: Mapping[str, str]) -> list[BGPPeer]:
    """The BGPPeers whose ``nodeSelectors`` select this node (none: every node)."""
    return [p for p in peers if any_matches(p.node_selectors, node_labels)]


def bgp_plan(
    services: Iterable[ServiceAddresses],
    config: ClusterConfig,
    node: str,
    node_labels: Mapping[str, str],
    ready: Mapping[str, frozenset[str]],
    peers: Iterable[BGPPeer],
    *,
    node_excluded: str | None = None,
) -> dict[str, frozenset[Route]]:
    """Peer name → the routes this node advertises to it.

    ``node_excluded`` (``NodeInfo.why_excluded``): this node carries the exclude-from-external-load-balancers label
    (and ``ignore_exclude_lb`` is off) or is NetworkUnavailable — it advertises nothing, its sessions stay up
    (MetalLB's ``speaker/bgp_controller.go`` ``shouldAnnounce``: ``nodeLabeledExcludeBalancers``,
    ``nodeNetworkUnavailable``).

    Every node whose labels match a BGPAdvertisement's ``nodeSelectors`` advertises (the router balances across
    them: ECMP); for ``externalTrafficPolicy: Local`` only nodes with a ready endpoint do, and with none ready
    nobody advertises. An advertisement with ``peers`` goes to those peers only.
    """
    out: dict[str, set[Route]] = {p.name: set() for p in peers}
    for svc in services if node_excluded is None else ():
        if svc.local and node not in ready.get(svc.key, frozenset()):
            continue
        for ip in svc.ips:
            pool = _pool_of(ip, svc, config)
            if not pool:
                continue
            advs = [a for a in config.bgp_for_pool(pool) if any_matches(a.node_selectors, node_labels)]
            for peer in out:
                for_peer = [a for a in advs if not a.peers or peer in a.peers]
                if for_peer:
                    out[peer] |= routes_for(ip, for_peer)
    return {name: frozenset(routes) for name, routes in out.items()}
