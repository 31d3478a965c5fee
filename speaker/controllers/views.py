"""Where the controllers get their :class:`~speaker.plan.clusterview.ClusterView`: the one memory the views need across
generations (the last good config, the last view's parsed Services), shared by every controller, any thread.

Apart from ``speaker.plan.clusterview`` because it holds state behind a lock: the view itself is pure (``.importlinter``
forbids threads there), this is the stateful source the controllers share.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from speaker.config.cluster import ClusterConfig, build_config
from speaker.plan.announce import ServiceAddresses
from speaker.plan.clusterview import ClusterView, Obj, ServiceView, parse_services, service_view
from speaker.plan.election import NodeInfo, node_info

if TYPE_CHECKING:  # the type only
    from speaker.kube.kinds import Caches


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
        inputs = (
            c.ipaddresspools.items(),
            c.l2advertisements.items(),
            c.bgpadvertisements.items(),
            c.bgppeers.items(),
            c.communities.items(),
            c.secrets.items(),
            c.bfdprofiles.items(),
        )
        with self._lock:
            previous = self._config_inputs
            if self._config is not None and previous is not None and all(map(_same, inputs, previous)):
                return self._config
            pools, l2, bgp, peers, communities, secrets, bfd_profiles = inputs
            # With the Secrets: a passwordSecret peer built without them is refused ("Secret not found").
            self._config = build_config(
                pools,
                l2,
                bgp,
                peers,
                communities,
                secrets={str(s["metadata"]["name"]): s for s in secrets},
                bfd_profiles=bfd_profiles,
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
            if (
                last is not None
                and last.config is config
                and _same(services, last.service_objects)
                and _same(nodes, last.node_objects)
                and _same(slices, last.endpoint_slices)
            ):
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

    @property
    def serving(self) -> frozenset[str]:
        return self._get().serving
