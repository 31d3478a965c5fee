"""Taking over from MetalLB: an address a Service holds never moves because its pool is written in another shape.

MetalLB's objects come in as MetalLB accepted them (a CIDR with host bits, one range written as two entries or
two as one); the Services' current addresses come from their status. ``Allocator.restore`` must give every
Service exactly what it holds, from the pool MetalLB had it in.
"""

from __future__ import annotations

from typing import Any

import pytest

from speaker.config.cluster import build_config
from speaker.ipam.allocator import Allocator, Assignment, ServiceRequest


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"addresses": list(addresses), **spec}}


# Each shape: the pool objects as written, the addresses Services hold (and the pool MetalLB allocated from).
SHAPES = {
    "host bits (MetalLB's BGP docs: 198.51.100.10/24)": (
        [pool("bgp", "198.51.100.10/24")],
        {"a/web": ("198.51.100.0", "bgp"), "a/dns": ("198.51.100.10", "bgp"), "a/last": ("198.51.100.255", "bgp")},
    ),
    "IPv6 host bits": (
        [pool("v6", "2001:db8:5::10/120")],
        {"a/v6": ("2001:db8:5::", "v6"), "b/v6": ("2001:db8:5::ff", "v6")},
    ),
    "one range written as two entries": (
        [pool("split", "192.0.2.16/29", "192.0.2.24-192.0.2.31")],
        {"a/x": ("192.0.2.23", "split"), "a/y": ("192.0.2.24", "split")},
    ),
    "two ranges merged into one CIDR": (
        [pool("merged", "192.0.2.32/28")],
        {"a/x": ("192.0.2.39", "merged"), "a/y": ("192.0.2.40", "merged")},
    ),
    "host-bit CIDR next to a range": (
        [pool("mixed", "198.51.100.130/26", "198.51.100.200-198.51.100.210")],
        {"a/p": ("198.51.100.128", "mixed"), "a/q": ("198.51.100.200", "mixed")},
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_restore_keeps_every_held_address(shape: str) -> None:
    pools, held = SHAPES[shape]
    cfg = build_config(pools)
    assert cfg.errors == ()
    requests = [
        ServiceRequest(key, families=(6 if ":" in ip else 4,), current_ips=(ip,), created=f"2026-01-0{i + 1}")
        for i, (key, (ip, _)) in enumerate(held.items())
    ]
    # Newcomers restored in the same pass must not take a held address either.
    requests += [ServiceRequest(f"z/new{i}", families=requests[0].families) for i in range(3)]
    result = Allocator(cfg.pools.values()).restore(reversed(requests))
    for key, (ip, pool_name) in held.items():
        got = result[key]
        assert isinstance(got, Assignment), f"{key}: {got}"
        assert (got.pool, [str(a) for a in got.ips]) == (pool_name, [ip]), f"{key} moved: {got}"
    taken = {ip for ip, _ in held.values()}
    for i in range(3):
        got = result[f"z/new{i}"]
        assert isinstance(got, Assignment) and not {str(a) for a in got.ips} & taken
