"""build_config: one case per rule, asserting the exact error text and that the good objects survive.

Each case feeds a few objects, of which some are bad; the expected error lines are what a person reads
in ``journalctl``/``kubectl describe``, and ``survivors`` checks that isolation works: everything not
named in an error is still in the config.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speaker.config.cluster import (
    BGPCommunity,
    ClusterConfig,
    ObjectError,
    Secret,
    build_config,
    parse_community,
)
from speaker.config.durations import parse_duration
from speaker.ipam.ranges import parse_range

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-02-01T00:00:00Z"


def obj(
    name: str | None, spec: Any = None, *, ts: str | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if name is not None:
        meta["name"] = name
    if ts:
        meta["creationTimestamp"] = ts
    if labels:
        meta["labels"] = labels
    out: dict[str, Any] = {"metadata": meta}
    if spec is not None:
        out["spec"] = spec
    return out


def pool(
    name: str, *addresses: str, ts: str | None = None, labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    return obj(name, {"addresses": list(addresses), **spec}, ts=ts, labels=labels)


def peer(name: str, **spec: Any) -> dict[str, Any]:
    base = {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.1.1.1"}
    base.update(spec)
    return obj(name, {k: v for k, v in base.items() if v is not None})


def secret(password: str | bytes, type_: str = "kubernetes.io/basic-auth") -> dict[str, Any]:
    raw = password if isinstance(password, bytes) else password.encode()
    return {"type": type_, "data": {"password": base64.b64encode(raw).decode()}}


LAN = pool("lan", "10.1.1.240-10.1.1.250", ts=T0)


@dataclass
class Case:
    id: str
    inputs: dict[str, Any]
    errors: list[str]
    survivors: dict[str, set[str]] = field(default_factory=dict)  # attribute -> names that must be present
    check: Callable[[ClusterConfig], None] | None = None


def _names(cfg: ClusterConfig, attr: str) -> set[str]:
    value = getattr(cfg, attr)
    if isinstance(value, tuple):
        return {a.name for a in value}
    return set(value)


CASES: list[Case] = [
    # ---- IPAddressPool: addresses ------------------------------------------------------------------
    Case(
        "pool range ends before it starts",
        {"pools": [LAN, pool("bad", "10.1.2.0/24", "10.1.3.250-10.1.3.240")]},
        ["IPAddressPool bad: spec.addresses[1]: '10.1.3.250-10.1.3.240' ends before it starts"],
        {"pools": {"lan"}},
    ),
    Case(
        "pool entry is not an address",
        {"pools": [LAN, pool("bad", "banana")]},
        ["IPAddressPool bad: spec.addresses[0]: 'banana' is not an IP address"],
        {"pools": {"lan"}},
    ),
    Case(
        "pool CIDR with host bits: masked as MetalLB does, with a warning naming the field",
        {"pools": [pool("hb", "10.1.1.5/24")]},
        [],
        {"pools": {"hb"}},
        lambda cfg: assert_eq(
            ([str(r) for r in cfg.pools["hb"].ranges], [str(w) for w in cfg.warnings]),
            (
                ["10.1.1.0/24"],
                [
                    "IPAddressPool hb: spec.addresses[0]: '10.1.1.5/24' has host bits set; "
                    "used as 10.1.1.0/24, as MetalLB does"
                ],
            ),
        ),
    ),
    Case(
        "pool entry is not a string",
        {"pools": [pool("bad", 42)]},  # type: ignore[arg-type]
        ["IPAddressPool bad: spec.addresses[0]: 42 is not an address range (expected CIDR or first-last)"],
    ),
    Case(
        "pool without addresses",
        {"pools": [LAN, pool("empty")]},
        ["IPAddressPool empty: spec.addresses: empty; a pool needs at least one address range"],
        {"pools": {"lan"}},
    ),
    Case(
        "pool without spec",
        {"pools": [obj("nospec")]},
        ["IPAddressPool nospec: spec.addresses: empty; a pool needs at least one address range"],
    ),
    Case(
        "pool addresses not a list",
        {"pools": [obj("bad", {"addresses": "10.1.1.0/24"})]},
        ["IPAddressPool bad: spec.addresses: must be a list of ranges, got '10.1.1.0/24'"],
    ),
    Case(
        "pool spec not an object",
        {"pools": [obj("bad", ["10.1.1.0/24"])]},
        ["IPAddressPool bad: spec: must be an object, got ['10.1.1.0/24']"],
    ),
    Case(
        "pool with a zone id",
        {"pools": [pool("bad", "fd00::1%eth0")]},
        ["IPAddressPool bad: spec.addresses[0]: 'fd00::1%eth0': zone ids (%...) are not allowed in pool addresses"],
    ),
    Case(
        "pool includes 0.0.0.0/8",
        {"pools": [pool("bad", "0.0.0.0/24")]},
        [
            "IPAddressPool bad: spec.addresses[0]: 0.0.0.0/24 includes 'this network' addresses (0.0.0.0/8), which "
            "no Service can use"
        ],
    ),
    Case(
        "pool includes loopback via a range",
        {"pools": [LAN, pool("bad", "10.1.2.0/24", "126.255.255.250-127.0.0.2")]},
        [
            "IPAddressPool bad: spec.addresses[1]: 126.255.255.250-127.0.0.2 includes loopback addresses "
            "(127.0.0.0/8), which no Service can use"
        ],
        {"pools": {"lan"}},
    ),
    Case(
        "pool includes IPv4 multicast",
        {"pools": [pool("bad", "239.1.1.0/24")]},
        [
            "IPAddressPool bad: spec.addresses[0]: 239.1.1.0/24 includes multicast addresses (224.0.0.0/4), which no "
            "Service can use"
        ],
    ),
    Case(
        "pool includes limited broadcast",
        {"pools": [pool("bad", "255.255.255.255")]},
        [
            "IPAddressPool bad: spec.addresses[0]: 255.255.255.255 includes broadcast addresses (255.255.255.255), "
            "which no Service can use"
        ],
    ),
    Case(
        "pool includes ::",
        {"pools": [pool("bad", "::/127")]},
        ["IPAddressPool bad: spec.addresses[0]: ::/127 includes unspecified addresses (::), which no Service can use"],
    ),
    Case(
        "pool includes ::1",
        {"pools": [pool("bad", "::1")]},
        ["IPAddressPool bad: spec.addresses[0]: ::1 includes loopback addresses (::1), which no Service can use"],
    ),
    Case(
        "pool includes IPv6 multicast",
        {"pools": [pool("bad", "ff02::1-ff02::10")]},
        [
            "IPAddressPool bad: spec.addresses[0]: ff02::1-ff02::10 includes multicast addresses (ff00::/8), which "
            "no Service can use"
        ],
    ),
    Case(
        "pool includes IPv6 link-local",
        {"pools": [pool("bad", "fe80::/64")]},
        [
            "IPAddressPool bad: spec.addresses[0]: fe80::/64 includes link-local addresses (fe80::/10), which no "
            "Service can use"
        ],
    ),
    Case(
        "overlap inside one pool",
        {"pools": [pool("bad", "10.1.1.240/29", "10.1.1.244-10.1.1.250")]},
        [
            "IPAddressPool bad: spec.addresses[1]: 10.1.1.244-10.1.1.250 overlaps spec.addresses[0] (10.1.1.240/29) "
            "at 10.1.1.244/30"
        ],
    ),
    Case(
        "overlap between pools: the newer one is refused, even if its name sorts first",
        {"pools": [pool("zeta", "10.1.1.240-10.1.1.250", ts=T0), pool("alpha", "10.1.1.0/24", ts=T1)]},
        [
            "IPAddressPool alpha: spec.addresses[0]: 10.1.1.0/24 overlaps 10.1.1.240-10.1.1.250 of IPAddressPool zeta "
            "(spec.addresses[0]) at 10.1.1.240-10.1.1.250; zeta came first and keeps these addresses"
        ],
        {"pools": {"zeta"}},
        lambda cfg: assert_not_in(cfg.pools, "alpha"),
    ),
    Case(
        "overlap between pools with equal timestamps: name decides",
        {"pools": [pool("b", "10.1.1.248/29", ts=T0), pool("a", "10.1.1.250", ts=T0)]},
        [
            "IPAddressPool b: spec.addresses[0]: 10.1.1.248/29 overlaps 10.1.1.250 of IPAddressPool a "
            "(spec.addresses[0]) at 10.1.1.250; a came first and keeps these addresses"
        ],
        {"pools": {"a"}},
    ),
    Case(
        "pool without creationTimestamp counts as newest",
        {"pools": [pool("new", "10.1.1.250"), pool("old", "10.1.1.0/24", ts=T1)]},
        [
            "IPAddressPool new: spec.addresses[0]: 10.1.1.250 overlaps 10.1.1.0/24 of IPAddressPool old "
            "(spec.addresses[0]) at 10.1.1.250; old came first and keeps these addresses"
        ],
        {"pools": {"old"}},
    ),
    Case(
        "a refused pool does not block a later one",
        {"pools": [pool("broken", "10.1.1.0/24", "nope", ts=T0), pool("fine", "10.1.1.0/25", ts=T1)]},
        ["IPAddressPool broken: spec.addresses[1]: 'nope' is not an IP address"],
        {"pools": {"fine"}},
    ),
    Case(
        "duplicate pool name: the older object is used",
        {"pools": [pool("lan", "10.1.2.0/24", ts=T1), LAN]},
        ["IPAddressPool lan: metadata.name: another IPAddressPool named 'lan' is older and is used"],
        {"pools": {"lan"}},
        lambda cfg: assert_eq(cfg.pools["lan"].ranges, (parse_range("10.1.1.240-10.1.1.250"),)),
    ),
    # ---- IPAddressPool: other fields ---------------------------------------------------------------
    Case(
        "autoAssign not a boolean",
        {"pools": [pool("bad", "10.1.1.0/24", autoAssign="no")]},
        ["IPAddressPool bad: spec.autoAssign: must be true or false, got 'no'"],
    ),
    Case(
        "avoidBuggyIPs not a boolean",
        {"pools": [pool("bad", "10.1.1.0/24", avoidBuggyIPs=1)]},
        ["IPAddressPool bad: spec.avoidBuggyIPs: must be true or false, got 1"],
    ),
    Case(
        "MetalLB defaults when fields are absent",
        {"pools": [LAN]},
        [],
        {"pools": {"lan"}},
        lambda cfg: assert_eq(
            (cfg.pools["lan"].auto_assign, cfg.pools["lan"].avoid_buggy_ips, cfg.pools["lan"].allocation),
            (True, False, None),
        ),
    ),
    Case(
        "serviceAllocation priority below 0",
        {"pools": [pool("bad", "10.1.1.0/24", serviceAllocation={"priority": -1})]},
        ["IPAddressPool bad: spec.serviceAllocation.priority: must be an integer from 0 to 2147483647, got -1"],
    ),
    Case(
        "serviceAllocation namespaces not a list",
        {"pools": [pool("bad", "10.1.1.0/24", serviceAllocation={"namespaces": "web"})]},
        ["IPAddressPool bad: spec.serviceAllocation.namespaces: must be a list of strings, got 'web'"],
    ),
    Case(
        "serviceAllocation namespaces with a non-string",
        {"pools": [pool("bad", "10.1.1.0/24", serviceAllocation={"namespaces": ["web", 3]})]},
        ["IPAddressPool bad: spec.serviceAllocation.namespaces[1]: must be a non-empty string, got 3"],
    ),
    Case(
        "serviceAllocation duplicate namespace",
        {"pools": [pool("bad", "10.1.1.0/24", serviceAllocation={"namespaces": ["web", "web"]})]},
        ["IPAddressPool bad: spec.serviceAllocation.namespaces[1]: duplicate namespace 'web' (also at [0])"],
    ),
    Case(
        "serviceAllocation selector with an unknown operator",
        {
            "pools": [
                pool(
                    "bad",
                    "10.1.1.0/24",
                    serviceAllocation={
                        "serviceSelectors": [
                            {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["x"]}]}
                        ]
                    },
                )
            ]
        },
        [
            "IPAddressPool bad: spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator: "
            "'Equals' is not one of In, NotIn, Exists, DoesNotExist"
        ],
    ),
    Case(
        "serviceAllocation selector that is not an object",
        {"pools": [pool("bad", "10.1.1.0/24", serviceAllocation={"namespaceSelectors": ["team=web"]})]},
        [
            "IPAddressPool bad: spec.serviceAllocation.namespaceSelectors[0]: must be a label selector "
            "(matchLabels/matchExpressions), got 'team=web'"
        ],
    ),
    Case(
        "serviceAllocation selector with a bad label key",
        {
            "pools": [
                pool(
                    "bad",
                    "10.1.1.0/24",
                    serviceAllocation={"namespaceSelectors": [{"matchLabels": {"team name": "web"}}]},
                )
            ]
        },
        [
            "IPAddressPool bad: spec.serviceAllocation.namespaceSelectors[0].matchLabels: label key 'team name' is "
            "not a valid label name"
        ],
    ),
    Case(
        "serviceAllocation duplicate selectors",
        {
            "pools": [
                pool(
                    "bad",
                    "10.1.1.0/24",
                    serviceAllocation={"serviceSelectors": [{"matchLabels": {"a": "1"}}, {"matchLabels": {"a": "1"}}]},
                )
            ]
        },
        [
            "IPAddressPool bad: spec.serviceAllocation.serviceSelectors[1]: duplicate of "
            "spec.serviceAllocation.serviceSelectors[0]"
        ],
    ),
    Case(
        "serviceAllocation parsed",
        {
            "pools": [
                pool(
                    "web",
                    "10.1.1.0/24",
                    serviceAllocation={
                        "priority": 5,
                        "namespaces": ["web"],
                        "serviceSelectors": [{"matchLabels": {"tier": "front"}}],
                    },
                )
            ]
        },
        [],
        {"pools": {"web"}},
        lambda cfg: assert_eq(
            (
                cfg.pools["web"].allocation.priority,
                cfg.pools["web"].allocation.namespaces,  # type: ignore[union-attr]
                cfg.pools["web"].allocation.service_selectors[0].matches({"tier": "front"}),
            ),  # type: ignore[union-attr]
            (5, frozenset({"web"}), True),
        ),
    ),
    # ---- identity --------------------------------------------------------------------------------------
    Case(
        "object without a name",
        {"pools": [LAN, obj(None, {"addresses": ["10.1.2.0/24"]})]},
        ["IPAddressPool #1: metadata.name: missing, got None"],
        {"pools": {"lan"}},
    ),
    Case("object that is not a mapping", {"pools": ["lan"]}, ["IPAddressPool #0: must be an object, got 'lan'"]),
    Case(
        "labels that are not strings",
        {"pools": [pool("bad", "10.1.1.0/24", labels={"a": 1})]},  # type: ignore[dict-item]
        ["IPAddressPool bad: metadata.labels: must be a map of strings, got {'a': 1}"],
    ),
    # ---- L2Advertisement -------------------------------------------------------------------------------
    Case(
        "L2 with no pools selects every pool",
        {"pools": [LAN, pool("dmz", "10.1.2.0/24")], "l2_advertisements": [obj("all", {})]},
        [],
        {"l2_advertisements": {"all"}},
        lambda cfg: assert_eq(cfg.l2_advertisements[0].selected_pools, frozenset({"lan", "dmz"})),
    ),
    Case(
        "L2 naming a pool that does not exist is kept",
        {"pools": [LAN], "l2_advertisements": [obj("later", {"ipAddressPools": ["future"]})]},
        [],
        {"l2_advertisements": {"later"}},
        lambda cfg: assert_eq(cfg.l2_advertisements[0].selected_pools, frozenset()),
    ),
    Case(
        "L2 pool selectors resolve against pool labels",
        {
            "pools": [
                pool("lan", "10.1.1.0/24", labels={"zone": "lan"}),
                pool("dmz", "10.1.2.0/24", labels={"zone": "dmz"}),
            ],
            "l2_advertisements": [
                obj("sel", {"ipAddressPools": ["dmz"], "ipAddressPoolSelectors": [{"matchLabels": {"zone": "lan"}}]})
            ],
        },
        [],
        {"l2_advertisements": {"sel"}},
        lambda cfg: assert_eq(cfg.l2_for_pool("lan"), cfg.l2_advertisements),
    ),
    Case(
        "L2 duplicate pool name",
        {"pools": [LAN], "l2_advertisements": [obj("bad", {"ipAddressPools": ["lan", "lan"]}), obj("good", {})]},
        ["L2Advertisement bad: spec.ipAddressPools[1]: duplicate pool 'lan' (also at [0])"],
        {"l2_advertisements": {"good"}},
    ),
    Case(
        "L2 interface name that Linux cannot have",
        {"l2_advertisements": [obj("bad", {"interfaces": ["eth0", "averyveryverylongname"]})]},
        ["L2Advertisement bad: spec.interfaces[1]: 'averyveryverylongname' is not a valid Linux interface name"],
    ),
    Case(
        "L2 node selector with values for Exists",
        {
            "l2_advertisements": [
                obj(
                    "bad",
                    {"nodeSelectors": [{"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}]},
                )
            ]
        },
        ["L2Advertisement bad: spec.nodeSelectors[0].matchExpressions[0].values: must be empty for operator Exists"],
    ),
    Case(
        "L2 node selector with junk matchExpressions",
        {"l2_advertisements": [obj("bad", {"nodeSelectors": [{"matchExpressions": 5}]})]},
        ["L2Advertisement bad: spec.nodeSelectors[0].matchExpressions: must be a list, got 5"],
    ),
    # ---- Community ---------------------------------------------------------------------------------------
    Case(
        "community alias with a bad value",
        {
            "communities": [
                obj("bad", {"communities": [{"name": "x", "value": "65536:1"}]}),
                obj("good", {"communities": [{"name": "y", "value": "65535:1"}]}),
            ]
        },
        ["Community bad: spec.communities[0].value: '65536:1': '65536' is not a 16-bit number"],
        {"communities": {"y"}},
    ),
    Case(
        "community alias defined twice in one object",
        {"communities": [obj("bad", {"communities": [{"name": "x", "value": "1:1"}, {"name": "x", "value": "1:2"}]})]},
        ["Community bad: spec.communities[1].name: duplicate alias 'x' (also at spec.communities[0].name)"],
    ),
    Case(
        "community alias already defined by an older object",
        {
            "communities": [
                obj("new", {"communities": [{"name": "transit", "value": "1:2"}]}, ts=T1),
                obj("old", {"communities": [{"name": "transit", "value": "1:1"}]}, ts=T0),
            ]
        },
        [
            "Community new: spec.communities[0].name: alias 'transit' is already defined by Community old, which is "
            "older"
        ],
        {"communities": {"transit"}},
        lambda cfg: assert_eq(cfg.communities["transit"], BGPCommunity((1, 1))),
    ),
    Case(
        "community alias without a name",
        {"communities": [obj("bad", {"communities": [{"value": "1:1"}]})]},
        ["Community bad: spec.communities[0].name: must be a non-empty string, got None"],
    ),
    # ---- BGPAdvertisement ----------------------------------------------------------------------------
    Case(
        "BGP advertisement defaults",
        {"pools": [LAN], "bgp_advertisements": [obj("adv", {})]},
        [],
        {"bgp_advertisements": {"adv"}},
        lambda cfg: assert_eq(
            (
                cfg.bgp_advertisements[0].aggregation_length,
                cfg.bgp_advertisements[0].aggregation_length_v6,
                cfg.bgp_advertisements[0].local_pref,
                cfg.bgp_advertisements[0].selected_pools,
            ),
            (32, 128, None, frozenset({"lan"})),
        ),
    ),
    Case(
        "aggregationLength above 32",
        {"bgp_advertisements": [obj("bad", {"aggregationLength": 33}), obj("good", {})]},
        ["BGPAdvertisement bad: spec.aggregationLength: must be an integer from 1 to 32, got 33"],
        {"bgp_advertisements": {"good"}},
    ),
    Case(
        "aggregationLengthV6 above 128",
        {"bgp_advertisements": [obj("bad", {"aggregationLengthV6": 129})]},
        ["BGPAdvertisement bad: spec.aggregationLengthV6: must be an integer from 1 to 128, got 129"],
    ),
    Case(
        "aggregation wider than a pool's prefix drops that pool only",
        {
            "pools": [pool("big", "10.1.0.0/24"), pool("small", "10.1.1.240/29")],
            "bgp_advertisements": [obj("agg", {"aggregationLength": 24})],
        },
        [
            "BGPAdvertisement agg: spec.aggregationLength: 24: a /24 aggregate reaches outside IPAddressPool small "
            "spec.addresses[0] (10.1.1.240/29), "
            "whose largest block is a /29; pool small is not advertised by it"
        ],
        {"bgp_advertisements": {"agg"}, "pools": {"big", "small"}},
        lambda cfg: assert_eq(cfg.bgp_advertisements[0].selected_pools, frozenset({"big"})),
    ),
    Case(
        "aggregation checked per range by its largest block (10.1.1.0-255 is a /24: fine; 10.1.2.0-9 is a /29 + /31)",
        {
            "pools": [pool("r", "10.1.1.0-10.1.1.255", "10.1.2.0-10.1.2.9")],
            "bgp_advertisements": [obj("agg", {"aggregationLength": 28, "ipAddressPools": ["r"]})],
        },
        [
            "BGPAdvertisement agg: spec.aggregationLength: 28: a /28 aggregate reaches outside IPAddressPool r "
            "spec.addresses[1] (10.1.2.0-10.1.2.9), "
            "whose largest block is a /29; pool r is not advertised by it"
        ],
    ),
    Case(
        "aggregationLengthV6 wider than an IPv6 pool",
        {"pools": [pool("v6", "2001:db8::/120")], "bgp_advertisements": [obj("agg", {"aggregationLengthV6": 64})]},
        [
            "BGPAdvertisement agg: spec.aggregationLengthV6: 64: a /64 aggregate reaches outside IPAddressPool v6 "
            "spec.addresses[0] (2001:db8::/120), "
            "whose largest block is a /120; pool v6 is not advertised by it"
        ],
    ),
    Case(
        "communities: literal, large and alias",
        {
            "communities": [obj("c", {"communities": [{"name": "transit", "value": "large:64512:1:2"}]})],
            "bgp_advertisements": [obj("adv", {"communities": ["64512:100", "transit"]})],
        },
        [],
        {"bgp_advertisements": {"adv"}},
        lambda cfg: assert_eq(tuple(map(str, cfg.bgp_advertisements[0].communities)), ("64512:100", "large:64512:1:2")),
    ),
    Case(
        "community alias that no Community object defines",
        {"bgp_advertisements": [obj("bad", {"communities": ["no-export-ish"]}), obj("good", {})]},
        [
            "BGPAdvertisement bad: spec.communities[0]: 'no-export-ish' is neither a community (AA:NN or large:A:B:C) "
            "nor an alias defined in a Community object"
        ],
        {"bgp_advertisements": {"good"}},
    ),
    Case(
        "community alias from a refused Community object is unknown",
        {
            "communities": [obj("c", {"communities": [{"name": "transit", "value": "bad"}]})],
            "bgp_advertisements": [obj("adv", {"communities": ["transit"]})],
        },
        [
            "Community c: spec.communities[0].value: 'bad' is not a community (AA:NN or large:A:B:C)",
            "BGPAdvertisement adv: spec.communities[0]: 'transit' is neither a community (AA:NN or large:A:B:C) "
            "nor an alias defined in a Community object",
        ],
    ),
    Case(
        "community 16-bit overflow",
        {"bgp_advertisements": [obj("bad", {"communities": ["70000:1"]})]},
        ["BGPAdvertisement bad: spec.communities[0]: '70000:1': '70000' is not a 16-bit number"],
    ),
    Case(
        "large community with a wrong marker",
        {"bgp_advertisements": [obj("bad", {"communities": ["big:1:2:3"]})]},
        ["BGPAdvertisement bad: spec.communities[0]: 'big:1:2:3': a large community is written large:A:B:C"],
    ),
    Case(
        "duplicate community",
        {"bgp_advertisements": [obj("bad", {"communities": ["1:1", "1:1"]})]},
        ["BGPAdvertisement bad: spec.communities[1]: duplicate community '1:1' (also at [0])"],
    ),
    Case(
        "localPref negative",
        {"bgp_advertisements": [obj("bad", {"localPref": -1})]},
        ["BGPAdvertisement bad: spec.localPref: must be an integer from 0 to 4294967295, got -1"],
    ),
    Case(
        "localPref conflict on the same pool: the older advertisement keeps the pool",
        {
            "pools": [LAN],
            "bgp_advertisements": [obj("second", {"localPref": 200}, ts=T1), obj("first", {"localPref": 100}, ts=T0)],
        },
        [
            "BGPAdvertisement second: spec.localPref: 200 conflicts with localPref 100 of older BGPAdvertisement first "
            "for the same announcements of IPAddressPool lan; pool lan is not advertised by it"
        ],
        {"bgp_advertisements": {"first", "second"}},
        lambda cfg: assert_eq([a.name for a in cfg.bgp_for_pool("lan")], ["first"]),
    ),
    Case(
        "different localPref to disjoint peers is fine",
        {
            "pools": [LAN],
            "bgp_advertisements": [
                obj("a", {"localPref": 100, "peers": ["r1"]}),
                obj("b", {"localPref": 200, "peers": ["r2"]}),
            ],
        },
        [],
        {"bgp_advertisements": {"a", "b"}},
        lambda cfg: assert_eq(len(cfg.bgp_for_pool("lan")), 2),
    ),
    Case(
        "duplicate peer name in an advertisement",
        {"bgp_advertisements": [obj("bad", {"peers": ["r1", "r1"]})]},
        ["BGPAdvertisement bad: spec.peers[1]: duplicate peer 'r1' (also at [0])"],
    ),
    # ---- BGPPeer -------------------------------------------------------------------------------------------
    Case(
        "peer defaults (MetalLB's)",
        {"bgp_peers": [peer("r1")]},
        [],
        {"peers": {"r1"}},
        lambda cfg: assert_eq(
            (cfg.peers["r1"].port, cfg.peers["r1"].hold_time, cfg.peers["r1"].keepalive_time, cfg.peers["r1"].address),
            (179, 90, 30, ipaddress.ip_address("10.1.1.1")),
        ),
    ),
    Case(
        "peer without myASN",
        {"bgp_peers": [peer("bad", myASN=None), peer("good", peerAddress="10.1.1.2")]},
        ["BGPPeer bad: spec.myASN: missing: the local AS number (1-4294967295) is required"],
        {"peers": {"good"}},
    ),
    Case(
        "peer ASN out of range",
        {"bgp_peers": [peer("bad", peerASN=2**32)]},
        ["BGPPeer bad: spec.peerASN: must be an integer from 0 to 4294967295, got 4294967296"],
    ),
    Case(
        "peer with neither peerASN nor dynamicASN",
        {"bgp_peers": [peer("bad", peerASN=None)]},
        ["BGPPeer bad: spec.peerASN: missing: set peerASN or dynamicASN"],
    ),
    Case(
        "peer with both peerASN and dynamicASN",
        {"bgp_peers": [peer("bad", dynamicASN="external")]},
        ["BGPPeer bad: spec.dynamicASN: 'external' and peerASN (64513) are mutually exclusive"],
    ),
    Case(
        "peer with an unknown dynamicASN",
        {"bgp_peers": [peer("bad", peerASN=None, dynamicASN="auto")]},
        ["BGPPeer bad: spec.dynamicASN: 'auto' is not one of internal, external"],
    ),
    Case(
        "ebgpMultiHop on an iBGP session",
        {"bgp_peers": [peer("bad", peerASN=64512, ebgpMultiHop=True)]},
        ["BGPPeer bad: spec.ebgpMultiHop: is for eBGP peers, but this is an iBGP session (AS 64512 on both ends)"],
    ),
    Case(
        "peer address that is not an IP",
        {"bgp_peers": [peer("bad", peerAddress="router.lan")]},
        ["BGPPeer bad: spec.peerAddress: 'router.lan' is not an IP address"],
    ),
    Case(
        "peer address with a zone id",
        {"bgp_peers": [peer("bad", peerAddress="fe80::1%eth0")]},
        ["BGPPeer bad: spec.peerAddress: 'fe80::1%eth0' is not an IP address"],
    ),
    Case(
        "peer with neither address nor interface",
        {"bgp_peers": [peer("bad", peerAddress=None)]},
        ["BGPPeer bad: spec.peerAddress: missing: set peerAddress or interface"],
    ),
    Case(
        "peer with both address and interface",
        {"bgp_peers": [peer("bad", interface="eth1")]},
        ["BGPPeer bad: spec.interface: 'eth1' and peerAddress (10.1.1.1) are mutually exclusive"],
    ),
    Case(
        "unnumbered peer on an interface: refused by name",
        {"bgp_peers": [peer("un", peerAddress=None, interface="eth1", peerASN=None, dynamicASN="external")]},
        ["BGPPeer un: spec.interface: 'eth1': BGP unnumbered (interface) is not supported by the native BGP speaker"],
    ),
    Case(
        "duplicate values in a matchExpression, and duplicate matchExpressions (values as a set), as MetalLB",
        {
            "bgp_peers": [
                peer(
                    "vals",
                    nodeSelectors=[{"matchExpressions": [{"key": "rack", "operator": "In", "values": ["a", "a"]}]}],
                ),
                peer(
                    "exprs",
                    peerAddress="10.1.1.2",
                    nodeSelectors=[
                        {
                            "matchExpressions": [
                                {"key": "rack", "operator": "In", "values": ["a", "b"]},
                                {"key": "rack", "operator": "In", "values": ["b", "a"]},
                            ]
                        }
                    ],
                ),
                peer(
                    "fine",
                    peerAddress="10.1.1.3",
                    nodeSelectors=[
                        {
                            "matchExpressions": [
                                {"key": "rack", "operator": "In", "values": ["a"]},
                                {"key": "rack", "operator": "NotIn", "values": ["a"]},
                            ]
                        }
                    ],
                ),
            ]
        },
        [
            "BGPPeer exprs: spec.nodeSelectors[0].matchExpressions[1]: duplicate of "
            "spec.nodeSelectors[0].matchExpressions[0]",
            "BGPPeer vals: spec.nodeSelectors[0].matchExpressions[0].values[1]: duplicate value 'a' (also at [0])",
        ],
        {"peers": {"fine"}},
    ),
    Case(
        "bfdProfile, vrf, localASN: refused by name",
        {
            "bgp_peers": [
                peer("b", bfdProfile="fast"),
                peer("v", vrf="red", peerAddress="10.1.1.2"),
                peer("l", localASN=65001, peerAddress="10.1.1.3"),
            ]
        },
        [
            "BGPPeer b: spec.bfdProfile: 'fast': BFD is not supported by the native BGP speaker, and no BFDProfile "
            "'fast' exists either",
            "BGPPeer l: spec.localASN: 65001: a per-peer local AS (localASN) is not supported by the native BGP "
            "speaker",
            "BGPPeer v: spec.vrf: 'red': VRFs is not supported by the native BGP speaker",
        ],
    ),
    Case(
        "peerPort out of range; 0 means the default",
        {"bgp_peers": [peer("bad", peerPort=16385), peer("zero", peerPort=0, peerAddress="10.1.1.2")]},
        ["BGPPeer bad: spec.peerPort: must be an integer from 0 to 16384, got 16385"],
        {"peers": {"zero"}},
        lambda cfg: assert_eq(cfg.peers["zero"].port, 179),
    ),
    Case(
        "routerID must be IPv4",
        {"bgp_peers": [peer("bad", routerID="2001:db8::1")]},
        ["BGPPeer bad: spec.routerID: 2001:db8::1 is not an IPv4 address (a BGP identifier is 32 bits)"],
    ),
    Case(
        "sourceAddress that is not an IP",
        {"bgp_peers": [peer("bad", sourceAddress="eth0")]},
        ["BGPPeer bad: spec.sourceAddress: 'eth0' is not an IP address"],
    ),
    Case(
        "holdTime in Go duration form",
        {"bgp_peers": [peer("p", holdTime="1m30s", keepaliveTime="20s")]},
        [],
        {"peers": {"p"}},
        lambda cfg: assert_eq((cfg.peers["p"].hold_time, cfg.peers["p"].keepalive_time), (90, 20)),
    ),
    Case(
        "holdTime alone: keepalive is a third",
        {"bgp_peers": [peer("p", holdTime="9s")]},
        [],
        {"peers": {"p"}},
        lambda cfg: assert_eq((cfg.peers["p"].hold_time, cfg.peers["p"].keepalive_time), (9, 3)),
    ),
    Case(
        "keepaliveTime alone: hold is three times it",
        {"bgp_peers": [peer("p", keepaliveTime="10s")]},
        [],
        {"peers": {"p"}},
        lambda cfg: assert_eq((cfg.peers["p"].hold_time, cfg.peers["p"].keepalive_time), (30, 10)),
    ),
    Case(
        "holdTime 0 disables keepalives",
        {"bgp_peers": [peer("p", holdTime="0s")]},
        [],
        {"peers": {"p"}},
        lambda cfg: assert_eq((cfg.peers["p"].hold_time, cfg.peers["p"].keepalive_time), (0, 0)),
    ),
    Case(
        "holdTime below 3s",
        {"bgp_peers": [peer("bad", holdTime="2s")]},
        ["BGPPeer bad: spec.holdTime: '2s' gives a hold time of 2s; it must be 0 or at least 3s"],
    ),
    Case(
        "keepaliveTime alone giving a too-short hold",
        {"bgp_peers": [peer("bad", keepaliveTime="500ms")]},
        ["BGPPeer bad: spec.keepaliveTime: '500ms' gives a hold time of 1.5s; it must be 0 or at least 3s"],
    ),
    Case(
        "keepaliveTime longer than holdTime",
        {"bgp_peers": [peer("bad", holdTime="30s", keepaliveTime="1m")]},
        ["BGPPeer bad: spec.keepaliveTime: '1m' is longer than holdTime (30s)"],
    ),
    Case(
        "holdTime that is not a duration",
        {"bgp_peers": [peer("bad", holdTime="90")]},
        ["BGPPeer bad: spec.holdTime: '90' is not a duration (e.g. 90s, 1m30s)"],
    ),
    Case(
        "holdTime above 65535s",
        {"bgp_peers": [peer("bad", holdTime="20h")]},
        ["BGPPeer bad: spec.holdTime: '20h' gives a hold time of 72000s; the most BGP allows is 65535s"],
    ),
    Case(
        "connectTime must be whole seconds from 1s",
        {"bgp_peers": [peer("bad", connectTime="1500ms"), peer("ok", connectTime="10s", peerAddress="10.1.1.2")]},
        ["BGPPeer bad: spec.connectTime: '1500ms' must be whole seconds from 1s to 65535s"],
        {"peers": {"ok"}},
        lambda cfg: assert_eq(cfg.peers["ok"].connect_time, 10),
    ),
    Case(
        "password and passwordSecret together",
        {
            "bgp_peers": [peer("bad", password="s3cret", passwordSecret={"name": "bgp"})],
            "secrets": {"bgp": secret("x")},
        },
        ["BGPPeer bad: spec.password: password and passwordSecret are mutually exclusive"],
    ),
    Case(
        "password that is not a string is not echoed",
        {"bgp_peers": [peer("bad", password=123456789)]},
        ["BGPPeer bad: spec.password: must be a string"],
    ),
    Case(
        "passwordSecret resolved",
        {
            "bgp_peers": [peer("p", passwordSecret={"name": "bgp", "namespace": "metallb-system"})],
            "secrets": {"bgp": secret("s3cret")},
        },
        [],
        {"peers": {"p"}},
        lambda cfg: assert_eq(
            (cfg.peers["p"].password.reveal(), repr(cfg.peers["p"].password), cfg.peers["p"].password_secret),  # type: ignore[union-attr]
            ("s3cret", "'***'", "bgp"),
        ),
    ),
    Case(
        "passwordSecret not found",
        {"bgp_peers": [peer("bad", passwordSecret={"name": "bgp"})]},
        ["BGPPeer bad: spec.passwordSecret.name: Secret 'bgp' not found"],
    ),
    Case(
        "passwordSecret of the wrong type",
        {"bgp_peers": [peer("bad", passwordSecret={"name": "bgp"})], "secrets": {"bgp": secret("s3cret", "Opaque")}},
        ["BGPPeer bad: spec.passwordSecret.name: Secret 'bgp' has type 'Opaque', expected 'kubernetes.io/basic-auth'"],
    ),
    Case(
        "passwordSecret without a password key",
        {
            "bgp_peers": [peer("bad", passwordSecret={"name": "bgp"})],
            "secrets": {"bgp": {"type": "kubernetes.io/basic-auth", "data": {"username": "eA=="}}},
        },
        ["BGPPeer bad: spec.passwordSecret.name: Secret 'bgp' has no key 'password'"],
    ),
    Case(
        "passwordSecret with data that is not base64",
        {
            "bgp_peers": [peer("bad", passwordSecret={"name": "bgp"})],
            "secrets": {"bgp": {"type": "kubernetes.io/basic-auth", "data": {"password": "s3cret!"}}},
        },
        ["BGPPeer bad: spec.passwordSecret.name: Secret 'bgp': data.password is not base64-encoded UTF-8 text"],
    ),
    Case(
        "node selectors and the rest of the fields",
        {
            "bgp_peers": [
                peer(
                    "p",
                    nodeSelectors=[{"matchLabels": {"rack": "r1"}}],
                    enableGracefulRestart=True,
                    ebgpMultiHop=True,
                    sourceAddress="10.1.1.10",
                    routerID="10.1.1.10",
                )
            ]
        },
        [],
        {"peers": {"p"}},
        lambda cfg: assert_eq(
            (
                cfg.peers["p"].node_selectors[0].matches({"rack": "r1"}),
                cfg.peers["p"].enable_graceful_restart,
                cfg.peers["p"].ebgp_multihop,
                str(cfg.peers["p"].router_id),
            ),
            (True, True, True, "10.1.1.10"),
        ),
    ),
    Case(
        "two peers identical but for their name: both used, as in MetalLB",
        {"bgp_peers": [obj("copy", peer("x")["spec"], ts=T1), obj("orig", peer("x")["spec"], ts=T0)]},
        [],
        {"peers": {"orig", "copy"}},
    ),
]


def assert_eq(actual: Any, expected: Any) -> None:
    assert actual == expected


def assert_not_in(mapping: Any, key: str) -> None:
    assert key not in mapping


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(case: Case) -> None:
    inputs = copy.deepcopy(case.inputs)
    cfg = build_config(
        inputs.get("pools", []),
        inputs.get("l2_advertisements", []),
        inputs.get("bgp_advertisements", []),
        inputs.get("bgp_peers", []),
        inputs.get("communities", []),
        secrets=inputs.get("secrets", {}),
    )
    assert [str(e) for e in cfg.errors] == case.errors
    assert inputs == case.inputs, "build_config must not modify its inputs"
    for attr, names in case.survivors.items():
        assert names <= _names(cfg, attr), f"{attr}: {names - _names(cfg, attr)} were dropped"
    # Isolation: whatever no error names is in the config.
    for attr, kind_key, kind in (
        ("pools", "pools", "IPAddressPool"),
        ("l2_advertisements", "l2_advertisements", "L2Advertisement"),
        ("bgp_advertisements", "bgp_advertisements", "BGPAdvertisement"),
        ("peers", "bgp_peers", "BGPPeer"),
    ):
        blamed = {e.name for e in cfg.errors if e.kind == kind}
        given_names = {o["metadata"].get("name") for o in inputs.get(kind_key, []) if isinstance(o, dict)} - {None}
        assert given_names - blamed <= _names(cfg, attr)
    if case.check:
        case.check(cfg)


def test_bad_edit_keeps_the_last_good_pool() -> None:
    """With ``last_good_pools``, a refused edit leaves the previous definition in force, and that
    previous definition still wins overlaps against newer pools."""
    before = build_config([LAN])
    edited = pool("lan", "10.1.1.250-10.1.1.240", ts=T0)
    newcomer = pool("grab", "10.1.1.245", ts=T1)
    cfg = build_config([edited, newcomer], last_good_pools=before.pools)
    assert [str(e) for e in cfg.errors] == [
        "IPAddressPool lan: spec.addresses[0]: '10.1.1.250-10.1.1.240' ends before it starts "
        "(its previous valid definition stays in use)",
        "IPAddressPool grab: spec.addresses[0]: 10.1.1.245 overlaps 10.1.1.240-10.1.1.250 of IPAddressPool lan "
        "(previous spec.addresses[0]) at 10.1.1.245; lan came first and keeps these addresses",
    ]
    assert cfg.pools["lan"] == before.pools["lan"] and "grab" not in cfg.pools
    # Without the previous config, isolation alone: lan is out, grab gets in.
    plain = build_config([edited, newcomer])
    assert set(plain.pools) == {"grab"}
    # A pool deleted from the cluster is not resurrected.
    assert set(build_config([], last_good_pools=before.pools).pools) == set()


def test_a_pool_in_use_wins_an_overlap_even_against_an_older_timestamp() -> None:
    """creationTimestamps have one-second resolution: the pool accepted last time keeps its addresses."""
    before = build_config([pool("lan", "10.1.1.240-10.1.1.250", ts=T1)])
    newcomer = pool("clash", "10.1.1.0/24", ts=T0)  # same second or even "older": it still came second
    cfg = build_config([pool("lan", "10.1.1.240-10.1.1.250", ts=T1), newcomer], last_good_pools=before.pools)
    assert set(cfg.pools) == {"lan"}
    assert [e.name for e in cfg.errors] == ["clash"]


def test_the_seed_scenario_is_clean() -> None:
    """The article's network: pfSense LAN 10.1.1.0/24, 10.1.1.240-250 for the balancer, announced by ARP."""
    cfg = build_config(
        [pool("lan", "10.1.1.240-10.1.1.250", ts=T0)],
        [obj("lan", {"ipAddressPools": ["lan"]})],
    )
    assert cfg.ok and cfg.errors == ()
    assert cfg.pools["lan"].ranges[0].size == 11
    assert cfg.l2_for_pool("lan")[0].name == "lan"
    assert cfg.bgp_for_pool("lan") == ()


