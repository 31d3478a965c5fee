"""Allocator behaviour, as MetalLB-style scenario tables plus hypothesis properties.

Each scenario is an ordered list of ``(description, action, expected)`` rows run against the
state left by earlier rows; every row also checks that its inputs were not mutated and that
the allocator's indexes agree with each other.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.ipam.allocator import AllocationError, Allocator, Assignment, ServiceRequest, order_for_restore
from speaker.ipam.pool import Pool, ServiceAllocation
from speaker.ipam.ranges import parse_range
from speaker.labels import Selector


def pool(
    name: str, *ranges: str, auto: bool = True, buggy: bool = False, alloc: ServiceAllocation | None = None
) -> Pool:
    return Pool(name, tuple(parse_range(r) for r in ranges), auto_assign=auto, avoid_buggy_ips=buggy, allocation=alloc)


def sel(**labels: str) -> Selector:
    return Selector.from_dict({"matchLabels": labels})


def req(key: str, **kw: Any) -> ServiceRequest:
    if "ports" in kw:
        kw["ports"] = frozenset(_port(p) for p in kw["ports"])
    return ServiceRequest(key, **kw)


def _port(p: Any) -> tuple[str, int]:
    if isinstance(p, int):
        return ("TCP", p)
    if isinstance(p, str):
        proto, _, num = p.partition("/")
        return (proto, int(num))
    return p


# ---- actions ---------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    request: ServiceRequest

    def __call__(self, a: Allocator) -> Any:
        return a.assign(self.request)


@dataclass(frozen=True)
class Release:
    key: str

    def __call__(self, a: Allocator) -> Any:
        return a.release(self.key)


@dataclass(frozen=True)
class SetPools:
    pools: tuple[Pool, ...]

    def __call__(self, a: Allocator) -> Any:
        return a.set_pools(list(self.pools))


@dataclass(frozen=True)
class Stats:
    name: str

    def __call__(self, a: Allocator) -> Any:
        return tuple(a.pool_stats(self.name))


@dataclass(frozen=True)
class Holds:
    """Check what a Service holds now (no change)."""

    key: str

    def __call__(self, a: Allocator) -> Any:
        return tuple(str(ip) for ip in a.ips_of(self.key))


# ---- expectations ----------------------------------------------------------


@dataclass(frozen=True)
class Ok:
    pool: str
    ips: tuple[str, ...]
    note: str = ""

    def check(self, got: Any, where: str) -> None:
        assert isinstance(got, Assignment), f"{where}: expected an assignment, got {got}"
        assert (got.pool, got.addresses) == (self.pool, self.ips), f"{where}: got {got.pool} {got.addresses}"
        if self.note:
            assert any(self.note in n for n in got.notes), f"{where}: no note containing {self.note!r} in {got.notes}"


@dataclass(frozen=True)
class Err:
    contains: str

    def check(self, got: Any, where: str) -> None:
        assert isinstance(got, AllocationError), f"{where}: expected an error, got {got}"
        assert self.contains in got.reason, f"{where}: {got.reason!r} lacks {self.contains!r}"


def ok(pool_name: str, *ips: str, note: str = "") -> Ok:
    return Ok(pool_name, ips, note)


def err(contains: str) -> Err:
    return Err(contains)


Row = tuple[str, Callable[[Allocator], Any], Any]


def run_scenario(pools: Sequence[Pool], rows: Sequence[Row]) -> Allocator:
    pools_before = copy.deepcopy(list(pools))
    allocator = Allocator(pools)
    assert list(pools) == pools_before, "Allocator() mutated its pools"
    for i, (desc, action, expected) in enumerate(rows):
        where = f"row {i} ({desc})"
        snapshot = copy.deepcopy(action)
        got = action(allocator)
        assert action == snapshot, f"{where}: the action's inputs were mutated"
        if hasattr(expected, "check"):
            expected.check(got, where)
        else:
            assert got == expected, f"{where}: got {got!r}, expected {expected!r}"
        check_invariants(allocator)
    return allocator


def check_invariants(a: Allocator) -> None:
    """The allocator's indexes agree with each other (white-box, so a bug shows at the row that caused it)."""
    used = {(name, v): 0 for name in a._pools for v in (4, 6)}
    for ip, hold in a._holds.items():
        assert hold.users, f"{ip} held by nobody"
        state = a._pools[hold.pool]
        assert not state.free[ip.version].is_free(int(ip)), f"{ip} held but free"
        assert a.pool_for_ip(ip) == hold.pool
        used[(hold.pool, ip.version)] += 1
        for key in hold.users:
            assert ip in a._allocs[key].ips
        if hold.sharing_key:
            assert ip in a._by_sharing_key[hold.sharing_key]
    for (name, v), count in used.items():
        assert a._pools[name].used[v] == count
    for key, alloc in a._allocs.items():
        for ip in alloc.ips:
            assert key in a._holds[ip].users
            assert a._holds[ip].pool == alloc.pool
    for k, ips in a._by_sharing_key.items():
        for ip in ips:
            assert a._holds[ip].sharing_key == k
    per_pool: dict[str, int] = {}
    for alloc in a._allocs.values():
        per_pool[alloc.pool] = per_pool.get(alloc.pool, 0) + 1
    assert a.services_per_pool() == per_pool


