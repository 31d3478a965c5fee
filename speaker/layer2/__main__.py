"""Debug entry point: run the layer 2 responder alone (no Kubernetes), e.g. in a lab namespace.

    python -m speaker.layer2 --node node-1 198.51.100.240 2001:db8:100::240=default/web@eth0

Each address is ``IP[=SERVICE][@IFACE,IFACE]``; ``--vips-file`` reads one per line. Prints a line
``ready`` once serving; SIGUSR1 prints the snapshot as JSON; SIGTERM/SIGINT stop (after ``--linger``
seconds of answering on, as the speaker does on a planned stop). The answering is done by a child process
(``--responder process``, the default) or a thread of this one (``--responder thread``).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time

from speaker.layer2.announcement import Announcement
from speaker.layer2.announcer import Announcer
from speaker.layer2.probe import ProbeSettings
from speaker.layer2.settings import Layer2Settings


def parse_spec(spec: str) -> tuple[str, Announcement]:
    ifaces = None
    if "@" in spec:
        spec, names = spec.split("@", 1)
        ifaces = frozenset(n for n in names.split(",") if n)
    service = "debug/layer2"
    if "=" in spec:
        spec, service = spec.split("=", 1)
    return spec, Announcement(service, ifaces)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m speaker.layer2", description=__doc__.split("\n")[0])
    p.add_argument("addresses", nargs="*", help="IP[=SERVICE][@IFACE,...]")
    p.add_argument("--node", default="debug")
    p.add_argument("--vips-file")
    p.add_argument("--no-probe", action="store_true")
    p.add_argument("--probe-timeout", type=float, default=ProbeSettings.timeout)
    p.add_argument("--refresh", type=float, default=0.0, help="re-announce every N seconds (0: off)")
    p.add_argument("--rt-priority", type=int, default=0, help="SCHED_FIFO priority of the responder (0: off)")
    p.add_argument(
        "--responder",
        choices=("process", "thread"),
        default="process",
        help="who answers: a child process (default) or a thread of this process",
    )
    p.add_argument(
        "--linger", type=float, default=0.0, help="on SIGTERM/SIGINT keep answering this many seconds before stopping"
    )
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    specs = list(args.addresses)
    if args.vips_file:
        with open(args.vips_file) as f:
            specs += [line.strip() for line in f if line.strip()]
    desired = dict(parse_spec(s) for s in specs)
    settings = Layer2Settings(
        probe=not args.no_probe,
        refresh_interval=args.refresh,
        realtime_priority=args.rt_priority,
        responder=args.responder,
        probing=ProbeSettings(timeout=args.probe_timeout, interval=args.probe_timeout / 2),
    )

    def conflict(ip: str, mac: str) -> None:
        print(json.dumps({"conflict": ip, "mac": mac}), flush=True)

    ann = Announcer(args.node, settings=settings, on_conflict=conflict)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: print(json.dumps(ann.snapshot()), flush=True))
    ann.set_desired(desired)
    ann.start()
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    if args.linger > 0:
        logging.getLogger(__name__).info("stopping in %gs; answering meanwhile", args.linger)
        time.sleep(args.linger)
    ann.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
