"""A real DHCP client for the router tests: busybox udhcpc in a lab namespace, one lease per client-id.

Also a command for playbooks (the router Molecule scenario)::

    # prints a JSON list: the address each client got, or null
    python -m tests.dhcpclient NETNS COUNT [--tag N] [--tries 2 --wait 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# udhcpc calls this on "bound"; it only prints the address (resolv.conf and routes are left alone).
CLIENT_SCRIPT = '#!/bin/sh\n[ "$1" = bound ] && echo "LEASE $ip"\nexit 0\n'


def dhcp_leases(client: Any, tmp: Path, count: int, tag: int = 1, tries: int = 2, wait: int = 1) -> list[str | None]:
    """``count`` DHCP clients (distinct client-ids) one after another; the address each got (None: none offered).

    Each client sends ``tries`` DISCOVERs ``wait`` seconds apart. The labs' servers answer at once; a packaged
    dnsmasq first pings a new address (up to ~3 s), so clients of one need more patience.
    """
    script = tmp / "udhcpc.script"
    script.write_text(CLIENT_SCRIPT)
    script.chmod(0o755)
    got: list[str | None] = []
    for i in range(count):
        cid = f"01{tag:02x}{i + 1:010x}"
        proc = client.run(
            [
                "udhcpc",
                "-n",
                "-q",
                "-f",
                "-i",
                "eth0",
                "-s",
                str(script),
                "-t",
                str(tries),
                "-T",
                str(wait),
                "-A",
                "1",
                "-x",
                f"0x3d:{cid}",
            ],
            check=False,
            timeout=tries * wait + 10,
        )
        lines = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("LEASE ")]
        got.append(lines[0] if lines else None)
    return got


class _Netns:
    """Just enough of tests.netlab.Host for :func:`dhcp_leases`: a namespace someone else made."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def run(
        self, args: list[str], check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *args], capture_output=True, text=True, check=check, timeout=timeout
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.dhcpclient", description=__doc__.splitlines()[0])
    parser.add_argument("netns", help="the client's network namespace (its LAN interface is eth0)")
    parser.add_argument("count", type=int, help="how many clients, one after another (distinct client-ids)")
    parser.add_argument("--tag", type=int, default=1, help="a byte in the client-ids, so runs do not reuse them")
    parser.add_argument("--tries", type=int, default=2, help="DISCOVERs each client sends before giving up")
    parser.add_argument("--wait", type=int, default=1, help="seconds between them")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="blb-dhcpclient-") as tmp:
        print(
            json.dumps(
                dhcp_leases(_Netns(args.netns), Path(tmp), args.count, tag=args.tag, tries=args.tries, wait=args.wait)
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