# =============================================================================
# Scenario tables
# =============================================================================

LAN = pool("lan", "10.1.1.240-10.1.1.250")
TINY = pool("tiny", "10.9.0.1-10.9.0.2")
DUAL = pool("dual", "10.2.0.0/30", "fd00:2::/126")
V6 = pool("v6", "fd00:6::/126")
MANUAL = pool("manual", "10.3.0.0/30", auto=False)

SCENARIOS: dict[str, tuple[Sequence[Pool], list[Row]]] = {}

SCENARIOS["basics: lowest free, idempotent, release then reuse, exhaustion"] = (
    [TINY],
    [
        ("first Service gets the lowest address", Assign(req("default/a")), ok("tiny", "10.9.0.1")),
        ("same request again changes nothing", Assign(req("default/a")), ok("tiny", "10.9.0.1")),
        ("second Service gets the next", Assign(req("default/b")), ok("tiny", "10.9.0.2")),
        ("pool full", Assign(req("default/c")), err("no available IPs in pool tiny (tiny IPv4: 2 of 2 in use)")),
        ("a failed Service holds nothing", Holds("default/c"), ()),
        ("stats count what is held", Stats("tiny"), (2, 0, 0, 0)),
        ("release a", Release("default/a"), True),
        ("release is idempotent", Release("default/a"), False),
        ("c now gets a's old address", Assign(req("default/c")), ok("tiny", "10.9.0.1")),
        ("b did not move meanwhile", Holds("default/b"), ("10.9.0.2",)),
    ],
)

SCENARIOS["requested IPs: annotation / spec.loadBalancerIP"] = (
    [LAN, TINY, MANUAL],
    [
        (
            "requested address in a pool",
            Assign(req("default/traefik", requested_ips=("10.1.1.245",))),
            ok("lan", "10.1.1.245"),
        ),
        (
            "requested address in no pool",
            Assign(req("default/x", requested_ips=("192.168.7.7",))),
            err("192.168.7.7 is not in any IPAddressPool"),
        ),
        (
            "requested address held by another, no sharing key",
            Assign(req("default/y", requested_ips=("10.1.1.245",))),
            err("10.1.1.245 is already held by default/traefik (which does not allow sharing"),
        ),
        (
            "requested address not an IP",
            Assign(req("default/z", requested_ips=("10.1.1.x",))),
            err("'10.1.1.x' is not an IP address"),
        ),
        (
            "address from an autoAssign=false pool may be requested",
            Assign(req("default/m", requested_ips=("10.3.0.1",))),
            ok("manual", "10.3.0.1"),
        ),
        (
            "requested IP outside the requested pool",
            Assign(req("default/p", requested_ips=("10.9.0.1",), pool="lan")),
            err("10.9.0.1 is in pool tiny, not in the requested pool lan"),
        ),
        (
            "requested IP inside the requested pool",
            Assign(req("default/p", requested_ips=("10.1.1.241",), pool="lan")),
            ok("lan", "10.1.1.241"),
        ),
        (
            "changing the requested IP moves the Service",
            Assign(req("default/traefik", requested_ips=("10.1.1.246",))),
            ok("lan", "10.1.1.246"),
        ),
        (
            "the old address is free again",
            Assign(req("default/y", requested_ips=("10.1.1.245",))),
            ok("lan", "10.1.1.245"),
        ),
        (
            "two addresses of one family",
            Assign(req("default/w", requested_ips=("10.1.1.247", "10.1.1.248"))),
            err("two addresses of one family"),
        ),
        (
            "IPv6 address for an IPv4 Service",
            Assign(req("default/w", requested_ips=("fd00:6::1",))),
            err("do not match the Service's families"),
        ),
        ("stats", Stats("lan"), (3, 8, 0, 0)),
    ],
)

SCENARIOS["requested pool and autoAssign"] = (
    [LAN, MANUAL, V6],
    [
        ("automatic never uses an autoAssign=false pool", Assign(req("default/a")), ok("lan", "10.1.1.240")),
        (
            "the annotation may name an autoAssign=false pool",
            Assign(req("default/b", pool="manual")),
            ok("manual", "10.3.0.0"),
        ),
        ("unknown pool", Assign(req("default/c", pool="nope")), err("the requested pool nope does not exist")),
        ("pool without the Service's family", Assign(req("default/d", pool="v6")), err("pool v6 has no IPv4 range")),
        (
            "changing the pool annotation moves the Service",
            Assign(req("default/a", pool="manual")),
            ok("manual", "10.3.0.1"),
        ),
        ("dropping the annotation keeps the address (still valid)", Assign(req("default/a")), ok("manual", "10.3.0.1")),
    ],
)