def test_config_error_str() -> None:
    assert str(
        ObjectError("IPAddressPool", "lan", "spec.addresses[1]", "10.1.1.250-10.1.1.240 ends before it starts")
    ) == ("IPAddressPool lan: spec.addresses[1]: 10.1.1.250-10.1.1.240 ends before it starts")
    assert (
        str(ObjectError("IPAddressPool", "#3", "", "must be an object, got 1"))
        == "IPAddressPool #3: must be an object, got 1"
    )


def test_config_is_frozen_and_comparable() -> None:
    a = build_config([LAN], bgp_peers=[peer("r1", password="pw")])
    b = build_config([copy.deepcopy(LAN)], bgp_peers=[peer("r1", password="pw")])
    assert a == b
    with pytest.raises(TypeError):
        a.pools["x"] = a.pools["lan"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        a.errors = ()  # type: ignore[misc]


def test_secret_never_prints() -> None:
    s = Secret("hunter2")
    assert repr(s) == "'***'" and str(s) == "'***'" and f"{s}" == "'***'"
    assert s.reveal() == "hunter2"
    cfg = build_config(bgp_peers=[peer("r1", password="hunter2")])
    assert "hunter2" not in repr(cfg)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("1m30s", 90),
        ("1.5h", 5400),
        ("0", 0),
        ("500ms", 0.5),
        ("+3s", 3),
        ("1h1m1s", 3661),
        ("2us", 2e-6),
        ("3µs", 3e-6),
        (".5s", 0.5),
        ("5.s", 5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "90", "s", "1d", "-1s", "1.5.s", ".s", "1s2", "9" * 30 + "h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0:0", (0, 0)),
        ("65535:65535", (65535, 65535)),
        ("large:4294967295:0:1", (4294967295, 0, 1)),
    ],
)
def test_parse_community(text: str, values: tuple[int, ...]) -> None:
    c = parse_community(text)
    assert c.values == values and str(c) == text


