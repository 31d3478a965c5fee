"""A cluster as the controllers' unit tests see it: plain dicts in caches, no API, no sockets."""

from __future__ import annotations

import base64
from typing import Any

from speaker.kube.kinds import Caches

NS = "metallb-system"


class Cache:
    """An informer's cache: a new dict per change (``put``), never a mutated one."""

    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs: dict[str, dict[str, Any]] = {}
        for o in objs:
            self.put(o)

    @staticmethod
    def key(obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]

    def put(self, obj: dict[str, Any]) -> None:
        self.objs[self.key(obj)] = obj

    def delete(self, key: str) -> None:
        self.objs.pop(key, None)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.objs.get(key)

    def items(self) -> list[dict[str, Any]]:
        return list(self.objs.values())

    def keys(self) -> list[str]:
        return list(self.objs)


def world(**kinds: Cache) -> Caches:
    """Caches with a Cache for every kind (empty unless given)."""
    from dataclasses import fields

    return Caches(**{f.name: kinds.get(f.name, Cache()) for f in fields(Caches)})


def meta(name: str, ns: str | None = NS, **extra: Any) -> dict[str, Any]:
    m = {"name": name, "uid": f"uid-{name}", "creationTimestamp": extra.pop("created", "2026-01-01T00:00:00Z"), **extra}
    if ns is not None:
        m["namespace"] = ns
    return m


def pool(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": meta(name),
        "spec": {"addresses": list(addresses)},
    }


def l2adv(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": meta(name), "spec": spec}


def peer(name: str, address: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": meta(name),
        "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": address, **spec},
    }


def secret(name: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name),
        "type": "kubernetes.io/basic-auth",
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }


def service(
    name: str,
    *ips: str,
    pool_name: str | None = None,
    ns: str = "default",
    local: bool = False,
    created: str = "2026-01-01T00:00:00Z",
    **spec: Any,
) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, ns=ns, created=created),
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local" if local else "Cluster",
            "ports": [{"port": 80, "protocol": "TCP"}],
            **spec,
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]} if ips else {}},
    }
    if pool_name:
        svc["metadata"]["annotations"] = {"metallb.io/ip-allocated-from-pool": pool_name}
    return svc


def node(name: str, ip: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def endpoints_on(service_name: str, *nodes: str, ns: str = "default") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service_name}-1",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "endpoints": [
            {"addresses": [f"10.244.0.{i + 5}"], "nodeName": n, "conditions": {"ready": True}}
            for i, n in enumerate(nodes)
        ],
    }


class Recorder:
    """Stands in for an Applier and an EventRecorder: records what it is asked to do."""

    def __init__(self) -> None:
        self.wishes: list[tuple[str, Any]] = []
        self.forgotten: list[str] = []
        self.events: list[Any] = []
        self.enabled = False

    def desire(self, key: str, want: Any) -> None:
        self.wishes.append((key, want))

    def forget(self, key: str) -> None:
        self.forgotten.append(key)

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled

    def record(self, event: Any) -> None:
        self.events.append(event)
