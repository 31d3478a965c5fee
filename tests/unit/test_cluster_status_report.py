"""``status --cluster``, the pure part: listed objects → report (speaker.clusterstatus.report) → rows
(speaker.clusterstatus.table). Each case is a small cluster and what an operator must read from it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from speaker.clusterstatus import report as rep
from speaker.clusterstatus.report import SCHEMA, ClusterObjects, build_report
from speaker.clusterstatus.table import render, sections
from speaker.kube import speakerlease as liveness

NS = "metallb-system"
NOW = dt.datetime(2026, 12, 6, 23, 0, 0, tzinfo=dt.UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(
    name: str, holder: str, ago: float, duration: int = 6, layer2: bool = True, liveness: str | None = None
) -> dict[str, Any]:
    labels = {"baremetal-lb/layer2": "true" if layer2 else "false"}
    if liveness:
        labels["baremetal-lb/layer2-liveness"] = liveness
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"holderIdentity": holder, "renewTime": ts(ago), "leaseDurationSeconds": duration},
    }


def speaker(node: str, ago: float = 1, liveness: str | None = "heartbeats", **kw: Any) -> dict[str, Any]:
    """A speaker's own Lease, labelled with its Layer 2 liveness source as speaker.kube.speakerlease writes it."""
    return lease(f"baremetal-lb-speaker-{node}", node, ago, liveness=liveness, **kw)


def allocator(holder: str, ago: float = 1) -> dict[str, Any]:
    return lease("baremetal-lb-allocator", holder, ago, duration=15)


def pool(name: str, addresses: list[str], **status: int) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"addresses": addresses}, **({"status": status} if status else {})}


def l2adv(name: str, pools: list[str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"ipAddressPools": pools, **spec}}


def service(
    name: str,
    ips: list[str],
    pool_name: str | None,
    ns: str = "default",
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    ann = {"metallb.io/ip-allocated-from-pool": pool_name} if pool_name else {}
    return {
        "metadata": {"name": name, "namespace": ns, "annotations": ann, "labels": labels or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], **spec},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def l2status(node: str, svc: str, interfaces: list[str], ns: str = "default") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"l2-{node}-{svc}",
            "labels": {"metallb.io/node": node, "metallb.io/service-name": svc, "metallb.io/service-namespace": ns},
        },
        "status": {
            "node": node,
            "serviceName": svc,
            "serviceNamespace": ns,
            "interfaces": [{"name": i} for i in interfaces],
        },
    }


def bgpstatus(node: str, svc: str, peers: list[str], ns: str = "default") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"bgp-{node}-{svc}",
            "labels": {"metallb.io/node": node, "metallb.io/service-name": svc, "metallb.io/service-namespace": ns},
        },
        "status": {"node": node, "serviceName": svc, "serviceNamespace": ns, "peers": peers},
    }


def warning(svc: str, reason: str, message: str, ago: float, ns: str = "default") -> dict[str, Any]:
    return {
        "type": "Warning",
        "reason": reason,
        "message": message,
        "lastTimestamp": ts(ago)[:19] + "Z",
        "involvedObject": {"kind": "Service", "namespace": ns, "name": svc},
    }


KEY = {"memberlist": {"metadata": {"name": "memberlist"}, "data": {"secretkey": "c2VjcmV0"}}}
LAN = pool("lan", ["10.1.1.240-10.1.1.250"], assignedIPv4=1, availableIPv4=10, assignedIPv6=0, availableIPv6=0)


def healthy(**over: Any) -> ClusterObjects:
    base: dict[str, Any] = dict(
        namespace=NS,
        now=NOW,
        leases=(allocator("node1"), speaker("node1"), speaker("node2")),
        pools=(LAN,),
        l2_advertisements=(l2adv("lan", ["lan"]),),
        services=(service("traefik", ["10.1.1.240"], "lan"),),
        l2_statuses=(l2status("node1", "traefik", ["eth0"]),),
        secrets=KEY,
    )
    base.update(over)
    return ClusterObjects(**base)


def kinds(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["kind"], p["object"]) for p in report["problems"]]


def test_the_pure_module_agrees_with_the_speakers_lease_names() -> None:
    assert (rep.LIVENESS_PREFIX, rep.LAYER2_LABEL, rep.LIVENESS_LABEL) == (
        liveness.PREFIX,
        liveness.LAYER2_LABEL,
        liveness.LIVENESS_LABEL,
    )


