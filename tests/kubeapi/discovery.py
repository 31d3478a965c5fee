"""Discovery documents and server-side ``Table`` rendering, for kubectl.

kubectl resolves ``get services,ipaddresspools`` through ``/api`` + ``/apis`` (falling back
from aggregated discovery when the answer is a plain ``APIGroupList``) and then asks for
``as=Table`` lists. Columns follow the real printers for the built-ins the speaker touches
and ``additionalPrinterColumns`` for custom resources.
"""

from __future__ import annotations

import time
from calendar import timegm
from typing import Any

from .resources import Registry, ResourceType

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-baremetal-lb-emulator",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-11-24T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(host: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group_doc(g, vs) for g, vs in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.groups().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


MAIN_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    resources: list[dict[str, Any]] = []
    for rt in sorted(registry.all(), key=lambda r: r.plural):
        if rt.group != group or version not in rt.versions:
            continue
        main: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": MAIN_VERBS,
        }
        if rt.short_names:
            main["shortNames"] = list(rt.short_names)
        if rt.categories:
            main["categories"] = list(rt.categories)
        resources.append(main)
        for sub in sorted(rt.subresources):
            doc: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }
            if sub == "token":
                doc.update(group="authentication.k8s.io", version="v1", kind="TokenRequest", verbs=["create"])
            elif sub == "finalize":
                doc["verbs"] = ["update"]
            resources.append(doc)
    if not resources:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# ---------------------------------------------------------------------------------- tables


def human_age(timestamp: str | None, now: float | None = None) -> str:
    """``duration.HumanDuration`` for a RFC 3339 timestamp ("5s", "3m", "2d4h"...)."""
    if not timestamp:
        return "<unknown>"
    try:
        then = timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<invalid>"
    secs = int((now or time.time()) - then)
    if secs < 0:
        return "<invalid>"
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        s = secs % 60
        return f"{mins}m{s}s" if s else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 8:
        m = mins % 60
        return f"{hours}h{m}m" if m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        h = hours % 24
        return f"{days}d{h}h" if h else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _col(
    name: str, type_: str = "string", description: str = "", priority: int = 0, format_: str = ""
) -> dict[str, Any]:
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


def _jsonpath(obj: Any, path: str) -> Any:
    """The ``.a.b[0].c`` subset of JSONPath used by additionalPrinterColumns."""
    cur = obj
    for part in path.strip().lstrip("{").rstrip("}").lstrip(".").replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            idx = part[1:-1]
            if isinstance(cur, list) and idx.lstrip("-").isdigit() and -len(cur) <= int(idx) < len(cur):
                cur = cur[int(idx)]
            elif isinstance(cur, list) and idx == "*":
                continue
            else:
                return None
        elif isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
        if cur is None:
            return None
    return cur


def _service_row(obj: dict[str, Any]) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    external = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
    external += spec.get("externalIPs") or []
    if not external:
        external_s = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    else:
        external_s = ",".join(external)
    ports = []
    for p in spec.get("ports") or []:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        ports.append(f"{s}/{p.get('protocol', 'TCP')}")
    return [spec.get("type", ""), spec.get("clusterIP") or "<none>", external_s, ",".join(ports) or "<none>"]


_BUILTIN_COLUMNS: dict[tuple[str, str], tuple[list[dict[str, Any]], Any]] = {
    ("", "services"): ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)")], _service_row),
    ("", "nodes"): (
        [_col("Status"), _col("Roles")],
        lambda o: [
            next(
                (
                    ("Ready" if c.get("status") == "True" else "NotReady")
                    for c in (o.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Ready"
                ),
                "Unknown",
            ),
            "<none>",
        ],
    ),
    ("", "pods"): (
        [_col("Ready"), _col("Status"), _col("Restarts", "integer")],
        lambda o: [
            f"0/{len((o.get('spec') or {}).get('containers') or [])}",
            (o.get("status") or {}).get("phase", ""),
            0,
        ],
    ),
    ("", "namespaces"): ([_col("Status")], lambda o: [(o.get("status") or {}).get("phase", "")]),
    ("coordination.k8s.io", "leases"): ([_col("Holder")], lambda o: [(o.get("spec") or {}).get("holderIdentity", "")]),
    ("", "configmaps"): ([_col("Data", "integer")], lambda o: [len(o.get("data") or {})]),
    ("", "secrets"): ([_col("Type"), _col("Data", "integer")], lambda o: [o.get("type", ""), len(o.get("data") or {})]),
    ("discovery.k8s.io", "endpointslices"): (
        [_col("AddressType"), _col("Ports"), _col("Endpoints")],
        lambda o: [
            o.get("addressType", ""),
            ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>",
            ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses") or []) or "<unset>",
        ],
    ),
}


