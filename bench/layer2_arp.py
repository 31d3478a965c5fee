"""ARP/NDP reply latency on the wire and requests/s without loss: the kernel vs the baremetal-lb responder,
answering in a thread of the speaker or in its own process, with the speaker idle or busy.

Run (root): ``.venv/bin/python bench/layer2_arp.py [--samples N] [--quick] [--repeat N] [--headline] [--json F]``.
Prints tables; no thresholds. ``--headline``: only the kernel and the default responder (its own process) with the
speaker busy, latency only (README's figure, for bench/quick.py); ``--json``: the latency rows as JSON too.
Goals (issue 3): ARP reply p99 <= 0.3 ms, >= 5,000 requests/s answered without loss on one core, flat up to
10,000 VIPs.

Topology: a namespace LAN (tests/netlab.py): ``client`` and ``node`` on a bridge. Timing is taken *on the
wire*: an AF_PACKET socket with kernel timestamps (SO_TIMESTAMPNS) on the node's switch port sees each
request leave the switch towards the node and the reply come back; latency = reply - request, so client
and capture scheduling do not count. The request generator runs in its own process in the client
namespace (CPU 0); on the node, this file's ``--serve`` mode runs an ``Announcer`` as the speaker does —
``responder: thread`` (the answering thread shares the speaker's interpreter) or ``responder: process``
(a child process answers; docs/design/0011) — pinned to CPU 1 (one core, the child inherits it), with or
without "API load": a thread that keeps parsing and indexing a Service list, as a speaker busy with watch
events does ("both CPUs": not pinned, the kernel may run the responder on CPU 0 while the load runs on CPU 1;
the generator sleeps between requests in latency runs). Each request carries its own sender MAC so its reply
(sent back to that MAC) is matched exactly. The latency runs go at 1,000 requests/s, and once more at 100/s
(closer to a LAN's pace; the scheduler treats a task that sleeps longer differently).

Cases: the kernel answering for an address configured on the node's interface; the responder with 1 VIP;
the responder with 10,000 VIPs. Only documentation prefixes may be used here, and IPv4 has just
192.0.2.0/24 and 198.51.100.0/24 (203.0.113.0/24 resolves to a package mirror on these machines), so the
10,000 are all the IPv4 addresses left there (~480) + the rest IPv6 (2001:db8::/32): the ARP path then has
~480 addresses (all in the kernel filter), the NDP path ~9,500 (beyond the filter's limit: the filter checks the
type, Python's dict the address) — both are measured.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speaker.layer2 import bpf  # noqa: E402
from speaker.layer2.frames import arp_request, ip_bytes, mac_bytes, neighbor_solicit  # noqa: E402
from tests.netlab import Lab, require_root, run_in_netns  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
RT_PRIORITY = 10
SLOW_RATE = 100.0
HEADLINE = "process, 1 VIP,  API load"  # the default responder, speaker busy: README's figure
KERNEL4, KERNEL6 = "198.51.100.50", "2001:db8:100::50"
VIP4, VIP6 = "198.51.100.240", "2001:db8:100::240"


# --- the request generator (runs as a subprocess in the client namespace) ---------------------------------
def generate(kind: str, targets: list[str], count: int, rate: float, our_ip: str, our_mac: str, seq_macs: bool) -> None:
    frames = []
    src_ip = ip_bytes(our_ip)
    for i in range(count):
        mac = bytes((0x02, 0xBE, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF, 0x01)) if seq_macs else mac_bytes(our_mac)
        t = ip_bytes(targets[i % len(targets)])
        frames.append(arp_request(mac, src_ip, t) if kind == "arp" else neighbor_solicit(mac, src_ip, t))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind(("eth0", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    per_ms = max(1, int(rate / 1000)) if rate >= 1000 else 1
    tick = per_ms / rate
    start = time.perf_counter()
    sent = 0
    k = 0
    while sent < count:
        for f in frames[sent : sent + per_ms]:
            try:
                s.send(f)
            except BlockingIOError:
                time.sleep(0.0001)
                s.send(f)
        sent = min(count, sent + per_ms)
        k += 1
        if rate <= 1000:  # latency runs: sleep between requests (the CPU stays free for an unpinned speaker)
            left = start + k * tick - time.perf_counter()
            if left > 0:
                time.sleep(left)
        while time.perf_counter() - start < k * tick:  # rate runs: exact pacing
            pass
    print(f"sent {sent} in {time.perf_counter() - start:.3f}s", flush=True)


# --- the capture on the node's switch port --------------------------------------------------------------
class Capture:
    """Kernel-timestamped frames of one ethertype crossing the node's switch port, both directions."""

    def __init__(self, switch_ns: str, port: str, proto: int) -> None:
        # ETH_P_ALL: on a bridge port, frames reach only "all protocols" taps (the bridge takes them before
        # protocol handlers), and outgoing frames are only ever shown to those; the kernel filter keeps
        # just the ethertype we time.
        asm = bpf._Asm()
        asm.ld(bpf.BPF_H, 12)
        asm.jeq(proto, 0, 1)
        asm.ret(bpf.ACCEPT)
        asm.ret(0)
        program = asm.assemble()

        def make() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            bpf.attach(s, program)
            s.bind((port, 0x0003))
            s.settimeout(0.2)
            return s

        self.sock = run_in_netns(switch_ns, make)
        self.frames: list[tuple[int, int, bytes]] = []  # (ns, pkttype, frame)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(256, 64)
            except TimeoutError:
                continue
            ts = 0
            for level, typ, raw in anc:
                if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    ts = sec * 1_000_000_000 + nsec
            self.frames.append((ts, addr[2], data))

    def stop(self) -> tuple[list[tuple[float, int, bytes]], int]:
        time.sleep(0.3)
        self._stop = True
        self._thread.join(2)
        _packets, drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        self.sock.close()
        return self.frames, drops