SCENARIOS["family policies"] = (
    [DUAL, LAN, V6],
    [
        ("SingleStack IPv4", Assign(req("ns/v4")), ok("dual", "10.2.0.0")),
        ("SingleStack IPv6 (ipFamilies [IPv6])", Assign(req("ns/v6", families=(6,))), ok("dual", "fd00:2::")),
        (
            "RequireDualStack gets one of each from one pool, primary first",
            Assign(req("ns/req", families=(6, 4), family_policy="RequireDualStack")),
            ok("dual", "fd00:2::1", "10.2.0.1"),
        ),
        (
            "RequireDualStack from a pool without IPv6",
            Assign(req("ns/req2", families=(4, 6), family_policy="RequireDualStack", pool="lan")),
            err("RequireDualStack but pool lan has no IPv6 range"),
        ),
        (
            "PreferDualStack with both families listed gets both",
            Assign(req("ns/pref", families=(4, 6), family_policy="PreferDualStack")),
            ok("dual", "10.2.0.2", "fd00:2::2"),
        ),
        (
            "PreferDualStack listing one family (single-stack cluster) gets one",
            Assign(req("ns/pref1", families=(4,), family_policy="PreferDualStack")),
            ok("dual", "10.2.0.3"),
        ),
        (
            "dual pool has no IPv4 left: RequireDualStack fails (no pool has both)",
            Assign(req("ns/req3", families=(4, 6), family_policy="RequireDualStack")),
            err("no available IPv4+IPv6 pair in pools dual, lan, v6"),
        ),
        (
            "PreferDualStack falls back to the first pool with the primary family",
            Assign(req("ns/pref2", families=(4, 6), family_policy="PreferDualStack")),
            ok("lan", "10.1.1.240"),
        ),
        (
            "PreferDualStack, IPv6 primary, still room for both nowhere: first pool with IPv6",
            Assign(req("ns/pref3", families=(6, 4), family_policy="PreferDualStack")),
            ok("dual", "fd00:2::3"),
        ),
        (
            "downgrade to SingleStack keeps the primary-family address",
            Assign(req("ns/pref", families=(4, 6), family_policy="SingleStack")),
            ok("dual", "10.2.0.2"),
        ),
        ("its IPv6 address was freed", Stats("dual"), (4, 0, 3, 1)),
        (
            "PreferDualStack may request a single address",
            Assign(req("ns/one", families=(4, 6), family_policy="PreferDualStack", requested_ips=("fd00:2::2",))),
            ok("dual", "fd00:2::2"),
        ),
        (
            "bad policy",
            Assign(req("ns/bad", family_policy="DualStack")),
            err("spec.ipFamilyPolicy 'DualStack' is not one of"),
        ),
    ],
)

SCENARIOS["PreferDualStack: reserved single-family pool beats unreserved dual pool (MetalLB)"] = (
    [pool("dual", "10.2.0.0/30", "fd00:2::/126"), pool("pinned4", "10.5.0.0/30", alloc=ServiceAllocation(priority=1))],
    [
        (
            "pinned pool first",
            Assign(req("ns/p", families=(4, 6), family_policy="PreferDualStack")),
            ok("pinned4", "10.5.0.0"),
        ),
    ],
)

SCENARIOS["PreferDualStack completes a single address when the pool gains the other family"] = (
    [pool("lan", "10.1.1.240-10.1.1.250")],
    [
        (
            "only IPv4 available",
            Assign(req("ns/p", families=(4, 6), family_policy="PreferDualStack")),
            ok("lan", "10.1.1.240"),
        ),
        ("pool gains an IPv6 range", SetPools((pool("lan", "10.1.1.240-10.1.1.250", "fd00::/120"),)), []),
        (
            "the IPv4 address stays, an IPv6 one is added",
            Assign(req("ns/p", families=(4, 6), family_policy="PreferDualStack")),
            ok("lan", "10.1.1.240", "fd00::"),
        ),
        (
            "upgrade to RequireDualStack keeps both",
            Assign(req("ns/p", families=(4, 6), family_policy="RequireDualStack")),
            ok("lan", "10.1.1.240", "fd00::"),
        ),
    ],
)

SCENARIOS["sharing: accept and reject per rule"] = (
    [LAN],
    [
        (
            "tcp 80 with key k",
            Assign(req("default/web", requested_ips=("10.1.1.240",), sharing_key="k", ports=[80])),
            ok("lan", "10.1.1.240"),
        ),
        (
            "tcp 443 with key k shares",
            Assign(req("default/tls", requested_ips=("10.1.1.240",), sharing_key="k", ports=[443])),
            ok("lan", "10.1.1.240"),
        ),
        (
            "udp 80 with key k shares (protocol differs)",
            Assign(req("default/quic", requested_ips=("10.1.1.240",), sharing_key="k", ports=["UDP/80"])),
            ok("lan", "10.1.1.240"),
        ),
        (
            "tcp 80 again: port clash",
            Assign(req("default/web2", requested_ips=("10.1.1.240",), sharing_key="k", ports=[80])),
            err("10.1.1.240 is already held by default/web (port TCP/80 is already used on it)"),
        ),
        (
            "different key",
            Assign(req("default/dns", requested_ips=("10.1.1.240",), sharing_key="other", ports=[53])),
            err("10.1.1.240 is already held by default/quic, default/tls, default/web (sharing key does not match"),
        ),
        (
            "no key on the newcomer",
            Assign(req("default/dns", requested_ips=("10.1.1.240",), ports=[53])),
            err("(this Service has no metallb.io/allow-shared-ip sharing key)"),
        ),
        (
            "eTP Local newcomer vs Cluster holders",
            Assign(
                req("default/dns", requested_ips=("10.1.1.240",), sharing_key="k", ports=[53], backend_key="app=dns")
            ),
            err(
                "share an address only with the same pod selector: selector 'app=dns' here, externalTrafficPolicy: "
                "Cluster there"
            ),
        ),
        ("three holders", Stats("lan"), (1, 10, 0, 0)),
        (
            "Local with selector app=dns",
            Assign(
                req("kube/dns-tcp", requested_ips=("10.1.1.241",), sharing_key="dns", ports=[53], backend_key="app=dns")
            ),
            ok("lan", "10.1.1.241"),
        ),
        (
            "Local, same selector, other protocol shares",
            Assign(
                req(
                    "kube/dns-udp",
                    requested_ips=("10.1.1.241",),
                    sharing_key="dns",
                    ports=["UDP/53"],
                    backend_key="app=dns",
                )
            ),
            ok("lan", "10.1.1.241"),
        ),
        (
            "Local, other selector",
            Assign(
                req(
                    "kube/dns-x", requested_ips=("10.1.1.241",), sharing_key="dns", ports=[853], backend_key="app=other"
                )
            ),
            err("selector 'app=other' here, selector 'app=dns' there"),
        ),
        ("releasing one sharer keeps the address for the others", Release("default/web"), True),
        (
            "a sharer re-adds tcp 80",
            Assign(req("default/web2", requested_ips=("10.1.1.240",), sharing_key="k", ports=[80])),
            ok("lan", "10.1.1.240"),
        ),
        ("still one address in use per group", Stats("lan"), (2, 9, 0, 0)),
    ],
)

