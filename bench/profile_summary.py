"""Summarise a profile of the speaker: where its CPU time (py-spy) or its memory (tracemalloc) went.

    python bench/profile_summary.py cpu FILE [--top 25] [--thread NAME]   # py-spy ``--format raw``
    python bench/profile_summary.py mem FILE [--top 25]        # a tracemalloc snapshot

Made by ``bench/allocate_services.py --py-spy FILE`` / ``--tracemalloc FILE``. CPU: samples per thread, then
functions by self time and by inclusive time (a function counted once per sample however deep it recurses).
Memory: live bytes by allocation site (file:line) and by file.
"""

from __future__ import annotations

import argparse
import re
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    """``func (…/site-packages/kubernetes/client/api_client.py:123)`` → ``func (kubernetes/client/api_client.py)``."""
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "lib/python3", "/speaker/", "/tests/"):
        if marker in path:
            path = path.split(marker, 1)[1] if marker != "/speaker/" else "speaker/" + path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def cpu(path: Path, top: int, thread_filter: str | None = None) -> None:
    threads: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread = (
            re.sub(r" \(0x[0-9a-f]+\)|\s*\(?[0-9]+\)?$", "", frames[0]).strip()
            if frames[0].startswith(("thread", "process"))
            else "?"
        )
        body = [f for f in frames if not f.startswith(("thread ", "process "))]
        if thread_filter and thread_filter not in thread:
            continue
        total += n
        threads[thread] += n
        if body:
            self_time[_short(body[-1])] += n
        for f in {_short(f) for f in body}:
            inclusive[f] += n
    print(f"{total} samples")
    print("\nby thread")
    for name, n in threads.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\nby self time")
    for name, n in self_time.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\nby inclusive time")
    for name, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {name}")


def mem(path: Path, top: int) -> None:
    snap = tracemalloc.Snapshot.load(str(path))
    snap = snap.filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
    )
    stats = snap.statistics("traceback")
    total = sum(s.size for s in stats)
    print(f"{total / 2**20:.1f} MiB traced (live Python allocations)")
    print("\nby allocation site (innermost frame of the project or library that asked)")
    by_line: Counter[str] = Counter()
    for s in snap.statistics("lineno"):
        f = s.traceback[0]
        by_line[f"{_short(f'x ({f.filename}:{f.lineno})')[3:-1]}:{f.lineno}"] += s.size
    for name, size in by_line.most_common(top):
        print(f"  {size / 2**20:7.1f} MiB  {name}")
    print("\nby file")
    for s in snap.statistics("filename")[:top]:
        print(f"  {s.size / 2**20:7.1f} MiB  {_short('x (' + s.traceback[0].filename + ')')[3:-1]}")
    print("\nlargest tracebacks (outermost speaker frame first)")
    for s in stats[: top // 2]:
        frames = [f"{_short(f'x ({f.filename}:{f.lineno})')[3:-1]}:{f.lineno}" for f in s.traceback]
        print(f"  {s.size / 2**20:7.1f} MiB  " + " <- ".join(frames[:6]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("cpu", "mem"))
    ap.add_argument("file", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--thread", help="cpu: only the threads whose name contains this")
    args = ap.parse_args()
    if args.what == "cpu":
        cpu(args.file, args.top, args.thread)
    else:
        mem(args.file, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
