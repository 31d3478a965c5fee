"""A takeover never probes, even when the address was unassigned for a moment before it (no API, no sockets).

The race CI caught: an eTP=Local Service's only endpoint moves from node2 to node3 (the EndpointSlice deleted, then
created). One reconcile sees no ready endpoint at all, so the plan leaves the address unassigned; the next gives it
to node3. node3 took that for a brand-new address and probed first; node2, not yet withdrawn, answered the probe,
and node3 stayed dark for the 30 s probe retry, calling node2's answer a conflict.
"""

from __future__ import annotations

from typing import Any

from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.views import ViewSource
from speaker.kube.kinds import Caches

VIP = "198.51.100.240"


class Cache:
    def __init__(self, objs: list[dict[str, Any]]) -> None:
        self.objs = objs

    def get(self, key: str) -> Any:
        return None

    def items(self) -> list[dict[str, Any]]:
        return list(self.objs)


class Announcer:
    def __init__(self) -> None:
        self.desired: dict[str, Any] = {}

    def set_desired(self, desired: dict[str, Any]) -> None:
        self.desired = dict(desired)

    def interfaces_in_use(self) -> dict[str, tuple[str, ...]]:
        return {ip: ("eth0",) for ip in self.desired}


class Events:
    def record(self, event: Any) -> None:
        pass


def node(name: str, ip: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def slice_on(where: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [{"addresses": ["10.244.0.5"], "nodeName": where, "conditions": {"ready": True}}],
    }


def world() -> tuple[Layer2Controller, Announcer, dict[str, Cache]]:
    svc = {
        "metadata": {"namespace": "default", "name": "web", "uid": "u1"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": VIP}]}},
    }
    caches = {
        "services": Cache([]),
        "endpointslices": Cache([slice_on("node2")]),
        "nodes": Cache([node("node2", "198.51.100.12"), node("node3", "198.51.100.13")]),
        "ipaddresspools": Cache(
            [
                {
                    "metadata": {"name": "lab", "namespace": "baremetal-lb"},
                    "spec": {"addresses": ["198.51.100.240-198.51.100.250"]},
                }
            ]
        ),
        "l2advertisements": Cache([{"metadata": {"name": "lab", "namespace": "baremetal-lb"}, "spec": {}}]),
        "servicel2statuses": Cache([]),
    }
    announcer = Announcer()
    c = Layer2Controller(
        node="node3",
        caches=Caches(**caches),  # type: ignore[arg-type]
        views=ViewSource(Caches(**caches), load_balancer_class=None),  # type: ignore[arg-type]
        synced=lambda: True,
        announcer=announcer,  # type: ignore[arg-type]
        events=Events(),  # type: ignore[arg-type]
        alive=lambda: frozenset({"node2", "node3"}),
    )
    c.recompute()  # synced before the Service exists: its address is new to this speaker
    caches["services"].objs.append(svc)
    return c, announcer, caches


def test_a_new_address_is_probed_before_it_is_first_announced() -> None:
    c, announcer, caches = world()
    caches["endpointslices"].objs[:] = [slice_on("node3")]
    c.recompute()
    assert announcer.desired[VIP].probe is True


def test_the_endpoint_moving_through_a_gap_is_a_takeover_not_a_new_address() -> None:
    c, announcer, caches = world()
    c.recompute()
    assert VIP not in announcer.desired  # node2 holds the endpoint: node2 announces
    caches["endpointslices"].objs[:] = []  # deleted …
    c.recompute()
    assert VIP not in announcer.desired
    caches["endpointslices"].objs[:] = [slice_on("node3")]  # … and created on node3
    c.recompute()
    assert announcer.desired[VIP].probe is False