SCENARIOS["sharing: the only holder may change its key; automatic allocation reuses a compatible shared address"] = (
    [LAN],
    [
        ("a", Assign(req("default/a", ports=[80])), ok("lan", "10.1.1.240")),
        ("b with key s", Assign(req("default/b", sharing_key="s", ports=[80])), ok("lan", "10.1.1.241")),
        ("c", Assign(req("default/c", ports=[80])), ok("lan", "10.1.1.242")),
        ("a goes away, .240 is the lowest free", Release("default/a"), True),
        (
            "d with key s and other ports joins b instead of taking .240",
            Assign(req("default/d", sharing_key="s", ports=[443])),
            ok("lan", "10.1.1.241"),
        ),
        (
            "e with key s and a clashing port takes the lowest free",
            Assign(req("default/e", sharing_key="s", ports=[443])),
            ok("lan", "10.1.1.240"),
        ),
        (
            "c alone on .242 adds a sharing key in place",
            Assign(req("default/c", sharing_key="new", ports=[80])),
            ok("lan", "10.1.1.242"),
        ),
        (
            "f with the new key joins c",
            Assign(req("default/f", sharing_key="new", ports=[22])),
            ok("lan", "10.1.1.242"),
        ),
        (
            "b on shared .241 cannot change its key: it moves",
            Assign(req("default/b", sharing_key="t", ports=[80])),
            ok("lan", "10.1.1.243", note="could not keep 10.1.1.241"),
        ),
        ("d still holds .241", Holds("default/d"), ("10.1.1.241",)),
    ],
)

SCENARIOS["ports change so sharing is no longer possible"] = (
    [LAN],
    [
        (
            "earlier: tcp 80",
            Assign(req("default/early", requested_ips=("10.1.1.240",), sharing_key="k", ports=[80])),
            ok("lan", "10.1.1.240"),
        ),
        (
            "later: tcp 443",
            Assign(req("default/late", requested_ips=("10.1.1.240",), sharing_key="k", ports=[443])),
            ok("lan", "10.1.1.240"),
        ),
        (
            "later changes to tcp 80: error for the later one",
            Assign(
                req(
                    "default/late",
                    requested_ips=("10.1.1.240",),
                    sharing_key="k",
                    ports=[80],
                    current_ips=("10.1.1.240",),
                )
            ),
            err("10.1.1.240 is already held by default/early (port TCP/80 is already used on it)"),
        ),
        ("the earlier keeps its address", Holds("default/early"), ("10.1.1.240",)),
        ("the later holds nothing", Holds("default/late"), ()),
        ("automatic sharer", Assign(req("default/auto", sharing_key="k", ports=[443])), ok("lan", "10.1.1.240")),
        (
            "automatic sharer's ports clash now: it gets another address, with a note",
            Assign(req("default/auto", sharing_key="k", ports=[80], current_ips=("10.1.1.240",))),
            ok("lan", "10.1.1.241", note="port TCP/80 is already used on it"),
        ),
    ],
)

