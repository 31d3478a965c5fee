"""One immutable view of the cluster per generation, read once and shared by every controller. Pure (no I/O).

Before it, the allocation, Layer 2 and BGP controllers each built the config from the caches (each with its own
"last good pools" memory, only one with the Secrets), each parsed every Service, and a Service's live status was
read in four places. Now:

* :class:`ViewSource` holds the speaker's single memory of the last good config, and a memo of parsed Services
  keyed by the cached object's identity (the informer stores a new dict per change and never mutates a stored one,
  so "the same dict" means "unchanged": parsing 10,000 Services on every pass was what made allocation 3.7x slower,
  issue 10).
* :meth:`ViewSource.view` returns a :class:`ClusterView`: the caches' contents at that moment (list copies, cheap)
  plus the config. What is costly — every Service parsed, Nodes, ready endpoints — is computed on first use and kept
  on that view; the same view is handed out again until a cache holds something else, so the Layer 2 and BGP
  controllers share one parse per generation.
* The allocation controller works per changed Service, so it asks :meth:`ViewSource.service` for one key (never a
  scan of all of them) and :meth:`ViewSource.config` for the config.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from speaker.announce import ServiceAddresses, addresses_of
from speaker.clusterconfig import ClusterConfig, build_config
from speaker.election import NodeInfo, node_info
from speaker.endpoints import ready_nodes_by_service
from speaker.service import ServiceStatus, is_load_balancer, key_of, live_status

if TYPE_CHECKING:  # the type only: this module stays free of the Kubernetes client
    from speaker.kube.kinds import Caches

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
        """Our Services that hold addresses, as announcing reads them (``speaker.announce``)."""
        return [s.addresses for s in self.services.values() if s.addresses is not None]

    @cached_property
    def nodes(self) -> Mapping[str, NodeInfo]:
        return {str(n["metadata"]["name"]): node_info(n, ignore_exclude_lb=self.ignore_exclude_lb)
                for n in self.node_objects}

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


def parse_services(objs: Iterable[Obj], memo: Mapping[str, ServiceView], lb_class: str | None
                   ) -> dict[str, ServiceView]:
    """Every Service by key; one whose cached object is the very one ``memo`` parsed is not parsed again."""
    out: dict[str, ServiceView] = {}
    for svc in objs:
        meta = svc.get("metadata") or {}
        key = key_of(meta.get("namespace"), meta.get("name"))
        hit = memo.get(key)
        out[key] = hit if hit is not None and hit.obj is svc else service_view(svc, lb_class)
    return out


def _same(a: Sequence[Obj], b: Sequence[Obj]) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))


class ViewSource:
    """Makes the :class:`ClusterView`s, and keeps the one memory they need across generations (any thread)."""

    def __init__(self, caches: Caches, *, load_balancer_class: str | None, ignore_exclude_lb: bool = False) -> None:
        self._caches = caches
        self._lb_class = load_balancer_class
        self._ignore_exclude_lb = ignore_exclude_lb
        self._lock = threading.Lock()
        self._config_inputs: tuple[Sequence[Obj], ...] | None = None
        self._config: ClusterConfig | None = None
        self._view: ClusterView | None = None

    @property
    def ignore_exclude_lb(self) -> bool:
        return self._ignore_exclude_lb

    def config(self) -> ClusterConfig:
        """The metallb.io objects and the Secrets → the config, built again only when one of them changed. A pool
        edited into an error keeps its last good definition (``build_config``'s ``last_good_pools``): one memory
        for the whole speaker, so every controller sees the same pools."""
        c = self._caches
        inputs = (c.ipaddresspools.items(), c.l2advertisements.items(), c.bgpadvertisements.items(),
                  c.bgppeers.items(), c.communities.items(), c.secrets.items())
        with self._lock:
            previous = self._config_inputs
            if self._config is not None and previous is not None and all(map(_same, inputs, previous)):
                return self._config
            pools, l2, bgp, peers, communities, secrets = inputs
            # With the Secrets: a passwordSecret peer built without them is refused ("Secret not found").
            self._config = build_config(
                pools, l2, bgp, peers, communities,
                secrets={str(s["metadata"]["name"]): s for s in secrets},
                last_good_pools=self._config.pools if self._config is not None else {},
            )
            self._config_inputs = inputs
            return self._config

    def view(self) -> ClusterView:
        """The cluster now. The previous view again when no cache it reads holds anything else (so what it computed
        is reused)."""
        config = self.config()
        c = self._caches
        services, nodes, slices = c.services.items(), c.nodes.items(), c.endpointslices.items()
        with self._lock:
            last = self._view
            if (last is not None and last.config is config and _same(services, last.service_objects)
                    and _same(nodes, last.node_objects) and _same(slices, last.endpoint_slices)):
                return last
            memo = dict(last.services) if last is not None and "services" in last.__dict__ else {}
            self._view = ClusterView(config, services, nodes, slices, self._lb_class, self._ignore_exclude_lb, memo)
            return self._view

    def services(self) -> dict[str, ServiceView]:
        """Every Service now, for a reader that needs them once (the allocator's rebuild and its scans for its own
        Services): reusing the last view's work, and kept nowhere — on a speaker without Layer 2 and BGP nothing else
        reads them all, and a view kept alive would hold a stale copy of every Service."""
        last = self._view
        memo = last.services if last is not None and "services" in last.__dict__ else {}
        return parse_services(self._caches.services.items(), memo, self._lb_class)

    def node(self, name: str) -> NodeInfo | None:
        """One Node now (None: not in the cache)."""
        obj = self._caches.nodes.get(name)
        return node_info(obj, ignore_exclude_lb=self._ignore_exclude_lb) if obj is not None else None

    def lazy(self) -> LazyView:
        """A view made only if something reads it (a BGP node with no session reads no Service)."""
        return LazyView(self)

    def service(self, key: str) -> ServiceView | None:
        """One Service now (None: not in the cache), parsed again only if it changed since the last view parsed it."""
        svc = self._caches.services.get(key)
        if svc is None:
            return None
        last = self._view
        hit = last.services.get(key) if last is not None and "services" in last.__dict__ else None
        return hit if hit is not None and hit.obj is svc else service_view(svc, self._lb_class)


class LazyView:
    """:meth:`ViewSource.view`, made on the first read of a Service-derived part. Copying and comparing the Service
    list costs ~0.1 ms at 10,000 Services, which a BGP node with no session paid after every status write."""

    def __init__(self, source: ViewSource) -> None:
        self._source = source
        self._view: ClusterView | None = None

    def _get(self) -> ClusterView:
        if self._view is None:
            self._view = self._source.view()
        return self._view

    @property
    def addressed(self) -> list[ServiceAddresses]:
        return self._get().addressed

    @property
    def ready(self) -> Mapping[str, frozenset[str]]:
        return self._get().ready
