"""One immutable view of the cluster per generation, read once and shared by every controller. Pure (no I/O).

Before it, the allocation, Layer 2 and BGP controllers each built the config from the caches (each with its own
"last good pools" memory, only one with the Secrets), each parsed every Service, and a Service's live status was
read in four places. Now:

* ``ViewSource`` (``speaker/controllers/views.py``: it holds state behind a lock, so it lives with the
  controllers) keeps the speaker's single memory of the last good config, and a memo of parsed Services keyed by the
  cached object's identity (the informer stores a new dict per change and never mutates a stored one, so "the same
  dict" means "unchanged": parsing 10,000 Services on every pass was what made allocation 3.7x slower, issue 10).
* ``ViewSource.view()`` returns a :class:`ClusterView`: the caches' contents at that moment (list copies, cheap)
  plus the config. What is costly — every Service parsed, Nodes, ready and serving endpoints — is computed on
  first use and kept on that view; the same view is handed out again until a cache holds something else, so the
  Layer 2 and BGP controllers share one parse per generation.
* The allocation controller works per changed Service, so it asks ``ViewSource.service()`` for one key (never a
  scan of all of them) and ``ViewSource.config()`` for the config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from speaker.config.cluster import ClusterConfig
from speaker.ipam.service import ServiceStatus, is_load_balancer, key_of, live_status
from speaker.plan.announce import ServiceAddresses, addresses_of
from speaker.plan.election import NodeInfo, node_info
from speaker.plan.endpoints import ready_nodes_by_service, serving_services

Obj = Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class ServiceView:
    """One Service as every controller reads it: its key, whether it is ours, its live status and, when it is ours
    and holds addresses, what announcing needs. The last two are read on first use: a reader that needs only the
    key and the class (the allocator's scan for its Services) pays for nothing more."""

    key: str
    obj: Obj  # the cached dict, never modified
    ours: bool  # type LoadBalancer with our loadBalancerClass

    @cached_property
    def live(self) -> ServiceStatus:
        return live_status(self.obj)

    @cached_property
    def addresses(self) -> ServiceAddresses | None:
        return addresses_of(self.obj, self.live) if self.ours else None

    @property
    def created(self) -> str:
        return str((self.obj.get("metadata") or {}).get("creationTimestamp") or "")


def service_view(svc: Obj, lb_class: str | None) -> ServiceView:
    """One Service (no side effects; ``svc`` is not modified)."""
    meta = svc.get("metadata") or {}
    return ServiceView(key_of(meta.get("namespace"), meta.get("name")), svc, is_load_balancer(svc, lb_class))


@dataclass(frozen=True, eq=False)
class ClusterView:
    """The cluster as one generation saw it. Immutable: the lists are copies taken when the view was made, the
    objects in them are never modified, and what is derived from them is computed once, on first use."""

    config: ClusterConfig
    service_objects: Sequence[Obj]
    node_objects: Sequence[Obj]
    endpoint_slices: Sequence[Obj]
    load_balancer_class: str | None = None
    ignore_exclude_lb: bool = False
    _memo: dict[str, ServiceView] = field(default_factory=dict, repr=False)

    @cached_property
    def services(self) -> Mapping[str, ServiceView]:
        """Every Service by key."""
        out = parse_services(self.service_objects, self._memo, self.load_balancer_class)
        self._memo.clear()  # a private copy: holding the last generation's objects any longer only costs memory
        return out

    @cached_property
    def addressed(self) -> list[ServiceAddresses]:
        """Our Services that hold addresses, as announcing reads them (``speaker.plan.announce``)."""
        return [s.addresses for s in self.services.values() if s.addresses is not None]

    @cached_property
    def nodes(self) -> Mapping[str, NodeInfo]:
        return {
            str(n["metadata"]["name"]): node_info(n, ignore_exclude_lb=self.ignore_exclude_lb)
            for n in self.node_objects
        }

    @cached_property
    def node_by_name(self) -> Mapping[str, Obj]:
        return {str(n["metadata"]["name"]): n for n in self.node_objects}

    @cached_property
    def ready(self) -> Mapping[str, frozenset[str]]:
        """Service key → the nodes with a ready endpoint, read only when some Service has externalTrafficPolicy
        Local (nobody else looks)."""
        if not any(s.local for s in self.addressed):
            return {}
        return ready_nodes_by_service(self.endpoint_slices)

    @cached_property
    def serving(self) -> frozenset[str]:
        """Service keys with a serving endpoint on any node. An ``externalTrafficPolicy: Cluster`` Service outside
        it is withdrawn (Layer 2 and BGP), as MetalLB withdraws it ("noEndpoints"): announcing an address whose
        traffic every node would drop makes clients wait on timeouts instead of failing fast. Read only when some
        addressed Service has Cluster: it answers for Cluster Services only (eTP=Local uses :attr:`ready`)."""
        if all(s.local for s in self.addressed):
            return frozenset()
        return serving_services(self.endpoint_slices)


def parse_services(
    objs: Iterable[Obj], memo: Mapping[str, ServiceView], lb_class: str | None
) -> dict[str, ServiceView]:
    """Every Service by key; one whose cached object is the very one ``memo`` parsed is not parsed again."""
    out: dict[str, ServiceView] = {}
    for svc in objs:
        meta = svc.get("metadata") or {}
        key = key_of(meta.get("namespace"), meta.get("name"))
        hit = memo.get(key)
        out[key] = hit if hit is not None and hit.obj is svc else service_view(svc, lb_class)
    return out
