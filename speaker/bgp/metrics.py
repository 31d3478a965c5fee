"""BGP metrics under MetalLB's names (``metallb_bgp_*``), labelled by peer address, as MetalLB does."""

from __future__ import annotations

import contextlib

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


class BGPMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.session_up = Gauge(
            "metallb_bgp_session_up", "BGP session state (1 is up, 0 is down)", ["peer"], registry=registry
        )
        self.updates = Counter(
            "metallb_bgp_updates_total", "Number of BGP UPDATE messages sent", ["peer"], registry=registry
        )
        self.announced = Gauge(
            "metallb_bgp_announced_prefixes_total",
            "Number of prefixes currently being advertised on the BGP session",
            ["peer"],
            registry=registry,
        )
        self.pending = Gauge(
            "metallb_bgp_pending_prefixes_total",
            "Number of prefixes that should be advertised on"
            " the BGP session but are not (session down, family not negotiated, no next hop)",
            ["peer"],
            registry=registry,
        )

    def forget(self, peer: str) -> None:
        for m in (self.session_up, self.updates, self.announced, self.pending):
            with contextlib.suppress(KeyError):
                m.remove(peer)


_default: BGPMetrics | None = None


def default_metrics() -> BGPMetrics:
    """The process-wide metrics on prometheus_client's default registry (created once, on first use)."""
    global _default
    if _default is None:
        _default = BGPMetrics(REGISTRY)
    return _default
