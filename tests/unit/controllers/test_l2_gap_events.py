"""The NoEligibleNode Warning: once per change of its reason, from the allocator leader only (no API, no sockets)."""

from __future__ import annotations

from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.views import ViewSource
from speaker.kube.kinds import Caches
from speaker.plan.announce import NO_ELIGIBLE_NODE, NO_LIVE_SPEAKER, L2Gap


class Recorder:
    def __init__(self) -> None:
        self.events = []

    def record(self, event) -> None:
        self.events.append(event)


class Cache:
    def __init__(self, objs) -> None:
        self._objs = objs

    def get(self, key):
        return self._objs.get(key)

    def items(self):
        return list(self._objs.values())


def controller(leader):
    rec = Recorder()
    svc = {"metadata": {"namespace": "default", "name": "web", "uid": "u1"}}
    c = Layer2Controller(
        node="n1",
        caches=Caches(services=Cache({"default/web": svc})),
        synced=lambda: True,
        views=ViewSource(Caches(), load_balancer_class=None),
        announcer=None,
        events=rec,
        alive=frozenset,
        is_leader=lambda: leader["now"],
    )
    return c, rec


def gap(message, reason=NO_ELIGIBLE_NODE):
    return {"default/web": L2Gap("default/web", ("198.51.100.240",), reason, message)}


def test_once_per_change_from_the_leader_only():
    leader = {"now": False}
    c, rec = controller(leader)
    c._report_gaps(gap("all excluded"))
    assert rec.events == []  # a standby computes the same gap: no second Event
    leader["now"] = True
    for _ in range(3):  # every reconcile sees it again: one Event
        c._report_gaps(gap("all excluded"))
    assert [(e.type, e.reason, e.message, e.involved[3]) for e in rec.events] == [
        ("Warning", "NoEligibleNode", "all excluded", "web")
    ]
    c._report_gaps(gap("all excluded, and a new node too"))  # the reason changed: one more
    assert len(rec.events) == 2
    c._report_gaps(gap("x", reason=NO_LIVE_SPEAKER))  # liveness gaps are for /status only
    c._report_gaps({})  # resolved
    assert len(rec.events) == 2
    c._report_gaps(gap("all excluded"))  # it came back: a change again
    assert len(rec.events) == 3


def _unannounced():
    from prometheus_client import REGISTRY

    return {
        (s.labels["service"], s.labels["ip"], s.labels["protocol"], s.labels["reason"]): s.value
        for m in REGISTRY.collect()
        if m.name == "baremetal_lb_address_unannounced"
        for s in m.samples
    }


def test_every_speaker_serves_the_gaps_as_a_metric_until_they_are_resolved():
    c, _ = controller({"now": False})  # a standby too: the alert takes the max over speakers
    c._report_gaps(gap("all excluded"))
    assert _unannounced() == {("default/web", "198.51.100.240", "layer2", "NoEligibleNode"): 1.0}
    c._report_gaps(gap("no speaker alive", reason=NO_LIVE_SPEAKER))
    assert _unannounced() == {("default/web", "198.51.100.240", "layer2", "NoLiveSpeaker"): 1.0}
    c._report_gaps({})
    assert _unannounced() == {}
