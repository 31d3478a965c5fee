"""BGP: Established → 10,000 /32s visible at a BIRD receiver, and one withdrawal → gone, side by side for
our speaker, BIRD → BIRD (static routes in the sender) and GoBGP → BIRD (a ``gobgp global rib add`` loop;
``gobgp mrt inject`` truncates bulk loads here). LAB-NOTES reference: BIRD 9,984 in ~5 ms then a 3 s stall of
its own; GoBGP 23–33 ms. Goals for ours: ≤ 100 ms for 10,000, withdraw ≤ 50 ms.

Lab: namespaces from tests/netlab.py, sessions on 198.51.100.0/24; the announced /32s come from 198.18.0.0/15
(RFC 2544's benchmarking block, as bench/allocate_services.py); the receiver has no kernel protocol, so nothing
is installed anywhere. Each sender is started with its routes already loaded; the receiver is passive. Times
are measured at the receiver by polling ``birdc`` (≈ 2–5 ms per poll, which bounds the resolution).

Usage: python bench/bgp_advertise.py [--prefixes 10000] [--runs 3] [--skip-gobgp] [--json FILE]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speaker.bgp import BGPSpeaker, Route  # noqa: E402
from speaker.config.cluster import BGPPeer  # noqa: E402
from tests.netlab import Lab  # noqa: E402

RX = "198.51.100.2"
SENDERS = {"ours": ("198.51.100.10", 64512), "bird": ("198.51.100.20", 64520), "gobgp": ("198.51.100.30", 64530)}
BASE = int(ipaddress.IPv4Address("198.18.0.0"))


def prefixes(n: int) -> list[str]:
    return [f"{ipaddress.IPv4Address(BASE + i)}/32" for i in range(n)]


class Receiver:
    def __init__(self, host: Any, work: Path) -> None:
        self.host, self.dir = host, work
        conf = f"log stderr all;\nrouter id {RX};\nprotocol device {{}}\n"
        for name, (addr, asn) in SENDERS.items():
            conf += (
                f"protocol bgp from_{name} {{ local {RX} as 64513; neighbor {addr} as {asn}; passive on; hold time 90;"
                f" ipv4 {{ import all; export none; }}; }}\n"
            )
        (work / "rx.conf").write_text(conf)
        self.proc = host.popen(
            ["bird", "-f", "-c", str(work / "rx.conf"), "-s", str(work / "rx.ctl"), "-P", str(work / "rx.pid")],
            stderr=subprocess.DEVNULL,
        )
        until(lambda: "ready" in self.birdc("show", "status"), 10)

    def birdc(self, *cmd: str) -> str:
        return self.host.run(["birdc", "-s", str(self.dir / "rx.ctl"), *cmd], check=False).stdout

    def established(self, name: str) -> bool:
        return "Established" in self.birdc("show", "protocols", f"from_{name}")

    def count(self, name: str) -> int:
        out = self.birdc("show", "route", "protocol", f"from_{name}", "count")
        for line in out.splitlines():
            if "routes for" in line:
                return int(line.split()[0])
        return 0

    def has(self, prefix: str) -> bool:
        return prefix in self.birdc("show", "route", prefix)


def until(pred: Callable[[], Any], timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic()
        time.sleep(0.001)
    raise TimeoutError("bench step timed out")


def measure(
    rx: Receiver, name: str, n: int, start: Callable[[], None], withdraw: Callable[[], None], timeout: float = 60
) -> dict[str, float]:
    start()
    t_est = until(lambda: rx.established(name), timeout)
    counts: list[tuple[float, int]] = []

    def full() -> bool:
        c = rx.count(name)
        counts.append((time.monotonic(), c))
        return c >= n

    t_all = until(full, timeout)
    first_big = next((t for t, c in counts if c >= n - 16), t_all)
    victim = prefixes(n)[n // 2]
    t_w0 = time.monotonic()
    withdraw()
    t_w1 = until(lambda: not rx.has(victim), 10)
    return {
        "all_ms": (t_all - t_est) * 1000,
        "n_minus_16_ms": (first_big - t_est) * 1000,
        "withdraw_ms": (t_w1 - t_w0) * 1000,
    }


def run_ours(lab: Lab, rx: Receiver, n: int) -> dict[str, float]:
    host = lab.hosts["ours"]
    sp = BGPSpeaker("bench", router_id=SENDERS["ours"][0])
    host.call(sp.start)
    routes = [Route(ipaddress.ip_network(p)) for p in prefixes(n)]
    sp.set_routes({"rx": routes})
    peer = BGPPeer(name="rx", my_asn=64512, peer_asn=64513, address=ipaddress.ip_address(RX), connect_time=1)
    try:
        return measure(
            rx,
            "ours",
            n,
            lambda: sp.set_peers([peer]),
            lambda: sp.set_routes({"rx": routes[: n // 2] + routes[n // 2 + 1 :]}),
        )
    finally:
        sp.stop()


def run_bird(lab: Lab, rx: Receiver, n: int, work: Path) -> dict[str, float]:
    host = lab.hosts["bird"]
    addr, asn = SENDERS["bird"]

    def conf(skip: str | None) -> str:
        routes = "".join(f"  route {p} blackhole;\n" for p in prefixes(n) if p != skip)
        return (
            f"log stderr all;\nrouter id {addr};\nprotocol device {{}}\n"
            f"protocol static statics {{ ipv4;\n{routes}}}\n"
            f"protocol bgp to_rx {{ local {addr} as {asn}; neighbor {RX} as 64513; connect delay time 1;"
            f" ipv4 {{ import none; export all; }}; }}\n"
        )

    (work / "tx.conf").write_text(conf(None))
    proc = None

    def start() -> None:
        nonlocal proc
        proc = host.popen(
            ["bird", "-f", "-c", str(work / "tx.conf"), "-s", str(work / "tx.ctl"), "-P", str(work / "tx.pid")],
            stderr=subprocess.DEVNULL,
        )

    def withdraw() -> None:
        (work / "tx.conf").write_text(conf(prefixes(n)[n // 2]))
        host.run(["birdc", "-s", str(work / "tx.ctl"), "configure"])

    try:
        return measure(rx, "bird", n, start, withdraw)
    finally:
        if proc:
            proc.kill()
            proc.wait()
        (work / "tx.conf").write_text(conf(None))


def run_gobgp(lab: Lab, rx: Receiver, n: int, work: Path) -> dict[str, float]:
    host = lab.hosts["gobgp"]
    addr, asn = SENDERS["gobgp"]
    (work / "gobgpd.toml").write_text(f'[global.config]\n  as = {asn}\n  router-id = "{addr}"\n')
    proc = host.popen(
        ["gobgpd", "-f", str(work / "gobgpd.toml"), "-t", "toml", "--api-hosts", "127.0.0.1:50051"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cli = ["gobgp", "-u", "127.0.0.1", "-p", "50051"]
    try:
        until(lambda: host.run(cli + ["global"], check=False).returncode == 0, 10)
        (work / "prefixes").write_text("\n".join(prefixes(n)) + "\n")
        host.run(
            ["sh", "-c", f"xargs -P 4 -I P gobgp -u 127.0.0.1 -p 50051 global rib add P -a ipv4 < {work / 'prefixes'}"],
            timeout=600,
        )
        return measure(
            rx,
            "gobgp",
            n,
            lambda: host.run(cli + ["neighbor", "add", RX, "as", "64513"]),
            lambda: host.run(cli + ["global", "rib", "del", prefixes(n)[n // 2], "-a", "ipv4"]),
        )
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prefixes", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-gobgp", action="store_true", help="the rib-add loop takes ~1 minute")
    ap.add_argument("--json", type=Path, help="also write the medians to this file as JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, list[dict[str, float]]] = {"ours": [], "bird": [], "gobgp": []}
    with tempfile.TemporaryDirectory() as tmp, Lab() as lab:
        work = Path(tmp)
        rxh = lab.host("rx", f"{RX}/24")
        for name, (addr, _) in SENDERS.items():
            lab.host(name, f"{addr}/24")
        rx = Receiver(rxh, work)
        for _ in range(args.runs):
            results["ours"].append(run_ours(lab, rx, args.prefixes))
            until(lambda: not rx.established("ours"), 10)
            results["bird"].append(run_bird(lab, rx, args.prefixes, work))
        if not args.skip_gobgp:
            results["gobgp"].append(run_gobgp(lab, rx, args.prefixes, work))
        rx.proc.kill()
    print(f"{args.prefixes} /32s, Established → visible at a BIRD receiver (median of runs; ms)")
    print(f"{'sender':8} {'runs':>4} {'all':>10} {'all-16':>10} {'withdraw 1':>11}")
    figures: dict[str, object] = {"prefixes": args.prefixes, "runs": args.runs}
    for name, rows in results.items():
        if rows:
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            figures[name] = {k: round(v, 1) for k, v in med.items()}
            print(
                f"{name:8} {len(rows):>4} {med['all_ms']:>10.1f} {med['n_minus_16_ms']:>10.1f} "
                f"{med['withdraw_ms']:>11.1f}"
            )
    print("goals for ours: all ≤ 100 ms, withdraw ≤ 50 ms")
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
