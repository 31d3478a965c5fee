"""The cluster-wide report: listed API objects in, one JSON-ready dict out. No side effects.

The dict is the schema of ``baremetal-lb status --cluster --output json`` (``SCHEMA``, documented in
docs/troubleshooting.md): keys are only ever added within a schema version, never renamed or removed.

What it says and where each part comes from:

- **speakers**: every speaker's own Lease (``speaker.kube.speakerlease``): alive while held and renewed within its
  duration. Judged against ``now`` of the machine running the command, so a clock far off the nodes' skews it
  (the speakers themselves use their own clocks and never compare ``renewTime``; this is a view, not a decision).
- **allocator**: the holder of the allocator Lease, alive by the same rule.
- **layer2 liveness**: each Layer 2 speaker labels its Lease with what it uses to tell who is alive
  (heartbeats, or the Lease fallback: a dead node noticed in seconds, not 0.2 s). Speakers that say nothing (older
  versions, the first seconds after a start) leave it to the heartbeat Secret: a key there means heartbeats are
  expected, no key is "unknown" (a key file on the nodes is not visible from the API).
- **pools**: ``status`` written by the allocator (assigned/available per family), the protocols their
  advertisements give them, and the config errors the speakers see (the same :func:`build_config`).
- **services**: every LoadBalancer Service of this class, its addresses and pool, and who announces it
  (ServiceL2Status: node and interfaces; ServiceBGPStatus: node and peers). A Service with an address that no
  status object names is a gap; the Service's newest Warning Event (``NoEligibleNode``, ``AllocationFailed``…)
  says why when it can be read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from speaker.config.cluster import build_config
from speaker.ipam.service import IP_ALLOCATED_FROM_POOL, current_ips, is_load_balancer, ports_of, service_key

SCHEMA = "baremetal-lb/cluster-status/v1"
ERROR, WARNING = "error", "warning"

# speaker.kube.speakerlease.PREFIX (kept equal by a test: this module is pure)
LIVENESS_PREFIX = "baremetal-lb-speaker-"
LAYER2_LABEL = "baremetal-lb/layer2"  # speaker.kube.speakerlease.LAYER2_LABEL
LIVENESS_LABEL = "baremetal-lb/layer2-liveness"  # speaker.kube.speakerlease.LIVENESS_LABEL: "heartbeats" | "leases"


@dataclass(frozen=True)
class ClusterObjects:
    """What :mod:`.read` listed (API dicts, as the API returns them), and what it could not read (section → why).

    ``secrets`` only resolve ``BGPPeer.spec.passwordSecret`` for :func:`build_config`, as the speaker does; no
    part of them reaches the report except whether the heartbeat Secret holds a key.
    """

    namespace: str
    now: dt.datetime
    services: tuple[Mapping[str, Any], ...] = ()
    pools: tuple[Mapping[str, Any], ...] = ()
    l2_advertisements: tuple[Mapping[str, Any], ...] = ()
    bgp_advertisements: tuple[Mapping[str, Any], ...] = ()
    bgp_peers: tuple[Mapping[str, Any], ...] = ()
    communities: tuple[Mapping[str, Any], ...] = ()
    bfd_profiles: tuple[Mapping[str, Any], ...] = ()
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    l2_statuses: tuple[Mapping[str, Any], ...] = ()
    bgp_statuses: tuple[Mapping[str, Any], ...] = ()
    leases: tuple[Mapping[str, Any], ...] = ()
    events: tuple[Mapping[str, Any], ...] = ()
    allocator_lease: str = "baremetal-lb-allocator"
    memberlist_secret: str = "memberlist"
    key_file: str | None = None  # this node's membership.key_file, if any
    load_balancer_class: str | None = None
    unreadable: Mapping[str, str] = field(default_factory=dict)


def parse_time(text: Any) -> dt.datetime | None:
    """An API timestamp (RFC 3339, with or without fractional seconds) as an aware datetime; None if absent/bad."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _lease_state(lease: Mapping[str, Any], now: dt.datetime) -> tuple[str, bool, float | None]:
    """(holder, alive, seconds since the last renewal) of a Lease."""
    spec = lease.get("spec") or {}
    holder = str(spec.get("holderIdentity") or "")
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    age = (now - renewed).total_seconds() if renewed else None
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return holder, bool(holder) and age is not None and age <= duration, age


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _status_key(obj: Mapping[str, Any]) -> str:
    """The Service a ServiceL2Status/ServiceBGPStatus is about ("ns/name"), from its labels or its status."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    status = obj.get("status") or {}
    ns = labels.get("metallb.io/service-namespace") or status.get("serviceNamespace") or ""
    name = labels.get("metallb.io/service-name") or status.get("serviceName") or ""
    return f"{ns}/{name}"


def _status_node(obj: Mapping[str, Any]) -> str:
    return str(
        (obj.get("status") or {}).get("node")
        or ((obj.get("metadata") or {}).get("labels") or {}).get("metallb.io/node")
        or ""
    )


def _newest_warnings(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """The newest Warning Event per involved object (kind, namespace, name)."""
    newest: dict[tuple[str, str, str], tuple[dt.datetime, Mapping[str, Any]]] = {}
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    for ev in events:
        if ev.get("type") != "Warning":
            continue
        inv = ev.get("involvedObject") or {}
        key = (str(inv.get("kind", "")), str(inv.get("namespace", "")), str(inv.get("name", "")))
        when = (
            parse_time(ev.get("lastTimestamp"))
            or parse_time(ev.get("eventTime"))
            or parse_time((ev.get("metadata") or {}).get("creationTimestamp"))
            or epoch
        )
        if key not in newest or when >= newest[key][0]:
            newest[key] = (when, ev)
    return {k: v[1] for k, v in newest.items()}


def _warning(ev: Mapping[str, Any] | None, now: dt.datetime) -> dict[str, Any] | None:
    if ev is None:
        return None
    when = parse_time(ev.get("lastTimestamp")) or parse_time(ev.get("eventTime"))
    return {
        "reason": str(ev.get("reason", "")),
        "message": str(ev.get("message", "")),
        "age_seconds": round((now - when).total_seconds()) if when else None,
    }


def _problem(severity: str, kind: str, obj: str, message: str) -> dict[str, str]:
    return {"severity": severity, "kind": kind, "object": obj, "message": message}


def _speakers(objs: ClusterObjects) -> list[dict[str, Any]]:
    out = []
    for lease in objs.leases:
        name = _name(lease)
        if not name.startswith(LIVENESS_PREFIX) or len(name) == len(LIVENESS_PREFIX):
            continue
        _, alive, age = _lease_state(lease, objs.now)
        labels = (lease.get("metadata") or {}).get("labels") or {}
        layer2 = labels.get(LAYER2_LABEL) == "true"
        out.append(
            {
                "node": name[len(LIVENESS_PREFIX) :],
                "alive": alive,
                "layer2": layer2,
                "liveness": (labels.get(LIVENESS_LABEL) or None) if layer2 else None,
                "renewed_seconds_ago": round(age, 1) if age is not None else None,
            }
        )
    return sorted(out, key=lambda s: s["node"])


def _allocator(objs: ClusterObjects) -> dict[str, Any]:
    lease = next((le for le in objs.leases if _name(le) == objs.allocator_lease), None)
    if lease is None:
        return {"lease": objs.allocator_lease, "leader": None, "alive": False, "renewed_seconds_ago": None}
    holder, alive, age = _lease_state(lease, objs.now)
    return {
        "lease": objs.allocator_lease,
        "leader": holder or None,
        "alive": alive,
        "renewed_seconds_ago": round(age, 1) if age is not None else None,
    }


def _layer2_liveness(objs: ClusterObjects, speakers: list[dict[str, Any]]) -> dict[str, Any]:
    """heartbeats / leases / unknown, from what the live Layer 2 speakers publish; the Secret only explains."""
    where = f"Secret {objs.namespace}/{objs.memberlist_secret}"
    key_source = f"file {objs.key_file} (this node's config)" if objs.key_file else where
    if "secrets" in objs.unreadable:
        secret_says = f"cannot read Secrets: {objs.unreadable['secrets']}"
    elif objs.memberlist_secret not in objs.secrets:
        secret_says = f"{where} does not exist"
    elif not (objs.secrets[objs.memberlist_secret].get("data") or {}).get("secretkey"):
        secret_says = f"{where} has no data.secretkey"
    else:
        secret_says = ""
    said = {s["node"]: s["liveness"] for s in speakers if s["alive"] and s["layer2"] and s["liveness"]}
    on_leases = sorted(n for n, m in said.items() if m == "leases")
    if on_leases:
        return {
            "mode": "leases",
            "key_source": key_source,
            "nodes": on_leases,
            "reason": f"{', '.join(on_leases)} use{'s' if len(on_leases) == 1 else ''} Leases"
            + (f" ({secret_says})" if secret_says else ""),
        }
    if said:  # heartbeats without a key in the Secret: each node has a key file (membership.key_file)
        source = key_source if objs.key_file or not secret_says else f"the nodes' key files ({secret_says})"
        return {"mode": "heartbeats", "key_source": source, "nodes": [], "reason": None}
    if objs.key_file or not secret_says:
        return {"mode": "heartbeats", "key_source": key_source, "nodes": [], "reason": None}
    return {
        "mode": "unknown",
        "key_source": key_source,
        "nodes": [],
        "reason": f"no speaker says ({secret_says}; a key file on the nodes is not visible from the API)",
    }


def _usage(status: Mapping[str, Any]) -> float | None:
    used = sum(int(status.get(k) or 0) for k in ("assignedIPv4", "assignedIPv6"))
    total = used + sum(int(status.get(k) or 0) for k in ("availableIPv4", "availableIPv6"))
    return round(100.0 * used / total, 1) if total else None


def build_report(objs: ClusterObjects) -> dict[str, Any]:
    """The report (``SCHEMA``) for ``objs``. No side effects."""
    cfg = build_config(
        objs.pools,
        objs.l2_advertisements,
        objs.bgp_advertisements,
        objs.bgp_peers,
        objs.communities,
        bfd_profiles=objs.bfd_profiles,
        secrets=objs.secrets,
    )
    problems: list[dict[str, str]] = []

    speakers = _speakers(objs)
    allocator = _allocator(objs)
    for s in speakers:
        s["leader"] = s["node"] == allocator["leader"]
    if "leases" not in objs.unreadable:
        if not allocator["alive"]:
            why = (
                "no speaker holds it"
                if not allocator["leader"]
                else f"{allocator['leader']} stopped renewing it {allocator['renewed_seconds_ago']}s ago"
            )
            problems.append(
                _problem(
                    ERROR,
                    "NoAllocator",
                    f"Lease {objs.namespace}/{objs.allocator_lease}",
                    f"no allocator: {why}; new Services get no address",
                )
            )
        for s in speakers:
            if not s["alive"]:
                problems.append(
                    _problem(
                        WARNING,
                        "SpeakerDown",
                        f"Node {s['node']}",
                        "its speaker's Lease is released or expired: it announces nothing",
                    )
                )
    liveness = _layer2_liveness(objs, speakers)
    if liveness["mode"] == "leases":
        problems.append(
            _problem(
                WARNING,
                "LeaseFallback",
                liveness["key_source"],
                f"Layer 2 failover uses Leases, not heartbeats ({liveness['reason']}): a dead node is "
                "noticed after seconds, not 0.2 s",
            )
        )

    for err in cfg.errors:
        problems.append(_problem(ERROR, "InvalidConfig", f"{err.kind} {err.name}", str(err)))

    protocols: dict[str, list[str]] = {
        name: (["layer2"] if cfg.l2_for_pool(name) else []) + (["bgp"] if cfg.bgp_for_pool(name) else [])
        for name in cfg.pools
    }
    pools = []
    for obj in sorted(objs.pools, key=_name):
        name = _name(obj)
        status = obj.get("status") or {}
        counts = {
            k: int(status[k]) if k in status else None
            for k in ("assignedIPv4", "availableIPv4", "assignedIPv6", "availableIPv6")
        }
        exhausted = [fam for fam in ("IPv4", "IPv6") if counts[f"assigned{fam}"] and counts[f"available{fam}"] == 0]
        pools.append(
            {
                "name": name,
                "addresses": list((obj.get("spec") or {}).get("addresses") or []),
                "protocols": protocols.get(name, []),
                "valid": name in cfg.pools,
                "assigned_ipv4": counts["assignedIPv4"],
                "available_ipv4": counts["availableIPv4"],
                "assigned_ipv6": counts["assignedIPv6"],
                "available_ipv6": counts["availableIPv6"],
                "usage_percent": _usage(status),
                "exhausted": exhausted,
            }
        )
        for fam in exhausted:
            problems.append(
                _problem(
                    WARNING,
                    "PoolExhausted",
                    f"IPAddressPool {name}",
                    f"every {fam} address is assigned: the next Service asking for one stays pending",
                )
            )
        if name in cfg.pools and not protocols[name]:
            problems.append(
                _problem(
                    WARNING,
                    "NoAdvertisement",
                    f"IPAddressPool {name}",
                    "no L2Advertisement or BGPAdvertisement selects it: Services get its addresses "
                    "but nobody announces them",
                )
            )

    l2_by_service: dict[str, list[Mapping[str, Any]]] = {}
    for st in objs.l2_statuses:
        l2_by_service.setdefault(_status_key(st), []).append(st)
    bgp_by_service: dict[str, list[Mapping[str, Any]]] = {}
    for st in objs.bgp_statuses:
        bgp_by_service.setdefault(_status_key(st), []).append(st)
    alive_nodes = {s["node"] for s in speakers if s["alive"]}
    known_nodes = {s["node"] for s in speakers}
    warnings = _newest_warnings(objs.events)

    services = []
    for svc in sorted((s for s in objs.services if is_load_balancer(s, objs.load_balancer_class)), key=service_key):
        key = service_key(svc)
        ns, name = key.split("/", 1)
        ips = list(current_ips(svc))
        pool = str(((svc.get("metadata") or {}).get("annotations") or {}).get(IP_ALLOCATED_FROM_POOL, "")) or None
        labels = (svc.get("metadata") or {}).get("labels") or {}
        want = (
            (
                (["layer2"] if any(a.selects_service(labels) for a in cfg.l2_for_pool(pool)) else [])
                + (["bgp"] if any(a.selects_service(labels) for a in cfg.bgp_for_pool(pool)) else [])
            )
            if pool
            else []
        )
        l2: list[dict[str, Any]] = [
            {
                "node": _status_node(st),
                "interfaces": sorted(str(i.get("name", "")) for i in (st.get("status") or {}).get("interfaces") or ()),
            }
            for st in l2_by_service.get(key, [])
        ]
        bgp: list[dict[str, Any]] = [
            {"node": _status_node(st), "peers": sorted(str(p) for p in (st.get("status") or {}).get("peers") or ())}
            for st in bgp_by_service.get(key, [])
        ]
        l2.sort(key=lambda a: a["node"])
        bgp.sort(key=lambda a: a["node"])
        last = _warning(warnings.get(("Service", ns, name)), objs.now)
        because = f" (newest Warning: {last['reason']}: {last['message']})" if last else ""
        subject = f"Service {key}"
        if not ips:
            problems.append(_problem(ERROR, "NoAddress", subject, f"no address assigned{because}"))
        else:
            if "layer2" in want and not l2:
                problems.append(
                    _problem(
                        ERROR, "NotAnnounced", subject, f"{', '.join(ips)}: no node announces it on Layer 2{because}"
                    )
                )
            if "bgp" in want and not bgp:
                problems.append(
                    _problem(
                        ERROR, "NotAdvertised", subject, f"{', '.join(ips)}: no node advertises it over BGP{because}"
                    )
                )
            if len(l2) > 1:
                holders = ", ".join(a["node"] for a in l2)
                problems.append(
                    _problem(
                        WARNING,
                        "SeveralAnnouncers",
                        subject,
                        f"{len(l2)} nodes hold a ServiceL2Status ({holders}); one answers ARP/NDP, "
                        "the others' objects are stale or a takeover is under way",
                    )
                )
            stale = sorted(a["node"] for a in l2 + bgp if a["node"] in known_nodes and a["node"] not in alive_nodes)
            if stale:
                problems.append(
                    _problem(
                        WARNING,
                        "AnnouncerDown",
                        subject,
                        f"announced by {', '.join(stale)}, whose speaker's Lease expired: the status "
                        "is stale until the allocator removes it",
                    )
                )
        services.append(
            {
                "service": key,
                "addresses": ips,
                "pool": pool,
                "protocols": want,
                "ports": [f"{port}/{proto}" for proto, port in sorted(ports_of(svc), key=lambda p: (p[1], p[0]))],
                "layer2": l2,
                "bgp": bgp,
                "last_warning": last,
            }
        )

    return {
        "schema": SCHEMA,
        "namespace": objs.namespace,
        "generated_at": objs.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "allocator": allocator,
        "layer2_liveness": liveness,
        "speakers": speakers,
        "pools": pools,
        "services": services,
        "config_warnings": [str(w) for w in cfg.warnings],
        "problems": problems,
        "unreadable": dict(sorted(objs.unreadable.items())),
    }