def test_a_healthy_cluster_has_no_problem_and_names_the_announcer() -> None:
    report = build_report(healthy())
    assert report["schema"] == SCHEMA and report["problems"] == []
    assert report["allocator"] == {
        "lease": "baremetal-lb-allocator",
        "leader": "node1",
        "alive": True,
        "renewed_seconds_ago": 1.0,
    }
    assert [(s["node"], s["alive"], s["leader"]) for s in report["speakers"]] == [
        ("node1", True, True),
        ("node2", True, False),
    ]
    [svc] = report["services"]
    assert svc == {
        "service": "default/traefik",
        "addresses": ["10.1.1.240"],
        "pool": "lan",
        "protocols": ["layer2"],
        "ports": ["80/TCP"],
        "layer2": [{"node": "node1", "interfaces": ["eth0"]}],
        "bgp": [],
        "last_warning": None,
    }
    [p] = report["pools"]
    assert (p["usage_percent"], p["exhausted"], p["protocols"]) == (9.1, [], ["layer2"])
    json.dumps(report)  # the --output json document


# (what is wrong, the objects, the problems the operator must see: kind, object)
GAPS = [
    (
        "no announcer: the Service's newest Warning says why",
        dict(
            l2_statuses=(),
            events=(
                warning(
                    "traefik",
                    "NoEligibleNode",
                    "10.1.1.240: no node may announce it: node1: labelled exclude-from-external-load-balancers",
                    30,
                ),
            ),
        ),
        [("NotAnnounced", "Service default/traefik")],
    ),
    (
        "pending Service",
        dict(services=(service("traefik", [], None),), l2_statuses=()),
        [("NoAddress", "Service default/traefik")],
    ),
    (
        "pool full",
        dict(pools=(pool("lan", ["10.1.1.240/32"], assignedIPv4=1, availableIPv4=0, assignedIPv6=0, availableIPv6=0),)),
        [("PoolExhausted", "IPAddressPool lan")],
    ),
    (
        "no heartbeat key: a speaker says it uses the Lease fallback",
        dict(secrets={}, leases=(allocator("node1"), speaker("node1", liveness="leases"), speaker("node2"))),
        [("LeaseFallback", "Secret metallb-system/memberlist")],
    ),
    ("key files on the nodes: the speakers say heartbeats, whatever the Secret", dict(secrets={}), []),
    (
        "speakers that say nothing (older) and no key in the Secret: unknown, no fallback claimed",
        dict(secrets={}, leases=(allocator("node1"), speaker("node1", liveness=None), speaker("node2", liveness=None))),
        [],
    ),
    (
        "a dead speaker's last word does not count",
        dict(leases=(allocator("node2"), speaker("node1", ago=60, liveness="leases"), speaker("node2"))),
        [("SpeakerDown", "Node node1"), ("AnnouncerDown", "Service default/traefik")],
    ),
    (
        "no Layer 2 speaker: no fallback to speak of",
        dict(secrets={}, leases=(allocator("node1"), speaker("node1", layer2=False))),
        [],
    ),
    (
        "allocator gone",
        dict(leases=(allocator("node1", ago=60), speaker("node1"), speaker("node2"))),
        [("NoAllocator", "Lease metallb-system/baremetal-lb-allocator")],
    ),
    (
        "a speaker killed: its Lease expired, its status object is stale",
        dict(leases=(allocator("node1"), speaker("node1", ago=30), speaker("node2"))),
        [("SpeakerDown", "Node node1"), ("AnnouncerDown", "Service default/traefik")],
    ),
    (
        "two nodes hold a status for one address",
        dict(l2_statuses=(l2status("node1", "traefik", ["eth0"]), l2status("node2", "traefik", ["eth0"]))),
        [("SeveralAnnouncers", "Service default/traefik")],
    ),
    ("a pool no advertisement selects", dict(l2_advertisements=()), [("NoAdvertisement", "IPAddressPool lan")]),
    (
        "an invalid pool, named as the speaker names it",
        dict(pools=(LAN, pool("bad", ["10.1.1.250-10.1.1.240"]))),
        [("InvalidConfig", "IPAddressPool bad")],
    ),
    (
        "BGP pool, advertised to no peer",
        dict(
            l2_advertisements=(),
            bgp_advertisements=({"metadata": {"name": "b"}, "spec": {"ipAddressPools": ["lan"]}},),
            l2_statuses=(),
        ),
        [("NotAdvertised", "Service default/traefik")],
    ),
    (
        "an L2Advertisement whose serviceSelectors skip the Service: nothing is owed on Layer 2",
        dict(
            l2_advertisements=(l2adv("lan", ["lan"], serviceSelectors=[{"matchLabels": {"tier": "edge"}}]),),
            l2_statuses=(),
        ),
        [],
    ),
    (
        "a Service of another class is not ours",
        dict(services=(service("traefik", [], None, loadBalancerClass="other"),), l2_statuses=()),
        [],
    ),
]


