"""A Layer 2 world for tests and benches: node namespaces running real speakers, a client, the API emulator.

Each node namespace runs ``baremetal-lb speaker`` (one process per node, as systemd would) against the API
emulator, which the calling process serves inside every node namespace at 127.0.0.1. A kube-proxy stand-in
(a DNAT rule from the pool to a small HTTP server that names its node) makes ``curl http://VIP`` show who
answered. The client uses its kernel (ping / ip neigh / curl), as a laptop on the LAN would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.conftest import NS, Cluster, free_port, wait_for
from tests.kubeapi import write_kubeconfig
from tests.netlab import Host, Lab

ROOT = Path(__file__).resolve().parents[1]
POOL = "198.51.100.240-198.51.100.250"
KEY = "bench-and-test-membership-key-0123456789abcdef"


class Node:
    """One node's speaker. ``zero_config``: started with nothing but ``--kubeconfig``, ``--node-name`` and
    ``--namespace`` (every other setting at its default: /status on 127.0.0.1:7472, which is per namespace)."""

    def __init__(self, host: Host, tmp: Path, api_url: str, *, zero_config: bool = False) -> None:
        self.host = host
        self.name = host.name
        self.ip = host.ipv4[0]
        self.zero_config = zero_config
        self.port = 7472 if zero_config else free_port()
        self.kubeconfig = write_kubeconfig(tmp / f"kubeconfig-{self.name}", api_url)
        self.config = tmp / f"speaker-{self.name}.yaml"
        keyfile = tmp / "membership.key"
        keyfile.write_text(KEY + "\n")
        self.config.write_text(
            f"node_name: {self.name}\nnamespace: {NS}\nlog_level: debug\nmetrics_listen: 127.0.0.1:{self.port}\n"
            f"lease: {{duration: 3s, renew_deadline: 2s, retry_period: 0.3s}}\n"
            f"membership: {{key_file: {keyfile}}}\n"
            f"layer2: {{leave_grace: 5s}}\n"
        )
        self.log = tmp / f"speaker-{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Node:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        args = ["--node-name", self.name, "--namespace", NS] if self.zero_config else ["--config", str(self.config)]
        self.proc = self.host.popen(
            [sys.executable, "-m", "speaker", "speaker", *args, "--kubeconfig", str(self.kubeconfig)],
            cwd=ROOT,
            env=env,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(f"speaker {self.name} up", lambda: self.status() is not None, timeout=timeout)
        return self

    def status(self) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=2) as r:
                    return json.load(r)
            except OSError:
                return None

        return self.host.call(get)

    def metrics(self) -> str:
        """This speaker's ``/metrics`` (text format)."""

        def get() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return str(r.read().decode())

        return str(self.host.call(get))

    def announcing(self) -> list[str]:
        """Addresses this node's responder is actually answering for (not just elected to)."""
        st = self.status()
        l2 = (st or {}).get("layer2") or {}
        return [a["ip"] for a in l2.get("addresses", []) if a.get("state") == "announced"]

    def serve_backend(self) -> None:
        """The kube-proxy stand-in: VIP:80 → this node's own HTTP server, which says which node it is."""
        www = self.log.parent / f"www-{self.name}"
        www.mkdir(exist_ok=True)
        (www / "index.html").write_text(self.name)
        self.http = self.host.popen(
            [sys.executable, "-m", "http.server", "8080", "--bind", self.ip, "--directory", str(www)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.host.run(
            f"iptables -t nat -A PREROUTING -d 198.51.100.240/28 -p tcp --dport 80 "
            f"-j DNAT --to-destination {self.ip}:8080"
        )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


class L2Lab:
    def __init__(
        self, lab: Lab, kube_api: Any, cluster: Cluster, tmp: Path, nodes: int = 3, *, zero_config: bool = False
    ) -> None:
        self.lab = lab
        self.cluster = cluster
        self.client = lab.host("client", "198.51.100.100/24")
        self.nodes: dict[str, Node] = {}
        for i in range(1, nodes + 1):
            host = lab.host(f"node{i}", f"198.51.100.{10 + i}/24")
            url = kube_api.add_listener(host.listen("127.0.0.1", 0))
            self.nodes[host.name] = Node(host, tmp, url, zero_config=zero_config)
            cluster.core.create_node(
                {
                    "metadata": {"name": host.name, "labels": {"kubernetes.io/hostname": host.name}},
                    "status": {
                        "addresses": [{"type": "InternalIP", "address": f"198.51.100.{10 + i}"}],
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                }
            )
        cluster.pool("lan", [POOL])
        cluster.custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            NS,
            "l2advertisements",
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "L2Advertisement",
                "metadata": {"name": "lan"},
                "spec": {"ipAddressPools": ["lan"]},
            },
        )

    def start(self, backends: bool = True) -> None:
        for n in self.nodes.values():
            n.start()
            if backends:
                n.serve_backend()

    def announcer_of(self, ip: str) -> list[str]:
        return [n.name for n in self.nodes.values() if n.proc and n.proc.poll() is None and ip in n.announcing()]

    def curl(self, ip: str, timeout: float = 1.0) -> str | None:
        r = self.client.run(
            ["curl", "-s", "--max-time", str(timeout), f"http://{ip}/"], check=False, timeout=timeout + 5
        )
        return r.stdout.strip() if r.returncode == 0 else None

    def neigh_mac(self, ip: str) -> str | None:
        self.client.run(["ping", "-c1", "-W1", ip], check=False)
        out = self.client.run(["ip", "neigh", "show", ip], check=False).stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else None


@contextlib.contextmanager
def speakers_stopped(world: L2Lab, request: Any) -> Iterator[L2Lab]:
    """For a fixture: yield ``world``; afterwards kill every speaker and, when the test failed (``request``: the
    fixture's ``pytest.FixtureRequest``; conftest records ``rep_call``), print each speaker's log tail."""
    try:
        yield world
    finally:
        for n in world.nodes.values():
            n.kill()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            for n in world.nodes.values():
                tail = n.log.read_text(errors="replace")[-5000:] if n.log.exists() else ""  # never started: no log
                print(f"----- {n.name} -----\n{tail}")
