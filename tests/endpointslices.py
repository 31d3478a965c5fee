"""EndpointSlices for the Services a test world creates: what kube-controller-manager's EndpointSlice controller does
in a real cluster, and the API emulator (tests/kubeapi) does not.

In a real cluster every Service with a selector gets EndpointSlices listing its Pods, with their readiness. The
speaker reads them as MetalLB does: an ``externalTrafficPolicy: Cluster`` Service with no serving endpoint is
withdrawn, an ``externalTrafficPolicy: Local`` one is announced only from nodes with one (``speaker.plan.endpoints``).
A world that creates a Service without a slice is therefore a cluster whose Pods never came up, and nothing is
announced for it. So every place that creates a Service for a speaker to announce (``Cluster.service`` in
tests/integration/conftest.py, which tests/l2world.py, tests/bgplab.py and the benches use; lab/lab.py) makes its
slice with this one helper, and a test that is about endpoints changes them with it.

The endpoints' addresses are what a pod network would give (10.244.0.0/16, fd00:10:244::/64): data only, the
speaker never sends to them. Names are ``<service>-<family>`` (the real controller adds a random suffix; tests want a
name they can find again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"

# Endpoint conditions as the EndpointSlice controller writes them (discovery.k8s.io/v1 EndpointConditions).
READY: Mapping[str, bool] = {"ready": True, "serving": True, "terminating": False}
NOT_READY: Mapping[str, bool] = {"ready": False, "serving": False, "terminating": False}  # a failing readiness probe
DRAINING: Mapping[str, bool] = {"ready": False, "serving": True, "terminating": True}  # terminating, still serving


def slice_name(service: str, family: str = "IPv4") -> str:
    return f"{service}-{family.lower()}"


def _address(family: str, i: int) -> str:
    return f"10.244.0.{i + 5}" if family == "IPv4" else f"fd00:10:244::{i + 5:x}"


def endpoint_slice(
    service: str,
    namespace: str = "default",
    nodes: Sequence[str | None] = (None,),
    *,
    family: str = "IPv4",
    ports: Sequence[Mapping[str, Any]] = (),
    conditions: Mapping[str, bool] = READY,
) -> dict[str, Any]:
    """The slice of ``service`` for one address family: one endpoint per entry of ``nodes`` (a node name, or None
    for an endpoint whose node is not known), each with ``conditions``; ``ports`` as the Service's
    (``name``/``protocol``/``port``)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": family,
        "metadata": {
            "name": slice_name(service, family),
            "namespace": namespace,
            "labels": {SERVICE_NAME_LABEL: service, MANAGED_BY_LABEL: "endpointslice-controller.k8s.io"},
        },
        "endpoints": [
            {"addresses": [_address(family, i)], "conditions": dict(conditions), **({"nodeName": node} if node else {})}
            for i, node in enumerate(nodes)
        ],
        "ports": [{k: p[k] for k in ("name", "protocol", "port") if k in p} for p in ports],
    }


def families_of(spec: Mapping[str, Any]) -> list[str]:
    """The address families a Service's slices are made for (one slice per family, as the controller does)."""
    return list(spec.get("ipFamilies") or ["IPv4"])


def put_endpoints(
    api: client.ApiClient,
    service: str,
    namespace: str = "default",
    nodes: Sequence[str | None] = (None,),
    *,
    families: Sequence[str] = ("IPv4",),
    ports: Sequence[Mapping[str, Any]] = (),
    conditions: Mapping[str, bool] = READY,
) -> None:
    """Create the Service's slices, or replace their endpoints: Pods came up, moved, or changed readiness."""
    discovery = client.DiscoveryV1Api(api)
    for family in families:
        body = endpoint_slice(service, namespace, nodes, family=family, ports=ports, conditions=conditions)
        try:
            discovery.create_namespaced_endpoint_slice(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = discovery.read_namespaced_endpoint_slice(body["metadata"]["name"], namespace)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            discovery.replace_namespaced_endpoint_slice(body["metadata"]["name"], namespace, body)


def delete_endpoints(
    api: client.ApiClient, service: str, namespace: str = "default", *, families: Sequence[str] = ("IPv4",)
) -> None:
    """Delete the Service's slices (as for a Service whose endpoints are managed by hand and were removed; a
    Deployment scaled to zero keeps an empty slice: ``put_endpoints(..., nodes=())``). Already gone is fine."""
    discovery = client.DiscoveryV1Api(api)
    for family in families:
        try:
            discovery.delete_namespaced_endpoint_slice(slice_name(service, family), namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
