"""sd_notify without libsystemd: readiness, watchdog and stopping, for ``Type=notify`` units."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send to ``$NOTIFY_SOCKET`` if systemd gave us one; a no-op (False) otherwise."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval() -> float | None:
    """Half of ``WatchdogSec`` (as systemd recommends), or None when the unit has no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