def run_generator(client, kind: str, targets: list[str], count: int, rate: float, seq_macs: bool) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(targets))
        path = f.name
    try:
        our_ip = client.ipv4[0] if kind == "arp" else client.ipv6[0]
        client.run(
            [
                "taskset",
                "-c",
                "0",
                PY,
                __file__,
                "--generate",
                kind,
                "--targets",
                path,
                "--count",
                str(count),
                "--rate",
                str(rate),
                "--our-ip",
                our_ip,
                "--our-mac",
                client.mac,
            ]
            + (["--seq-macs"] if seq_macs else []),
            timeout=120,
        )
    finally:
        os.unlink(path)


def latencies(frames: list[tuple[float, int, bytes]], kind: str) -> tuple[list[float], int]:
    """Match each request (leaving the switch towards the node) with its reply (coming back)."""
    sent: dict[bytes, float] = {}
    lat: list[float] = []
    for ts, pkttype, f in frames:
        if kind == "arp":
            if len(f) < 42:
                continue
            op = f[21]
            if pkttype == PACKET_OUTGOING and op == 1:
                sent[f[22:28]] = ts
            elif pkttype != PACKET_OUTGOING and op == 2 and f[32:38] in sent:
                lat.append(ts - sent.pop(f[32:38]))
        else:
            if len(f) < 78 or f[20] != 58:
                continue
            if pkttype == PACKET_OUTGOING and f[54] == 135:
                sent[f[6:12]] = ts
            elif pkttype != PACKET_OUTGOING and f[54] == 136 and f[0:6] in sent:
                lat.append(ts - sent.pop(f[0:6]))
    return lat, len(sent)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure_latency(lab, node, client, kind: str, targets: list[str], samples: int, rate: float = 1000.0) -> dict:
    proto = 0x0806 if kind == "arp" else 0x86DD
    cap = Capture(lab.switch_ns, node.port, proto)
    run_generator(client, kind, targets, samples, rate, seq_macs=True)
    frames, drops = cap.stop()
    lat, unanswered = latencies(frames, kind)
    us = [x / 1000 for x in lat]
    return {
        "n": len(us),
        "unanswered": unanswered,
        "p50": pct(us, 50),
        "p99": pct(us, 99),
        "max": max(us or [0]),
        "mean": statistics.fmean(us) if us else float("nan"),
        "capture_drops": drops,
    }


