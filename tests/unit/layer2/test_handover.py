"""The hand-over forwarding's decisions (speaker/layer2/handover.py); the packets themselves are in
tests/integration/test_handover_forward.py and the planned-stop end-to-end test."""

from __future__ import annotations

import logging

import pytest

from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.views import ViewSource
from speaker.ipam.service import IP_ALLOCATED_FROM_POOL
from speaker.kube.kinds import Caches
from speaker.layer2.handover import CONFIRM, DRAIN, TABLE, Forward, HandoverForwarder, Plan, ruleset

V4 = Forward("198.51.100.240", "eth0", "198.51.100.11")
V6 = Forward("2001:db8::240", "eth0.5", "2001:db8::11")


def test_ruleset_remembers_new_connections_and_forwards_the_others():
    text = ruleset([V4, V6])
    assert 'type filter hook ingress device "eth0" priority -500' in text
    assert (
        "ip daddr 198.51.100.240 meta l4proto tcp tcp flags & (syn | ack) == syn "
        "update @own4 { ip saddr . tcp sport . ip daddr . tcp dport }"
    ) in text
    assert (
        "ip daddr 198.51.100.240 meta l4proto tcp ip saddr . tcp sport . ip daddr . tcp dport != @own4 "
        'counter fwd ip to 198.51.100.11 device "eth0"'
    ) in text
    assert 'fwd ip6 to 2001:db8::11 device "eth0.5"' in text and "@own6" in text
    assert text.index("update @own4") < text.index("!= @own4")  # a SYN is remembered before the forward rule


def test_ruleset_keeps_the_remembered_connections_and_drops_unused_chains():
    text = ruleset([V6], previous_devices=["eth0", "eth0.5"])
    assert "delete table" not in text  # the sets survive an update
    assert f"flush chain netdev {TABLE} in_eth0_5" in text
    assert f"delete chain netdev {TABLE} in_eth0\n" in text


def test_nothing_to_forward_removes_the_table():
    assert ruleset([]) == f"table netdev {TABLE}\ndelete table netdev {TABLE}\n"


def test_plan_forwards_for_the_drain_period_and_only_for_addresses_still_ours():
    plan = Plan(drain=30)
    plan.begin([V4, V6], now=100)
    plan.expire(129.9)
    assert plan.current() == {V4, V6}
    plan.keep_only(["2001:db8::240"])
    assert plan.current() == {V6}
    plan.expire(130)
    assert plan.current() == frozenset()


class Kernel:
    def __init__(self, on_link: dict[str, str], fail: bool = False) -> None:
        self.on_link = on_link
        self.scripts: list[str] = []
        self.fail = fail

    def run(self, script: str) -> None:
        self.scripts.append(script)
        if self.fail:
            raise RuntimeError("Error: Could not process rule: No such file or directory")


def test_forwarder_forwards_to_the_old_owners_on_link_address_of_the_same_family():
    k = Kernel({"198.51.100.11": "eth0", "2001:db8::11": "eth0"})
    now = [0.0]
    fw = HandoverForwarder(run=k.run, device_for=k.on_link.get, clock=lambda: now[0])
    fw.start()
    assert k.scripts == [ruleset([])]  # a crashed speaker's leftovers go
    done = fw.begin({"198.51.100.240": ["2001:db8::11", "198.51.100.11"], "192.0.2.9": ["10.9.9.9"]})
    assert done == [V4]  # the IPv6 InternalIP cannot carry IPv4; 10.9.9.9 is not on-link: nothing forwarded
    assert k.scripts[-1] == ruleset([V4])
    fw.tick()
    assert len(k.scripts) == 2  # unchanged: no nft run
    now[0] = DRAIN
    fw.tick()
    assert k.scripts[-1] == ruleset([], ["eth0"]) and fw.current() == frozenset()


def test_forwarder_stop_removes_everything():
    k = Kernel({"198.51.100.11": "eth0"})
    fw = HandoverForwarder(run=k.run, device_for=k.on_link.get)
    fw.begin({"198.51.100.240": ["198.51.100.11"]})
    fw.stop()
    assert k.scripts[-1] == ruleset([]) and fw.current() == frozenset()


def test_without_nft_it_warns_once_and_announces_anyway(caplog: pytest.LogCaptureFixture):
    k = Kernel({"198.51.100.11": "eth0"}, fail=True)
    fw = HandoverForwarder(run=k.run, device_for=k.on_link.get)
    with caplog.at_level(logging.WARNING):
        fw.begin({"198.51.100.240": ["198.51.100.11"]})
        fw.begin({"198.51.100.241": ["198.51.100.11"]})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "connections in flight then are reset" in warnings[0]


# --- the controller's side: forward only on a takeover from a node that left cleanly, and before announcing


