"""What the speaker watches, and the API path each kind is listed and watched at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from speaker.kube.client import api_path, lister
from speaker.kube.informer import ResourceKind

METALLB_GROUP = "metallb.io"

# The metallb.io resources the speaker watches: plural -> the served version it reads (BGPPeer's storage version is
# v1beta2). The kinds a manifest may hold, by their ``kind``, are ``speaker.config.cluster.KINDS``.
METALLB_VERSIONS = {
    "ipaddresspools": "v1beta1",
    "l2advertisements": "v1beta1",
    "bgpadvertisements": "v1beta1",
    "bgppeers": "v1beta2",
    "communities": "v1beta1",
    "bfdprofiles": "v1beta1",  # installed so MetalLB's BFD samples apply; read to refuse their use by name
    "servicel2statuses": "v1beta1",  # written by each speaker for what it announces
    "servicebgpstatuses": "v1beta1",
}

# Listed and watched by path (speaker.kube.client.lister), not through the client's generated API classes.
SERVICES = ResourceKind("services", lister("/api/v1/services"))
ENDPOINT_SLICES = ResourceKind("endpointslices", lister("/apis/discovery.k8s.io/v1/endpointslices"))
NODES = ResourceKind("nodes", lister("/api/v1/nodes"))
NAMESPACES = ResourceKind("namespaces", lister("/api/v1/namespaces"))


#: Kinds the speaker reads only to refuse their use: a cluster without their CRD (installed before this collection
#: shipped it, or with baremetal_lb_install_crds off) must not keep the speaker from syncing.
OPTIONAL_KINDS = frozenset({"bfdprofiles"})


def metallb_kind(plural: str, namespace: str) -> ResourceKind:
    version = METALLB_VERSIONS[plural]
    return ResourceKind(
        plural,
        lister(api_path(f"apis/{METALLB_GROUP}/{version}/namespaces", namespace, plural)),
        optional=plural in OPTIONAL_KINDS,
    )


def secrets_kind(namespace: str) -> ResourceKind:
    return ResourceKind("secrets", lister(api_path("api/v1/namespaces", namespace, "secrets")))


def named_kind(name: str, namespace: str, plural: str, object_name: str) -> ResourceKind:
    """One object of a core kind by name, for an ``Informer`` (its cache holds it, or nothing). Listed and watched
    with ``fieldSelector=metadata.name=…``, which RBAC's ``resourceNames`` covers (see ``speaker.kube.memberlist``)."""
    return ResourceKind(
        name, lister(api_path("api/v1/namespaces", namespace, plural), fieldSelector=f"metadata.name={object_name}")
    )


def speaker_kinds(namespace: str) -> list[ResourceKind]:
    return [SERVICES, ENDPOINT_SLICES, NODES, NAMESPACES, secrets_kind(namespace)] + [
        metallb_kind(p, namespace) for p in METALLB_VERSIONS
    ]


class Cache(Protocol):
    """What a controller reads from an informer: the lister half of client-go's informer (no writes)."""

    def get(self, key: str) -> dict[str, Any] | None: ...
    def items(self) -> list[dict[str, Any]]: ...
    def keys(self) -> list[str]: ...


class _Empty:
    """A kind nobody watches here (a unit test's world): holds nothing."""

    def get(self, key: str) -> dict[str, Any] | None:
        return None

    def items(self) -> list[dict[str, Any]]:
        return []

    def keys(self) -> list[str]:
        return []


EMPTY: Cache = _Empty()


@dataclass(frozen=True)
class Caches:
    """Every cache the controllers read, one typed field per watched kind (the field is the kind's plural).

    Replaces a ``Mapping[str, Any]`` keyed by plural strings: a typo is an AttributeError at the first read, not a
    KeyError deep in a reconcile, and a reader sees which kinds exist. The daemon builds it from its informers with
    :meth:`of`; a test names only the kinds its world has (the others hold nothing).
    """

    services: Cache = EMPTY
    endpointslices: Cache = EMPTY
    nodes: Cache = EMPTY
    namespaces: Cache = EMPTY
    secrets: Cache = EMPTY
    ipaddresspools: Cache = EMPTY
    l2advertisements: Cache = EMPTY
    bgpadvertisements: Cache = EMPTY
    bgppeers: Cache = EMPTY
    communities: Cache = EMPTY
    bfdprofiles: Cache = EMPTY
    servicel2statuses: Cache = EMPTY
    servicebgpstatuses: Cache = EMPTY
    leases: Cache = EMPTY

    @classmethod
    def of(cls, informers: Mapping[str, Cache]) -> Caches:
        """From the daemon's informers by kind name; every field must have its informer (a missing watch would
        otherwise read as "nothing there" and, e.g., release every address)."""
        missing = sorted(KIND_NAMES - informers.keys())
        if missing:
            raise ValueError(f"no informer for {', '.join(missing)}")
        return cls(**{name: informers[name] for name in KIND_NAMES})


KIND_NAMES = frozenset(f.name for f in fields(Caches))
