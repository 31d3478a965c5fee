"""A real DHCP client for the router tests: busybox udhcpc in a lab namespace, one lease per client-id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# udhcpc calls this on "bound"; it only prints the address (resolv.conf and routes are left alone).
CLIENT_SCRIPT = '#!/bin/sh\n[ "$1" = bound ] && echo "LEASE $ip"\nexit 0\n'


def dhcp_leases(client: Any, tmp: Path, count: int, tag: int = 1) -> list[str | None]:
    """``count`` DHCP clients (distinct client-ids) one after another; the address each got (None: none offered)."""
    script = tmp / "udhcpc.script"
    script.write_text(CLIENT_SCRIPT)
    script.chmod(0o755)
    got: list[str | None] = []
    for i in range(count):
        cid = "01%02x%010x" % (tag, i + 1)
        proc = client.run(["udhcpc", "-n", "-q", "-f", "-i", "eth0", "-s", str(script), "-t", "2", "-T", "1",
                           "-A", "1", "-x", f"0x3d:{cid}"], check=False, timeout=15)
        lines = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("LEASE ")]
        got.append(lines[0] if lines else None)
    return got
