"""Which nodes have a ready backend for a Service, from EndpointSlices (pure).

Needed for ``externalTrafficPolicy: Local``: announcing from a node without a ready local endpoint
blackholes traffic, so such nodes are never chosen (Layer 2) and never advertise (BGP). And for
``Cluster``: a Service with no serving endpoint anywhere is withdrawn, as MetalLB does
(speaker/bgp_controller.go ``ShouldAnnounce``: "noEndpoints"; speaker/layer2_controller.go
``activeEndpointExists``).

An endpoint counts as MetalLB counts it (internal/k8s/epslices ``EndpointCanServe``): ``ready`` true or unset
(the API's "unknown, assume ready"), or ``serving`` true — a terminating Pod that still serves keeps its
Service announced while connections drain (graceful shutdown); one that stopped serving does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def can_serve(endpoint: Mapping[str, Any]) -> bool:
    """MetalLB's ``EndpointCanServe``, plus its "has an address" check: ready (or unset), or serving."""
    if not endpoint.get("addresses"):
        return False
    cond = endpoint.get("conditions") or {}
    return cond.get("ready") is None or cond.get("ready") is True or cond.get("serving") is True


def _serving_endpoints(slices: Iterable[Mapping[str, Any]]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for s in slices:
        meta = s.get("metadata") or {}
        svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not svc:
            continue
        key = f"{meta.get('namespace')}/{svc}"
        for ep in s.get("endpoints") or []:
            if isinstance(ep, Mapping) and can_serve(ep):
                yield key, ep


def ready_nodes_by_service(slices: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """``{"ns/name": nodes with at least one endpoint that can serve}`` over all EndpointSlices."""
    nodes: dict[str, set[str]] = defaultdict(set)
    for key, ep in _serving_endpoints(slices):
        node = ep.get("nodeName")
        if node:
            nodes[key].add(node)
    return {k: frozenset(v) for k, v in nodes.items()}


def serving_services(slices: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Services with at least one endpoint that can serve, on any node (or none named): ``Cluster`` announces."""
    return frozenset(key for key, _ in _serving_endpoints(slices))
