"""Real DHCP servers as "the router" for the router tests: Kea 2.2 and dnsmasq in a lab namespace.

Shared by tests/integration/test_dhcp_kea.py, test_dhcp_dnsmasq.py and test_dhcp_scope_info.py (moved here from the
first two unchanged). ``kea_lan()`` / ``dnsmasq_lan()`` are the labs those tests use as their ``lan`` fixture: a
router namespace (198.51.100.1/24, 2001:db8:100::1/64) and a client namespace on one bridge, a temp dir for the
server's files; everything is deleted on exit, also on failure.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.netlab import Lab, require_root

HOOKS = Path("/usr/lib/x86_64-linux-gnu/kea/hooks")
CA_PORT = 8000
RESERVED_MAC = "02:00:5e:00:53:99"


def kea4_config(tmp: Path, pools: list[str], **subnet_extra: Any) -> dict[str, Any]:
    subnet = {
        "id": 1,
        "subnet": "198.51.100.0/24",
        "pools": [{"pool": p} for p in pools],
        "option-data": [{"name": "routers", "data": "198.51.100.1"}],
        "reservations": [{"hw-address": RESERVED_MAC, "ip-address": "198.51.100.60", "hostname": "nas"}],
    }
    subnet.update(subnet_extra)
    return {
        "Dhcp4": {
            "interfaces-config": {"interfaces": ["eth0"]},
            "control-socket": {"socket-type": "unix", "socket-name": str(tmp / "kea4.sock")},
            "lease-database": {"type": "memfile", "persist": True, "name": str(tmp / "leases4.csv"), "lfc-interval": 0},
            "hooks-libraries": [{"library": str(HOOKS / "libdhcp_lease_cmds.so")}],
            "valid-lifetime": 600,
            "renew-timer": 300,
            "rebind-timer": 500,
            "subnet4": [subnet],
            "loggers": [
                {"name": "kea-dhcp4", "output_options": [{"output": str(tmp / "kea-dhcp4.log")}], "severity": "INFO"}
            ],
        }
    }


def kea6_config(tmp: Path, pools: list[str]) -> dict[str, Any]:
    return {
        "Dhcp6": {
            "interfaces-config": {"interfaces": ["eth0"]},
            "control-socket": {"socket-type": "unix", "socket-name": str(tmp / "kea6.sock")},
            "server-id": {"type": "LLT", "persist": False},  # not /var/lib/kea
            "lease-database": {"type": "memfile", "persist": True, "name": str(tmp / "leases6.csv"), "lfc-interval": 0},
            "hooks-libraries": [{"library": str(HOOKS / "libdhcp_lease_cmds.so")}],
            "subnet6": [
                {"id": 6, "subnet": "2001:db8:100::/64", "interface": "eth0", "pools": [{"pool": p} for p in pools]}
            ],
            "loggers": [
                {"name": "kea-dhcp6", "output_options": [{"output": str(tmp / "kea-dhcp6.log")}], "severity": "INFO"}
            ],
        }
    }


class Kea:
    """kea-dhcp4 (and optionally kea-dhcp6) + kea-ctrl-agent in the router namespace."""

    def __init__(
        self,
        lab: Lab,
        router: Any,
        tmp: Path,
        config4: dict | None,
        config6: dict | None = None,
        *,
        ca_login: tuple[str, str] | None = None,
    ):
        """``ca_login``: (user, password) the Control Agent requires as HTTP basic auth (Kea's ``authentication``
        of type ``basic``, docs/router.md); None: no authentication, as Debian ships it."""
        self.router, self.tmp = router, tmp
        self.ca_login = ca_login
        self.env = {**os.environ, "KEA_PIDFILE_DIR": str(tmp), "KEA_LOCKFILE_DIR": str(tmp)}
        self.files: dict[str, Path] = {}
        sockets = {}
        for name, cfg in (("dhcp4", config4), ("dhcp6", config6)):
            if cfg is None:
                continue
            path = tmp / f"kea-{name}.json"
            path.write_text(json.dumps(cfg, indent=2))
            self.files[name] = path
            router.run([f"kea-{name}", "-t", str(path)], env=self.env)
            router.popen(
                [f"kea-{name}", "-c", str(path)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / f"{name}.stderr", "w"),
            )
            root = "Dhcp4" if name == "dhcp4" else "Dhcp6"
            sockets[name] = cfg[root]["control-socket"]
        ca = {
            "Control-agent": {
                "http-host": "127.0.0.1",
                "http-port": CA_PORT,
                "control-sockets": sockets,
                "loggers": [
                    {"name": "kea-ctrl-agent", "output_options": [{"output": str(tmp / "ca.log")}], "severity": "WARN"}
                ],
            }
        }
        if ca_login:
            ca["Control-agent"]["authentication"] = {
                "type": "basic",
                "realm": "kea-control-agent",
                "clients": [{"user": ca_login[0], "password": ca_login[1]}],
            }
        (tmp / "ca.json").write_text(json.dumps(ca))
        (tmp / "ca.json").chmod(0o600)
        router.popen(
            ["kea-ctrl-agent", "-c", str(tmp / "ca.json")],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "ca.stderr", "w"),
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                for name in self.files:
                    assert self.cmd("config-get", name)["result"] == 0
                break
            except Exception:  # noqa: BLE001 - any failure means "not up yet" until the deadline
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "Kea did not come up: " + "".join(p.read_text() for p in tmp.glob("*.stderr"))
                    ) from None
                time.sleep(0.1)

    def cmd(self, command: str, service: str = "dhcp4", arguments: dict | None = None, port: int = CA_PORT) -> dict:
        body = {"command": command, "service": [service]}
        if arguments is not None:
            body["arguments"] = arguments

        def call() -> dict:
            headers = {"Content-Type": "application/json"}
            if self.ca_login:
                token = base64.b64encode(":".join(self.ca_login).encode()).decode()
                headers["Authorization"] = f"Basic {token}"
            req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=json.dumps(body).encode(), headers=headers)
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())[0]

        return self.router.call(call, timeout=10)

    def pools(self, service: str = "dhcp4") -> list[str]:
        root, key = ("Dhcp4", "subnet4") if service == "dhcp4" else ("Dhcp6", "subnet6")
        cfg = self.cmd("config-get", service)["arguments"][root]
        return [norm_pool(p["pool"]) for p in cfg[key][0]["pools"]]

    def live_config(self, service: str = "dhcp4") -> dict:
        args = self.cmd("config-get", service)["arguments"]
        args.pop("hash", None)
        return args


def norm_pool(pool: str) -> str:
    """Kea answers pools as ``a-b`` or, when aligned, as a CIDR: always ``a-b`` here."""
    if "/" in pool:
        net = ipaddress.ip_network(pool)
        return f"{net.network_address}-{net.broadcast_address}"
    return pool.replace(" ", "")


# -- dnsmasq ----------------------------------------------------------------------------------------------------


class Dnsmasq:
    def __init__(self, router: Any, tmp: Path, ranges: list[str]):
        self.router, self.tmp = router, tmp
        self.conf = tmp / "dnsmasq.conf"
        self.dropdir = tmp / "dnsmasq.d"
        self.dropdir.mkdir()
        self.dropin = self.dropdir / "lan.conf"
        self.pidfile = tmp / "dnsmasq.pid"
        self.leases = tmp / "dnsmasq.leases"
        self.conf.write_text(
            "\n".join(
                [
                    "# the router's dnsmasq (test lab)",
                    "port=0",
                    "interface=eth0",
                    "bind-interfaces",
                    "user=root",
                    "no-ping",
                    "dhcp-authoritative",
                    f"pid-file={self.pidfile}",
                    f"dhcp-leasefile={self.leases}",
                    f"log-facility={tmp / 'dnsmasq.log'}",
                    f"conf-dir={self.dropdir},*.conf",
                    "dhcp-host=02:00:5e:00:53:99,198.51.100.60,nas",
                    "",
                ]
            )
        )
        self.dropin.write_text(
            "# LAN scope\n" + "".join(f"dhcp-range={r}\n" for r in ranges) + "dhcp-option=option:router,198.51.100.1\n"
        )
        self.restart = tmp / "restart-dnsmasq"
        self.restart.write_text(
            "#!/bin/sh\n"
            f"PID=$(cat {self.pidfile} 2>/dev/null)\n"
            'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null\n'
            '  i=0; while kill -0 "$PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\nfi\n'
            f"exec dnsmasq --conf-file={self.conf}\n"
        )
        self.restart.chmod(0o755)
        router.run([str(self.restart)])

    def pid(self) -> str:
        return self.pidfile.read_text().strip()

    def snapshot(self) -> tuple[bytes, bytes]:
        return self.conf.read_bytes(), self.dropin.read_bytes()

    def running(self) -> bool:
        return self.router.run(["kill", "-0", self.pid()], check=False).returncode == 0


# -- the labs ----------------------------------------------------------------------------------------------------


@contextmanager
def kea_lan() -> Iterator[tuple[Lab, Any, Any, Path]]:
    """``(lab, router, client, tmp)`` for the Kea tests."""
    require_root()
    tmp = Path(tempfile.mkdtemp(prefix="blbkea"))  # short: unix socket paths are limited to 107 bytes
    with Lab() as lab:
        router = lab.host("router", "198.51.100.1/24", "2001:db8:100::1/64")
        client = lab.host("client")
        try:
            yield lab, router, client, tmp
        finally:
            lab.close()
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def dnsmasq_lan() -> Iterator[tuple[Any, Any, Path]]:
    """``(router, client, tmp)`` for the dnsmasq tests."""
    require_root()
    tmp = Path(tempfile.mkdtemp(prefix="blbdnsmasq"))
    with Lab() as lab:
        router = lab.host("router", "198.51.100.1/24", "2001:db8:100::1/64")
        client = lab.host("client")
        try:
            yield router, client, tmp
        finally:
            lab.close()
            shutil.rmtree(tmp, ignore_errors=True)