def _subjects(o: dict[str, Any], kind: str) -> str:
    names = [
        (f"{s.get('namespace', '')}/{s.get('name', '')}" if kind == "ServiceAccount" else s.get("name", ""))
        for s in o.get("subjects") or []
        if s.get("kind") == kind
    ]
    return ", ".join(names)


def _binding_row(o: dict[str, Any], now: float) -> list[Any]:
    ref = o.get("roleRef") or {}
    return [
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        human_age(o["metadata"].get("creationTimestamp"), now),
        _subjects(o, "User"),
        _subjects(o, "Group"),
        _subjects(o, "ServiceAccount"),
    ]


_AGE = _col("Age", description="CreationTimestamp")
_ROLE_COLUMNS = (
    [_col("Created At", "date", "Time at which the object was created")],
    lambda o, now: [o["metadata"].get("creationTimestamp") or ""],
)
_BINDING_COLUMNS = (
    [
        _col("Role", description="Role of the binding"),
        _AGE,
        _col("Users", description="Users in the binding", priority=1),
        _col("Groups", description="Groups in the binding", priority=1),
        _col("ServiceAccounts", description="ServiceAccounts in the binding", priority=1),
    ],
    _binding_row,
)
# printers that place (or leave out) Age themselves: the RBAC kinds (upstream's printers.go)
_FULL_COLUMNS: dict[tuple[str, str], tuple[list[dict[str, Any]], Any]] = {
    ("rbac.authorization.k8s.io", "roles"): _ROLE_COLUMNS,
    ("rbac.authorization.k8s.io", "clusterroles"): _ROLE_COLUMNS,
    ("rbac.authorization.k8s.io", "rolebindings"): _BINDING_COLUMNS,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): _BINDING_COLUMNS,
}


def table(
    rt: ResourceType,
    version: str,
    objs: list[dict[str, Any]],
    resource_version: str,
    include_object: str = "Metadata",
    continue_token: str | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table for ``objs`` as kubectl expects it."""
    name_col = _col("Name", format_="name", description="Name must be unique within a namespace.")
    now = time.time()
    if rt.is_custom:
        specs = rt.printer_columns.get(version) or []
        columns = [name_col]
        if specs:
            columns += [
                _col(
                    c["name"],
                    c.get("type", "string"),
                    c.get("description", ""),
                    c.get("priority", 0),
                    c.get("format", ""),
                )
                for c in specs
            ]
        if not any(c["jsonPath"].strip() == ".metadata.creationTimestamp" for c in specs):
            columns.append(_col("Age", "date", "CreationTimestamp is a timestamp representing the server time"))

        def cells(o: dict[str, Any]) -> list[Any]:
            out: list[Any] = [o["metadata"]["name"]]
            for c in specs:
                v = _jsonpath(o, c["jsonPath"])
                if c.get("type") == "date" and isinstance(v, str):
                    v = human_age(v, now)
                out.append(v)
            if len(columns) > len(out):
                out.append(human_age(o["metadata"].get("creationTimestamp"), now))
            return out
    elif rt.key in _FULL_COLUMNS:
        full, full_fn = _FULL_COLUMNS[rt.key]
        columns = [name_col] + full

        def cells(o: dict[str, Any]) -> list[Any]:
            return [o["metadata"]["name"], *full_fn(o, now)]
    else:
        extra, fn = _BUILTIN_COLUMNS.get(rt.key, ([], lambda o: []))
        columns = [name_col] + extra + [_col("Age", description="CreationTimestamp")]

        def cells(o: dict[str, Any]) -> list[Any]:
            return [o["metadata"]["name"], *fn(o), human_age(o["metadata"].get("creationTimestamp"), now)]

    rows = []
    for o in objs:
        row: dict[str, Any] = {"cells": cells(o)}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
        rows.append(row)
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