@pytest.mark.parametrize("case,over,expected", GAPS, ids=[g[0] for g in GAPS])
def test_each_gap_is_named(case: str, over: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert kinds(build_report(healthy(**over))) == expected, case


def test_a_gap_carries_the_newest_warning_of_its_service() -> None:
    objs = healthy(
        l2_statuses=(),
        events=(
            warning("traefik", "AllocationFailed", "old news", 600),
            warning("traefik", "NoEligibleNode", "10.1.1.240: no node may announce it: node1: NetworkUnavailable", 5),
            warning("other", "NoEligibleNode", "not this one", 1),
        ),
    )
    report = build_report(objs)
    [p] = report["problems"]
    assert p["message"].endswith(
        "(newest Warning: NoEligibleNode: 10.1.1.240: no node may announce it: node1: NetworkUnavailable)"
    )
    assert report["services"][0]["last_warning"] == {
        "reason": "NoEligibleNode",
        "message": "10.1.1.240: no node may announce it: node1: NetworkUnavailable",
        "age_seconds": 5,
    }


def test_bgp_announcers_name_their_peers() -> None:
    objs = healthy(
        l2_advertisements=(),
        bgp_advertisements=({"metadata": {"name": "b"}, "spec": {}},),
        l2_statuses=(),
        bgp_statuses=(bgpstatus("node2", "traefik", ["gw-b", "gw-a"]),),
    )
    report = build_report(objs)
    assert report["problems"] == []
    assert report["services"][0]["bgp"] == [{"node": "node2", "peers": ["gw-a", "gw-b"]}]


def test_the_liveness_mode_comes_from_the_speakers_and_the_secret_only_explains() -> None:
    said = build_report(
        healthy(
            secrets={},
            leases=(allocator("node1"), speaker("node1", liveness="leases"), speaker("node2", liveness="leases")),
        )
    )["layer2_liveness"]
    assert said == {
        "mode": "leases",
        "key_source": "Secret metallb-system/memberlist",
        "nodes": ["node1", "node2"],
        "reason": "node1, node2 use Leases (Secret metallb-system/memberlist does not exist)",
    }
    files = build_report(healthy(secrets={}))["layer2_liveness"]
    assert (files["mode"], files["key_source"]) == (
        "heartbeats",
        "the nodes' key files (Secret metallb-system/memberlist does not exist)",
    )
    silent = build_report(healthy(leases=(allocator("node1"), speaker("node1", liveness=None))))["layer2_liveness"]
    assert silent["mode"] == "heartbeats"  # a key in the Secret: heartbeats are what the speakers use once up
    silent = build_report(healthy(secrets={}, leases=(allocator("node1"), speaker("node1", liveness=None))))
    assert silent["layer2_liveness"]["mode"] == "unknown"


def test_an_unreadable_list_is_said_not_guessed() -> None:
    report = build_report(
        healthy(
            secrets={},
            leases=(allocator("node1"), speaker("node1", liveness=None)),
            unreadable={"secrets": "403 Forbidden", "events": "403 Forbidden"},
        )
    )
    assert report["layer2_liveness"]["mode"] == "unknown"
    assert kinds(report) == []  # no LeaseFallback claimed from a Secret list it could not read
    assert report["unreadable"] == {"events": "403 Forbidden", "secrets": "403 Forbidden"}


def test_no_secret_value_reaches_the_report() -> None:
    secret = "hunter2-bgp-password"
    import base64

    objs = healthy(
        secrets={
            **KEY,
            "peer-pw": {
                "metadata": {"name": "peer-pw"},
                "data": {"password": base64.b64encode(secret.encode()).decode()},
            },
        },
        bgp_peers=(
            {
                "metadata": {"name": "gw"},
                "spec": {
                    "myASN": 64512,
                    "peerASN": 64513,
                    "peerAddress": "10.1.1.1",
                    "passwordSecret": {"name": "peer-pw"},
                },
            },
        ),
    )
    text = json.dumps(build_report(objs)) + render(build_report(objs))
    assert secret not in text and "c2VjcmV0" not in text and "hunter2" not in text


# ----------------------------------------------------------------------------------------------- rows


def table(report: dict[str, Any]) -> dict[str, list[tuple[str, ...]]]:
    return {s.title: list(s.rows) for s in sections(report)}


ROWS = [
    (
        "healthy",
        healthy(),
        {
            "SPEAKERS": [
                ("node1", "yes", "yes", "heartbeats", "leader", "1s ago"),
                ("node2", "yes", "yes", "heartbeats", "", "1s ago"),
            ],
            "POOLS": [("lan", "10.1.1.240-10.1.1.250", "layer2", "1/11", "0/0", "9.1%")],
            "SERVICES": [("default/traefik", "10.1.1.240", "lan", "layer2", "80/TCP", "node1 (eth0)")],
        },
    ),
    (
        "pending, full, no status written yet",
        healthy(
            services=(service("traefik", [], None),),
            l2_statuses=(),
            pools=(pool("lan", ["10.1.1.240/32"], assignedIPv4=1, availableIPv4=0), pool("new", ["10.1.2.0/28"])),
        ),
        {
            "SPEAKERS": [
                ("node1", "yes", "yes", "heartbeats", "leader", "1s ago"),
                ("node2", "yes", "yes", "heartbeats", "", "1s ago"),
            ],
            "POOLS": [
                ("lan", "10.1.1.240/32", "layer2", "1/1", "-", "100% FULL"),
                ("new", "10.1.2.0/28", "none", "-", "-", "-"),
            ],
            "SERVICES": [("default/traefik", "<pending>", "-", "-", "80/TCP", "-")],
            "PROBLEMS": [
                (
                    "WARNING",
                    "PoolExhausted",
                    "IPAddressPool lan",
                    "every IPv4 address is assigned: the next Service asking for one stays pending",
                ),
                (
                    "WARNING",
                    "NoAdvertisement",
                    "IPAddressPool new",
                    "no L2Advertisement or BGPAdvertisement selects it: Services get its addresses but nobody "
                    "announces them",
                ),
                ("ERROR", "NoAddress", "Service default/traefik", "no address assigned"),
            ],
        },
    ),
    (
        "dead speaker and dual announcers, BGP",
        healthy(
            leases=(allocator("node2"), speaker("node1", ago=7200), speaker("node2", liveness="leases")),
            bgp_advertisements=({"metadata": {"name": "b"}, "spec": {}},),
            bgp_statuses=(bgpstatus("node2", "traefik", ["gw"]),),
            unreadable={"events": "403 Forbidden"},
        ),
        {
            "SPEAKERS": [
                ("node1", "NO", "yes", "heartbeats", "", "2h ago"),
                ("node2", "yes", "yes", "LEASES", "leader", "1s ago"),
            ],
            "POOLS": [("lan", "10.1.1.240-10.1.1.250", "layer2+bgp", "1/11", "0/0", "9.1%")],
            "SERVICES": [
                ("default/traefik", "10.1.1.240", "lan", "layer2+bgp", "80/TCP", "node1 (eth0); node2 bgp→gw")
            ],
            "PROBLEMS": [
                (
                    "WARNING",
                    "SpeakerDown",
                    "Node node1",
                    "its speaker's Lease is released or expired: it announces nothing",
                ),
                (
                    "WARNING",
                    "LeaseFallback",
                    "Secret metallb-system/memberlist",
                    "Layer 2 failover uses Leases, not heartbeats (node2 uses Leases): a dead node is noticed after "
                    "seconds, not 0.2 s",
                ),
                (
                    "WARNING",
                    "AnnouncerDown",
                    "Service default/traefik",
                    "announced by node1, whose speaker's Lease expired: the status is stale until the allocator "
                    "removes it",
                ),
            ],
            "NOTES": [("unreadable", "events", "403 Forbidden")],
        },
    ),
]


@pytest.mark.parametrize("case,objs,expected", ROWS, ids=[r[0] for r in ROWS])
def test_rows(case: str, objs: ClusterObjects, expected: dict[str, list[tuple[str, ...]]]) -> None:
    assert table(build_report(objs)) == expected, case


def test_render_aligns_columns_and_says_when_all_is_well() -> None:
    text = render(build_report(healthy()))
    lines = text.splitlines()
    assert lines[0] == (
        "namespace metallb-system   allocator node1   layer2 liveness heartbeats "
        "(key: Secret metallb-system/memberlist)"
    )
    header = next(line for line in lines if line.startswith("SERVICE "))
    row = next(line for line in lines if line.startswith("default/traefik"))
    assert row.index("10.1.1.240") == header.index("ADDRESSES") and row.endswith("node1 (eth0)")
    assert lines[-1] == "no problems found"


def test_summary_says_when_there_is_no_allocator_and_the_fallback() -> None:
    text = render(
        build_report(healthy(secrets={}, leases=(allocator("node1", ago=99), speaker("node1", liveness="leases"))))
    )
    assert text.splitlines()[0] == (
        "namespace metallb-system   allocator NONE (last node1)   layer2 liveness "
        "LEASES (fallback) (key: Secret metallb-system/memberlist)"
    )


def test_what_these_credentials_cannot_read_is_a_note_not_a_problem() -> None:
    """On a node the speaker's own ServiceAccount may not list Events: the report says so, and still says that
    nothing is wrong (it said "PROBLEMS (1)" above "no problems found" before)."""
    lines = render(build_report(healthy(unreadable={"events": "403 Forbidden"}))).splitlines()
    assert not any(line.startswith("PROBLEMS") for line in lines)
    assert lines[-5:] == [
        "NOTES (1)",
        "KIND        OBJECT  MESSAGE",
        "unreadable  events  403 Forbidden",
        "",
        "no problems found",
    ]
