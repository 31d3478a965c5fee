"""Which resources the emulator serves, and how each one behaves.

A :class:`ResourceType` is the emulator's version of a REST storage + strategy pair in
kube-apiserver: names for discovery, scope, subresources, which PATCH types it takes,
field selectors, and a :class:`~.strategies.Strategy` for defaulting/validation. Built-in
types are declared in :func:`builtin_types`; custom resources come from CRD objects via
:func:`types_from_crd`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .patch import MergeKeys
from .selectors import FieldGetter, path_getter
from .store import Key

VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
OBJECT_META_KEYS: MergeKeys = {"metadata.ownerReferences": "uid", "metadata.finalizers": ""}


@dataclass
class ResourceType:
    group: str
    version: str  # the storage version
    plural: str
    singular: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...] = ()  # served versions (default: just ``version``)
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS
    merge_keys: MergeKeys | None = None  # None: strategic merge patch is refused (415)
    extra_fields: Mapping[str, FieldGetter] = field(default_factory=dict)
    delete_returns_object: bool = False  # genericregistry.Store.ReturnDeletedObject
    create_on_update: bool = False  # AllowCreateOnUpdate
    unconditional_update: bool = True  # AllowUnconditionalUpdate (PUT without RV)
    is_custom: bool = False
    schemas: Mapping[str, Any] = field(default_factory=dict)  # version → openAPIV3Schema
    printer_columns: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    strategy: Any = None  # a strategies.Strategy, set by the server

    def __post_init__(self) -> None:
        if not self.versions:
            self.versions = (self.version,)
        fields: dict[str, FieldGetter] = {
            "metadata.name": path_getter("metadata", "name"),
        }
        if self.namespaced:
            fields["metadata.namespace"] = path_getter("metadata", "namespace")
        fields.update(self.extra_fields)
        self.field_getters: Mapping[str, FieldGetter] = fields

    @property
    def key(self) -> Key:
        return (self.group, self.plural)

    def api_version(self, version: str | None = None) -> str:
        v = version or self.version
        return f"{self.group}/{v}" if self.group else v

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _keys(**paths: str) -> MergeKeys:
    merged = dict(OBJECT_META_KEYS)
    merged.update({k.replace("__", "."): v for k, v in paths.items()})
    return merged


_CONDITIONS = "type"
_POD_KEYS = {
    "spec.containers": "name",
    "spec.initContainers": "name",
    "spec.volumes": "name",
    "spec.containers[].ports": "containerPort",
    "spec.containers[].env": "name",
    "spec.containers[].volumeMounts": "mountPath",
    "spec.initContainers[].env": "name",
    "spec.tolerations": "",
    "spec.imagePullSecrets": "name",
    "status.conditions": _CONDITIONS,
    "status.podIPs": "ip",
    "status.hostIPs": "ip",
}


def builtin_types() -> list[ResourceType]:
    """The built-in resources the speaker, the collection's modules and their tests use."""
    g = path_getter
    core = [
        ResourceType(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            False,
            subresources=frozenset({"status", "finalize"}),
            short_names=("ns",),
            merge_keys=_keys(**{"status.conditions": _CONDITIONS}),
            extra_fields={"status.phase": g("status", "phase")},
            delete_returns_object=True,
            unconditional_update=True,
        ),
        ResourceType(
            "",
            "v1",
            "services",
            "service",
            "Service",
            True,
            subresources=frozenset({"status"}),
            short_names=("svc",),
            categories=("all",),
            merge_keys=_keys(**{"spec.ports": "port", "status.conditions": _CONDITIONS}),
            delete_returns_object=True,
            create_on_update=True,
        ),
        ResourceType(
            "",
            "v1",
            "nodes",
            "node",
            "Node",
            False,
            subresources=frozenset({"status"}),
            short_names=("no",),
            merge_keys=_keys(**{"status.conditions": _CONDITIONS, "status.addresses": "type", "spec.podCIDRs": ""}),
            extra_fields={"spec.unschedulable": g("spec", "unschedulable")},
        ),
        ResourceType(
            "",
            "v1",
            "pods",
            "pod",
            "Pod",
            True,
            subresources=frozenset({"status"}),
            short_names=("po",),
            categories=("all",),
            merge_keys=_keys(**_POD_KEYS),
            extra_fields={
                "spec.nodeName": g("spec", "nodeName"),
                "status.phase": g("status", "phase"),
                "status.podIP": g("status", "podIP"),
                "spec.serviceAccountName": g("spec", "serviceAccountName"),
            },
            delete_returns_object=True,
        ),
        ResourceType(
            "",
            "v1",
            "endpoints",
            "endpoints",
            "Endpoints",
            True,
            short_names=("ep",),
            merge_keys=_keys(),
            create_on_update=True,
        ),
        ResourceType(
            "",
            "v1",
            "events",
            "event",
            "Event",
            True,
            short_names=("ev",),
            merge_keys=_keys(),
            extra_fields={
                f"involvedObject.{f}": g("involvedObject", f)
                for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
            }
            | {
                "reason": g("reason"),
                "type": g("type"),
                "source": g("source", "component"),
                "reportingComponent": g("reportingComponent"),
            },
            create_on_update=True,
        ),
        ResourceType(
            "", "v1", "secrets", "secret", "Secret", True, merge_keys=_keys(), extra_fields={"type": g("type")}
        ),
        ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, short_names=("cm",), merge_keys=_keys()),
        ResourceType(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            True,
            subresources=frozenset({"token"}),
            short_names=("sa",),
            merge_keys=_keys(**{"secrets": "name"}),
            delete_returns_object=True,
        ),
    ]
    others = [
        ResourceType(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "endpointslice",
            "EndpointSlice",
            True,
            merge_keys=_keys(),
            extra_fields={"addressType": g("addressType")},
        ),
        ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, merge_keys=_keys()),
        ResourceType(
            "events.k8s.io",
            "v1",
            "events",
            "event",
            "Event",
            True,
            short_names=("ev",),
            merge_keys=_keys(),
            extra_fields={
                f"regarding.{f}": g("regarding", f) for f in ("kind", "namespace", "name", "uid", "apiVersion")
            }
            | {"reason": g("reason"), "type": g("type"), "reportingController": g("reportingController")},
        ),
        # rbac.authorization.k8s.io/v1: stored like any object; enforced when the server's rbac is on (rbac.py)
        ResourceType(
            "rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False, merge_keys=_keys()
        ),
        ResourceType(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            False,
            merge_keys=_keys(),
        ),
        ResourceType("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True, merge_keys=_keys()),
        ResourceType(
            "rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True, merge_keys=_keys()
        ),
        ResourceType(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            False,
            subresources=frozenset({"status"}),
            short_names=("crd", "crds"),
            categories=("api-extensions",),
            merge_keys=_keys(),
            delete_returns_object=True,
        ),
    ]
    return core + others