NS_A = ServiceAllocation(priority=10, namespaces=frozenset({"team-a"}))
SCENARIOS["serviceAllocation: priorities, namespaces, selectors"] = (
    [
        pool("general", "10.0.0.1-10.0.0.1"),
        pool("a-cheap", "10.10.0.1-10.10.0.1", alloc=NS_A),
        pool("a-first", "10.10.1.1-10.10.1.1", alloc=ServiceAllocation(priority=5, namespaces=frozenset({"team-a"}))),
        pool(
            "a-unprioritised",
            "10.10.2.1-10.10.2.1",
            alloc=ServiceAllocation(priority=0, namespaces=frozenset({"team-a"})),
        ),
        pool("a-tie", "10.10.3.1-10.10.3.1", alloc=ServiceAllocation(priority=10, namespaces=frozenset({"team-a"}))),
        pool(
            "prod-ns",
            "10.20.0.1-10.20.0.2",
            alloc=ServiceAllocation(priority=1, namespace_selectors=(sel(env="prod"),)),
        ),
        pool("gold", "10.30.0.1-10.30.0.2", alloc=ServiceAllocation(priority=1, service_selectors=(sel(tier="gold"),))),
        pool("prio-only", "10.40.0.1-10.40.0.1", alloc=ServiceAllocation(priority=50)),
    ],
    [
        ("lowest priority number first", Assign(req("team-a/s1")), ok("a-first", "10.10.1.1")),
        ("then priority 10, tie broken by name", Assign(req("team-a/s2")), ok("a-cheap", "10.10.0.1")),
        ("then the other priority-10 pool", Assign(req("team-a/s3")), ok("a-tie", "10.10.3.1")),
        ("then a priority-only pool (matches everyone)", Assign(req("team-a/s4")), ok("prio-only", "10.40.0.1")),
        ("priority 0 comes after all prioritised pools", Assign(req("team-a/s5")), ok("a-unprioritised", "10.10.2.1")),
        ("unreserved pools only when every reserved one is full", Assign(req("team-a/s6")), ok("general", "10.0.0.1")),
        ("then nothing", Assign(req("team-a/s7")), err("no available IPs in pools")),
        (
            "namespace selector on the namespace's labels",
            Assign(req("web/s", namespace_labels={"env": "prod"})),
            ok("prod-ns", "10.20.0.1"),
        ),
        (
            "service selector on the Service's labels",
            Assign(req("web/g", labels={"tier": "gold"})),
            ok("gold", "10.30.0.1"),
        ),
        (
            "a reserved pool is refused by annotation to a Service it does not match",
            Assign(req("web/x", pool="gold")),
            err("pool gold is reserved by serviceAllocation for other Services (1 serviceSelectors)"),
        ),
        (
            "and by requested IP",
            Assign(req("web/x", requested_ips=("10.20.0.2",), namespace_labels={"env": "dev"})),
            err("pool prod-ns is reserved by serviceAllocation"),
        ),
        (
            "a matching Service may request it",
            Assign(req("web/y", requested_ips=("10.30.0.2",), labels={"tier": "gold"})),
            ok("gold", "10.30.0.2"),
        ),
        ("stats of a reserved pool", Stats("gold"), (2, 0, 0, 0)),
    ],
)

SCENARIOS["no usable pool at all explains why"] = (
    [MANUAL, pool("only-b", "10.8.0.0/30", alloc=ServiceAllocation(namespaces=frozenset({"b"})))],
    [
        (
            "automatic",
            Assign(req("a/s")),
            err(
                "no IPAddressPool can be used automatically for a/s: manual (autoAssign: false); only-b "
                "(serviceAllocation: namespaces b)"
            ),
        ),
    ],
)

SCENARIOS["avoidBuggyIPs"] = (
    [
        pool("edge", "10.0.0.254-10.0.1.1", buggy=True),
        pool("split", "10.0.2.250-10.0.2.255", "10.0.3.0-10.0.3.2", buggy=True),
        pool("plain", "10.0.4.255-10.0.5.0"),
    ],
    [
        ("stats leave out .255 and .0", Stats("edge"), (0, 2, 0, 0)),
        ("first", Assign(req("ns/a", pool="edge")), ok("edge", "10.0.0.254")),
        ("skips .255 and .0", Assign(req("ns/b", pool="edge")), ok("edge", "10.0.1.1")),
        (
            "then full",
            Assign(req("ns/c", pool="edge")),
            err("no available IPs in pool edge (edge IPv4: 2 of 2 in use)"),
        ),
        (
            "requesting .255 from an avoiding pool",
            Assign(req("ns/d", requested_ips=("10.0.2.255",))),
            err("10.0.2.255 ends in .0 or .255 and pool split sets avoidBuggyIPs"),
        ),
        ("across two ranges", Stats("split"), (0, 7, 0, 0)),
        *[
            (f"split {i}", Assign(req(f"ns/s{i}", pool="split")), ok("split", ip))
            for i, ip in enumerate(
                ["10.0.2.250", "10.0.2.251", "10.0.2.252", "10.0.2.253", "10.0.2.254", "10.0.3.1", "10.0.3.2"]
            )
        ],
        ("a pool without avoidBuggyIPs hands out .255", Assign(req("ns/p", pool="plain")), ok("plain", "10.0.4.255")),
        ("and .0", Assign(req("ns/q", pool="plain")), ok("plain", "10.0.5.0")),
        ("release in the middle and reuse", Release("ns/s5"), True),
        ("reuse", Assign(req("ns/s9", pool="split")), ok("split", "10.0.3.1")),
    ],
)

