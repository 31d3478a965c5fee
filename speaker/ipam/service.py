"""From a Service as the API server returns it (camelCase JSON dict) to the allocator's ``ServiceRequest``.

The one place that reads Service fields for allocation (MetalLB keeps the same ~30 lines,
``k8salloc.Ports``/``BackendKey``/``SharingKey``, beside its allocator). Plain dicts in, frozen
values out, so the allocator never sees a Kubernetes type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from speaker.ipam.request import SINGLE_STACK, ServiceRequest, freeze_labels

ADDRESS_POOL = "metallb.io/address-pool"
LOADBALANCER_IPS = "metallb.io/loadBalancerIPs"
ALLOW_SHARED_IP = "metallb.io/allow-shared-ip"
IP_ALLOCATED_FROM_POOL = "metallb.io/ip-allocated-from-pool"
DEPRECATED = {
    ADDRESS_POOL: "metallb.universe.tf/address-pool",
    LOADBALANCER_IPS: "metallb.universe.tf/loadBalancerIPs",
    ALLOW_SHARED_IP: "metallb.universe.tf/allow-shared-ip",
}
_FAMILY = {"IPv4": 4, "IPv6": 6}


def _spec(svc: Mapping[str, Any]) -> Mapping[str, Any]:
    return svc.get("spec") or {}


def _annotations(svc: Mapping[str, Any]) -> Mapping[str, str]:
    return (svc.get("metadata") or {}).get("annotations") or {}


def _annotation(svc: Mapping[str, Any], name: str) -> str:
    """The stable spelling wins when present (even empty), else the deprecated one (MetalLB's valueForAnnotation)."""
    annotations = _annotations(svc)
    if name in annotations:
        return str(annotations[name])
    return str(annotations.get(DEPRECATED[name], ""))


def key_of(namespace: Any, name: Any) -> str:
    """The one spelling of a Service's key, "namespace/name" — the informer's cache key for a Service."""
    return f"{namespace or ''}/{name or ''}"


def service_key(svc: Mapping[str, Any]) -> str:
    meta = svc.get("metadata") or {}
    return key_of(meta.get("namespace"), meta.get("name"))


@dataclass(frozen=True)
class ServiceStatus:
    """What a Service shows, or should show: its ingress IPs (in order) and the pool they came from; empty = none."""

    ips: tuple[str, ...] = ()
    pool: str | None = None


def live_status(svc: Mapping[str, Any]) -> ServiceStatus:
    """The one reader of a Service's live status: ``status.loadBalancer.ingress[].ip`` and our pool annotation."""
    ingress = (((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")) or []
    # ``dict``, not ``typing.Mapping``: objects come from JSON, and isinstance against a typing alias costs
    # microseconds per call (it was a tenth of the speaker's CPU at 10,000 Services).
    ips = tuple(str(i["ip"]) for i in ingress if isinstance(i, dict) and i.get("ip"))
    pool = ((svc.get("metadata") or {}).get("annotations") or {}).get(IP_ALLOCATED_FROM_POOL)
    return ServiceStatus(ips, pool)


def is_load_balancer(svc: Mapping[str, Any], lb_class: str | None = None) -> bool:
    """``type: LoadBalancer`` and ``spec.loadBalancerClass`` equal to ours (None: only Services without a class)."""
    spec = _spec(svc)
    return spec.get("type") == "LoadBalancer" and spec.get("loadBalancerClass") == lb_class


def ports_of(svc: Mapping[str, Any]) -> frozenset[tuple[str, int]]:
    """``{(protocol, port)}`` of ``spec.ports``; protocol defaults to TCP as in the API."""
    return frozenset(
        (str(p.get("protocol") or "TCP"), int(p["port"]))
        for p in _spec(svc).get("ports") or ()
        if p.get("port") is not None
    )


def backend_key(svc: Mapping[str, Any]) -> str:
    """The pod selector as ``k=v,k2=v2`` (keys sorted) for ``externalTrafficPolicy: Local``, else "".

    Local Services are announced from the nodes running their pods, so they may share an
    address only with Services that select the same pods (MetalLB's BackendKey).
    """
    spec = _spec(svc)
    if spec.get("externalTrafficPolicy") != "Local":
        return ""
    selector = spec.get("selector") or {}
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def sharing_key(svc: Mapping[str, Any]) -> str:
    return _annotation(svc, ALLOW_SHARED_IP)


def wants_shared_ip(svc: Mapping[str, Any]) -> bool:
    """The allow-shared-ip annotation is present, in either spelling, whatever its value: MetalLB's Layer 2 asks only
    that (``speaker/layer2_controller.go`` ``serviceHasSharedIP``)."""
    annotations = _annotations(svc)
    return ALLOW_SHARED_IP in annotations or DEPRECATED[ALLOW_SHARED_IP] in annotations


def requested_pool(svc: Mapping[str, Any]) -> str:
    return _annotation(svc, ADDRESS_POOL).strip()


def requested_ips(svc: Mapping[str, Any]) -> tuple[str, ...]:
    """``metallb.io/loadBalancerIPs`` (comma-separated) or else ``spec.loadBalancerIP``; the annotation wins."""
    text = _annotation(svc, LOADBALANCER_IPS)
    if text.strip():
        return tuple(part.strip() for part in text.split(",") if part.strip())
    single = str(_spec(svc).get("loadBalancerIP") or "").strip()
    return (single,) if single else ()


def families_of(svc: Mapping[str, Any]) -> tuple[int, ...]:
    """``spec.ipFamilies`` as ints; without it, the families of the cluster IPs; else IPv4."""
    spec = _spec(svc)
    listed = tuple(_FAMILY[f] for f in spec.get("ipFamilies") or () if f in _FAMILY)
    if listed:
        return listed
    cluster_ips = list(spec.get("clusterIPs") or ()) or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    derived = tuple(dict.fromkeys(6 if ":" in ip else 4 for ip in cluster_ips if ip and ip != "None"))
    return derived or (4,)


def current_ips(svc: Mapping[str, Any]) -> tuple[str, ...]:
    return live_status(svc).ips


def deprecated_annotations(svc: Mapping[str, Any]) -> tuple[str, ...]:
    """Deprecated ``metallb.universe.tf/…`` keys present on the Service, for a Warning event."""
    annotations = _annotations(svc)
    return tuple(old for old in DEPRECATED.values() if old in annotations)


@dataclass(frozen=True)
class Extraction:
    """A request plus what the controller should tell the user about how the Service was read."""

    request: ServiceRequest
    deprecated: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Why the Service's request is refused (MetalLB's ``LoadBalancerFailed``); its current addresses stay.
    error: str | None = None


def request_for(svc: Mapping[str, Any], namespace_labels: Mapping[str, str] | None = None) -> Extraction:
    """Build the allocator's request for one Service (no side effects; ``svc`` is not modified)."""
    meta = svc.get("metadata") or {}
    spec = _spec(svc)
    warnings = []
    error = None
    wanted = requested_ips(svc)
    if _annotation(svc, LOADBALANCER_IPS).strip() and str(spec.get("loadBalancerIP") or "").strip():
        # An error in MetalLB (controller/service.go, getDesiredLbIPs): the Service gets nothing new and keeps
        # what it holds, until one of the two is removed.
        error = (
            f"invalid requested loadbalancer IPs: a Service cannot have both {LOADBALANCER_IPS} "
            f"({_annotation(svc, LOADBALANCER_IPS)}) and spec.loadBalancerIP ({spec['loadBalancerIP']})"
        )
        wanted = ()
    for stable, old in DEPRECATED.items():
        if old in _annotations(svc):
            if stable in _annotations(svc):
                warnings.append(f"{old} is deprecated and ignored because {stable} is also set")
            else:
                warnings.append(f"{old} is deprecated; rename it to {stable}")
    request = ServiceRequest(
        key=service_key(svc),
        namespace=str(meta.get("namespace", "")),
        labels=freeze_labels(meta.get("labels")),
        namespace_labels=freeze_labels(namespace_labels),
        families=families_of(svc),
        family_policy=str(spec.get("ipFamilyPolicy") or SINGLE_STACK),
        pool=requested_pool(svc),
        requested_ips=wanted,
        sharing_key=sharing_key(svc),
        ports=ports_of(svc),
        backend_key=backend_key(svc),
        current_ips=current_ips(svc),
        created=str(meta.get("creationTimestamp") or ""),
    )
    return Extraction(request, deprecated_annotations(svc), tuple(warnings), error)
