"""``python -m speaker.liveness``: one heartbeat member alone, printing view changes as JSON lines.

Used by the integration tests and the membership bench; handy for checking a firewall.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from speaker.liveness.core import DEFAULT_PORT, MembershipSettings, parse_address
from speaker.liveness.heartbeats import Membership
from speaker.liveness.wire import parse_keys


def main(argv: Sequence[str] | None = None) -> int:
    """Run one member and print JSON lines (``start``, ``view``, ``fenced``, ``left``) with monotonic times."""
    ap = argparse.ArgumentParser(prog="python -m speaker.liveness", description=main.__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--listen", default=f"[::]:{DEFAULT_PORT}", help="ADDR:PORT to bind")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=ADDR[:PORT]")
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--interval", type=float, default=MembershipSettings.interval)
    ap.add_argument("--dead-after", type=float, default=MembershipSettings.dead_after)
    ap.add_argument("--fence-after", type=float, default=MembershipSettings.fence_after)
    ap.add_argument("--api-unreachable", action="store_true", help="pretend the API is unreachable (fencing)")
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    host, port = parse_address(args.listen)
    with open(args.key_file, "rb") as f:
        keys = parse_keys(f.read())
    peers = {}
    for spec in args.peer:
        name, sep, addr = spec.partition("=")
        if not sep:
            ap.error(f"--peer {spec!r}: expected NAME=ADDR[:PORT]")
        peers[name] = addr
    out_lock = threading.Lock()

    def emit(**obj: Any) -> None:
        with out_lock:
            sys.stdout.write(json.dumps({"t": time.monotonic(), **obj}) + "\n")
            sys.stdout.flush()

    settings = MembershipSettings(
        listen=host, port=port, interval=args.interval, dead_after=args.dead_after, fence_after=args.fence_after
    )
    m = Membership(
        args.name,
        keys,
        settings,
        on_change=lambda alive: emit(event="view", alive=sorted(alive)),
        on_fence=lambda fenced: emit(event="fenced", fenced=fenced),
    )
    m.set_peers(peers)
    if args.api_unreachable:
        m.set_api_reachable(False)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    m.start()
    emit(event="start", name=args.name, incarnation=m.incarnation, alive=sorted(m.alive()))
    while not done.wait(0.5):
        pass
    m.leave()
    emit(event="left")
    m.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
