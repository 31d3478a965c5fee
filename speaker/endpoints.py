"""Which nodes have a ready backend for a Service, from EndpointSlices (pure).

Needed for ``externalTrafficPolicy: Local``: announcing from a node without a ready local endpoint
blackholes traffic, so such nodes are never chosen (Layer 2) and never advertise (BGP).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def ready_nodes_by_service(slices: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """``{"ns/name": nodes with at least one ready endpoint}`` over all EndpointSlices.

    An endpoint counts when ``conditions.ready`` is true, or unset (the API's "unknown, assume ready"),
    and it is not terminating; serving-but-terminating endpoints are not used for new traffic.
    """
    nodes: dict[str, set[str]] = defaultdict(set)
    for s in slices:
        meta = s.get("metadata") or {}
        svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not svc:
            continue
        key = f"{meta.get('namespace')}/{svc}"
        for ep in s.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            if cond.get("ready", True) is False or cond.get("terminating") is True:
                continue
            node = ep.get("nodeName")
            if node:
                nodes[key].add(node)
    return {k: frozenset(v) for k, v in nodes.items()}
