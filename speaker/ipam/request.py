"""What the allocator is asked and what it answers: frozen values, no Kubernetes types.

``speaker/ipam/service.py`` turns a Service dict from the API server into a ``ServiceRequest``;
the allocator never sees the dict. Keeping the request a plain frozen value is what lets the
allocator be tested with tables and hypothesis, and lets the controller keep the last
request per Service to re-check held addresses when pools change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SINGLE_STACK = "SingleStack"
PREFER_DUAL_STACK = "PreferDualStack"
REQUIRE_DUAL_STACK = "RequireDualStack"
FAMILY_POLICIES = (SINGLE_STACK, PREFER_DUAL_STACK, REQUIRE_DUAL_STACK)

Labels = tuple[tuple[str, str], ...]


def freeze_labels(value: Mapping[str, str] | Labels | None) -> Labels:
    """Labels as sorted ``(key, value)`` pairs: hashable, and equal whatever order the API listed them in."""
    if not value:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), str(v)) for k, v in items))


Ports = frozenset[tuple[str, int]]

#: One instance of each distinct port set. Most Services expose the same few (``{("TCP", 80)}``), and a
#: frozenset costs ~220 bytes however small: 10,000 Services held ~5 MiB of identical sets (tracemalloc, two
#: requests per Service, the allocator's and the controller's). Emptied when it grows past its bound.
_PORTS: dict[Ports, Ports] = {}
_PORTS_MAX = 10_000


def shared_ports(ports: Ports) -> Ports:
    """``ports`` itself or an equal set already held: immutable, so sharing changes no result, only memory."""
    if len(_PORTS) > _PORTS_MAX:
        _PORTS.clear()
    return _PORTS.setdefault(ports, ports)


@dataclass(frozen=True)
class ServiceRequest:
    """One LoadBalancer Service, as far as address allocation is concerned.

    Mappings given for ``labels``/``namespace_labels`` are copied into sorted tuples, so the
    request stays hashable and nothing the caller later mutates can change it.

    - ``families``: ``spec.ipFamilies`` as ints (4/6), primary first.
    - ``family_policy``: ``spec.ipFamilyPolicy`` (SingleStack / PreferDualStack / RequireDualStack).
    - ``pool``: the requested pool (``metallb.io/address-pool``), "" for automatic choice.
    - ``requested_ips``: ``metallb.io/loadBalancerIPs`` or ``spec.loadBalancerIP``, as written.
    - ``sharing_key``: ``metallb.io/allow-shared-ip``, "" when the Service does not share.
    - ``ports``: ``{(protocol, port)}`` of ``spec.ports``; two sharing Services must not overlap.
    - ``backend_key``: the pod selector, canonical, for ``externalTrafficPolicy: Local`` ("" for Cluster):
      Local Services may share an address only when they select the same pods, since the address
      is announced from the nodes that run those pods.
    - ``current_ips``: ``status.loadBalancer.ingress[].ip``: what the Service holds now.
    - ``created``: ``metadata.creationTimestamp`` (RFC 3339, sorts as text); only used to order a
      restart so that the older of two Services in conflict keeps the address.
    """

    key: str
    namespace: str = ""
    labels: Labels = ()
    namespace_labels: Labels = ()
    families: tuple[int, ...] = (4,)
    family_policy: str = SINGLE_STACK
    pool: str = ""
    requested_ips: tuple[str, ...] = ()
    sharing_key: str = ""
    ports: frozenset[tuple[str, int]] = frozenset()
    backend_key: str = ""
    current_ips: tuple[str, ...] = ()
    created: str = ""

    def __post_init__(self) -> None:
        if not self.namespace and "/" in self.key:
            object.__setattr__(self, "namespace", self.key.split("/", 1)[0])
        object.__setattr__(self, "labels", freeze_labels(self.labels))
        object.__setattr__(self, "namespace_labels", freeze_labels(self.namespace_labels))
        object.__setattr__(self, "families", tuple(int(f) for f in self.families) or (4,))
        object.__setattr__(self, "requested_ips", tuple(self.requested_ips))
        object.__setattr__(self, "current_ips", tuple(self.current_ips))
        object.__setattr__(self, "ports", shared_ports(frozenset((str(p), int(n)) for p, n in self.ports)))

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def namespace_label_map(self) -> dict[str, str]:
        return dict(self.namespace_labels)


@dataclass(frozen=True)
class Assignment:
    """The addresses a Service holds after ``assign``.

    ``ips`` are in the Service's family order (primary family first). ``notes`` are things
    a person should know although nothing failed (e.g. the held address was kept although the
    requested pool no longer exists; a held address could not be kept and a new one was taken).
    """

    key: str
    pool: str
    ips: tuple[IPAddress, ...]
    notes: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses as text, as written to ``status.loadBalancer.ingress[].ip``."""
        return tuple(str(ip) for ip in self.ips)


@dataclass(frozen=True)
class AllocationError:
    """Why a Service got no address; ``reason`` names the address, pool or rule to fix.

    A value, not an exception: user mistakes are expected input, and the controller turns
    this into a Warning event on the Service.
    """

    key: str
    reason: str

    def __str__(self) -> str:
        return self.reason


class PoolStats(NamedTuple):
    """Per-family counts for an IPAddressPool's status (MetalLB's PoolCounters)."""

    assigned_v4: int
    available_v4: int
    assigned_v6: int
    available_v6: int
