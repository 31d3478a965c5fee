"""Time of ``playbooks/site.yml`` on the one-machine lab, first run and second (idempotent) run, side by side.

Runs ``lab/run failover --json`` (root; builds the lab, runs site.yml twice, kills the announcing node, tears
down) and prints its timings. Usage: python bench/site_time.py [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = [
    ("site_first", "site.yml first run (everything changes)"),
    ("site_second", "site.yml second run (changed=0)"),
    ("service_announced", "Service created → VIP answered by a node"),
    ("failover", "announcing node killed → VIP answered by another"),
    ("build", "lab build (image cached, wheels, namespaces, Kea, containers)"),
    ("teardown", "teardown"),
    ("total", "whole run"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "lab.json"
            subprocess.run(
                [str(ROOT / "lab" / "run"), "failover", "--json", str(out)],
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=900,
            )
            runs.append(json.loads(out.read_text())["timings"])
    print(f"\nbaremetal-lb lab timings ({len(runs)} run(s); seconds, median)")
    for key, label in ROWS:
        values = [r[key] for r in runs if key in r]
        if values:
            print(f"  {label:<62} {statistics.median(values):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
