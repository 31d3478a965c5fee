"""10,000 LoadBalancer Services through the API: time, API writes per Service, speaker RSS.

Runs the API emulator in this process and a real ``baremetal-lb speaker`` as a child process (as systemd
would), then measures three things a user would notice:

* cold start: N Services already pending, speaker started → every Service has its address;
* steady state: speaker running, N Services created as fast as 4 client threads can → all addressed;
* restart: speaker killed (-9) and started again → ready, and how many writes it makes (goal: none).

Addresses come from 198.18.0.0/15 (RFC 2544's benchmarking block); nothing touches a network.
Usage: python bench/allocate_services.py [--services 10000] [--burst 2000] [--writers 4] [--json FILE]
(``--json``: the figures as one JSON object too, for ``bench/quick.py``.)

To see where the speaker's time and memory go (each slows the speaker, so not for the figures):
``--py-spy FILE`` samples the speaker's cold start with py-spy (collapsed stacks, summarised by
``bench/profile_summary.py``); ``--tracemalloc FILE`` traces the speaker's allocations and dumps a snapshot
with every Service addressed (before the burst).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speaker.kube.informer import Change, Informer  # noqa: E402
from speaker.kube.kinds import SERVICES  # noqa: E402
from tests.kubeapi import ApiServer, write_kubeconfig  # noqa: E402

NS = "metallb-system"


class AddressedCounter:
    """Watches Services (with the speaker's own informer) and records when each first shows an address."""

    def __init__(self, api: client.ApiClient) -> None:
        self.first_seen: dict[str, float] = {}
        self._cond = threading.Condition()
        self.informer = Informer(SERVICES, api, sink=self._sink)
        threading.Thread(target=self.informer.run, daemon=True).start()

    def _sink(self, kind: str, change: Change, key: str) -> None:
        if change is Change.DELETED:
            return
        svc = self.informer.get(key) or {}
        if ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") and key not in self.first_seen:
            with self._cond:
                self.first_seen[key] = time.monotonic()
                self._cond.notify_all()

    def wait(self, keys: set[str], timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not keys <= self.first_seen.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.5))
        return max(self.first_seen[k] for k in keys)


def service(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"port": 80, "protocol": "TCP"}],
            # 10,000 NodePorts do not exist (30000-32767), on a real cluster either
            "allocateLoadBalancerNodePorts": False,
        },
    }


def create_many(core: client.CoreV1Api, names: list[str], threads: int = 4) -> dict[str, float]:
    created: dict[str, float] = {}

    def one(name: str) -> None:
        core.create_namespaced_service("bench", service(name), _preload_content=False).release_conn()
        created[f"bench/{name}"] = time.monotonic()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, names))
    return created


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far. Wall time on a shared machine follows everyone's load; CPU
    seconds much less so, which makes them the figure to compare across runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Imported first by the speaker (a sitecustomize on its PYTHONPATH) when --tracemalloc is given: trace from the
# first allocation, write a snapshot on SIGUSR2.
TRACEMALLOC_HOOK = """
import os, signal, tracemalloc
tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "12")))
def _dump(signum, frame):
    tracemalloc.take_snapshot().dump(os.environ["BENCH_TRACEMALLOC"])
    open(os.environ["BENCH_TRACEMALLOC"] + ".done", "w").close()
signal.signal(signal.SIGUSR2, _dump)
"""


