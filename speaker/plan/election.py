"""Who announces each address: a pure function of (live members, eligible nodes per VIP).

Every speaker computes this independently from the same inputs (its membership view and its API caches);
there is no coordination, so the answer must be **deterministic** (it does not depend on iteration order,
process, host or Python hash seed), **stable** (a node joining or leaving moves few VIPs) and **balanced**
(VIPs spread evenly across nodes).

Two strategies (``docs/design/0006-election-and-membership.md`` has the numbers):

- ``"hrw"`` — rendezvous (highest-random-weight) hashing, MetalLB's rule: each VIP goes to the eligible live
  node with the highest ``score(node, vip)``. Perfectly stable (a node leaving moves exactly its own VIPs) and
  each VIP's answer depends on that VIP's inputs only, but with few VIPs the load can be very uneven.
- ``"bounded"`` (default) — rendezvous hashing with bounded load: every (VIP, node) pair is considered from the
  highest score down, and a VIP takes its best node that still has room under
  ``capacity = ceil((1 + epsilon) * V / N)``. The order is the global score order, so it does not depend on how
  VIPs are named or listed. A VIP whose eligible nodes are all full goes to its best eligible node anyway
  (eligibility beats balance: an address is never left unannounced for the sake of balance).

Also here: the small pure filters that decide which nodes are eligible (L2Advertisement node selectors,
``externalTrafficPolicy: Local`` endpoints, the exclude-from-external-load-balancers label, NetworkUnavailable),
and the grouping of Services that share one address. No I/O, no Kubernetes client types, no clock.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

from speaker.labels import Selector, any_matches

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
DEFAULT_EPSILON = 0.25
Strategy = Literal["bounded", "hrw"]


# --------------------------------------------------------------------------------------------- eligibility


# Why a node may not announce an address (``ineligible``), worded for the user: Events, logs, ``/status``.
WHY_LABEL = f"labelled {EXCLUDE_LABEL} (set ignore_exclude_lb to announce from them)"
WHY_NETWORK = "NetworkUnavailable"
WHY_SELECTOR = "not selected by the L2Advertisement nodeSelectors"
WHY_ENDPOINT = "no ready endpoint of the Service (externalTrafficPolicy: Local)"


@dataclass(frozen=True)
class NodeInfo:
    """What election needs to know about a Node object.

    ``honour_exclude_label``: False when the speakers run with ``ignore_exclude_lb`` (MetalLB's
    ``--ignore-exclude-lb``, ``speaker/main.go``: its Layer 2 and BGP controllers then skip
    ``IsNodeExcludedFromBalancers``, ``internal/k8s/nodes/nodes.go``); NetworkUnavailable still excludes.
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    network_unavailable: bool = False
    honour_exclude_label: bool = True

    @property
    def excluded_by_label(self) -> bool:
        return self.honour_exclude_label and EXCLUDE_LABEL in self.labels

    @property
    def excluded(self) -> bool:
        """Never announce from this node (Kubernetes' label, any value; or its network is not set up)."""
        return self.excluded_by_label or self.network_unavailable

    @property
    def why_excluded(self) -> str | None:
        return WHY_NETWORK if self.network_unavailable else WHY_LABEL if self.excluded_by_label else None


def node_info(node: Mapping[str, Any], *, ignore_exclude_lb: bool = False) -> NodeInfo:
    """A Node as the API returns it (a plain dict) → :class:`NodeInfo`."""
    meta = node.get("metadata") or {}
    conditions = (node.get("status") or {}).get("conditions") or []
    unavailable = any(c.get("type") == "NetworkUnavailable" and c.get("status") == "True" for c in conditions)
    return NodeInfo(
        labels=dict(meta.get("labels") or {}),
        network_unavailable=unavailable,
        honour_exclude_label=not ignore_exclude_lb,
    )


def eligible_nodes(
    nodes: Mapping[str, NodeInfo],
    advertisements: Iterable[Sequence[Selector]],
    ready_endpoint_nodes: AbstractSet[str] | None,
) -> frozenset[str]:
    """Nodes that may announce one Service's address.

    ``advertisements``: the ``nodeSelectors`` of each L2Advertisement that advertises the address's pool — a node
    qualifies if any advertisement selects it (an advertisement without selectors selects every node); no
    advertisement at all means no node. ``ready_endpoint_nodes`` (``speaker.plan.endpoints``): for
    ``externalTrafficPolicy: Local`` the nodes with a ready endpoint (only they qualify), ``None`` for ``Cluster``.
    Excluded nodes never qualify.
    """
    ads = [tuple(a) for a in advertisements]
    out = set()
    for name, info in nodes.items():
        if info.excluded:
            continue
        if ready_endpoint_nodes is not None and name not in ready_endpoint_nodes:
            continue
        if any(any_matches(sel, info.labels) for sel in ads):
            out.add(name)
    return frozenset(out)


def ineligible(
    nodes: Mapping[str, NodeInfo],
    advertisements: Iterable[Sequence[Selector]],
    ready_endpoint_nodes: AbstractSet[str] | None,
) -> dict[str, str]:
    """Node → why it may not announce one Service's address (the nodes :func:`eligible_nodes` leaves out), with
    the first reason that applies in the order the filters run: exclusion, endpoints, selectors."""
    ads = [tuple(a) for a in advertisements]
    eligible = eligible_nodes(nodes, ads, ready_endpoint_nodes)
    out = {}
    for name, info in nodes.items():
        if name in eligible:
            continue
        if info.why_excluded:
            out[name] = info.why_excluded
        elif ready_endpoint_nodes is not None and name not in ready_endpoint_nodes:
            out[name] = WHY_ENDPOINT
        else:
            out[name] = WHY_SELECTOR
    return out