SCENARIOS["pool edits: addresses that remain valid stay put"] = (
    [pool("lan", "10.1.1.240-10.1.1.250"), pool("dmz", "10.2.0.0/29"), pool("gone", "10.4.0.0/30")],
    [
        ("a in lan", Assign(req("ns/a", requested_ips=("10.1.1.245",))), ok("lan", "10.1.1.245")),
        ("b in lan", Assign(req("ns/b", pool="lan")), ok("lan", "10.1.1.240")),
        ("c in dmz", Assign(req("ns/c", pool="dmz")), ok("dmz", "10.2.0.0")),
        ("d in gone", Assign(req("ns/d", pool="gone")), ok("gone", "10.4.0.0")),
        ("e in dmz, namespace ns", Assign(req("ns/e", requested_ips=("10.2.0.5",))), ok("dmz", "10.2.0.5")),
        (
            "rename lan to home, shrink it past b, drop gone, restrict dmz to namespace other",
            SetPools(
                (
                    pool("home", "10.1.1.241-10.1.1.250"),
                    pool("dmz", "10.2.0.0/29", alloc=ServiceAllocation(namespaces=frozenset({"other"}))),
                )
            ),
            ["ns/b", "ns/c", "ns/d", "ns/e"],
        ),
        ("a kept its address under the new pool name", Holds("ns/a"), ("10.1.1.245",)),
        (
            "b (annotation names the old pool) gets an error next time",
            Assign(req("ns/b", pool="lan", current_ips=("10.1.1.240",))),
            err("the requested pool lan does not exist"),
        ),
        ("stats of the renamed pool", Stats("home"), (1, 9, 0, 0)),
    ],
)

SCENARIOS["pool rename: a Service whose annotation names the old pool keeps its address"] = (
    [pool("lan", "10.1.1.240-10.1.1.250")],
    [
        ("a requests pool lan", Assign(req("ns/a", pool="lan")), ok("lan", "10.1.1.240")),
        ("rename lan to home", SetPools((pool("home", "10.1.1.240-10.1.1.250"),)), []),
        (
            "re-assign: kept, with a note",
            Assign(req("ns/a", pool="lan", current_ips=("10.1.1.240",))),
            ok("home", "10.1.1.240", note="the requested pool lan does not exist; keeping 10.1.1.240 from pool home"),
        ),
        (
            "asked again: still said (an answer with a note is checked every time)",
            Assign(req("ns/a", pool="lan", current_ips=("10.1.1.240",))),
            ok("home", "10.1.1.240", note="the requested pool lan does not exist; keeping 10.1.1.240 from pool home"),
        ),
        (
            "a held address moves to an existing other pool: kept there",
            SetPools((pool("home", "10.1.1.241-10.1.1.250"), pool("other", "10.1.1.240/32"))),
            [],
        ),
        ("counted in the other pool", Stats("other"), (1, 0, 0, 0)),
        (
            "dropping home and setting avoidBuggyIPs on other keeps .240",
            SetPools((pool("other", "10.1.1.240/32", buggy=True),)),
            [],
        ),
        ("still held", Holds("ns/a"), ("10.1.1.240",)),
    ],
)

SCENARIOS["avoidBuggyIPs turned on under a held .0 address"] = (
    [pool("p", "10.0.0.0/30")],
    [
        ("gets .0", Assign(req("ns/a")), ok("p", "10.0.0.0")),
        ("avoidBuggyIPs on", SetPools((pool("p", "10.0.0.0/30", buggy=True),)), ["ns/a"]),
        (
            "next assign moves it",
            Assign(req("ns/a", current_ips=("10.0.0.0",))),
            ok("p", "10.0.0.1", note="10.0.0.0 ends in .0 or .255"),
        ),
    ],
)

SCENARIOS["restart: current_ips are kept exactly"] = (
    [LAN],
    [
        ("holds .247 per its status", Assign(req("ns/a", current_ips=("10.1.1.247",))), ok("lan", "10.1.1.247")),
        ("a newcomer gets the lowest free", Assign(req("ns/b")), ok("lan", "10.1.1.240")),
        (
            "status names an address in no pool: new address, with a note",
            Assign(req("ns/c", current_ips=("192.0.2.1",))),
            ok("lan", "10.1.1.241", note="192.0.2.1 is not in any IPAddressPool"),
        ),
        ("status garbage is ignored", Assign(req("ns/d", current_ips=("bogus",))), ok("lan", "10.1.1.242")),
        (
            "status names an address someone else holds",
            Assign(req("ns/e", current_ips=("10.1.1.247",))),
            ok("lan", "10.1.1.243", note="already held by ns/a"),
        ),
    ],
)

SCENARIOS["huge pools: a /64 and a /8"] = (
    [pool("v6", "fd00:1::/64"), pool("v4", "10.0.0.0/8", buggy=True)],
    [
        ("v6 first", Assign(req("ns/a", families=(6,))), ok("v6", "fd00:1::")),
        (
            "v6 requested near the end",
            Assign(req("ns/b", families=(6,), requested_ips=("fd00:1::ffff:ffff:ffff:fffe",))),
            ok("v6", "fd00:1::ffff:ffff:ffff:fffe"),
        ),
        ("/64 stats", Stats("v6"), (0, 0, 2, 2**64 - 2)),
        ("v4 first skips .0", Assign(req("ns/c")), ok("v4", "10.0.0.1")),
        ("/8 stats leave out 2 per /24", Stats("v4"), (1, 2**24 - 2 * 2**16 - 1, 0, 0)),
    ],
)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    pools, rows = SCENARIOS[name]
    run_scenario(pools, rows)


# =============================================================================
# Focused tests
# =============================================================================


def test_inputs_not_mutated_and_results_frozen() -> None:
    labels = {"tier": "gold"}
    r = ServiceRequest("ns/a", labels=labels)
    labels["tier"] = "silver"
    assert r.label_map == {"tier": "gold"}
    a = Allocator([LAN])
    result = a.assign(r)
    assert isinstance(result, Assignment)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pool = "x"  # type: ignore[misc]


