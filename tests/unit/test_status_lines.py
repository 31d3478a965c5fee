"""``baremetal-lb status`` (one speaker's /status for people): each silent failure has its line."""

from __future__ import annotations

from typing import Any

from speaker.cli import status_lines


def _status(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "node": "node1",
        "namespace": "metallb-system",
        "allocator_leader": True,
        "api_reachable": True,
        "pools": {"lan": {"assignedIPv4": 3, "availableIPv4": 8, "assignedIPv6": 0, "availableIPv6": 0}},
        "services": [],
        "unallocated": [],
        "config_errors": [],
        "bgp": None,
        "layer2": {"alive": ["node1", "node2"], "fenced": False, "addresses": [], "excluded": None, "unannounced": []},
        "membership": {
            "mode": "heartbeats",
            "reason": None,
            "key_source": "Secret metallb-system/memberlist",
            "key_error": None,
            "port": 7947,
            "members": [],
            "key_mismatch": [],
        },
    }
    data.update(over)
    return data


def _flagged(lines: list[str]) -> list[str]:
    return [line for line in lines if any(w in line for w in ("FULL", "NOT ANNOUNCED", "LEASES", "KEY MISMATCH"))]


def test_a_healthy_speaker_flags_nothing() -> None:
    assert _flagged(status_lines(_status())) == []


def test_a_full_pool_says_full_and_which_family() -> None:
    lines = status_lines(
        _status(
            pools={
                "dmz": {"assignedIPv4": 1, "availableIPv4": 0, "assignedIPv6": 0, "availableIPv6": 0},
                "v6": {"assignedIPv4": 0, "availableIPv4": 0, "assignedIPv6": 2, "availableIPv6": 5},
            }
        )
    )
    assert _flagged(lines) == [
        "  dmz                  IPv4 1 used / 0 free   IPv6 0 used / 0 free   FULL (IPv4): "
        "the next Service asking stays pending"
    ]


def test_an_address_nobody_may_announce_the_lease_fallback_and_a_key_mismatch_have_their_lines() -> None:
    gap = {
        "service": "default/web",
        "ips": ["198.51.100.240"],
        "reason": "NoEligibleNode",
        "message": "198.51.100.240: no node may announce it: node1, node2: labelled "
        "node.kubernetes.io/exclude-from-external-load-balancers",
    }
    lines = status_lines(
        _status(
            layer2={"alive": ["node1"], "fenced": False, "addresses": [], "excluded": None, "unannounced": [gap]},
            membership={
                "mode": "leases",
                "reason": "cannot read Secret metallb-system/memberlist (HTTP 403 Forbidden)",
                "key_source": "Secret metallb-system/memberlist",
                "port": 7947,
                "members": [],
                "key_mismatch": [],
            },
        )
    )
    assert _flagged(lines) == [
        "membership: LEASES, not heartbeats: cannot read Secret metallb-system/memberlist (HTTP 403 Forbidden) — a "
        "dead node is noticed after seconds, not 0.2 s (key from Secret metallb-system/memberlist; see "
        "docs/speaker.md)",
        f"  NOT ANNOUNCED default/web: {gap['message']} (NoEligibleNode)",
    ]
    lines = status_lines(
        _status(
            membership={
                "mode": "heartbeats",
                "key_source": "file /etc/baremetal-lb/membership.key",
                "port": 7947,
                "members": [],
                "key_mismatch": [{"address": "198.51.100.12:7947", "node": "node2", "for_seconds": 42.0}],
            }
        )
    )
    assert _flagged(lines) == [
        "membership: KEY MISMATCH: heartbeats from 198.51.100.12:7947 (node node2) fail authentication, none verify, "
        "for 42s: that speaker has another heartbeat key"
    ]


def test_a_bgp_address_nobody_may_advertise_has_its_line_on_the_leader() -> None:
    gap = {
        "service": "default/web",
        "ips": ["198.51.100.240"],
        "reason": "NoEligibleNode",
        "message": "198.51.100.240: no node may advertise it over BGP: node1, node2: no BGPPeer selects it "
        "(BGPPeer nodeSelectors)",
    }
    assert [line for line in status_lines(_status(bgp_unannounced=[gap])) if "NOT ADVERTISED" in line] == [
        f"bgp: NOT ADVERTISED default/web: {gap['message']} (NoEligibleNode)"
    ]