def measure_rate(lab, node, client, kind: str, targets: list[str], rate: int, seconds: float) -> dict:
    proto = 0x0806 if kind == "arp" else 0x86DD
    cap = Capture(lab.switch_ns, node.port, proto)
    count = int(rate * seconds)
    run_generator(client, kind, targets, count, float(rate), seq_macs=False)
    frames, drops = cap.stop()
    reqs = replies = 0
    cm = mac_bytes(client.mac)
    for _ts, pkttype, f in frames:
        if kind == "arp" and len(f) >= 42:
            if pkttype == PACKET_OUTGOING and f[21] == 1:
                reqs += 1
            elif pkttype != PACKET_OUTGOING and f[21] == 2 and f[32:38] == cm:
                replies += 1
        elif kind == "ndp" and len(f) >= 78 and f[20] == 58:
            if pkttype == PACKET_OUTGOING and f[54] == 135:
                reqs += 1
            elif pkttype != PACKET_OUTGOING and f[54] == 136 and f[0:6] == cm:
                replies += 1
    return {"rate": rate, "sent": count, "seen": reqs, "answered": replies, "capture_drops": drops}


class Serve:
    """The speaker's Layer 2 side as the bench runs it: this file with ``--serve`` in the node namespace, pinned
    to CPU 1 (its responder process inherits the pin): an ``Announcer`` in ``process`` or ``thread`` mode,
    optionally with an API-load thread next to it."""

    def __init__(
        self, node, specs: list[str], *, mode: str, load: bool, rt_priority: int = 0, pin: bool = True
    ) -> None:
        fd, self.path = tempfile.mkstemp(suffix=".vips")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(specs))
        cmd = [PY, __file__, "--serve", "--vips-file", self.path, "--mode", mode, "--rt-priority", str(rt_priority)]
        self.proc = node.popen(
            (["taskset", "-c", "1"] if pin else []) + cmd + (["--load"] if load else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"responder did not start: {line!r} {self.proc.stderr.read()}")
        time.sleep(1.0)  # the load (started after the announcements' burst) settles

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.unlink(self.path)


# --- the node side (``--serve``) ---------------------------------------------------------------------------------
def _service(i: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"svc-{i}",
            "namespace": "default",
            "uid": f"{i:08x}-0000-4000-8000-000000000000",
            "resourceVersion": str(1000 + i),
            "labels": {"app": f"app-{i}", "tier": "web"},
            "annotations": {"metallb.io/address-pool": "lan", "metallb.io/ip-allocated-from-pool": "lan"},
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30000 + i}],
            "selector": {"app": f"app-{i}"},
            "externalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
        },
        "status": {"loadBalancer": {"ingress": [{"ip": f"198.51.100.{i % 250}", "ipMode": "VIP"}]}},
    }


LOAD = "a thread parsing a 200-Service list (~130 KB of JSON, ~1 ms per parse) and indexing it, in a loop"


def api_load(stop: threading.Event) -> None:
    """What a busy speaker does between watch events: JSON → dicts (C code, holding the GIL for the whole
    document, ~1 ms here) and Python over the result. One thread, never sleeping."""
    import json

    payload = json.dumps({"kind": "ServiceList", "items": [_service(i) for i in range(200)]})
    while not stop.is_set():
        doc = json.loads(payload)
        index = {f"{i['metadata']['namespace']}/{i['metadata']['name']}": i for i in doc["items"]}
        for svc in index.values():
            _ = [p["port"] for p in svc["spec"]["ports"]] + [i["ip"] for i in svc["status"]["loadBalancer"]["ingress"]]


def serve(vips_file: str, mode: str, rt_priority: int, load: bool) -> int:
    import logging
    import signal

    from speaker.layer2 import Announcement, Announcer, Layer2Settings

    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    desired = {}
    for spec in Path(vips_file).read_text().split():
        ip, _, ifaces = spec.partition("@")
        desired[ip] = Announcement("bench/vip", frozenset(ifaces.split(",")) if ifaces else None, probe=False)
    ann = Announcer("bench", settings=Layer2Settings(probe=False, responder=mode, realtime_priority=rt_priority))
    ann.set_desired(desired)
    ann.start()
    deadline = time.monotonic() + 60  # steady state: everything announced, and the gratuitous burst over
    while time.monotonic() < deadline:  # (+1 s, paced), before the load starts
        states = {r["state"] for r in ann.snapshot(timeout=10)["addresses"]}
        if states == {"announced"}:
            break
        time.sleep(0.1)
    time.sleep(1.2 + len(desired) / 20000)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if load:
        threading.Thread(target=api_load, args=(stop,), name="api-load", daemon=True).start()
    print("ready", flush=True)
    stop.wait()
    ann.stop()
    return 0


