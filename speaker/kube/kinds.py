"""What the speaker watches, and how the official client lists each kind."""

from __future__ import annotations

from functools import partial

from kubernetes import client

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

SERVICES = ResourceKind("services", lambda api: client.CoreV1Api(api).list_service_for_all_namespaces)
ENDPOINT_SLICES = ResourceKind(
    "endpointslices", lambda api: client.DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces
)
NODES = ResourceKind("nodes", lambda api: client.CoreV1Api(api).list_node)
NAMESPACES = ResourceKind("namespaces", lambda api: client.CoreV1Api(api).list_namespace)


def metallb_kind(plural: str, namespace: str) -> ResourceKind:
    version = METALLB_KINDS[plural]
    return ResourceKind(
        plural,
        lambda api: partial(
            client.CustomObjectsApi(api).list_namespaced_custom_object, METALLB_GROUP, version, namespace, plural
        ),
    )


def secrets_kind(namespace: str) -> ResourceKind:
    return ResourceKind("secrets", lambda api: partial(client.CoreV1Api(api).list_namespaced_secret, namespace))


def speaker_kinds(namespace: str) -> list[ResourceKind]:
    return ([SERVICES, ENDPOINT_SLICES, NODES, NAMESPACES, secrets_kind(namespace)]
            + [metallb_kind(p, namespace) for p in METALLB_KINDS])