def types_from_crd(crd: Mapping[str, Any]) -> ResourceType:
    """The custom resource a CRD object defines (served versions, scope, schema, columns)."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    storage = next((v["name"] for v in spec["versions"] if v.get("storage")), served[0]["name"])
    schemas = {v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") for v in spec["versions"]}
    columns = {v["name"]: list(v.get("additionalPrinterColumns") or []) for v in spec["versions"]}
    status = any("status" in (v.get("subresources") or {}) for v in served)
    return ResourceType(
        group=spec["group"],
        version=storage,
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        versions=tuple(v["name"] for v in served),
        subresources=frozenset({"status"} if status else ()),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        merge_keys=None,
        delete_returns_object=True,
        unconditional_update=False,
        is_custom=True,
        schemas=schemas,
        printer_columns=columns,
    )


class Registry:
    """Served resources by ``(group, version, plural)`` and by ``(group, plural)``."""

    def __init__(self) -> None:
        self._by_key: dict[Key, ResourceType] = {}

    def add(self, rt: ResourceType) -> None:
        self._by_key[rt.key] = rt

    def remove(self, key: Key) -> ResourceType | None:
        return self._by_key.pop(key, None)

    def by_key(self, key: Key) -> ResourceType | None:
        return self._by_key.get(key)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._by_key.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        return rt

    def all(self) -> list[ResourceType]:
        return list(self._by_key.values())

    def groups(self) -> dict[str, list[str]]:
        """group → served versions (storage/preferred first), in registration order."""
        out: dict[str, list[str]] = {}
        for rt in self._by_key.values():
            versions = out.setdefault(rt.group, [])
            for v in sorted(rt.versions, key=_version_priority):
                if v not in versions:
                    versions.append(v)
        for _g, vs in out.items():
            vs.sort(key=_version_priority)
        return out


def _version_priority(v: str) -> tuple[int, int, int]:
    """Kube version ordering: GA > beta > alpha, then higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0)
    major, stage, minor = m.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0))
