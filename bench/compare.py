"""Allocation figures of several commits side by side, measured in one run on this machine.

A figure from another day says little on a shared 2-core machine (the load changes by the minute), so a before/
after comparison must run both, interleaved: each round runs ``bench/allocate_services.py`` of every commit once,
in turn, each from its own temporary ``git worktree`` (the commit's speaker *and* its API emulator). The bench
script itself is this tree's, copied into each worktree, so every commit is measured the same way (and shows the
CPU figures, which older benches did not print). The working tree counts as the commit ``WORKTREE``.

Usage: python bench/compare.py [--rounds 2] REV [REV ...] [-- allocate_services.py arguments]
e.g.   python bench/compare.py 8906b4c main WORKTREE -- --services 10000 --burst 500
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKTREE = "WORKTREE"
PATTERNS = {
    "cold start s": re.compile(r"cold start: .*?([\d.]+) s$", re.M),
    "burst p50 ms": re.compile(r"create → address seen, p50 / p99\s+(\d+) /", re.M),
    "burst p99 ms": re.compile(r"create → address seen, p50 / p99\s+\d+ / (\d+) ms", re.M),
    "speaker CPU s": re.compile(r"CPU by then: .*?([\d.]+) s / [\d.]+ s$", re.M),
    "emulator CPU s": re.compile(r"CPU by then: .*?[\d.]+ s / ([\d.]+) s$", re.M),
    "RSS MiB": re.compile(r"speaker RSS with all Services\s+(\d+) MiB", re.M),
    "restart s": re.compile(r"restart \(kill -9.*?([\d.]+) s$", re.M),
}


def figures(text: str) -> dict[str, float]:
    return {name: float(m.group(1)) for name, rx in PATTERNS.items() if (m := rx.search(text))}


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("revs", nargs="+", help=f"commits to compare ({WORKTREE}: the working tree as it is)")
    args = ap.parse_args(argv)
    results: dict[str, list[dict[str, float]]] = {rev: [] for rev in args.revs}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        trees: dict[str, Path] = {}
        try:
            for rev in args.revs:
                if rev == WORKTREE:
                    trees[rev] = ROOT
                    continue
                path = Path(tmp) / re.sub(r"[^\w.-]", "_", rev)
                subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), rev], cwd=ROOT, check=True)
                shutil.copy(ROOT / "bench" / "allocate_services.py", path / "bench" / "allocate_services.py")
                trees[rev] = path
            for rnd in range(args.rounds):
                for rev in args.revs:
                    print(f"== round {rnd + 1}/{args.rounds}: {rev}", flush=True)
                    proc = subprocess.run(
                        [sys.executable, "bench/allocate_services.py", *extra],
                        cwd=trees[rev],
                        capture_output=True,
                        text=True,
                    )
                    got = figures(proc.stdout)
                    if proc.returncode != 0 or not got:
                        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
                        print(f"   {rev}: failed (exit {proc.returncode})")
                        continue
                    print(
                        "   " + ", ".join(f"{k} {v:g}" for k, v in got.items()) + f"   (load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
                    results[rev].append(got)
        finally:
            for path in trees.values():
                if path != ROOT:
                    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)
    print(
        f"\nallocate_services.py {' '.join(extra)}: median of {args.rounds} interleaved rounds "
        f"({os.cpu_count()} CPUs, shared)"
    )
    names = list(PATTERNS)
    print(f"  {'commit':<12}" + "".join(f"{n:>15}" for n in names))
    for rev, runs in results.items():
        cells = [
            f"{statistics.median(r[n] for r in runs if n in r):>15g}" if any(n in r for r in runs) else f"{'-':>15}"
            for n in names
        ]
        label = (
            rev
            if rev == WORKTREE
            else subprocess.run(
                ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        )
        print(f"  {label:<12}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
