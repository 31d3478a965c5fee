"""Election balance/stability, and membership failure detection, side by side.

Run: ``.venv/bin/python bench/membership.py [--quick]``. Prints tables; no thresholds.

1. Election: plain rendezvous hashing (MetalLB's rule) against rendezvous with bounded load (epsilon 0 and the
   default 0.25), for 3/5/10 nodes and 10/100/10,000 VIPs: busiest node / mean load, VIPs moved when a node
   leaves (mean over every node leaving, and the least possible = the leaver's own VIPs), when a node joins,
   when one VIP is added, and the time to compute one assignment.
2. Membership on loopback (real processes, real sockets): kill -9 → the peers' view drops it (p50/p95/max);
   SIGTERM → dropped; and heartbeat health while the speaker's process is busy in another thread (a 10,000-Service
   JSON relist parsed in a loop: the GIL is the risk for a 200 ms failure detector in a Python daemon).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speaker.liveness.core import MembershipSettings  # noqa: E402
from speaker.liveness.heartbeats import Membership  # noqa: E402
from speaker.plan.election import assign  # noqa: E402

STRATEGIES = [("hrw", dict(strategy="hrw")), ("bounded ε=0", dict(epsilon=0.0)), ("bounded ε=0.25", dict())]


def ips(v: int) -> list[str]:
    return [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(v)]


def election_row(n: int, v: int, kw: dict) -> dict[str, float]:
    nodes = [f"node-{i}" for i in range(n)]
    vips = ips(v)
    elig = {x: frozenset(nodes) for x in vips}
    t = time.perf_counter()
    a = assign(set(nodes), elig, **kw)
    took = time.perf_counter() - t
    loads = [sum(1 for x in a.values() if x == node) for node in nodes]
    moved_leave, own = [], []
    for node in nodes:
        b = assign(set(nodes) - {node}, elig, **kw)
        moved_leave.append(sum(1 for x in vips if a[x] != b[x]))
        own.append(sum(1 for x in vips if a[x] == node))
    joined = nodes + ["node-new"]
    j = assign(set(joined), {x: frozenset(joined) for x in vips}, **kw)
    add = assign(set(nodes), {**elig, "10.255.255.255": frozenset(nodes)}, **kw)
    return {
        "max/mean": max(loads) / (v / n),
        "min": min(loads),
        "max": max(loads),
        "leave": statistics.mean(moved_leave),
        "leave_own": statistics.mean(own),
        "leave_max": max(moved_leave),
        "join": sum(1 for x in vips if a[x] != j[x]),
        "join_took": sum(1 for x in vips if j[x] == "node-new"),
        "add": sum(1 for x in vips if a[x] != add[x]),
        "ms": took * 1000,
    }


def bench_election(quick: bool) -> None:
    print("== election: balance and stability (all VIPs eligible on all nodes) ==")
    print(
        f"{'nodes':>5} {'VIPs':>6} {'strategy':<15} {'max/mean':>8} {'min..max':>11} {'leave: moved (own) max':>24} "
        f"{'join: moved (took)':>19} {'+1 VIP':>7} {'assign ms':>9}"
    )
    for n in (3, 5, 10):
        for v in (10, 100, 10_000):
            if quick and v == 10_000:
                continue
            for name, kw in STRATEGIES:
                r = election_row(n, v, kw)
                print(
                    f"{n:>5} {v:>6} {name:<15} {r['max/mean']:>8.2f} {r['min']:>5}..{r['max']:<5} "
                    f"{r['leave']:>10.1f} ({r['leave_own']:>7.1f}) {r['leave_max']:>4} "
                    f"{r['join']:>8} ({r['join_took']:>7}) {r['add']:>7} {r['ms']:>9.1f}"
                )
    print()


# ------------------------------------------------------------------------------------------- membership


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, name: str, port: int, peers: dict[str, int], key_file: str) -> None:
        args = [
            sys.executable,
            "-m",
            "speaker.liveness",
            "--name",
            name,
            "--listen",
            f"127.0.0.1:{port}",
            "--key-file",
            key_file,
        ]
        for p, pp in peers.items():
            args += ["--peer", f"{p}=127.0.0.1:{pp}"]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.events: list[dict] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            with self.cond:
                self.events.append(json.loads(line))
                self.cond.notify_all()

    def wait_view(self, alive: set[str], after: float, timeout: float = 10) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events:
                    if e["event"] in ("view", "start") and e["t"] >= after and set(e["alive"]) == alive:
                        return e["t"]
                if time.monotonic() > deadline:
                    raise TimeoutError(f"view {alive}")
                self.cond.wait(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def bench_detection(rounds: int, key_file: str) -> None:
    print("== membership on loopback: failure detection (interval 50 ms, dead_after 200 ms) ==")
    ports = {n: free_udp_port() for n in ("n1", "n2", "n3")}

    def start(n: str) -> Proc:
        return Proc(n, ports[n], {p: pp for p, pp in ports.items() if p != n}, key_file)

    procs = {n: start(n) for n in ports}
    try:
        t0 = time.monotonic() - 1
        for p in procs.values():
            p.wait_view(set(ports), t0)
        kill, term = [], []
        for i in range(rounds):
            time.sleep(0.25 + (i % 7) * 0.007)
            t = time.monotonic()
            procs["n3"].proc.send_signal(signal.SIGKILL if i % 2 == 0 else signal.SIGTERM)
            for n in ("n1", "n2"):
                (kill if i % 2 == 0 else term).append(procs[n].wait_view({"n1", "n2"}, t) - t)
            procs["n3"].stop()
            t = time.monotonic()
            procs["n3"] = start("n3")
            for p in procs.values():
                p.wait_view(set(ports), t)
        for label, xs in (("kill -9", kill), ("SIGTERM", term)):
            xs.sort()
            print(
                f"{label:>8} → dropped from peers' view: p50 {statistics.median(xs) * 1000:6.1f} ms   "
                f"p95 {xs[int(0.95 * (len(xs) - 1))] * 1000:6.1f} ms   max {xs[-1] * 1000:6.1f} ms   (n={len(xs)})"
            )
    finally:
        for p in procs.values():
            p.stop()
    print()


def _busy(stop: threading.Event, services: int) -> int:
    doc = json.dumps(
        {
            "items": [
                {
                    "metadata": {
                        "name": f"svc-{i}",
                        "namespace": "default",
                        "labels": {"a": "b"},
                        "annotations": {"metallb.io/address-pool": "lan"},
                    },
                    "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
                    "status": {"loadBalancer": {"ingress": [{"ip": f"10.1.{i >> 8}.{i & 255}"}]}},
                }
                for i in range(services)
            ]
        }
    )
    n = 0
    while not stop.is_set():
        json.loads(doc)
        n += 1
    return n


def bench_gil(key_file: str, seconds: float) -> None:
    print(f"== heartbeats while this process parses a 10,000-Service list in a loop ({seconds:.0f} s) ==")
    keys = [Path(key_file).read_bytes().strip()]
    pa, pb = free_udp_port(), free_udp_port()
    peer = Proc("b", pb, {"a": pa}, key_file)
    gaps: list[float] = []
    last = [time.monotonic()]

    m = Membership("a", keys, MembershipSettings(listen="127.0.0.1", port=pa))
    m.set_peers({"b": f"127.0.0.1:{pb}"})
    m.start()
    try:
        peer.wait_view({"a", "b"}, time.monotonic() - 5)
        stop = threading.Event()
        busy = threading.Thread(target=_busy, args=(stop, 10_000), daemon=True)
        t0 = time.monotonic()
        busy.start()
        # sample this process's own loop cadence from another thread's view: time between our heartbeats as the
        # peer sees them is what matters; the peer reports flaps as view changes
        while time.monotonic() - t0 < seconds:
            time.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last[0])
            last[0] = now
        stop.set()
        busy.join()
        flaps = [e for e in peer.events if e["event"] == "view" and e["t"] >= t0 and "a" not in e["alive"]]
        gaps.sort()
        print(
            f"sampling thread's wake-up gaps: p50 {statistics.median(gaps) * 1000:.1f} ms  "
            f"p99 {gaps[int(0.99 * (len(gaps) - 1))] * 1000:.1f} ms  max {gaps[-1] * 1000:.1f} ms"
        )
        print(f"peer declared us dead {len(flaps)} time(s) (false positives under GIL load)")
    finally:
        m.stop()
        peer.stop()
    print()


def main() -> None:
    quick = "--quick" in sys.argv
    bench_election(quick)
    with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
        f.write("bench-membership-key-0123456789abcdef\n")
    try:
        bench_detection(6 if quick else 20, f.name)
        bench_gil(f.name, 3 if quick else 10)
    finally:
        os.unlink(f.name)


if __name__ == "__main__":
    main()
