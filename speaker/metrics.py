"""Prometheus metrics, under MetalLB's names where MetalLB has one (dashboards keep working)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

K8S_UPDATES = Counter("metallb_k8s_client_updates_total", "Kubernetes object updates written (status writes)")
K8S_UPDATE_ERRORS = Counter("metallb_k8s_client_update_errors_total", "Kubernetes object update failures")
CONFIG_LOADED = Gauge("metallb_k8s_client_config_loaded_bool", "1 if the pool configuration was loaded at least once")
CONFIG_STALE = Gauge("metallb_k8s_client_config_stale_bool", "1 while the API is unreachable and the last state is used")
ADDRESSES_IN_USE = Gauge("metallb_allocator_addresses_in_use_total", "Addresses assigned from the pool", ["pool"])
ADDRESSES_TOTAL = Gauge("metallb_allocator_addresses_total", "Usable addresses in the pool", ["pool"])
LEADER = Gauge("baremetal_lb_allocator_leader", "1 while this speaker holds the allocator lease")
EVENTS_DROPPED = Counter("baremetal_lb_events_dropped_total", "Events not sent because the event queue was full")
ALLOCATION_FAILURES = Counter("baremetal_lb_allocation_failures_total", "Services that could not get an address")
LEASE_FALLBACK = Gauge("baremetal_lb_membership_lease_fallback",
                       "1 while Layer 2 liveness comes from Leases because no heartbeat key is configured")