def test_overlapping_pools_go_to_the_first_by_name() -> None:
    a = Allocator([pool("b", "10.0.0.0/30"), pool("a", "10.0.0.2-10.0.0.5")])
    assert a.pool_for_ip("10.0.0.2") == "a"
    assert a.pool_for_ip("10.0.0.1") == "b"
    assert tuple(a.pool_stats("b")) == (0, 2, 0, 0)
    assert tuple(a.pool_stats("a")) == (0, 4, 0, 0)


def test_duplicate_pool_names_are_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        Allocator([LAN, LAN])


def test_last_evictions_say_why() -> None:
    a = Allocator([LAN])
    a.assign(req("ns/a"))
    assert a.set_pools([]) == ["ns/a"]
    assert a.last_evictions == {"ns/a": "10.1.1.240 is not in any IPAddressPool"}
    assert a.ips_of("ns/a") == ()


def test_restore_order_puts_holders_first() -> None:
    rs = [
        req("z/auto"),
        req("a/auto"),
        req("m/pool", pool="lan"),
        req("b/wants", requested_ips=("10.1.1.240",)),
        req("y/holds", current_ips=("10.1.1.241",), created="2024-01-02T00:00:00Z"),
        req("x/holds", current_ips=("10.1.1.242",), created="2024-01-01T00:00:00Z"),
    ]
    assert [r.key for r in order_for_restore(rs)] == ["x/holds", "y/holds", "b/wants", "m/pool", "a/auto", "z/auto"]


def test_restore_conflict_older_service_wins() -> None:
    older = req("z/old", current_ips=("10.1.1.240",), created="2020-01-01T00:00:00Z")
    newer = req("a/new", current_ips=("10.1.1.240",), created="2023-01-01T00:00:00Z")
    result = Allocator([LAN]).restore([newer, older])
    assert result["z/old"].addresses == ("10.1.1.240",)
    assert result["a/new"].addresses == ("10.1.1.241",)


# =============================================================================
# Properties (hypothesis)
# =============================================================================

PROP_POOLS = [
    pool("a", "10.0.0.250-10.0.1.5", buggy=True),
    pool("b", "10.0.2.0/29", "fd00::/125"),
    pool("c", "10.0.3.0/30", alloc=ServiceAllocation(priority=1, namespaces=frozenset({"ns1"}))),
    pool("m", "10.0.4.0/30", auto=False),
]
KEYS = [f"ns{i % 3}/svc{i}" for i in range(10)]


@st.composite
def requests(draw: st.DrawFn, key: str | None = None) -> ServiceRequest:
    k = key or draw(st.sampled_from(KEYS))
    policy = draw(st.sampled_from(["SingleStack", "SingleStack", "PreferDualStack", "RequireDualStack"]))
    families = draw(st.sampled_from([(4,), (4,), (4,), (6,), (4, 6), (6, 4)]))
    if policy == "RequireDualStack" and len(families) == 1:
        families = (families[0], 10 - families[0])
    kw: dict[str, Any] = dict(families=families, family_policy=policy)
    choice = draw(st.sampled_from(["auto", "auto", "pool", "ip"]))
    if choice == "pool":
        kw["pool"] = draw(st.sampled_from(["a", "b", "c", "m"]))
    elif choice == "ip":
        kw["requested_ips"] = (
            draw(st.sampled_from(["10.0.0.251", "10.0.2.0", "10.0.2.3", "10.0.4.1", "fd00::3", "10.0.3.1"])),
        )
    kw["sharing_key"] = draw(st.sampled_from(["", "k1", "k1", "k2"]))
    kw["ports"] = draw(st.frozensets(st.sampled_from([80, 443, "UDP/53", 22]), min_size=1, max_size=2))
    kw["backend_key"] = draw(st.sampled_from(["", "", "", "app=x"]))
    kw["created"] = f"2024-01-{KEYS.index(k) + 1:02d}T00:00:00Z"
    return req(k, **kw)


operations = st.lists(
    st.one_of(
        requests().map(lambda r: ("assign", r)),
        requests().map(lambda r: ("assign", r)),
        requests().map(lambda r: ("assign", r)),
        st.sampled_from(KEYS).map(lambda k: ("release", k)),
        st.sampled_from([PROP_POOLS, PROP_POOLS[:3], [PROP_POOLS[1], PROP_POOLS[3]]]).map(lambda p: ("pools", p)),
    ),
    min_size=5,
    max_size=40,
)


def _replay(ops: list[tuple[str, Any]]) -> tuple[Allocator, dict[str, ServiceRequest]]:
    """Run a random history like a controller would; return the allocator and each Service's last request."""
    live = Allocator(PROP_POOLS)
    last: dict[str, ServiceRequest] = {}
    for op, arg in ops:
        if op == "assign":
            live.assign(arg)
            last[arg.key] = arg
        elif op == "release":
            live.release(arg)
            last.pop(arg, None)
        else:
            for key in live.set_pools(arg):
                live.assign(replace(last[key], current_ips=()))
        check_invariants(live)
    return live, last


