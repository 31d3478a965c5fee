"""Allocation cost against pool size: a /19 (IPv4), a /64 (IPv6), a /8 and a 10,000-range pool, side by side.

Run: ``.venv/bin/python bench/allocator_pool_size.py [N]``. Prints one table; no thresholds.
The point to read off: the columns do not grow with the pool's size, because the allocator
keeps free space as intervals and never walks addresses one by one.
"""

from __future__ import annotations

import ipaddress
import random
import sys
import time

from speaker.ipam.allocator import Allocator, ServiceRequest
from speaker.ipam.pool import Pool
from speaker.ipam.ranges import IPRange, parse_range


def many_ranges(count: int) -> tuple[IPRange, ...]:
    """``count`` disjoint 4-address ranges spread over 172.16.0.0/12 (gaps between them)."""
    base = int(ipaddress.IPv4Address("172.16.0.0"))
    return tuple(IPRange(4, base + 8 * i, base + 8 * i + 3) for i in range(count))


CASES = [
    ("/19 IPv4", Pool("v4", (parse_range("10.0.0.0/19"),)), (4,)),
    ("/8 IPv4 avoidBuggyIPs", Pool("v4big", (parse_range("10.0.0.0/8"),), avoid_buggy_ips=True), (4,)),
    ("/64 IPv6", Pool("v6", (parse_range("fd00:1::/64"),)), (6,)),
    ("10,000 ranges", Pool("ranges", many_ranges(10_000)), (4,)),
]


def measure(pool: Pool, families: tuple[int, ...], n: int, churn: int) -> tuple[str, float, float, float, float]:
    build_start = time.perf_counter()
    allocator = Allocator([pool])
    build = time.perf_counter() - build_start
    requests = [ServiceRequest(f"ns/svc{i}", families=families, ports=frozenset({("TCP", 80)})) for i in range(n)]
    start = time.perf_counter()
    for r in requests:
        allocator.assign(r)
    fill = time.perf_counter() - start
    rng = random.Random(1)
    victims = [rng.randrange(n) for _ in range(churn)]
    release_time = assign_time = 0.0
    for j, i in enumerate(victims):
        t0 = time.perf_counter()
        allocator.release(requests[i].key)
        t1 = time.perf_counter()
        requests[i] = ServiceRequest(f"ns/churn{j}", families=families, ports=frozenset({("TCP", 80)}))
        allocator.assign(requests[i])
        t2 = time.perf_counter()
        release_time += t1 - t0
        assign_time += t2 - t1
    stats = allocator.pool_stats(pool.name)
    size = stats.assigned_v4 + stats.available_v4 + stats.assigned_v6 + stats.available_v6
    return (
        f"{size:,}" if size < 10**9 else f"2^{size.bit_length() - 1}",
        build,
        fill,
        assign_time / churn,
        release_time / churn,
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    churn = 2_000
    print(f"allocate N={n:,} addresses, then {churn:,} x (release a random Service, assign a new one)\n")
    header = f"{'pool':<24}{'addresses':>14}{'build ms':>10}{'fill N ms':>11}{'assign µs':>11}{'release µs':>12}"
    print(header)
    print("-" * len(header))
    for label, pool, families in CASES:
        size, build, fill, per_assign, per_release = measure(pool, families, n, churn)
        print(
            f"{label:<24}{size:>14}{build * 1e3:>10.2f}{fill * 1e3:>11.1f}{per_assign * 1e6:>11.1f}"
            f"{per_release * 1e6:>12.1f}"
        )


if __name__ == "__main__":
    main()