class Items:
    def __init__(self, *objs: dict) -> None:
        self.objs = list(objs)

    def items(self) -> list[dict]:
        return self.objs

    def get(self, key: str) -> dict | None:
        return next((o for o in self.objs if f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" == key), None)


class Recorder:
    """The announcer and the forwarder in one: records the order of what the controller does."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def set_desired(self, desired: dict) -> None:
        self.log.append(("announce", tuple(sorted(desired))))

    def snapshot(self) -> dict:
        return {"addresses": []}

    def begin(self, takeovers: dict, hold: float | None = None) -> list[Forward]:
        self.log.append(("forward", dict(takeovers), hold))
        return [Forward(ip, "eth0", vias[0]) for ip, vias in takeovers.items()]

    def confirm(self, ips) -> list[Forward]:
        self.log.append(("confirm", sorted(ips)))
        return [Forward(ip, "eth0", "198.51.100.12") for ip in ips]

    def tick(self) -> None:
        pass


class NoEvents:
    def record(self, event) -> None:
        pass


def world() -> dict:
    def node(name: str, ip: str) -> dict:
        return {
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {
                "addresses": [{"type": "InternalIP", "address": ip}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }

    svc = {
        "metadata": {"name": "web", "namespace": "default", "annotations": {IP_ALLOCATED_FROM_POOL: "lan"}},
        "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.240"}]}},
    }
    serving = {
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": True}}],
    }  # eTP=Cluster needs one
    return {
        "services": Items(svc),
        "endpointslices": Items(serving),
        "servicel2statuses": Items(),
        "nodes": Items(node("node1", "198.51.100.11"), node("node2", "198.51.100.12")),
        "ipaddresspools": Items(
            {"metadata": {"name": "lan", "namespace": "metallb-system"}, "spec": {"addresses": ["198.51.100.240/29"]}}
        ),
        "l2advertisements": Items(
            {"metadata": {"name": "lan", "namespace": "metallb-system"}, "spec": {"ipAddressPools": ["lan"]}}
        ),
    }


def controller(rec: Recorder, alive: dict, departed: dict) -> Layer2Controller:
    caches = Caches(**world())
    return Layer2Controller(
        node="node1",
        caches=caches,
        views=ViewSource(caches, load_balancer_class=None),
        synced=lambda: True,
        announcer=rec,  # type: ignore[arg-type]
        events=NoEvents(),  # type: ignore[arg-type]
        alive=lambda: alive["now"],
        handover=rec,  # type: ignore[arg-type]
        departed=lambda: departed["now"],
    )


def test_takeover_from_a_node_that_left_forwards_for_the_drain_period_before_announcing():
    alive, departed, rec = {"now": frozenset({"node2"})}, {"now": frozenset()}, Recorder()
    ctl = controller(rec, alive, departed)
    ctl.recompute()
    assert rec.log == [("announce", ())]  # node2 announces
    alive["now"], departed["now"] = frozenset({"node1"}), frozenset({"node2"})  # node2's LEAVE
    ctl.recompute()
    assert rec.log[1:] == [("forward", {"198.51.100.240": ["198.51.100.12"]}, None), ("announce", ("198.51.100.240",))]
    ctl.tick()
    assert rec.log[3:] == []  # nothing left to confirm


def test_takeover_from_a_node_declared_dead_forwards_briefly_and_longer_if_its_leave_follows():
    alive, departed, rec = {"now": frozenset({"node2"})}, {"now": frozenset()}, Recorder()
    ctl = controller(rec, alive, departed)
    ctl.recompute()
    alive["now"] = frozenset({"node1"})  # node2's heartbeats stalled past dead_after...
    ctl.recompute()
    assert rec.log[1:] == [
        ("forward", {"198.51.100.240": ["198.51.100.12"]}, CONFIRM),
        ("announce", ("198.51.100.240",)),
    ]
    ctl.tick()
    assert rec.log[3:] == []  # no LEAVE yet: nothing more
    departed["now"] = frozenset({"node2"})  # ...because it was stopping: its LEAVE arrives after our takeover
    ctl.tick()
    assert rec.log[3:] == [("confirm", ["198.51.100.240"])]
    ctl.tick()
    assert rec.log[4:] == []  # once


def test_plan_confirm_extends_a_brief_forward_to_the_drain_period_from_the_takeover():
    plan = Plan(drain=30)
    plan.begin([V4], now=100, hold=2)
    assert plan.confirm(["198.51.100.240"]) == [V4]
    plan.expire(129.9)
    assert plan.current() == {V4}
    plan.expire(130)
    assert plan.current() == frozenset()
    plan.begin([V4], now=200, hold=2)
    plan.expire(202)
    assert plan.confirm(["198.51.100.240"]) == []  # too late: it had gone
