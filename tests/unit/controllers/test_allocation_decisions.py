"""The allocation decision (``speaker.plan.allocation.decide``) as scenario tables, in the allocator's style.

Each scenario is an ordered list of ``(description, change, expected)`` rows run against the state left by earlier
rows (the allocator is the decision's model of who holds what); every row checks the actions the decision returns,
whether the Service waits for capacity, and that the Service object it read was not modified.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from speaker.config.cluster import build_config
from speaker.ipam.allocator import Allocator
from speaker.ipam.service import request_for
from speaker.kube.kinds import METALLB_GROUP, METALLB_VERSIONS
from speaker.plan.actions import CountFailure, ForgetStatus, Say, Unsay, WriteStatus
from speaker.plan.allocation import CONFIG_OBJECTS, config_actions, decide, pool_actions
from speaker.plan.clusterview import service_view
from tests.unit.controllers.world import NS, peer, pool, service

LAN = pool("lan", "198.51.100.240/30")  # four addresses: .240 to .243
CONFIG = build_config([LAN])


def brief(action: Any) -> tuple[Any, ...]:
    """An action as a short, readable tuple."""
    if isinstance(action, WriteStatus):
        return ("write", action.key, action.status.ips, action.status.pool)
    if isinstance(action, ForgetStatus):
        return ("forget", action.key)
    if isinstance(action, Say):
        return ("say", action.event.type, action.event.reason)
    if isinstance(action, Unsay):
        return ("unsay", action.subject, action.reason)
    if isinstance(action, CountFailure):
        return ("count-failure",)
    raise AssertionError(action)


@dataclass(frozen=True)
class Row:
    description: str
    key: str
    svc: dict[str, Any] | None  # the Service as the cache shows it now (None: deleted)
    expected: list[tuple[Any, ...]]
    failed: bool = False
    check: Callable[[Allocator], None] | None = None


def run(rows: list[Row], lb_class: str | None = None) -> None:
    allocator = Allocator(CONFIG.pools.values())
    for i, row in enumerate(rows):
        where = f"row {i} ({row.description})"
        before = copy.deepcopy(row.svc)
        view = service_view(row.svc, lb_class) if row.svc is not None else None
        extraction = request_for(row.svc) if view is not None and view.ours else None
        got = decide(row.key, view, extraction, allocator, CONFIG.pools)
        assert [brief(a) for a in got.actions] == row.expected, where
        assert got.failed == row.failed, where
        assert row.svc == before, f"{where}: the Service was modified"
        if row.check is not None:
            row.check(allocator)


WEB = "default/web"


def holds(key: str, *ips: str) -> Callable[[Allocator], None]:
    def check(a: Allocator) -> None:
        assert tuple(str(ip) for ip in a.ips_of(key)) == ips

    return check


SCENARIOS = {
    "a new Service gets an address, then keeps it": [
        Row(
            "created",
            WEB,
            service("web"),
            [
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
        Row(
            "our write comes back: nothing new to say",
            WEB,
            service("web", "198.51.100.240", pool_name="lan"),
            [("unsay", WEB, "AllocationFailed"), ("write", WEB, ("198.51.100.240",), "lan")],
            check=holds(WEB, "198.51.100.240"),
        ),
        Row(
            "deleted: released, nothing left to write or remember",
            WEB,
            None,
            [("forget", WEB), ("unsay", WEB, None)],
            check=holds(WEB),
        ),
    ],
    "a requested address outside every pool fails, and is retried": [
        Row(
            "asks for an address no pool holds",
            WEB,
            service("web", loadBalancerIP="192.0.2.9"),
            [("count-failure",), ("say", "Warning", "AllocationFailed")],
            failed=True,
        ),
        Row(
            "the request is dropped: allocated at last",
            WEB,
            service("web"),
            [
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
    ],
    "an address outside every pool is moved into one": [
        Row(
            "holds an address outside every pool",
            WEB,
            service("web", "192.0.2.9", pool_name="old"),
            [
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
    ],
    "a request the configuration cannot meet clears what the Service holds": [
        Row(
            "allocated",
            WEB,
            service("web"),
            [
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
        Row(
            "now asks for an address no pool holds",
            WEB,
            service("web", "198.51.100.240", pool_name="lan", loadBalancerIP="192.0.2.9"),
            [
                ("count-failure",),
                ("say", "Warning", "AllocationFailed"),
                ("write", WEB, (), None),
                ("say", "Warning", "ClearAssignment"),
            ],
            failed=True,
            check=holds(WEB),
        ),
    ],
    "a Service that stops being a LoadBalancer gives back only what we gave it": [
        Row(
            "allocated",
            WEB,
            service("web"),
            [
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
        Row(
            "turned into ClusterIP while showing our address",
            WEB,
            service("web", "198.51.100.240", pool_name="lan", type="ClusterIP"),
            [("write", WEB, (), None), ("say", "Normal", "ClearAssignment")],
            check=holds(WEB),
        ),
        Row(
            "another class's Service with MetalLB's annotation for a pool we lack: not ours to clear",
            "default/x",
            service("x", "198.51.100.241", pool_name="metallb-pool", loadBalancerClass="metallb"),
            [("forget", "default/x")],
        ),
    ],
    "both loadBalancerIP and the annotation: refused, what it holds stays": [
        Row(
            "allocated",
            WEB,
            service("web"),
            [
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
        Row(
            "both set while holding .240",
            WEB,
            {
                **service("web", "198.51.100.240", pool_name="lan", loadBalancerIP="198.51.100.241"),
                "metadata": {
                    **service("web")["metadata"],
                    "annotations": {
                        "metallb.io/ip-allocated-from-pool": "lan",
                        "metallb.io/loadBalancerIPs": "198.51.100.242",
                    },
                },
            },
            [
                ("say", "Warning", "LoadBalancerFailed"),
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
            ],
            check=holds(WEB, "198.51.100.240"),
        ),
        Row(
            "both set on a new Service: it waits, nothing written",
            "default/new",
            {
                **service("new", loadBalancerIP="198.51.100.241"),
                "metadata": {
                    **service("new")["metadata"],
                    "annotations": {"metallb.io/loadBalancerIPs": "198.51.100.242"},
                },
            },
            [("say", "Warning", "LoadBalancerFailed")],
            failed=True,
            check=holds("default/new"),
        ),
    ],
    "a deprecated annotation is honoured and warned about": [
        Row(
            "metallb.universe.tf/address-pool",
            WEB,
            {
                **service("web"),
                "metadata": {**service("web")["metadata"], "annotations": {"metallb.universe.tf/address-pool": "lan"}},
            },
            [
                ("say", "Warning", "DeprecatedAnnotation"),
                ("unsay", WEB, "AllocationFailed"),
                ("write", WEB, ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
    ],
    "the pool runs out": [
        *[
            Row(
                f"s{i} allocated",
                f"default/s{i}",
                service(f"s{i}"),
                [
                    ("unsay", f"default/s{i}", "AllocationFailed"),
                    ("write", f"default/s{i}", (f"198.51.100.24{i}",), "lan"),
                    ("say", "Normal", "IPAllocated"),
                ],
            )
            for i in range(4)
        ],
        Row(
            "the fifth waits",
            "default/s4",
            service("s4"),
            [("count-failure",), ("say", "Warning", "AllocationFailed")],
            failed=True,
        ),
        Row(
            "one is deleted: capacity freed",
            "default/s0",
            None,
            [("forget", "default/s0"), ("unsay", "default/s0", None)],
        ),
        Row(
            "the fifth, retried, gets the freed address",
            "default/s4",
            service("s4"),
            [
                ("unsay", "default/s4", "AllocationFailed"),
                ("write", "default/s4", ("198.51.100.240",), "lan"),
                ("say", "Normal", "IPAllocated"),
            ],
        ),
    ],
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_allocation_scenario(name: str) -> None:
    run(SCENARIOS[name])


def test_a_deleted_service_frees_capacity_and_a_failure_that_clears_does_too() -> None:
    allocator = Allocator(CONFIG.pools.values())
    assert decide(WEB, None, None, allocator, CONFIG.pools).freed
    svc = service("web", "198.51.100.240", pool_name="lan", loadBalancerIP="192.0.2.9")
    got = decide(WEB, service_view(svc, None), request_for(svc), allocator, CONFIG.pools)
    assert got.failed and got.freed


def test_config_errors_and_warnings_become_one_event_per_object_and_reason() -> None:
    cfg = build_config(
        [pool("lan", "198.51.100.241/30", "198.51.100.250/31"), pool("bad", "nonsense")],
        bgp_peers=[peer("r1", "192.0.2.1", passwordSecret={"name": "missing"})],
    )
    objects = {("BGPPeer", "r1"): {"apiVersion": "metallb.io/v1beta2", "metadata": {"name": "r1", "uid": "u-r1"}}}
    got = [
        (a.subject, a.event.reason, a.event.involved)
        for a in config_actions(cfg, NS, lambda kind, name: objects.get((kind, name)))
    ]
    assert got == [
        ("IPAddressPool:bad", "InvalidConfig", ("metallb.io/v1beta1", "IPAddressPool", NS, "bad", "")),
        ("BGPPeer:r1", "InvalidConfig", ("metallb.io/v1beta2", "BGPPeer", NS, "r1", "u-r1")),
        ("IPAddressPool:lan", "ConfigWarning", ("metallb.io/v1beta1", "IPAddressPool", NS, "lan", "")),
    ]
    assert "198.51.100.241/30" in next(
        a.event.message for a in config_actions(cfg, NS, lambda k, n: None) if a.event.reason == "ConfigWarning"
    )


def test_an_event_on_an_object_not_cached_names_the_version_the_api_serves_it_at() -> None:
    """An Event whose involvedObject names a version the API does not serve (BGPPeer is v1beta2) is not shown by
    ``kubectl describe bgppeer``; the plan cannot import the watch table (it is pure), so this test ties the two."""
    cfg = build_config([pool("lan", "198.51.100.240/30")], bgp_peers=[peer("r1", "192.0.2.1", myASN="x")])
    involved = [a.event.involved for a in config_actions(cfg, NS, lambda k, n: None) if a.subject == "BGPPeer:r1"]
    assert involved == [("metallb.io/v1beta2", "BGPPeer", NS, "r1", "")]
    assert {kind: api for kind, (_, api) in CONFIG_OBJECTS.items()} == {
        kind: f"{METALLB_GROUP}/{METALLB_VERSIONS[plural]}" for kind, (plural, _) in CONFIG_OBJECTS.items()
    }


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        ((0, 4, 0, 0), [("unsay", "IPAddressPool:p", "PoolExhausted")]),  # empty
        ((3, 1, 0, 0), [("unsay", "IPAddressPool:p", "PoolExhausted")]),  # one left
        ((4, 0, 0, 0), [("say", "Warning", "PoolExhausted")]),  # full; no IPv6 in the pool: not "IPv6 exhausted"
        ((4, 0, 1, 2**64 - 1), [("say", "Warning", "PoolExhausted")]),  # IPv4 full, IPv6 has room: IPv4 Services pend
        ((0, 0, 0, 0), [("unsay", "IPAddressPool:p", "PoolExhausted")]),  # no address at all: nothing to run out of
    ],
)
def test_pool_actions_say_a_pool_is_exhausted_while_a_family_it_has_is_full(stats: Any, expected: Any) -> None:
    got = pool_actions({"p": stats}, NS, lambda kind, name: None)
    assert [brief(a) for a in got] == expected
    if expected[0][0] == "say":
        assert got[0].event.involved[:4] == ("metallb.io/v1beta1", "IPAddressPool", NS, "p")  # type: ignore[union-attr]
        assert "every IPv4 address" in got[0].event.message and "IPv6" not in got[0].event.message  # type: ignore[union-attr]
