"""``make bench-quick``: the headline figures in a few minutes, one JSON line per run in ``bench/results.jsonl``.

Runs the existing bench scripts with small parameters, each in its own process (as ``make bench`` does), and
appends ``{"commit", "dirty", "date", "cores", "load", "params", "figures"}`` to ``bench/results.jsonl``. README's
figures are generated from the newest line (``scripts/readme-figures``), never typed by hand, so a regression
shows up as a changed number next to the commit that measured it. No thresholds: the figures are for people to
read side by side (``bench/results.jsonl`` keeps the history).

Usage (root, like the benches it runs): python bench/quick.py [--only allocation,failover,arp,bgp] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.jsonl"

# name → (script, quick arguments); the figures each writes with --json go under figures[name].
BENCHES: dict[str, tuple[str, list[str]]] = {
    "allocation": ("allocate_services.py", ["--services", "10000", "--burst", "500"]),
    "failover": ("failover.py", ["--trials", "3"]),
    "arp": ("layer2_arp.py", ["--headline"]),
    "bgp": ("bgp_advertise.py", ["--prefixes", "10000", "--runs", "1", "--skip-gobgp"]),
}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of: " + ", ".join(BENCHES))
    ap.add_argument("--out", type=Path, default=RESULTS, help="the JSON-lines file to append to")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        ap.error(f"--only: unknown bench {', '.join(unknown)} (known: {', '.join(BENCHES)})")
    line: dict[str, object] = {
        "commit": git("rev-parse", "--short=12", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        "params": {n: BENCHES[n][1] for n in names},
        "figures": {},
    }
    figures: dict[str, object] = {}
    failed = []
    loads = []
    with tempfile.TemporaryDirectory(prefix="bench-quick-") as tmp:
        for name in names:
            script, extra = BENCHES[name]
            out = Path(tmp) / f"{name}.json"
            print(f"== {name}: bench/{script} {' '.join(extra)}", flush=True)
            t0 = time.monotonic()
            rc = subprocess.run(
                [sys.executable, str(ROOT / "bench" / script), *extra, "--json", str(out)], cwd=ROOT
            ).returncode
            loads.append(os.getloadavg()[0])
            if rc != 0 or not out.exists():
                failed.append(name)
                print(f"== {name}: failed (exit {rc}); not recorded", flush=True)
                continue
            figures[name] = {**json.loads(out.read_text()), "wall_s": round(time.monotonic() - t0, 1)}
    line["figures"] = figures
    line["load"] = round(max(loads), 2) if loads else None  # 1-minute load average, the worst seen after a bench
    if figures:
        with args.out.open("a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
        print(f"appended to {args.out}: {json.dumps(line, sort_keys=True)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
