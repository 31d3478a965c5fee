"""A LAN made of network namespaces, for tests that need real packets (ARP/NDP, BGP, DHCP).

Network safety (LAB-NOTES): everything lives in namespaces this module creates, with a per-run prefix;
the root namespace is never given an address or a route; only documentation prefixes are used; ``close()``
(also on failure, via the context manager) kills what runs inside and deletes every namespace.

Topology: one "switch" namespace holding a bridge; each host is a namespace with ``eth0`` whose peer is a
bridge port in the switch. ``Host.link_down()`` takes the switch-side port down: the cable is pulled, and the
host sees carrier loss, just like a dead node.

Reaching a namespace from the test process: ``Host.call(fn)`` runs ``fn`` on a fresh thread that has
entered the host's namespace (``setns`` affects only the calling thread), and ``Host.listen(...)`` opens a
listening socket inside the namespace that any thread of this process can then serve — this is how the API
emulator becomes reachable at ``127.0.0.1`` inside node namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shlex
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def run_in_netns(ns: str, fn: Callable[[], T], timeout: float | None = 60) -> T:
    """Run ``fn()`` on a new thread inside namespace ``ns``; return its result or raise its exception."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target, name=f"netns-{ns}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"call in namespace {ns} did not finish within {timeout}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def sh(
    cmd: str | Sequence[str], *, check: bool = True, timeout: float = 30, **kw: Any
) -> subprocess.CompletedProcess[str]:
    args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout, **kw)


class Host:
    """One namespace on the LAN, with ``eth0`` plugged into the lab's bridge."""

    def __init__(self, lab: Lab, name: str, ns: str, port: str, mac: str) -> None:
        self.lab = lab
        self.name = name
        self.ns = ns
        self.port = port  # the bridge-side end of the cable, in the switch namespace
        self.ifname = "eth0"
        self.mac = mac
        self.ipv4: list[str] = []
        self.ipv6: list[str] = []

    def run(self, cmd: str | Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command inside this namespace (``ip netns exec``); raises on failure unless ``check=False``."""
        args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        return sh(["ip", "netns", "exec", self.ns, *args], **kw)

    def popen(self, cmd: str | Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start a long-running process inside this namespace; ``Lab.close`` kills whatever is left."""
        args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *args], **kw)

    def call(self, fn: Callable[[], T], timeout: float | None = 60) -> T:
        return run_in_netns(self.ns, fn, timeout)

    def listen(self, address: str = "127.0.0.1", port: int = 0, family: int = socket.AF_INET) -> socket.socket:
        """A listening TCP socket bound inside this namespace (usable from any thread afterwards)."""

        def make() -> socket.socket:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            s.listen(128)
            return s

        return self.call(make)

    def add_address(self, cidr: str) -> None:
        if ":" in cidr:
            self.run(f"ip -6 addr add {cidr} dev {self.ifname} nodad")
            self.ipv6.append(cidr.split("/")[0])
        else:
            self.run(f"ip addr add {cidr} dev {self.ifname}")
            self.ipv4.append(cidr.split("/")[0])

    def link_down(self) -> None:
        """Pull the cable: the switch port goes down, the host sees no carrier."""
        self.lab.switch(f"ip link set {self.port} down")

    def link_up(self) -> None:
        self.lab.switch(f"ip link set {self.port} up")

    def __repr__(self) -> str:
        return f"Host({self.name}, ns={self.ns}, mac={self.mac}, ipv4={self.ipv4}, ipv6={self.ipv6})"


class Lab:
    """Namespaces + a bridge; use as a context manager so teardown always runs."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or secrets.token_hex(3)
        self.prefix = f"blb{self.tag}"
        self.switch_ns = f"{self.prefix}-sw"
        self.hosts: dict[str, Host] = {}
        self._closed = False
        self._count = 0
        sh(f"ip netns add {self.switch_ns}")
        try:
            self.switch("ip link set lo up")
            self.switch("ip link add br0 type bridge")
            # No multicast snooping: NDP's solicited-node multicast must reach every port without an MLD querier.
            self.switch("ip link set br0 type bridge mcast_snooping 0 forward_delay 0 stp_state 0")
            self.switch("ip link set br0 up")
        except Exception:
            self.close()
            raise

    def switch(self, cmd: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return sh(["ip", "netns", "exec", self.switch_ns, *shlex.split(cmd)], **kw)

    def host(self, name: str, *addresses: str, mac: str | None = None) -> Host:
        """Add a host namespace with ``eth0`` on the bridge and the given addresses (``198.51.100.10/24``…)."""
        self._count += 1
        ns = f"{self.prefix}-{name}"
        port = f"{self.prefix[:9]}p{self._count}"  # interface names are at most 15 characters
        tag = f"{int(self.tag[0:2], 16):02x}:{int(self.tag[2:4], 16):02x}:{int(self.tag[4:6], 16):02x}"
        mac = mac or f"02:{tag}:{self._count >> 8:02x}:{self._count & 0xFF:02x}"
        sh(f"ip netns add {ns}")
        host = Host(self, name, ns, port, mac)
        self.hosts[name] = host
        sh(f"ip link add {port} type veth peer name eth0 netns {ns}")
        sh(f"ip link set {port} netns {self.switch_ns}")
        self.switch(f"ip link set {port} master br0")
        self.switch(f"ip link set {port} up")
        host.run("ip link set lo up")
        host.run(f"ip link set eth0 address {mac}")
        host.run("sysctl -qw net.ipv6.conf.eth0.accept_dad=0")
        host.run("ip link set eth0 up")
        for cidr in addresses:
            host.add_address(cidr)
        return host

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for ns in [h.ns for h in self.hosts.values()] + [self.switch_ns]:
            pids = sh(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
        for ns in [h.ns for h in self.hosts.values()] + [self.switch_ns]:
            sh(["ip", "netns", "del", ns], check=False)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def leftover_namespaces(prefix: str = "blb") -> list[str]:
    """Namespaces from earlier runs (for a session-level safety net)."""
    out = sh("ip netns list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def require_root() -> None:
    if os.geteuid() != 0 or not Path("/run").exists():
        raise RuntimeError("network namespace tests need root (CI runs as root)")


def require_binaries(*names: str) -> None:
    """Fail (never skip) when a program a test needs is missing: CI installs everything, so a missing program is
    a missing install step in scripts/install-deps, and a skipped test would read as green."""
    import shutil

    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise RuntimeError(f"not installed: {', '.join(missing)} (scripts/install-deps installs every test's programs)")
