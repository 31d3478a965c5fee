"""The ``AnnouncedOnAllInterfaces`` Event: a Layer 2 address no interface of the node holds is answered on every
interface (MetalLB's behaviour, kept as a fallback), and the user is told once, on the Service (no API, no sockets).
"""

from __future__ import annotations

from typing import Any

from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.views import ViewSource
from speaker.kube.kinds import Caches
from speaker.plan.announce import ALL_INTERFACES, L2Choice, all_interfaces_actions
from tests.unit.controllers.world import endpoints_on

VIP = "192.0.2.50"
MINE = {VIP: L2Choice("n1", ("default/web",), None)}


def row(ifaces, *, fallback=True, state="announced"):
    r: dict[str, Any] = {"ip": VIP, "service": "default/web", "state": state, "interfaces": list(ifaces)}
    if fallback:
        r["all_interfaces"] = True
    return r


def said(rows, before, mine=MINE):
    return all_interfaces_actions(rows, mine, before, node="n1", service_obj=lambda key: None)


def test_decision_table():
    # (description, rows, said before, said after, Events)
    steps = [
        ("announced on every interface: said", [row(["eth0", "eth0.20"])], {}, {VIP: ("eth0", "eth0.20")}, 1),
        (
            "the same again: nothing",
            [row(["eth0.20", "eth0"])],
            {VIP: ("eth0", "eth0.20")},
            {VIP: ("eth0", "eth0.20")},
            0,
        ),
        (
            "a new interface joins: said again",
            [row(["eth0", "eth0.20", "eth1"])],
            {VIP: ("eth0", "eth0.20")},
            {VIP: ("eth0", "eth0.20", "eth1")},
            1,
        ),
        (
            "an interface now holds the subnet: no fallback, forgotten",
            [row(["eth0"], fallback=False)],
            {VIP: ("eth0", "eth0.20")},
            {},
            0,
        ),
        ("still probing: not yet", [row(["eth0"], state="probing")], {}, {}, 0),
        ("not this node's any more: forgotten", [row(["eth0"])], {VIP: ("eth0",)}, {}, 0),
    ]
    for description, rows, before, after, events in steps:
        mine = {} if "not this node" in description else MINE
        now, actions = said(rows, before, mine)
        assert (now, len(actions)) == (after, events), description
    _, (action,) = said([row(["eth0", "eth0.20"])], {})
    ev = action.event
    assert (ev.type, ev.reason) == ("Normal", ALL_INTERFACES)
    assert ev.message.startswith(f'{VIP}: no interface of node "n1" has an address in its subnet')
    assert "(eth0, eth0.20)" in ev.message


class Announcer:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def set_desired(self, desired):
        self.rows = [row(["eth0", "eth0.20"]) for _ in desired]

    def snapshot(self):
        return {"addresses": self.rows}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def record(self, event) -> None:
        self.events.append(event)


class Applier:
    def desire(self, name, value) -> None:
        pass


class Cache:
    def __init__(self, objs) -> None:
        self.objs = objs

    def get(self, key):
        return None

    def items(self):
        return list(self.objs)


def test_the_controller_says_it_once_across_recomputes_and_ticks():
    svc = {
        "metadata": {"namespace": "default", "name": "web", "uid": "u1"},
        "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": [{"ip": VIP}]}},
    }
    caches = Caches(
        services=Cache([svc]),
        nodes=Cache([{"metadata": {"name": "n1"}}]),
        ipaddresspools=Cache([{"metadata": {"name": "vlan"}, "spec": {"addresses": ["192.0.2.0/24"]}}]),
        l2advertisements=Cache([{"metadata": {"name": "vlan"}, "spec": {}}]),
        endpointslices=Cache([endpoints_on("web", "n1")]),
    )  # a Cluster Service needs a serving endpoint
    rec = Recorder()
    c = Layer2Controller(
        node="n1",
        caches=caches,
        views=ViewSource(caches, load_balancer_class=None),
        synced=lambda: True,
        announcer=Announcer(),
        events=rec,  # type: ignore[arg-type]
        alive=lambda: frozenset({"n1"}),
        l2_status=Applier(),
    )  # type: ignore[arg-type]
    for _ in range(3):
        c.recompute()
        c.tick()
    assert [(e.reason, e.involved[3]) for e in rec.events if e.reason != "nodeAssigned"] == [(ALL_INTERFACES, "web")]