@pytest.mark.parametrize("text", ["1:-1", "1:+1", "1: 1", "large:1:2:4294967296", "1:2:3", "x", "1:2:3:4"])
def test_parse_community_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_community(text)


# ---- never raises ------------------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12)
)
junk = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

POOL_FIELDS = ["addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"]
ADV_FIELDS = [
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "interfaces",
    "aggregationLength",
    "aggregationLengthV6",
    "localPref",
    "communities",
    "peers",
]
PEER_FIELDS = [
    "myASN",
    "peerASN",
    "dynamicASN",
    "peerAddress",
    "interface",
    "peerPort",
    "sourceAddress",
    "routerID",
    "holdTime",
    "keepaliveTime",
    "connectTime",
    "nodeSelectors",
    "password",
    "passwordSecret",
    "bfdProfile",
    "enableGracefulRestart",
    "ebgpMultiHop",
    "vrf",
    "disableMP",
    "dualStackAddressFamily",
]

plausible = {
    "addresses": st.lists(
        st.sampled_from(["10.1.1.0/24", "10.1.1.240-10.1.1.250", "fd00::/120", "10.1.1.7", "::1", "a-b"])
        | st.text(max_size=20),
        max_size=3,
    ),
    "myASN": st.integers(0, 2**32),
    "peerASN": st.integers(0, 2**32),
    "peerAddress": st.sampled_from(["10.0.0.1", "fd00::1", "x"]),
    "holdTime": st.sampled_from(["90s", "1m", "0", "2s", "abc"]),
    "keepaliveTime": st.sampled_from(["30s", "3m", "1ms"]),
    "communities": st.lists(st.sampled_from(["1:1", "large:1:2:3", "alias", "1:2:3"]) | junk, max_size=3),
    "ipAddressPools": st.lists(st.sampled_from(["p0", "p1", "p2"]), max_size=3),
}


