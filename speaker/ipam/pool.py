"""Pools as the allocator sees them: frozen values, no Kubernetes types."""

from __future__ import annotations

from dataclasses import dataclass, field

from speaker.ipam.ranges import IPRange
from speaker.labels import Selector


@dataclass(frozen=True)
class ServiceAllocation:
    """``IPAddressPool.spec.serviceAllocation``: which Services a pool is reserved for, and its priority.

    ``priority``: lower number wins; pools without serviceAllocation come after all pools that have one
    (MetalLB's ordering). ``namespaces``/selectors: empty means "no restriction" for that criterion.
    """

    priority: int = 0
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[Selector, ...] = ()
    service_selectors: tuple[Selector, ...] = ()


@dataclass(frozen=True)
class Pool:
    name: str
    ranges: tuple[IPRange, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    allocation: ServiceAllocation | None = None
    families: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "families", frozenset(r.version for r in self.ranges))
