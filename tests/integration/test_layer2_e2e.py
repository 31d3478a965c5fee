"""The seed's main case end to end: real speakers in node namespaces, a client on the LAN.

Each node namespace runs ``baremetal-lb speaker`` (as systemd would, one process per node) against the API
emulator, which this test process serves inside every node namespace at 127.0.0.1. A kube-proxy stand-in
(a DNAT rule from the VIP to a small HTTP server that names its node) makes ``curl http://VIP`` show who
answered. The client uses its kernel (ping / ip neigh / curl), as a laptop on the LAN would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.conftest import NS, Cluster, free_port, wait_for
from tests.kubeapi import write_kubeconfig
from tests.netlab import Host, Lab

ROOT = Path(__file__).resolve().parents[2]
POOL = "198.51.100.240-198.51.100.250"
KEY = "bench-and-test-membership-key-0123456789abcdef"


class Node:
    def __init__(self, host: Host, tmp: Path, api_url: str) -> None:
        self.host = host
        self.name = host.name
        self.ip = host.ipv4[0]
        self.port = free_port()
        self.kubeconfig = write_kubeconfig(tmp / f"kubeconfig-{self.name}", api_url)
        self.config = tmp / f"speaker-{self.name}.yaml"
        keyfile = tmp / "membership.key"
        keyfile.write_text(KEY + "\n")
        self.config.write_text(
            f"node_name: {self.name}\nnamespace: {NS}\nlog_level: debug\nmetrics_listen: 127.0.0.1:{self.port}\n"
            f"lease: {{duration: 3s, renew_deadline: 2s, retry_period: 0.3s}}\n"
            f"membership: {{key_file: {keyfile}}}\n"
            f"layer2: {{leave_grace: 0.5s}}\n")
        self.log = tmp / f"speaker-{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: subprocess.Popen[bytes] | None = None

    def start(self) -> "Node":
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = self.host.popen([sys.executable, "-m", "speaker", "speaker", "--config", str(self.config),
                                     "--kubeconfig", str(self.kubeconfig)], cwd=ROOT, env=env,
                                    stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for(f"speaker {self.name} up", lambda: self.status() is not None, timeout=20)
        return self

    def status(self) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=2) as r:
                    return json.load(r)
            except OSError:
                return None
        return self.host.call(get)

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
        self.http = self.host.popen([sys.executable, "-m", "http.server", "8080", "--bind", self.ip,
                                     "--directory", str(www)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.host.run(f"iptables -t nat -A PREROUTING -d 198.51.100.240/28 -p tcp --dport 80 "
                      f"-j DNAT --to-destination {self.ip}:8080")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


class L2Lab:
    def __init__(self, lab: Lab, kube_api: Any, cluster: Cluster, tmp: Path, nodes: int = 3) -> None:
        self.lab = lab
        self.cluster = cluster
        self.client = lab.host("client", "198.51.100.100/24")
        self.nodes: dict[str, Node] = {}
        for i in range(1, nodes + 1):
            host = lab.host(f"node{i}", f"198.51.100.{10 + i}/24")
            url = kube_api.add_listener(host.listen("127.0.0.1", 0))
            self.nodes[host.name] = Node(host, tmp, url)
            cluster.core.create_node({"metadata": {"name": host.name, "labels": {"kubernetes.io/hostname": host.name}},
                                      "status": {"addresses": [{"type": "InternalIP", "address": f"198.51.100.{10 + i}"}],
                                                 "conditions": [{"type": "Ready", "status": "True"}]}})
        cluster.pool("lan", [POOL])
        cluster.custom.create_namespaced_custom_object("metallb.io", "v1beta1", NS, "l2advertisements", {
            "apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": {"name": "lan"},
            "spec": {"ipAddressPools": ["lan"]}})

    def start(self, backends: bool = True) -> None:
        for n in self.nodes.values():
            n.start()
            if backends:
                n.serve_backend()

    def announcer_of(self, ip: str) -> list[str]:
        return [n.name for n in self.nodes.values() if n.proc and n.proc.poll() is None and ip in n.announcing()]

    def curl(self, ip: str, timeout: float = 1.0) -> str | None:
        r = self.client.run(["curl", "-s", "--max-time", str(timeout), f"http://{ip}/"], check=False, timeout=timeout + 5)
        return r.stdout.strip() if r.returncode == 0 else None

    def neigh_mac(self, ip: str) -> str | None:
        self.client.run(["ping", "-c1", "-W1", ip], check=False)
        out = self.client.run(["ip", "neigh", "show", ip], check=False).stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else None


@pytest.fixture
def l2lab(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[L2Lab]:
    with Lab() as lab:
        world = L2Lab(lab, kube_api, cluster, tmp_path)
        try:
            yield world
        finally:
            for n in world.nodes.values():
                n.kill()
            rep = getattr(request.node, "rep_call", None)
            if rep is not None and rep.failed:
                for n in world.nodes.values():
                    print(f"----- {n.name} -----\n{n.log.read_text(errors='replace')[-5000:] if n.log.exists() else ''}")


def _vip(l2lab: L2Lab, name: str = "traefik", **kw: Any) -> str:
    l2lab.cluster.service(name, ports=[("TCP", 80)], **kw)
    ip = l2lab.cluster.wait_ips(name)[0]
    wait_for(f"{ip} to be announced by one node", lambda: len(l2lab.announcer_of(ip)) == 1, timeout=15)
    return ip


def test_client_reaches_the_vip_through_the_announcing_node(l2lab: L2Lab):
    l2lab.start()
    ip = _vip(l2lab)
    assert ip == "198.51.100.240"
    [owner] = l2lab.announcer_of(ip)
    assert l2lab.neigh_mac(ip) == l2lab.nodes[owner].host.mac
    assert wait_for("curl through the VIP", lambda: l2lab.curl(ip)) == owner
    ev = l2lab.cluster.wait_event("traefik", "nodeAssigned")
    assert owner in ev["message"]


def test_node_link_down_moves_the_vip(l2lab: L2Lab):
    l2lab.start()
    ip = _vip(l2lab)
    [owner] = l2lab.announcer_of(ip)
    assert wait_for("curl", lambda: l2lab.curl(ip)) == owner
    l2lab.nodes[owner].host.link_down()
    t0 = time.monotonic()
    new = wait_for("another node to answer", lambda: (who := l2lab.curl(ip, 0.3)) and who != owner and who, 10,
                   interval=0.02)
    took = time.monotonic() - t0
    print(f"link down → answered by {new} after {took:.2f}s")
    assert l2lab.neigh_mac(ip) == l2lab.nodes[new].host.mac
    l2lab.nodes[owner].host.link_up()
    wait_for("a single announcer after the node is back",
             lambda: len(l2lab.announcer_of(ip)) == 1, timeout=10)


def test_speaker_killed_vip_moves(l2lab: L2Lab):
    l2lab.start()
    ip = _vip(l2lab)
    [owner] = l2lab.announcer_of(ip)
    l2lab.nodes[owner].kill()
    new = wait_for("another node to answer", lambda: (who := l2lab.curl(ip, 0.3)) and who != owner and who, 10,
                   interval=0.02)
    assert new in l2lab.nodes and new != owner


def test_sigterm_hands_over_without_losing_a_request(l2lab: L2Lab):
    l2lab.start()
    ip = _vip(l2lab)
    [owner] = l2lab.announcer_of(ip)
    # A steady client: one request every 20 ms for 3 s, each with a 1 s budget (a TCP SYN retry would fail it).
    script = (f"import urllib.request,time\nok=bad=0\nend=time.time()+3\n"
              f"while time.time()<end:\n"
              f"  try:\n    urllib.request.urlopen('http://{ip}/',timeout=1).read(); ok+=1\n"
              f"  except Exception: bad+=1\n"
              f"  time.sleep(0.02)\nprint(ok,bad)\n")
    client = l2lab.client.popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert l2lab.nodes[owner].terminate() == 0
    out, _ = client.communicate(timeout=20)
    ok, bad = map(int, out.split())
    print(f"planned stop of {owner}: {ok} requests answered, {bad} lost")
    assert ok > 50 and bad == 0
    assert len(l2lab.announcer_of(ip)) == 1


def test_partition_then_heal_leaves_one_announcer(l2lab: L2Lab):
    l2lab.start(backends=False)
    ip = _vip(l2lab)
    [owner] = l2lab.announcer_of(ip)
    # Drop heartbeats to and from the owner: the others think it is dead and one of them takes over.
    node = l2lab.nodes[owner].host
    node.run("nft add table inet part")
    node.run("nft add chain inet part in { type filter hook input priority 0 ; }")
    node.run("nft add chain inet part out { type filter hook output priority 0 ; }")
    node.run("nft add rule inet part in udp dport 7947 drop")
    node.run("nft add rule inet part out udp dport 7947 drop")
    wait_for("two announcers during the partition", lambda: len(l2lab.announcer_of(ip)) == 2, timeout=10)
    node.run("nft delete table inet part")
    t0 = time.monotonic()
    wait_for("one announcer after healing", lambda: len(l2lab.announcer_of(ip)) == 1, timeout=10, interval=0.05)
    print(f"partition healed → single announcer after {time.monotonic() - t0:.2f}s")


def test_local_traffic_policy_follows_the_endpoint(l2lab: L2Lab):
    l2lab.start(backends=False)
    core = l2lab.cluster.core

    def endpoint_on(node: str) -> None:
        body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
                "endpoints": [{"addresses": ["10.244.0.5"], "nodeName": node, "conditions": {"ready": True}}],
                "ports": [{"port": 80, "protocol": "TCP"}]}
        from kubernetes import client
        api = client.DiscoveryV1Api(core.api_client)
        try:
            api.delete_namespaced_endpoint_slice("web-1", "default")
        except client.exceptions.ApiException:
            pass
        api.create_namespaced_endpoint_slice("default", body)

    endpoint_on("node2")
    l2lab.cluster.service("web", externalTrafficPolicy="Local")
    ip = l2lab.cluster.wait_ips("web")[0]
    wait_for("node2 to announce", lambda: l2lab.announcer_of(ip) == ["node2"], timeout=15)
    endpoint_on("node3")
    wait_for("the VIP to follow the endpoint to node3", lambda: l2lab.announcer_of(ip) == ["node3"], timeout=15)
    assert l2lab.neigh_mac(ip) == l2lab.nodes["node3"].host.mac


def test_address_already_used_on_the_lan_is_not_announced(l2lab: L2Lab):
    l2lab.client.add_address("198.51.100.240/24")  # a host that already uses the pool's first address
    l2lab.start(backends=False)
    l2lab.cluster.service("victim")
    assert l2lab.cluster.wait_ips("victim") == ["198.51.100.240"]
    ev = l2lab.cluster.wait_event("victim", "AddressConflict")
    assert l2lab.client.mac in ev["message"] and ev["type"] == "Warning"
    assert l2lab.announcer_of("198.51.100.240") == []
