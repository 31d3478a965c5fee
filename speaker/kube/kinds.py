"""What the speaker watches, and the API path each kind is listed and watched at."""

from __future__ import annotations

from speaker.kube.client import api_path, lister
from speaker.kube.informer import ResourceKind

METALLB_GROUP = "metallb.io"

# plural -> served version the speaker reads (BGPPeer's storage version is v1beta2).
METALLB_KINDS = {
    "ipaddresspools": "v1beta1",
    "l2advertisements": "v1beta1",
    "bgpadvertisements": "v1beta1",
    "bgppeers": "v1beta2",
    "communities": "v1beta1",
    "servicel2statuses": "v1beta1",  # written by each speaker for what it announces
    "servicebgpstatuses": "v1beta1",
}

# Listed and watched by path (speaker.kube.client.lister), not through the client's generated API classes.
SERVICES = ResourceKind("services", lister("/api/v1/services"))
ENDPOINT_SLICES = ResourceKind("endpointslices", lister("/apis/discovery.k8s.io/v1/endpointslices"))
NODES = ResourceKind("nodes", lister("/api/v1/nodes"))
NAMESPACES = ResourceKind("namespaces", lister("/api/v1/namespaces"))


def metallb_kind(plural: str, namespace: str) -> ResourceKind:
    version = METALLB_KINDS[plural]
    return ResourceKind(plural, lister(api_path(f"apis/{METALLB_GROUP}/{version}/namespaces", namespace, plural)))


def secrets_kind(namespace: str) -> ResourceKind:
    return ResourceKind("secrets", lister(api_path("api/v1/namespaces", namespace, "secrets")))


def speaker_kinds(namespace: str) -> list[ResourceKind]:
    return ([SERVICES, ENDPOINT_SLICES, NODES, NAMESPACES, secrets_kind(namespace)]
            + [metallb_kind(p, namespace) for p in METALLB_KINDS])