@settings(max_examples=150, deadline=None)
@given(ops=operations, data=st.data())
def test_restart_in_any_order_rebuilds_the_same_state(ops: list[tuple[str, Any]], data: st.DataObject) -> None:
    """Whatever happened before, a fresh allocator fed every Service (with its status) in any order
    gives every Service that held addresses exactly those addresses again."""
    live, last = _replay(ops)
    held = {k: a.addresses for k, a in live.assignments().items()}
    final = [replace(r, current_ips=held.get(k, ())) for k, r in last.items()]
    pools = [live._pools[n].pool for n in live.pool_names]
    shuffled = data.draw(st.permutations(final))
    restarted = Allocator(pools).restore(shuffled)
    for key, addresses in held.items():
        got = restarted[key]
        assert isinstance(got, Assignment), (key, got)
        assert got.addresses == addresses
        assert got.pool == live.pool_of(key)
    again = Allocator(pools).restore(list(reversed(final)))
    assert {k: str(v) for k, v in again.items()} == {k: str(v) for k, v in restarted.items()}


@settings(max_examples=150, deadline=None)
@given(ops=operations)
def test_stats_match_a_brute_force_count(ops: list[tuple[str, Any]]) -> None:
    live, _ = _replay(ops)
    for name in live.pool_names:
        p = live._pools[name].pool
        usable = {4: 0, 6: 0}
        for r in p.ranges:
            for v in range(r.first, r.last + 1):
                if live.pool_for_ip(r.address(v)) == name:
                    usable[r.version] += 1
        held = {4: 0, 6: 0}
        for ip_text in {str(ip) for k in live.assignments() for ip in live.ips_of(k) if live.pool_of(k) == name}:
            held[ipaddress.ip_address(ip_text).version] += 1
        assert tuple(live.pool_stats(name)) == (held[4], usable[4] - held[4], held[6], usable[6] - held[6])
    # services_allocated_total: how many Services hold addresses from each pool (kept as they come and go)
    counted: dict[str, int] = {}
    for assignment in live.assignments().values():
        counted[assignment.pool] = counted.get(assignment.pool, 0) + 1
    assert live.services_per_pool() == counted


@settings(max_examples=100, deadline=None)
@given(ops=operations)
def test_automatic_allocation_takes_the_lowest_free_address(ops: list[tuple[str, Any]]) -> None:
    live, _ = _replay(ops)
    free_b = [ip for ip in ipaddress.ip_network("10.0.2.0/29") if not live.holders(ip) and live.pool_for_ip(ip) == "b"]
    result = live.assign(req("other/probe", pool="b", ports=[9999]))
    if free_b:
        assert isinstance(result, Assignment) and result.ips[0] == free_b[0]
    else:
        assert isinstance(result, AllocationError)


def _state(a: Allocator) -> tuple[Any, ...]:
    """Everything a caller can see of an allocator, comparable."""
    return (
        {k: str(v) for k, v in a.assignments().items()},
        {n: tuple(a.pool_stats(n)) for n in a.pool_names},
        a.services_per_pool(),
    )


@settings(max_examples=150, deadline=None)
@given(ops=operations, data=st.data())
def test_a_request_asked_again_keeps_what_the_full_check_keeps(ops: list[tuple[str, Any]], data: st.DataObject) -> None:
    """``assign`` keeps held addresses for a request that asks what the one that got them asked, without checking
    them again (``_unchanged``): the controller asks again when the Service shows its new status. Whatever came
    before, and whether the Service changed or not, the answer and the state after it are the full check's."""
    live, last = _replay(ops)
    shortcut, full = copy.deepcopy(live), copy.deepcopy(live)
    full_allocs = full._allocs
    for key in data.draw(st.permutations(sorted(last))):
        held = shortcut.assignments().get(key)
        asked = last[key] if data.draw(st.booleans()) else data.draw(requests(key=key))  # or the user changed it
        again = replace(asked, current_ips=held.addresses if held is not None else ())
        for k, alloc in list(full_allocs.items()):  # the full check every time
            full_allocs[k] = dataclasses.replace(alloc, settled=False)
        got, expected = shortcut.assign(again), full.assign(again)
        assert str(got) == str(expected), key
        assert _state(shortcut) == _state(full)
        check_invariants(shortcut)


def test_a_request_asked_again_with_its_new_status_takes_the_shortcut() -> None:
    """White-box: the shortcut is taken for the Service's own status coming back, and not when a wanted family is
    missing (a freed address of it may complete the Service)."""
    a = Allocator([DUAL])
    first = a.assign(req("default/web"))
    assert isinstance(first, Assignment) and a._allocs["default/web"].settled
    a._validate = None  # type: ignore[assignment,method-assign] # the full check would call it
    again = a.assign(req("default/web", current_ips=first.addresses))
    assert again == first
    b = Allocator([pool("v4only", "10.2.0.0/30")])
    one = b.assign(req("default/dual", families=(4, 6), family_policy="PreferDualStack"))
    assert isinstance(one, Assignment) and len(one.ips) == 1
    calls = []
    real = b._validate
    b._validate = lambda *args, **kw: calls.append(1) or real(*args, **kw)  # type: ignore[method-assign]
    b.assign(req("default/dual", families=(4, 6), family_policy="PreferDualStack", current_ips=one.addresses))
    assert calls  # checked again: IPv6 is still wanted
