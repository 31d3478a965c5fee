"""Events about this node's speaker itself: the failures that otherwise only a log line and a metric show. Pure.

Two conditions are the speaker's own, not a Service's or a pool's, so their Events are about the Node the speaker
runs on (``kubectl describe node NODE``, ``kubectl get events -A --field-selector involvedObject.kind=Node``):

- ``LeaseFallback`` (Warning): Layer 2 tells who is alive from the speakers' Leases, not heartbeats, because there
  is no heartbeat key — failover takes seconds instead of 0.2 s and a node cut off from the API is never fenced.
  Said once the fallback has lasted ``FALLBACK_GRACE`` (a fresh cluster spends about a second on Leases while the
  allocator leader creates the key's Secret: not worth an Event), and again when a new reason has lasted as long
  (after an outage, a speaker that lists Secrets before the leader has written the key says "does not exist yet"
  for a moment: that passing reason is not a second Warning);
  ``LeaseFallbackEnded`` (Normal) when heartbeats take over after a Warning was said.
- ``HeartbeatKeyMismatch`` (Warning): heartbeats from a sender fail authentication and none of its verify
  (``speaker.liveness.core.KeyMismatchTracker``): that speaker has another key, and the two nodes each think
  the other dead. Once per sender while it lasts.

As the kubelet does for its own Node Events, the Event names the Node with its name as uid and lives in the
``default`` namespace (a cluster-scoped object has none; ``speaker.kube.writer.EventRecorder`` puts it there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from speaker.events import NORMAL, WARNING, Event
from speaker.liveness.memberkey import LEASES
from speaker.plan.actions import Emit

LEASE_FALLBACK = "LeaseFallback"
LEASE_FALLBACK_ENDED = "LeaseFallbackEnded"
KEY_MISMATCH = "HeartbeatKeyMismatch"
#: How long the Lease fallback lasts before it is worth an Event (the metric and /status say it at once).
FALLBACK_GRACE = 10.0


def node_event(node: str, type: str, reason: str, message: str) -> Event:
    """An Event about the Node ``node``, named as the kubelet names it (uid = the node's name)."""
    return Event(("v1", "Node", "", node, node), type, reason, message)


@dataclass(frozen=True)
class FallbackMemory:
    since: float | None = None  # when Layer 2 went on Leases (the caller's clock); None: on heartbeats
    said: str | None = None  # the reason of the last LeaseFallback Warning
    reason: str | None = None  # the reason seen last, and since when it has held
    reason_since: float | None = None


def lease_fallback_events(
    node: str, mode: str | None, reason: str | None, memory: FallbackMemory, *, now: float, key_known: bool
) -> tuple[FallbackMemory, tuple[Emit, ...]]:
    """Whether the Lease fallback is worth an Event now. ``mode``: what Layer 2 liveness uses (None: no Layer 2);
    ``key_known``: a key has arrived and the switch to heartbeats is under way (at most ``HEARTBEAT_CATCH_UP``):
    the fallback is ending, no new Warning. No side effects."""
    if mode != LEASES:
        if memory.said is None or memory.since is None:
            return FallbackMemory(), ()
        return FallbackMemory(), (
            Emit(
                node_event(
                    node,
                    NORMAL,
                    LEASE_FALLBACK_ENDED,
                    f"Layer 2 liveness from heartbeats again after {now - memory.since:.0f}s on the speakers' Leases",
                )
            ),
        )
    since = memory.since if memory.since is not None else now
    why = reason or "no heartbeat key"
    held = memory.reason_since if memory.reason == why and memory.reason_since is not None else now
    waiting = FallbackMemory(since, memory.said, why, held)
    if key_known or now - since < FALLBACK_GRACE or why == memory.said:
        return waiting, ()
    if memory.said is not None and now - held < FALLBACK_GRACE:
        return waiting, ()  # a new reason after a Warning: said once it has lasted, as the first one was
    return FallbackMemory(since, why, why, held), (
        Emit(
            node_event(
                node,
                WARNING,
                LEASE_FALLBACK,
                f"Layer 2 tells who is alive from the speakers' Leases, not heartbeats, for {now - since:.0f}s: {why}. "
                "A dead "
                "node is noticed after seconds instead of 0.2 s, and a node cut off from the API is not fenced "
                '(docs/speaker.md, "The heartbeat key")',
            )
        ),
    )


def key_mismatch_events(
    node: str, mismatched: Mapping[str, str | None], said: frozenset[str]
) -> tuple[frozenset[str], tuple[Emit, ...]]:
    """``mismatched``: sender ("ip:port") → the peer at that address (None: not a known peer) for the senders whose
    heartbeats fail authentication while none verify. A Warning per sender when it starts; a sender that recovers
    is forgotten, so a recurrence is news again. Returns the senders said, and the Events. No side effects."""
    events = tuple(
        Emit(
            node_event(
                node,
                WARNING,
                KEY_MISMATCH,
                f"heartbeats from {ip}{f' (node {peer})' if peer else ''} fail authentication and none of its verify: "
                "that "
                "speaker has another heartbeat key (membership.key_file, or another memberlist Secret). "
                "The two nodes each "
                "see the other as dead and may both answer for the same address",
            )
        )
        for ip, peer in sorted(mismatched.items())
        if ip not in said
    )
    return frozenset(mismatched), events