def many_vips() -> tuple[list[str], list[str]]:
    taken = {10, 20, 50}  # node, client, the kernel-owned address
    v4 = [f"{net}.{i}" for net in ("198.51.100", "192.0.2") for i in range(1, 255) if i not in taken]
    v6 = [str(ipaddress.IPv6Address("2001:db8:100::1:0") + i) for i in range(10_000 - len(v4))]
    return v4, v6


def print_latencies(rows: list[tuple[str, str, dict]]) -> None:
    print(f"{'proto':5} {'who answers':44} {'answered':>9} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>8} {'cap.drop':>8}")
    for proto, who, d in rows:
        print(
            f"{proto:5} {who:44} {d['n']:>5}/{d['n'] + d['unanswered']:<4}{d['p50']:>7.1f} {d['p99']:>8.1f} "
            f"{d['max']:>8.1f} {d['capture_drops']:>8}"
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="fewer samples and rates")
    ap.add_argument(
        "--headline",
        action="store_true",
        help="only the kernel and 'process, 1 VIP, API load', latency only (implies --quick)",
    )
    ap.add_argument("--json", type=Path, help="also write the latency rows to this file as JSON")
    ap.add_argument("--repeat", type=int, default=1, help="run every latency case this many times (interleaved)")
    ap.add_argument("--generate", choices=["arp", "ndp"])
    ap.add_argument("--targets")
    ap.add_argument("--count", type=int)
    ap.add_argument("--rate", type=float)
    ap.add_argument("--our-ip")
    ap.add_argument("--our-mac")
    ap.add_argument("--seq-macs", action="store_true")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--vips-file")
    ap.add_argument("--mode", choices=["process", "thread"], default="process")
    ap.add_argument("--rt-priority", type=int, default=0)
    ap.add_argument("--load", action="store_true")
    args = ap.parse_args()
    if args.generate:
        targets = Path(args.targets).read_text().split()
        generate(args.generate, targets, args.count, args.rate, args.our_ip, args.our_mac, args.seq_macs)
        return 0
    if args.serve:
        return serve(args.vips_file, args.mode, args.rt_priority, args.load)

    require_root()
    if args.headline:
        args.quick = True
    os.sched_setaffinity(0, {0})  # this process (capture) and the generator on CPU 0; the responder gets CPU 1
    samples = 500 if args.quick else args.samples
    rates = [5_000, 10_000] if args.quick else [5_000, 10_000, 20_000, 40_000]
    lat_rows: list[tuple[str, str, dict]] = []
    rate_rows: list[tuple[str, str, dict]] = []
    v4, v6 = many_vips()
    rnd = random.Random(1)
    t4 = [rnd.choice(v4) for _ in range(samples)]
    t6 = [rnd.choice(v6) for _ in range(samples)]
    one = [f"{VIP4}@eth0", f"{VIP6}@eth0"]
    many = [f"{ip}@eth0" for ip in v4 + v6]
    # (label, specs, mode, load, SCHED_FIFO priority, targets v4, targets v6, rates measured[, pinned])
    cases: list[tuple] = [
        ("thread,  1 VIP,  idle", one, "thread", False, 0, [VIP4], [VIP6], True),
        ("thread,  1 VIP,  API load", one, "thread", True, 0, [VIP4], [VIP6], False),
        ("process, 1 VIP,  idle", one, "process", False, 0, [VIP4], [VIP6], True),
        ("process, 1 VIP,  API load", one, "process", True, 0, [VIP4], [VIP6], True),
        ("process, 10k VIPs, idle", many, "process", False, 0, t4, t6, True),
        ("process, 10k VIPs, API load", many, "process", True, 0, t4, t6, False),
        ("process, 1 VIP,  API load, SCHED_FIFO", one, "process", True, RT_PRIORITY, [VIP4], [VIP6], False),
        ("thread,  1 VIP,  API load, SCHED_FIFO", one, "thread", True, RT_PRIORITY, [VIP4], [VIP6], False),
        ("thread,  1 VIP,  API load, both CPUs", one, "thread", True, 0, [VIP4], [VIP6], False, False),
        ("process, 1 VIP,  API load, both CPUs", one, "process", True, 0, [VIP4], [VIP6], False, False),
    ]
    if args.headline:
        cases = [c for c in cases if c[0] == HEADLINE]
    slow_rows: list[tuple[str, str, dict]] = []
    slow_samples = max(200, samples // 2)
    with Lab() as lab:
        node = lab.host("node", "198.51.100.10/24", "2001:db8:100::10/64")
        client = lab.host("client", "198.51.100.20/24", "2001:db8:100::20/64")
        node.add_address(f"{KERNEL4}/24")
        node.add_address(f"{KERNEL6}/64")
        client.add_address("192.0.2.20/24")
        node.add_address("192.0.2.10/24")

        for run in range(args.repeat):
            tag = f" #{run + 1}" if args.repeat > 1 else ""
            lat_rows.append(("ARP", f"kernel{tag}", measure_latency(lab, node, client, "arp", [KERNEL4], samples)))
            lat_rows.append(("NDP", f"kernel{tag}", measure_latency(lab, node, client, "ndp", [KERNEL6], samples)))
            if run == 0 and not args.headline:
                for r in rates:
                    rate_rows.append(("ARP", "kernel", measure_rate(lab, node, client, "arp", [KERNEL4], r, 1.0)))
            if not args.quick:
                slow_rows.append(
                    (
                        "ARP",
                        f"kernel{tag}",
                        measure_latency(lab, node, client, "arp", [KERNEL4], slow_samples, SLOW_RATE),
                    )
                )
            for label, specs, mode, load, prio, tv4, tv6, with_rates, *pinned in cases:
                pin = pinned[0] if pinned else True
                srv = Serve(node, specs, mode=mode, load=load, rt_priority=prio, pin=pin)
                try:
                    lat_rows.append(("ARP", label + tag, measure_latency(lab, node, client, "arp", tv4, samples)))
                    lat_rows.append(("NDP", label + tag, measure_latency(lab, node, client, "ndp", tv6, samples)))
                    if with_rates and run == 0 and not args.headline:
                        for r in rates:
                            rate_rows.append(("ARP", label, measure_rate(lab, node, client, "arp", tv4, r, 1.0)))
                    if len(specs) == 2 and prio == 0 and pin and not args.quick:
                        slow_rows.append(
                            (
                                "ARP",
                                label + tag,
                                measure_latency(lab, node, client, "arp", tv4, slow_samples, SLOW_RATE),
                            )
                        )
                finally:
                    srv.stop()

    load = os.getloadavg()
    print(f"\nLoad average during the run: {load[0]:.2f} (2 CPUs; other jobs share this machine)")
    print(
        f"API load: {LOAD}, in the speaker process (thread mode: the responder shares its GIL; process mode:"
        f" the responder process does not, but shares CPU 1 with it)"
    )
    print(f"\nReply latency on the wire (node's switch port, kernel timestamps), {samples} requests at 1,000/s each")
    print_latencies([r for proto in ("ARP", "NDP") for r in lat_rows if r[0] == proto])
    if slow_rows:
        print(f"\nThe same at a LAN's pace: {slow_samples} requests at {SLOW_RATE:g}/s")
        print_latencies(slow_rows)
    if rate_rows:
        print("\nRequests/s answered (1 s bursts at each rate; the speaker pinned to one core)")
        print(f"{'proto':5} {'who answers':44} {'rate/s':>7} {'sent':>7} {'answered':>9} {'loss':>7} {'cap.drop':>8}")
    for proto, who, d in rate_rows:
        loss = 1 - d["answered"] / d["sent"] if d["sent"] else float("nan")
        print(
            f"{proto:5} {who:44} {d['rate']:>7} {d['sent']:>7} {d['answered']:>9} {loss:>7.2%} {d['capture_drops']:>8}"
        )
    print("\nGoals: ARP p99 <= 300 µs; >= 5,000 req/s with 0 loss; 10,000 VIPs like 1 VIP.")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "samples": samples,
                    "latency_us": [
                        {
                            "proto": proto,
                            "who": who.strip(),
                            "p50": round(d["p50"], 1),
                            "p99": round(d["p99"], 1),
                            "answered": d["n"],
                            "sent": d["n"] + d["unanswered"],
                        }
                        for proto, who, d in lat_rows
                    ],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
