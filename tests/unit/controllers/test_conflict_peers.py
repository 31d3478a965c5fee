"""Whose answer a probe got (``ConflictReporter.peer_of``): another node's speaker, by the kernel's neighbour
table, or a host that is no speaker of ours (then it is a conflict). No sockets: the table is passed in."""

from __future__ import annotations

from typing import Any

from speaker.controllers.layer2 import ConflictReporter
from tests.unit.controllers.world import Cache, meta

NODE2_MAC, NODE3_MAC, ROGUE_MAC = "02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:99"


def node(name: str, *ips: str) -> dict[str, Any]:
    return {
        "metadata": meta(name, ns=None),
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip} for ip in ips] + [{"type": "Hostname", "address": name}]
        },
    }


NODES = Cache(
    node("node1", "198.51.100.10"), node("node2", "198.51.100.11", "2001:db8:100::11"), node("node3", "198.51.100.12")
)
NEIGHBOURS = [
    ("198.51.100.11", NODE2_MAC),
    ("2001:db8:100::12", NODE3_MAC),
    ("198.51.100.30", ROGUE_MAC),
    ("198.51.100.10", "02:00:00:00:00:01"),
]


def reporter(neighbours: list[tuple[str, str]] = NEIGHBOURS) -> ConflictReporter:
    return ConflictReporter(
        services=Cache(),
        events=None,
        nodes=NODES,
        node="node1",  # type: ignore[arg-type]
        neighbours=lambda: neighbours,
    )


def test_a_mac_the_neighbour_table_gives_a_nodes_internal_ip_is_that_nodes_speaker() -> None:
    assert reporter().peer_of(NODE2_MAC) == "node2"
    assert reporter().peer_of(NODE2_MAC.upper()) == "node2"  # frames are compared as text, case aside


def test_a_host_that_is_no_node_is_a_conflict() -> None:
    assert reporter().peer_of(ROGUE_MAC) is None


def test_a_mac_seen_only_on_an_address_that_is_not_the_nodes_internal_ip_is_not_recognised() -> None:
    # node3's InternalIP is IPv4; its MAC is known only from an IPv6 neighbour: no proof it is node3's speaker
    assert reporter().peer_of(NODE3_MAC) is None


def test_our_own_node_is_never_a_peer() -> None:
    assert reporter().peer_of("02:00:00:00:00:01") is None


def test_without_a_neighbour_entry_every_answer_is_a_conflict() -> None:
    assert reporter([]).peer_of(NODE2_MAC) is None
