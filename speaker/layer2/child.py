"""The ARP/NDP responder process: ``python -m speaker.layer2.child …``, started by the Announcer, not by hand.

It does only the per-request work, so that nothing in the speaker (its GIL above all) delays a reply:
AF_PACKET sockets with kernel filters per interface, the pure ``arp.handle`` / ``ndp.handle`` against the
current tables, the reply, counting — and the gratuitous frames the speaker asks for (in the same ordered
stream as the table changes, so a takeover's table is live before clients are told to come). Every table
comes from the speaker over one socket (``protocol.py``); counts go back there. docs/design/0011.

Lifetime — it never outlives the speaker and never stops answering before the speaker says so:
- PR_SET_PDEATHSIG = SIGKILL: the kernel kills it when the speaker thread that started it ends (the speaker
  died, or stopped its Announcer); plus EOF on the channel (the speaker closed it) → exit at once;
- SIGTERM, SIGINT and SIGHUP are ignored: ``systemctl stop`` signals the whole control group, and a
  stopping speaker keeps answering until a peer has taken over (docs/design/0009), then closes the channel;
- it refuses to run in another network namespace than the speaker thread that started it.

Exit status: 0 (the speaker closed the channel or is gone), 2 (protocol error: the speaker restarts it and
re-sends everything), 3 (wrong network namespace).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from speaker.layer2.protocol import (
    HEARTBEAT,
    REPORT_INTERVAL,
    Counters,
    Decoder,
    PortState,
    ProtocolError,
    all_addresses,
    apply_ops,
    encode,
    parse_announce,
    report_msg,
)
from speaker.layer2.responder import Responder

log = logging.getLogger("speaker.layer2.child")

PR_SET_PDEATHSIG = 1
EXIT_PROTOCOL = 2
EXIT_NETNS = 3


class Child:
    """The child's side of the channel, on the responder's loop (one thread: the whole process)."""

    def __init__(
        self,
        responder: Responder,
        sock: socket.socket,
        counters: Counters,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.responder = responder
        self.sock = sock
        self.counters = counters
        self.clock = clock
        self.ports: dict[str, PortState] = {}
        self.decoder = Decoder()
        self.out = bytearray()
        self.last_sent = clock()
        self.exit_code = 0

    # --- speaker → child ---------------------------------------------------------------------------------
    def on_readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            except OSError as exc:
                log.error("layer2: channel to the speaker failed: %s", exc)
                self.quit(0)
                return
            if not data:
                log.debug("layer2: the speaker closed the channel; exiting")
                self.quit(0)
                return
            try:
                for msg in self.decoder.feed(data):
                    self.handle(msg)
            except ProtocolError as exc:
                log.error("layer2: bad message from the speaker (%s); exiting so that it restarts me", exc)
                self.quit(EXIT_PROTOCOL)
                return

    def handle(self, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "apply":
            self.apply(msg.get("ops"))
        elif t == "announce":
            self.responder.announce(parse_announce(msg))
        else:
            raise ProtocolError(f"unknown message type {t!r}")

    def apply(self, ops: Any) -> None:
        """One transaction: validated as a whole (``apply_ops``), then applied before the next frame."""
        new, changes = apply_ops(self.ports, ops)
        self.ports = new
        r = self.responder
        for name in changes.removed:
            r.remove_port(name)
        for name in changes.forgotten:
            r.forget_interface(name)
        elsewhere = all_addresses(new)
        for name in changes.synced:
            p = new[name]
            try:
                r.sync_port(name, p.index, p.mac, p.v4, p.v6, elsewhere)
            except OSError as exc:  # the interface vanished meanwhile: the speaker's link watcher follows up
                log.warning("layer2: cannot answer on %s: %s", name, exc)
        r.set_elsewhere(elsewhere)

    # --- child → speaker ---------------------------------------------------------------------------------
    def started(self) -> None:
        self.send({"t": "ready", "pid": os.getpid(), "realtime": self.responder.realtime})
        self.responder.call_later(REPORT_INTERVAL, self.tick)

    def tick(self) -> None:
        """Counts since the last report (at most every REPORT_INTERVAL), or a heartbeat (every HEARTBEAT).
        At most one report is in flight: while the speaker is not reading, counts accumulate here."""
        self.flush()
        if not self.out:
            counts = self.counters.take()
            now = self.clock()
            if counts or now - self.last_sent >= HEARTBEAT:
                self.send(report_msg(counts))
                self.last_sent = now
        self.responder.call_later(REPORT_INTERVAL, self.tick)

    def send(self, msg: dict[str, Any]) -> None:
        self.out += encode(msg)
        self.flush()

    def flush(self) -> None:
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            except OSError as exc:  # EPIPE: the speaker is gone (PDEATHSIG is on its way)
                log.debug("layer2: channel to the speaker: %s", exc)
                self.quit(0)
                return
            del self.out[:n]

    def quit(self, code: int) -> None:
        self.exit_code = code
        self.responder.stop()


def _die_with_parent(parent: int) -> bool:
    """SIGKILL when the speaker goes; False if it is already gone (it died before we got here)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning(
            "layer2: prctl(PR_SET_PDEATHSIG): %s (relying on the channel's EOF)", os.strerror(ctypes.get_errno())
        )
    return os.getppid() == parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m speaker.layer2.child", description="The ARP/NDP responder process (started by the speaker)."
    )
    ap.add_argument("--fd", type=int, required=True, help="the channel to the speaker (inherited)")
    ap.add_argument("--parent", type=int, required=True, help="the speaker's pid")
    ap.add_argument("--netns", type=int, required=True, help="inode of the speaker's network namespace")
    ap.add_argument("--rt-priority", type=int, default=0, help="SCHED_FIFO priority (0: normal)")
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s layer2-responder[%(process)d]: %(message)s",
    )
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if not _die_with_parent(args.parent):
        return 0
    netns = os.stat("/proc/self/ns/net").st_ino
    if netns != args.netns:
        log.error(
            "layer2: started in network namespace %d, the speaker is in %d: refusing to answer here", netns, args.netns
        )
        return EXIT_NETNS
    sock = socket.socket(fileno=args.fd)
    sock.setblocking(False)
    counters = Counters()
    responder = Responder(metrics=counters, realtime_priority=args.rt_priority)
    child = Child(responder, sock, counters)
    responder.open()
    responder.add_reader(sock, child.on_readable)
    responder.call_soon(child.started)  # first thing in the loop, after SCHED_FIFO was (or was not) granted
    responder.run()
    return child.exit_code


if __name__ == "__main__":
    sys.exit(main())
