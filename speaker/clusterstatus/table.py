"""The cluster report for people: a few aligned tables, like ``kubectl get``. No side effects.

:func:`sections` turns the report into rows (what the tests read); :func:`render` only aligns them. A cell never
holds a newline, so every line greps on its own (``baremetal-lb status --cluster | grep traefik``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Section:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"


def _count(used: int | None, free: int | None) -> str:
    return "-" if used is None and free is None else f"{used or 0}/{(used or 0) + (free or 0)}"


def _announcers(svc: Mapping[str, Any]) -> str:
    parts = [f"{a['node']} ({', '.join(a['interfaces']) or 'no interface'})" for a in svc["layer2"]]
    parts += [f"{a['node']} bgp→{', '.join(a['peers']) or 'no peer'}" for a in svc["bgp"]]
    return "; ".join(parts) or "-"


def summary(report: Mapping[str, Any]) -> str:
    """The first line: namespace, allocator, Layer 2 liveness."""
    alloc = report["allocator"]
    leader = alloc["leader"] if alloc["alive"] else f"NONE (last {alloc['leader']})" if alloc["leader"] else "NONE"
    live = report["layer2_liveness"]
    mode = {"heartbeats": "heartbeats", "leases": "LEASES (fallback)"}.get(live["mode"], live["mode"])
    return f"namespace {report['namespace']}   allocator {leader}   layer2 liveness {mode} (key: {live['key_source']})"


def sections(report: Mapping[str, Any]) -> list[Section]:
    """The report's tables, in reading order; the problems, then notes, last (each only when there are any)."""
    out = [
        Section(
            "SPEAKERS",
            ("NODE", "ALIVE", "LAYER2", "LIVENESS", "ALLOCATOR", "RENEWED"),
            tuple(
                (
                    s["node"],
                    "yes" if s["alive"] else "NO",
                    "yes" if s["layer2"] else "no",
                    {"leases": "LEASES"}.get(s.get("liveness") or "", s.get("liveness") or "-"),
                    "leader" if s.get("leader") else "",
                    _ago(s["renewed_seconds_ago"]),
                )
                for s in report["speakers"]
            ),
        ),
        Section(
            "POOLS",
            ("POOL", "ADDRESSES", "PROTOCOL", "IPV4 USED/ALL", "IPV6 USED/ALL", "USAGE"),
            tuple(
                (
                    p["name"] + ("" if p["valid"] else " (invalid)"),
                    ", ".join(p["addresses"]) or "-",
                    "+".join(p["protocols"]) or "none",
                    _count(p["assigned_ipv4"], p["available_ipv4"]),
                    _count(p["assigned_ipv6"], p["available_ipv6"]),
                    "-"
                    if p["usage_percent"] is None
                    else f"{p['usage_percent']:g}%" + (" FULL" if p["exhausted"] else ""),
                )
                for p in report["pools"]
            ),
        ),
        Section(
            "SERVICES",
            ("SERVICE", "ADDRESSES", "POOL", "PROTOCOL", "PORTS", "ANNOUNCED BY"),
            tuple(
                (
                    s["service"],
                    ", ".join(s["addresses"]) or "<pending>",
                    s["pool"] or "-",
                    "+".join(s["protocols"]) or "-",
                    ", ".join(s["ports"]) or "-",
                    _announcers(s),
                )
                for s in report["services"]
            ),
        ),
    ]
    rows = tuple((p["severity"].upper(), p["kind"], p["object"], p["message"]) for p in report["problems"])
    if rows:
        out.append(Section("PROBLEMS", ("SEVERITY", "KIND", "OBJECT", "MESSAGE"), rows))
    # Not problems of the cluster: what the config accepts with a warning, what these credentials may not read.
    notes = tuple(("config warning", "", w) for w in report.get("config_warnings", []))
    notes += tuple(("unreadable", what, why) for what, why in report.get("unreadable", {}).items())
    if notes:
        out.append(Section("NOTES", ("KIND", "OBJECT", "MESSAGE"), notes))
    return out


def _align(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in (header, *rows)]


def render(report: Mapping[str, Any]) -> str:
    lines = [summary(report)]
    for sec in sections(report):
        lines.append("")
        lines.append(f"{sec.title} ({len(sec.rows)})")
        lines.extend(_align(sec.header, sec.rows) if sec.rows else ["  (none)"])
    if not report["problems"]:
        lines += ["", "no problems found"]
    return "\n".join(lines) + "\n"