def start_speaker(kubeconfig: Path, cfg: Path, log: Path, *, tracemalloc_to: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if tracemalloc_to is not None:
        hook = log.parent / "tracemalloc-hook"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(TRACEMALLOC_HOOK)
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")])),
            BENCH_TRACEMALLOC=str(tracemalloc_to.resolve()),
        )
    return subprocess.Popen(
        [sys.executable, "-m", "speaker", "speaker", "--config", str(cfg), "--kubeconfig", str(kubeconfig)],
        env=env,
        cwd=ROOT,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10_000, help="Services pending at the cold start")
    ap.add_argument("--burst", type=int, default=2_000, help="Services created while the speaker runs")
    ap.add_argument("--writers", type=int, default=4, help="speaker status_writers")
    ap.add_argument("--json", type=Path, help="also write the figures to this file as JSON")
    ap.add_argument("--py-spy", type=Path, help="profile the speaker's cold start with py-spy into this file")
    ap.add_argument("--tracemalloc", type=Path, help="trace the speaker's allocations; snapshot into this file")
    args = ap.parse_args()
    n = args.services
    total = n + args.burst
    rows: list[tuple[str, str]] = []
    figures: dict[str, float | int] = {"services": n, "burst": args.burst}
    with (
        tempfile.TemporaryDirectory(prefix="bench-alloc-") as tmp,
        ApiServer(port=0, crd_dirs=[ROOT / "speaker" / "crds"], history=max(200_000, 8 * (n + args.burst))) as api,
    ):
        kubeconfig = Path(tmp) / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url)
        cfg = Path(tmp) / "speaker.yaml"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cfg.write_text(
            f"node_name: bench-node\nnamespace: {NS}\nlog_level: warning\nmetrics_listen: 127.0.0.1:{port}\n"
            f"status_writers: {args.writers}\nlease: {{duration: 4s, renew_deadline: 3s, retry_period: 0.5s}}\n"
            "layer2: {enabled: false}\n"
        )  # root namespace: never answer ARP on real interfaces
        log = Path(tmp) / "speaker.log"
        kc = client.ApiClient(client.Configuration(host=api.url))
        kc.configuration.connection_pool_maxsize = 8
        core, custom = client.CoreV1Api(kc), client.CustomObjectsApi(kc)
        for ns in (NS, "bench"):
            core.create_namespace({"metadata": {"name": ns}})
        custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            NS,
            "ipaddresspools",
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "bench"},
                "spec": {"addresses": ["198.18.0.0/15"]},
            },
        )
        watcher = AddressedCounter(kc)

        # 1. cold start: N pending Services, then the speaker.
        half = n
        names_a = [f"cold-{i:05d}" for i in range(half)]
        t0 = time.monotonic()
        create_many(core, names_a)
        rows.append((f"create {half} Services (4 client threads, no speaker)", f"{time.monotonic() - t0:.2f} s"))
        api.reset_counts()
        t0 = time.monotonic()
        here0 = time.process_time()
        sp = start_speaker(kubeconfig, cfg, log, tracemalloc_to=args.tracemalloc)
        spy = (
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(sp.pid),
                    "--format",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    "--gil",
                    "--rate",
                    "200",
                    "--output",
                    str(args.py_spy),
                ],
                stdout=subprocess.DEVNULL,
            )
            if args.py_spy
            else None
        )
        done = watcher.wait({f"bench/{x}" for x in names_a}, timeout=300)
        speaker_cpu, here_cpu = cpu_s(sp.pid), time.process_time() - here0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        if args.tracemalloc is not None:
            time.sleep(2.0)  # the Events and the last writes drain
            sp.send_signal(signal.SIGUSR2)
            marker = Path(str(args.tracemalloc.resolve()) + ".done")
            while not marker.exists():
                time.sleep(0.2)
            marker.unlink()
        if done is None:
            print(log.read_text()[-3000:])
            raise SystemExit("cold start: not every Service got an address within 300 s")
        rows.append((f"cold start: speaker started → {half} Services addressed", f"{done - t0:.2f} s"))
        first = min(watcher.first_seen[f"bench/{x}"] for x in names_a)
        rows.append(("  first Service addressed (start-up, lists, lease, allocator rebuilt)", f"{first - t0:.2f} s"))
        figures["cold_first_s"] = round(first - t0, 2)
        figures["cold_start_s"] = round(done - t0, 2)
        figures["cold_speaker_cpu_s"] = round(speaker_cpu, 2)
        figures["cold_emulator_cpu_s"] = round(here_cpu, 2)
        rows.append(
            (
                "  CPU by then: speaker (its start included) / API emulator (+ this bench's watch)",
                f"{speaker_cpu:.2f} s / {here_cpu:.2f} s",
            )
        )
        rows.append(("  status writes per Service", f"{api.count_requests('patch', 'services', 'status') / half:.3f}"))
        rows.append(("  Events written by then (best effort, async)", f"{api.count_requests('create', 'events')}"))

        # 2. steady state: the speaker is running; Services arrive.
        names_b = [f"hot-{i:05d}" for i in range(args.burst)]
        api.reset_counts()
        t0 = time.monotonic()
        created = create_many(core, names_b)
        done = watcher.wait(set(created), timeout=300)
        if done is None:
            raise SystemExit("steady state: not every Service got an address within 300 s")
        lat = sorted(watcher.first_seen[k] - created[k] for k in created)
        rows.append((f"burst: speaker running, {len(names_b)} created → all addressed", f"{done - t0:.2f} s"))
        figures["burst_p50_ms"] = round(lat[len(lat) // 2] * 1000)
        figures["burst_p99_ms"] = round(lat[int(len(lat) * 0.99)] * 1000)
        rows.append(
            (
                "  create → address seen, p50 / p99",
                f"{lat[len(lat) // 2] * 1000:.0f} / {lat[int(len(lat) * 0.99)] * 1000:.0f} ms",
            )
        )
        rows.append(
            ("  status writes per Service", f"{api.count_requests('patch', 'services', 'status') / len(names_b):.3f}")
        )
        figures["rss_mib"] = round(rss_mib(sp.pid))
        rows.append(("speaker RSS with all Services", f"{figures['rss_mib']} MiB"))

        # 3. restart: kill -9, start again; nothing should be written.
        sp.kill()
        sp.wait()
        time.sleep(4.5)  # let the killed speaker's lease expire so the timing shows the restart, not the lease
        api.reset_counts()
        t0 = time.monotonic()
        sp = start_speaker(kubeconfig, cfg, log)
        status = {}
        while time.monotonic() - t0 < 300:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
                    status = json.load(r)
                if (
                    status.get("allocator_leader")
                    and status.get("pools", {}).get("bench", {}).get("assignedIPv4") == total
                ):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        figures["restart_s"] = round(time.monotonic() - t0, 2)
        rows.append(
            (f"restart (kill -9, lease expired) → leader with {total} rebuilt", f"{figures['restart_s']:.2f} s")
        )
        time.sleep(1.0)
        figures["restart_writes"] = api.count_requests("patch", "services", "status")
        rows.append(("  status writes during restart", f"{figures['restart_writes']}"))
        sp.send_signal(signal.SIGTERM)
        sp.wait(30)
        watcher.informer.stop()
    width = max(len(r[0]) for r in rows)
    print(f"\nbaremetal-lb allocation through the API emulator (pool 198.18.0.0/15, {os.cpu_count()} CPUs)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(
        "  goal (issue 10): cold start ≤ 10 s for 10,000 on a 2-core machine, burst p50 ≤ 1 s; 1 status write per "
        "Service; 0 writes on restart"
    )
    if args.json:
        args.json.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
