"""The allocation decisions, as functions returning actions (``speaker.plan.actions``). No I/O.

``decide`` is what the allocation controller does for one changed Service: given the Service as the view shows it
(or None: deleted), how it was read, and the controller's ``Allocator`` — the model of who holds what, which the
decision updates as MetalLB's does — it says what to write and what to tell the user. ``config_actions`` turns the
config's errors and warnings into Events, ``pool_actions`` says when a pool runs out. The controller performs the
actions; the scenario tables in ``tests/unit/controllers/test_allocation_decisions.py`` run these functions with no
controller at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from speaker.config.cluster import ClusterConfig
from speaker.events import NORMAL, WARNING, event_about, service_event
from speaker.ipam.allocator import Allocator, PoolStats
from speaker.ipam.request import AllocationError
from speaker.ipam.service import Extraction, ServiceStatus
from speaker.plan.actions import AllocationAction, CountFailure, ForgetStatus, Say, Unsay, WriteStatus
from speaker.plan.clusterview import ServiceView

ALLOCATION_FAILED = "AllocationFailed"
POOL_EXHAUSTED = "PoolExhausted"


@dataclass(frozen=True)
class Decision:
    actions: tuple[AllocationAction, ...] = ()
    #: The Service is left without an address it asked for: retried when capacity is freed.
    failed: bool = False
    #: Addresses went back to the pools (a release): the failed Services are worth retrying.
    freed: bool = False
    #: What the allocator said about how it chose (logged).
    notes: tuple[str, ...] = ()


def ours(live: ServiceStatus, allocator: Allocator, pools: Mapping[str, Any]) -> bool:
    """Whether a Service's addresses were allocated by us: the pool annotation names one of *our* pools and every
    address is in it. MetalLB writes the same annotation, so while both run (each with its own namespace and class,
    docs/migrating-from-metallb.md) a class-less Service that MetalLB allocated is not ours to clear."""
    return (
        live.pool is not None and live.pool in pools and all(allocator.pool_for_ip(ip) == live.pool for ip in live.ips)
    )


def decide(
    key: str, svc: ServiceView | None, extraction: Extraction | None, allocator: Allocator, pools: Mapping[str, Any]
) -> Decision:
    """One Service → what to write and say. ``extraction``: ``request_for`` of a Service that is ours (else None).
    Side effects: none but on ``allocator`` (assign / release)."""
    if svc is None:  # deleted: its addresses go back, nothing more to write or remember
        allocator.release(key)
        return Decision((ForgetStatus(key), Unsay(key)), freed=True)

    def say(etype: str, reason: str, message: str) -> Say:
        return Say(key, service_event(svc.obj, key, etype, reason, message))

    if not svc.ours or extraction is None:
        allocator.release(key)
        if ours(svc.live, allocator, pools):  # we wrote the pool annotation: take our addresses back
            return Decision(
                (
                    WriteStatus(key, ServiceStatus()),
                    say(
                        NORMAL,
                        "ClearAssignment",
                        "not a LoadBalancer Service for this class any more; addresses released",
                    ),
                ),
                freed=True,
            )
        return Decision((ForgetStatus(key),), freed=True)
    actions: list[AllocationAction] = []
    for warning in extraction.warnings:
        actions.append(say(WARNING, "DeprecatedAnnotation" if "deprecated" in warning else "IgnoredField", warning))
    if extraction.error is not None:  # as MetalLB: nothing new for it, and what it holds stays
        actions.append(say(WARNING, "LoadBalancerFailed", extraction.error))
        if not extraction.request.current_ips:
            return Decision(tuple(actions), failed=True)
    result = allocator.assign(extraction.request)
    live = svc.live
    if isinstance(result, AllocationError):
        actions += [CountFailure(), say(WARNING, ALLOCATION_FAILED, f'Failed to allocate IP for "{key}": {result}')]
        if not live.ips:
            return Decision(tuple(actions), failed=True)
        # The allocator released them with the error.
        cleared = f"current IP(s) {', '.join(live.ips)} not allowed by the configuration, cleared"
        actions += [WriteStatus(key, ServiceStatus()), say(WARNING, "ClearAssignment", cleared)]
        return Decision(tuple(actions), failed=True, freed=True)
    want = ServiceStatus(result.addresses, result.pool)
    actions += [Unsay(key, ALLOCATION_FAILED), WriteStatus(key, want)]
    if live.ips != want.ips:
        actions.append(say(NORMAL, "IPAllocated", f"Assigned IP {list(want.ips)}"))
    return Decision(tuple(actions), notes=tuple(result.notes))


#: kind → the plural the caches hold it under, and the apiVersion an Event names when the object is not cached.
CONFIG_OBJECTS = {
    "IPAddressPool": ("ipaddresspools", "metallb.io/v1beta1"),
    "L2Advertisement": ("l2advertisements", "metallb.io/v1beta1"),
    "BGPAdvertisement": ("bgpadvertisements", "metallb.io/v1beta1"),
    "BGPPeer": ("bgppeers", "metallb.io/v1beta2"),
    "Community": ("communities", "metallb.io/v1beta1"),
    "BFDProfile": ("bfdprofiles", "metallb.io/v1beta1"),
}


def config_actions(
    cfg: ClusterConfig, namespace: str, lookup: Callable[[str, str], Mapping[str, Any] | None]
) -> tuple[Say, ...]:
    """The config's errors (``InvalidConfig``) and warnings (``ConfigWarning``: accepted as MetalLB accepts it, but
    worth saying — a CIDR's host bits; one Event per object with all its warnings) as Events on the objects.
    ``lookup(kind, name)``: the cached object (its uid and apiVersion), or None."""

    def say(kind: str, name: str, reason: str, message: str) -> Say:
        api_version = CONFIG_OBJECTS[kind][1] if kind in CONFIG_OBJECTS else "metallb.io/v1beta1"
        return Say(
            f"{kind}:{name}",
            event_about(
                lookup(kind, name),
                kind=kind,
                api_version=api_version,
                namespace=namespace,
                name=name,
                type=WARNING,
                reason=reason,
                message=message,
            ),
        )

    out = [say(err.kind, err.name, "InvalidConfig", str(err)) for err in cfg.errors]
    warned: dict[tuple[str, str], list[str]] = {}
    for warning in cfg.warnings:
        warned.setdefault((warning.kind, warning.name), []).append(str(warning))
    out += [say(kind, name, "ConfigWarning", "; ".join(lines)) for (kind, name), lines in warned.items()]
    return tuple(out)


def pool_actions(
    stats: Mapping[str, PoolStats], namespace: str, lookup: Callable[[str, str], Mapping[str, Any] | None]
) -> tuple[Say | Unsay, ...]:
    """``stats``: ``Allocator.pool_stats`` per pool. A Warning ``PoolExhausted`` on an IPAddressPool while every
    address of a family it has is assigned, and an ``Unsay`` once it has a free one again (a later exhaustion is
    news again). No side effects.

    Why an Event on the pool and not only the ``AllocationFailed`` on a Service: a pool runs out silently — the
    Service that took its last address succeeded, and nothing fails until the next Service stays pending, perhaps
    weeks later. ``kubectl describe ipaddresspool`` and ``kubectl get events`` then say it when it happens. The
    controller's ``Say`` makes it once per episode (same message: not said again); the message names the counts,
    so a pool that grows and fills again is said again. ``lookup(kind, name)``: the cached object, or None."""
    out: list[Say | Unsay] = []
    for name, (a4, f4, a6, f6) in sorted(stats.items()):
        subject = f"IPAddressPool:{name}"
        full = [
            f"every IPv{version} address ({used} of {used})"
            for version, used, free in ((4, a4, f4), (6, a6, f6))
            if used and not free
        ]
        if not full:
            out.append(Unsay(subject, POOL_EXHAUSTED))
            continue
        message = (
            f"IPAddressPool {name}: {' and '.join(full)} is assigned: the next Service asking for one stays "
            "pending (add addresses to the pool, or free some)"
        )
        out.append(
            Say(
                subject,
                event_about(
                    lookup("IPAddressPool", name),
                    kind="IPAddressPool",
                    api_version=CONFIG_OBJECTS["IPAddressPool"][1],
                    namespace=namespace,
                    name=name,
                    type=WARNING,
                    reason=POOL_EXHAUSTED,
                    message=message,
                ),
            )
        )
    return tuple(out)