def group_shared(
    vip_of: Mapping[str, Iterable[str]], eligible_of: Mapping[str, AbstractSet[str]]
) -> dict[str, frozenset[str]]:
    """Services sharing an address → one election entry per address.

    ``vip_of``: service key → its addresses; ``eligible_of``: service key → its eligible nodes. An address gets
    the nodes eligible for *all* its Services; if they have none in common (e.g. two eTP=Local Services whose
    endpoints live on different nodes) it gets the union, so the address is still answered (one node for all of
    them — the Services that have no endpoint there lose traffic either way).
    """
    per_ip: dict[str, list[AbstractSet[str]]] = {}
    for svc in sorted(vip_of):
        for ip in vip_of[svc]:
            per_ip.setdefault(ip, []).append(eligible_of.get(svc, frozenset()))
    out: dict[str, frozenset[str]] = {}
    for ip, sets in per_ip.items():
        common = frozenset.intersection(*map(frozenset, sets))
        out[ip] = common if common else frozenset().union(*sets)
    return out


# -------------------------------------------------------------------------------------------------- election


def score(node: str, vip: str) -> int:
    """The rendezvous weight of ``node`` for ``vip``: 64 bits of BLAKE2b, the same on every machine."""
    digest = hashlib.blake2b(f"{node}\x00{vip}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def capacity(vips: int, nodes: int, epsilon: float = DEFAULT_EPSILON) -> int:
    """Most VIPs one node takes under bounded load: ``ceil(V/N) + floor(epsilon * V/N)``.

    The slack is rounded *down*: with few VIPs per node (``epsilon * V/N < 1``) there is none and no node takes
    more than ``ceil(V/N)``, the least possible; with many, nodes may exceed the mean by ``epsilon`` and bounded load
    behaves like plain rendezvous hashing (which is then balanced anyway, and moves only what it must).
    """
    if nodes <= 0:
        return 0
    return -(-vips // nodes) + math.floor(epsilon * vips / nodes + 1e-9)


def assign(
    alive: AbstractSet[str],
    eligible: Mapping[str, AbstractSet[str]],
    *,
    strategy: Strategy = "bounded",
    epsilon: float = DEFAULT_EPSILON,
    seniority: Sequence[str] | None = None,
) -> dict[str, str]:
    """Choose the announcing node for every VIP. Pure and deterministic.

    ``alive``: live members (node names). ``eligible``: every VIP (an address, or any string key: all speakers
    must use the same keys) → the nodes allowed to announce it. Returns VIP → node for every VIP that has an
    eligible live node; VIPs with none are absent.

    ``seniority`` (bounded only): VIPs oldest first (e.g. by their Services' creation). When given, VIPs are
    placed in that order, each on its best node with room, so a new Service (placed last) can never push an
    existing VIP off its node while the capacity stays the same: creating a Service does not move other
    Services' traffic. VIPs not listed come after, in the global score order.
    """
    if epsilon < 0:
        raise ValueError(f"epsilon: {epsilon!r} must be >= 0")
    candidates: dict[str, list[str]] = {}
    for vip, nodes in eligible.items():
        live = [n for n in nodes if n in alive]
        if live:
            candidates[vip] = live
    if strategy == "hrw":
        return {vip: max(nodes, key=lambda n: (score(n, vip), n)) for vip, nodes in candidates.items()}
    if strategy != "bounded":
        raise ValueError(f"strategy: {strategy!r} is not one of bounded, hrw")
    return _bounded(candidates, epsilon, seniority or ())


def _bounded(candidates: Mapping[str, list[str]], epsilon: float, seniority: Sequence[str] = ()) -> dict[str, str]:
    used = set().union(*candidates.values()) if candidates else set()
    cap = capacity(len(candidates), len(used), epsilon)
    load: dict[str, int] = {}
    out: dict[str, str] = {}
    for vip in seniority:
        if vip in candidates and vip not in out:
            ranked_nodes = sorted(candidates[vip], key=lambda n: (score(n, vip), n), reverse=True)
            node = next((n for n in ranked_nodes if load.get(n, 0) < cap), ranked_nodes[0])
            out[vip] = node
            load[node] = load.get(node, 0) + 1
    candidates = {vip: nodes for vip, nodes in candidates.items() if vip not in out}
    # Each VIP's nodes, best first; the heap merges them into one global order of (score, vip, node), so the
    # highest-scoring pairs are served first whatever order the VIPs were given in.
    ranked = {vip: sorted(((score(n, vip), n) for n in nodes), reverse=True) for vip, nodes in candidates.items()}
    heap = [(-ranked[vip][0][0], vip, 0) for vip in ranked]
    heapq.heapify(heap)
    while heap:
        _, vip, i = heapq.heappop(heap)
        node = ranked[vip][i][1]
        if load.get(node, 0) < cap:
            out[vip] = node
            load[node] = load.get(node, 0) + 1
        elif i + 1 < len(ranked[vip]):
            heapq.heappush(heap, (-ranked[vip][i + 1][0], vip, i + 1))
        else:  # every eligible node is full: its best node takes it anyway
            best = ranked[vip][0][1]
            out[vip] = best
            load[best] = load.get(best, 0) + 1
    return out


def announced_by(assignment: Mapping[str, str], node: str) -> frozenset[str]:
    """The VIPs ``node`` announces under ``assignment``."""
    return frozenset(vip for vip, n in assignment.items() if n == node)