def spec_of(fields: list[str]) -> st.SearchStrategy[Any]:
    values = {f: (plausible[f] | junk) if f in plausible else junk for f in fields}
    return st.fixed_dictionaries({}, optional=values) | junk


def objects(fields: list[str]) -> st.SearchStrategy[list[Any]]:
    meta = st.fixed_dictionaries(
        {"name": st.sampled_from(["p0", "p1", "p2", "alias"]) | junk},
        optional={
            "creationTimestamp": st.sampled_from([T0, T1]) | junk,
            "labels": st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | junk,
        },
    )
    one = st.fixed_dictionaries({"metadata": meta}, optional={"spec": spec_of(fields)}) | junk
    return st.lists(one, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pools=objects(POOL_FIELDS),
    l2=objects(ADV_FIELDS),
    bgp=objects(ADV_FIELDS),
    peers=objects(PEER_FIELDS),
    communities=objects(["communities"]),
    secrets=st.dictionaries(st.text(max_size=5), junk, max_size=2),
)
def test_build_config_never_raises(
    pools: list[Any], l2: list[Any], bgp: list[Any], peers: list[Any], communities: list[Any], secrets: dict[str, Any]
) -> None:
    before = copy.deepcopy((pools, l2, bgp, peers, communities, secrets))
    cfg = build_config(pools, l2, bgp, peers, communities, secrets=secrets)
    assert (pools, l2, bgp, peers, communities, secrets) == before
    assert isinstance(cfg, ClusterConfig)
    for err in cfg.errors:
        assert isinstance(err, ObjectError) and str(err)
    # Whatever was accepted never overlaps, whatever the junk.
    ranges = [(name, r) for name, p in cfg.pools.items() for r in p.ranges]
    for i, (a_name, a) in enumerate(ranges):
        for b_name, b in ranges[i + 1 :]:
            assert not a.overlaps(b), (a_name, b_name)


@settings(max_examples=100, deadline=None)
@given(
    password=st.text(min_size=6, max_size=20).filter(lambda s: s.strip() == s and s.isprintable()),
    junk_spec=spec_of(PEER_FIELDS),
)
def test_password_never_in_errors_or_repr(password: str, junk_spec: Any) -> None:
    spec = dict(junk_spec) if isinstance(junk_spec, dict) else {}
    password = "pw-" + password
    spec["password"] = password
    cfg = build_config(bgp_peers=[obj("p", spec)])
    marker = repr(password)
    assert all(marker not in str(e) for e in cfg.errors)
    assert marker not in repr(cfg)
