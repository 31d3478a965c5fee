"""Status objects of dead nodes: the allocator leader deletes them.

A speaker deletes its own ServiceL2Status / ServiceBGPStatus objects when it stops announcing a Service (a deleted
Service included), and a Layer 2 takeover deletes the previous announcer's one. A node that dies (kill -9, power
loss) or is removed can delete nothing, and for BGP nobody takes over — its objects would stay forever and
``kubectl get servicebgpstatuses`` would lie. So one speaker sweeps: the **allocator leader**, already the single
writer of cluster-wide state (Services' status, pools' status), so no second election and no two speakers racing
to delete. It deletes every status object whose node's speaker is gone by its Lease (``speaker.kube.speakerlease``: the
Lease is released, expired or missing for a Lease duration, or at once when the Node is deleted as well). A speaker
that restarts within the Lease duration renews its Lease in time: nothing of its is deleted, nothing flaps.

The emulator and a real cluster behave alike here: ownerReferences would not do this job (the GC deletes a
dependent whose owner is in another namespace, and Services live outside the speaker namespace; a speaker has no
Pod to own its objects).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from speaker.controllers.reconciler import Reconciler
from speaker.kube.kinds import Caches
from speaker.kube.writer import Applier

log = logging.getLogger(__name__)

NODE_LABEL = "metallb.io/node"


class StatusCollector(Reconciler):
    """Sweeps after every change of its inputs and once a second (a Lease runs out without any event)."""

    relevant = frozenset({"servicel2statuses", "servicebgpstatuses", "nodes", "leases"})
    name = "status-gc"

    def __init__(
        self,
        *,
        caches: Caches,
        synced: Callable[[], bool],
        is_leader: Callable[[], bool],
        gone: Callable[[str, bool], bool],
        appliers: Mapping[str, Applier],
    ) -> None:
        super().__init__(synced=synced)
        self._caches = caches
        self._is_leader = is_leader
        self._gone = gone
        unknown = set(appliers) - {"servicel2statuses", "servicebgpstatuses"}
        if unknown:
            raise ValueError(f"not a status kind: {', '.join(sorted(unknown))}")
        # plural → (its cache, the kind's one applier — shared with the publisher — that deletes with a wish None)
        self._kinds = {plural: (getattr(caches, plural), applier) for plural, applier in appliers.items()}
        self._asked: dict[str, str] = {}  # "plural/name" → resourceVersion we asked to delete
        self._reported: frozenset[str] = frozenset()

    def recompute(self) -> None:
        """Nothing to precompute: :meth:`tick` runs right after every pass."""

    def tick(self) -> None:
        if not self._is_leader():
            self._asked, self._reported = {}, frozenset()
            return
        nodes = frozenset(self._caches.nodes.keys())
        found = sweep(
            {plural: cache.items() for plural, (cache, _) in self._kinds.items()}, nodes, self._gone, self._asked
        )
        for plural, name in found.deletes:
            self._kinds[plural][1].desire(name, None)
        for owner in sorted(found.gone - self._reported):
            log.info(
                "status-gc: the speaker on node %s is gone (%s); deleting its %d status object(s)",
                owner,
                "its Node is deleted" if owner not in nodes else "its Lease ran out",
                found.counts[owner],
            )
        self._asked, self._reported = found.asked, found.gone


@dataclass(frozen=True)
class Sweep:
    deletes: tuple[tuple[str, str], ...]  # (plural, object name) to delete now
    asked: dict[str, str]  # "plural/name" → the resourceVersion a delete was asked for
    counts: dict[str, int]  # gone node → how many of its objects are still there

    @property
    def gone(self) -> frozenset[str]:
        return frozenset(self.counts)


def sweep(
    objects: Mapping[str, Iterable[Mapping[str, Any]]],
    nodes: frozenset[str],
    gone: Callable[[str, bool], bool],
    asked: Mapping[str, str],
) -> Sweep:
    """The status objects of gone speakers (``gone(node, node_exists)``: by its Lease), each asked for deletion once
    per resourceVersion — the cache may lag behind our delete. No side effects."""
    verdicts: dict[str, bool] = {}
    now_asked: dict[str, str] = {}
    counts: dict[str, int] = {}
    deletes: list[tuple[str, str]] = []
    for plural, objs in objects.items():
        for obj in objs:
            meta = obj.get("metadata") or {}
            owner = (meta.get("labels") or {}).get(NODE_LABEL)
            if not owner:
                continue
            if owner not in verdicts:
                verdicts[owner] = gone(owner, owner in nodes)
            if not verdicts[owner]:
                continue
            key, rv = f"{plural}/{meta.get('name')}", str(meta.get("resourceVersion") or "")
            now_asked[key] = rv
            counts[owner] = counts.get(owner, 0) + 1
            if asked.get(key) != rv:
                deletes.append((plural, str(meta.get("name", ""))))
    return Sweep(tuple(deletes), now_asked, counts)
