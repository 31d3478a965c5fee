"""``python -m tests.kubeapi PORT [--crds DIR]... [--history N]``: serve until SIGTERM/SIGINT.

Prints the URL on stdout once listening, so a parent process can read one line and go.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import ApiServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubeapi", description=__doc__)
    parser.add_argument("port", type=int, help="TCP port on 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--crds", action="append", default=[], metavar="DIR", help="load CRD manifests from DIR")
    parser.add_argument("--history", type=int, default=100_000, help="watch events kept for resume")
    parser.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between BOOKMARKs")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server = ApiServer(
        args.port, crd_dirs=args.crds, history=args.history, host=args.host, bookmark_interval=args.bookmark_interval
    ).start()
    print(server.url, flush=True)
    try:
        done.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
