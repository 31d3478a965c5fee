"""The one-machine lab: the seed's network in namespaces, a real Kea as the router, systemd containers as nodes.

    lab/run demo      [--router kea|dnsmasq] [--json FILE] [--keep-logs DIR]
    lab/run failover  [--router kea|dnsmasq] [--json FILE] [--keep-logs DIR]

What it builds (everything in namespaces with a per-run prefix ``blb<hex>``; the root namespace gets no address
or route; only the documentation prefix 198.51.100.0/24, standing in for the seed's 10.1.1.0/24):

* a LAN (``tests/netlab.py``: a bridge in a "switch" namespace);
* ``router`` (198.51.100.1): real ``kea-dhcp4`` + ``kea-ctrl-agent`` (memfile, temp dir), DHCP scope .100-.250;
  or, with ``--router dnsmasq``, a real ``dnsmasq`` with the same scope in a drop-in (``dhcp-range``);
* the Kubernetes API emulator (``tests/kubeapi``, started as ``molecule/resources/cluster.py`` starts it: RBAC
  enforced, the service-account token controller), served by this process: at a loopback port of the root
  namespace for the control node, and at 127.0.0.1:6443 inside every node namespace;
* ``node1..node3`` (198.51.100.11-13): systemd containers (``scripts/build-test-image``, podman + runc, storage in
  a temp dir) joined to their node namespace, so the speaker inside answers ARP on that namespace's eth0;
* ``client``: gets its address from Kea by DHCP (busybox udhcpc), then ``curl http://198.51.100.240``.

Then ``playbooks/site.yml`` (router -> pools -> speakers) runs twice with an inventory written like a user's,
a LoadBalancer Service ``traefik`` is created (backend: a tiny HTTP server on each node naming it, plus a DNAT rule
VIP:80 -> node:8080 as the kube-proxy stand-in) and the lab prints what a person wants to see. ``failover`` then
``podman kill``s the announcing node and times how long until the VIP answers from another node. Teardown
(always, also on failure or Ctrl-C) removes the containers, the podman storage, the namespaces and the temp dir.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from kubernetes import client  # noqa: E402

from tests.collection import PYTHON, VENV_BIN, ansible_env, netns_inventory  # noqa: E402
from tests.kubeapi import api_client, write_kubeconfig  # noqa: E402
from tests.netlab import Lab, leftover_namespaces, require_root  # noqa: E402

NS = "metallb-system"
LAN = "198.51.100.0/24"
ROUTER_IP = "198.51.100.1"
DHCP_SCOPE = "198.51.100.100 - 198.51.100.250"
POOL = "198.51.100.240-198.51.100.250"
NODE_API_PORT = 6443
BACKEND_PORT = 8080
NODES = ("node1", "node2", "node3")
CONTAINERS_CONF = ROOT / "molecule" / "resources" / "containers.conf"
IMAGE_CACHE = "${BLB_IMAGE_CACHE:-~/.cache/baremetal-lb/images}"
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    echo "LEASE $ip" ;;
esac
exit 0
"""


def _load_cluster_module() -> Any:
    """molecule/resources/cluster.py: how Molecule starts the emulator (CRDs, metallb-system, admin token + RBAC)."""
    spec = importlib.util.spec_from_file_location("blb_cluster", ROOT / "molecule" / "resources" / "cluster.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def say(text: str = "") -> None:
    print(text, flush=True)


def section(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 100 - len(title)))


def wait_for(what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class LabError(RuntimeError):
    pass


class KeaRouter:
    """The router's DHCP server: Kea with its Control Agent (tests/integration/dhcpservers.py)."""

    name = "kea"

    def __init__(self, lab: Lab, host: Any, tmp: Path) -> None:
        from tests.integration.dhcpservers import CA_PORT, Kea, kea4_config
        self.api_url = f"http://127.0.0.1:{CA_PORT}/"
        self.kea = Kea(lab, host, tmp, kea4_config(tmp, [DHCP_SCOPE]))
        self.what = f"kea-dhcp4 + kea-ctrl-agent ({self.api_url} inside the namespace)"
        self.how = "Kea DHCP pools (config-get)"

    def ranges(self) -> list[str]:
        return self.kea.pools()

    def host_vars(self) -> dict[str, Any]:
        return {"baremetal_lb_router_backend": "kea", "baremetal_lb_router_api_url": self.api_url}


class DnsmasqRouter:
    """The alternative: dnsmasq with the scope in a drop-in, restarted by a script (no systemd in the namespace)."""

    name = "dnsmasq"

    def __init__(self, lab: Lab, host: Any, tmp: Path) -> None:
        from tests.integration.dhcpservers import Dnsmasq
        first, last = (a.strip() for a in DHCP_SCOPE.split("-"))
        self.dnsmasq = Dnsmasq(host, tmp, [f"{first},{last},255.255.255.0,10m"])
        self.what = f"dnsmasq ({self.dnsmasq.dropin})"
        self.how = "dnsmasq dhcp-range lines"

    def ranges(self) -> list[str]:
        lines = self.dnsmasq.dropin.read_text().splitlines()
        return ["-".join(ln.split("=", 1)[1].split(",")[:2]) for ln in lines if ln.startswith("dhcp-range=")]

    def host_vars(self) -> dict[str, Any]:
        return {"baremetal_lb_router_backend": "dnsmasq",
                "baremetal_lb_router_options": {"conf_file": str(self.dnsmasq.conf),
                                                "restart_command": [str(self.dnsmasq.restart)]}}


ROUTERS = {"kea": KeaRouter, "dnsmasq": DnsmasqRouter}


class TheLab:
    def __init__(self, keep_logs: Path | None = None, router: str = "kea") -> None:
        self.keep_logs = keep_logs
        self.router_kind = router
        self.tmp = Path(tempfile.mkdtemp(prefix="blblab"))  # short: Kea's unix socket paths are limited
        self.results: dict[str, Any] = {"timings": {}, "tmp": str(self.tmp), "router_backend": router}
        self.lab: Lab | None = None
        self.api: Any = None
        self.containers: list[str] = []
        storage = self.tmp / "storage.conf"
        storage.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{self.tmp}/graph"\n'
                           f'runroot = "{self.tmp}/run"\n')
        # molecule/resources/containers.conf (runc, limits, no network) plus a libpod tmp dir of this run's own:
        # nothing podman keeps for the lab is shared with another podman user (a Molecule run, another lab).
        conf = self.tmp / "containers.conf"
        conf.write_text(CONTAINERS_CONF.read_text() + f'tmp_dir = "{self.tmp}/libpod"\n'
                        f'\n[network]\nnetwork_config_dir = "{self.tmp}/net"\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}

    # ---------------------------------------------------------------------------------------------- helpers
    def podman(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise LabError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def timed(self, key: str, t0: float) -> float:
        dt = round(time.monotonic() - t0, 2)
        self.results["timings"][key] = dt
        return dt

    # ---------------------------------------------------------------------------------------------- build
    def build(self) -> None:
        t_all = time.monotonic()
        section("Building the lab")
        t0 = time.monotonic()
        proc = subprocess.run([str(ROOT / "scripts" / "build-test-image")], env=self.env, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise LabError(f"scripts/build-test-image failed: {proc.stderr.strip()}")
        self.image = proc.stdout.strip().splitlines()[-1]
        say(f"node image      {self.image}  ({self.timed('image', t0)} s; rootfs cached in {IMAGE_CACHE})")

        t0 = time.monotonic()
        out = subprocess.run([PYTHON, str(ROOT / "molecule" / "resources" / "wheels.py"), str(self.tmp / "wheels")],
                             capture_output=True, text=True, timeout=600, check=True).stdout
        self.wheels = json.loads(out.strip().splitlines()[-1])
        say(f"speaker wheel   {Path(self.wheels['wheel']).name} + wheelhouse {self.wheels['wheelhouse']} "
            f"({self.timed('wheels', t0)} s)")

        self.lab = lab = Lab()
        self.results["prefix"] = lab.prefix
        self.router = lab.host("router", f"{ROUTER_IP}/24")
        self.client = lab.host("client")
        self.nodes = {name: lab.host(name, f"198.51.100.{11 + i}/24") for i, name in enumerate(NODES)}
        say(f"LAN             {LAN} on bridge br0 in namespace {lab.switch_ns}")

        self.dhcp = ROUTERS[self.router_kind](lab, self.router, self.tmp)
        say(
            f"router          {self.router.ns}: {ROUTER_IP}, {self.dhcp.what}, DHCP scope {DHCP_SCOPE.replace(' ', '')}"
        )

        self._start_api()
        self._start_nodes()
        self.timed("build", t_all)

    def _start_api(self) -> None:
        cluster = self.cluster_mod = _load_cluster_module()
        # root namespace loopback: the control node's view; the admin token, else RBAC from the stored objects
        self.api = cluster.start(0, "127.0.0.1", enforce_rbac=True)
        self.admin_kubeconfig = write_kubeconfig(self.tmp / "admin-kubeconfig", self.api.url,
                                                 token=cluster.ADMIN_TOKEN)
        self.k8s = api_client(self.api.url, token=cluster.ADMIN_TOKEN)
        self.core = client.CoreV1Api(self.k8s)
        self.custom = client.CustomObjectsApi(self.k8s)
        for _i, (name, host) in enumerate(self.nodes.items()):
            self.api.add_listener(host.listen("127.0.0.1", NODE_API_PORT))
            self.core.create_node({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                                   "status": {"addresses": [{"type": "InternalIP", "address": host.ipv4[0]},
                                                            {"type": "Hostname", "address": name}],
                                              "conditions": [{"type": "Ready", "status": "True"}]}})
        say(f"API emulator    {self.api.url} (control node); http://127.0.0.1:{NODE_API_PORT} in every node "
            f"namespace; RBAC enforced; Nodes {', '.join(self.nodes)} Ready")

    def _start_nodes(self) -> None:
        for name, host in self.nodes.items():
            cname = f"{self.lab.prefix}-{name}"
            self.podman("run", "-d", "--name", cname, "--hostname", name, "--network", f"ns:/run/netns/{host.ns}",
                        "--systemd=always", "--pull=never", "--cap-add", "SYS_ADMIN,NET_ADMIN,NET_RAW,NET_BIND_SERVICE",
                        "--ulimit", "nofile=16384:16384", "--ulimit", "nproc=16384:16384",
                        "--label", f"baremetal-lb-lab={self.lab.prefix}", self.image, "/sbin/init")
            self.containers.append(cname)
        for cname in self.containers:
            state = self.podman("exec", cname, "systemctl", "is-system-running", "--wait", check=False,
                                timeout=60).stdout.strip()
            if state not in ("running", "degraded"):
                raise LabError(f"systemd in {cname} is {state!r}")
        for name, host in self.nodes.items():
            say(f"{name:<15} container {self.lab.prefix}-{name} (systemd) on {host.ns}: {host.ipv4[0]}")

    def _client_dhcp(self, label: str) -> str:
        script = self.tmp / "udhcpc.script"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        proc = self.client.run(["udhcpc", "-n", "-q", "-f", "-i", "eth0", "-s", str(script), "-t", "3", "-T", "1",
                                "-A", "1", "-x", "0x3d:01" + self.client.mac.replace(":", "")], check=False, timeout=20)
        leases = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("LEASE ")]
        if not leases:
            raise LabError(f"the client got no DHCP lease from {self.dhcp.name}: {proc.stdout} {proc.stderr}")
        self.client_ip = leases[0]
        say(f"{label:<15} {self.client.ns}: {self.client_ip} by DHCP from {self.dhcp.name}")
        return self.client_ip

    # ---------------------------------------------------------------------------------------------- ansible
    def write_inventory(self) -> Path:
        inv = self.tmp / "inventory"
        (inv / "group_vars").mkdir(parents=True)
        (inv / "host_vars").mkdir()
        router_host = netns_inventory(self.router.ns, self.tmp)["all"]["hosts"]["router"]
        hosts = {"all": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}},
            "children": {
                "routers": {"hosts": {"router": router_host}},
                "k8s_nodes": {"hosts": {name: {"ansible_host": f"{self.lab.prefix}-{name}"} for name in self.nodes}},
            }}}
        (inv / "hosts.yml").write_text(
            "# The lab's network, written as a user would write theirs (compare inventory/example/).\n"
            + yaml.safe_dump(hosts, sort_keys=False))
        (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump({
            "baremetal_lb_namespace": NS,
            "baremetal_lb_pools": [{"name": "lan", "addresses": [POOL], "mode": "layer2", "router": {}}],
            "baremetal_lb_kubeconfig": str(self.admin_kubeconfig),
        }, sort_keys=False))
        (inv / "host_vars" / "router.yml").write_text(yaml.safe_dump(self.dhcp.host_vars(), sort_keys=False))
        self.membership_key = secrets.token_hex(32)
        (inv / "group_vars" / "k8s_nodes.yml").write_text(yaml.safe_dump({
            # the nodes are podman containers here; with real machines this is ssh and ansible_host an address
            "ansible_connection": "containers.podman.podman",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_become": False,  # podman exec is root already, and the node image has no sudo
            "ansible_remote_tmp": "/root/.ansible/tmp",  # /tmp is a tmpfs in a systemd container
            "baremetal_lb_speaker_package": self.wheels["wheel"],
            "baremetal_lb_speaker_wheelhouse": self.wheels["wheelhouse"],
            # the nodes reach the API at another address than the control node's kubeconfig names
            "baremetal_lb_speaker_api_server": f"http://127.0.0.1:{NODE_API_PORT}",
            "baremetal_lb_speaker_lease_duration": "3s",
            "baremetal_lb_speaker_lease_renew_deadline": "2s",
            "baremetal_lb_speaker_lease_retry_period": "500ms",
            # in a real inventory: from a vault (it authenticates the speakers' heartbeats)
            "baremetal_lb_speaker_membership_key": self.membership_key,
        }, sort_keys=False))
        self.inventory = inv
        return inv

    def ansible_playbook(self, playbook: Path, label: str, timeout: float = 300) -> dict[str, Any]:
        env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "true",
                           "ANSIBLE_PIPELINING": "true", "ANSIBLE_FORKS": "10",
                           "CONTAINERS_CONF": self.env["CONTAINERS_CONF"],
                           "CONTAINERS_STORAGE_CONF": self.env["CONTAINERS_STORAGE_CONF"]})
        log = self.tmp / f"ansible-{label}.log"
        t0 = time.monotonic()
        with open(log, "w") as fh:
            proc = subprocess.Popen([str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook)],
                                    env=env, cwd=self.tmp, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                proc.wait(timeout)
            except BaseException:  # a timeout, Ctrl-C or SIGTERM: stop Ansible and its workers (its own group)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        seconds = round(time.monotonic() - t0, 1)
        text = log.read_text()
        recap: dict[str, dict[str, int]] = {}
        lines = text.splitlines()
        if "PLAY RECAP" in text:
            for line in lines[[i for i, ln in enumerate(lines) if ln.startswith("PLAY RECAP")][-1] + 1:]:
                m = re.match(r"^(\S+)\s+:\s+(.*)$", line)
                if m:
                    recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        if proc.returncode != 0:
            raise LabError(f"ansible-playbook {playbook.name} ({label}) failed, rc {proc.returncode}:\n"
                           + "\n".join(lines[-60:]))
        return {"seconds": seconds, "recap": recap, "changed": sum(r.get("changed", 0) for r in recap.values()),
                "recap_lines": [ln for ln in lines if re.match(r"^\S+\s+:\s+ok=", ln)]}

    def site(self) -> None:
        section("Inventory (like a user's) and playbooks/site.yml")
        inv = self.write_inventory()
        say(f"inventory       {inv}/hosts.yml, group_vars/all.yml (the pool), host_vars/router.yml ({self.dhcp.name}), "
            f"group_vars/k8s_nodes.yml")
        self.ranges_before = self.dhcp.ranges()
        for run in ("first", "second"):
            res = self.ansible_playbook(ROOT / "playbooks" / "site.yml", f"site-{run}")
            self.results[f"site_{run}"] = {k: res[k] for k in ("seconds", "changed", "recap")}
            self.results["timings"][f"site_{run}"] = res["seconds"]
            say(f"site.yml {run} run: {res['seconds']} s, changed={res['changed']}")
            for line in res["recap_lines"]:
                say(f"    {line.strip()}")
        self.ranges_after = self.dhcp.ranges()
        # Only now: a client that asked before could hold a lease in the band (dnsmasq picks a start address from
        # a hash of the client's MAC), and the router role would rightly refuse to reserve over it.
        self._client_dhcp("client")

    # ---------------------------------------------------------------------------------------------- the Service
    def service(self) -> None:
        for name, host in self.nodes.items():
            cname = f"{self.lab.prefix}-{name}"
            self.podman("exec", cname, "sh", "-c", f"mkdir -p /srv/www && echo {name} > /srv/www/index.html")
            self.podman("exec", cname, "systemd-run", "--unit", "lab-backend", "--property", "Restart=always",
                        "python3", "-m", "http.server", str(BACKEND_PORT), "--bind", host.ipv4[0],
                        "--directory", "/srv/www")
            host.run(f"iptables -t nat -A PREROUTING -d {POOL.split('-')[0]}/28 -p tcp --dport 80 "
                     f"-j DNAT --to-destination {host.ipv4[0]}:{BACKEND_PORT}")
        self.core.create_namespaced_service("default", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "traefik", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "traefik"},
                     "ports": [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": BACKEND_PORT}]}})
        t0 = time.monotonic()

        def vip() -> str | None:
            svc = self.core.read_namespaced_service("traefik", "default")
            ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
            return ingress[0].ip if ingress else None
        self.vip = wait_for("the Service traefik to get an address", vip, timeout=30)
        self.announcer = wait_for(f"one node announcing {self.vip}",
                                  lambda: (lambda a: a[0] if len(a) == 1 else None)(self.announcers(self.vip)),
                                  timeout=30)
        self.results["timings"]["service_announced"] = round(time.monotonic() - t0, 2)

    def speaker_status(self, name: str) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:7472/status", timeout=1) as r:
                    return json.load(r)
            except OSError:
                return None
        return self.nodes[name].call(get, timeout=5)

    def announcers(self, ip: str) -> list[str]:
        found = []
        for name in self.nodes:
            if self.containers and f"{self.lab.prefix}-{name}" in getattr(self, "killed", set()):
                continue
            st = self.speaker_status(name) or {}
            l2 = st.get("layer2") or {}
            if any(a.get("ip") == ip and a.get("state") == "announced" for a in l2.get("addresses", [])):
                found.append(name)
        return found

    def curl(self, timeout: float = 1.0) -> str | None:
        r = self.client.run(["curl", "-s", "--max-time", str(timeout), f"http://{self.vip}/"], check=False,
                            timeout=timeout + 5)
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None

    def show(self) -> None:
        section("What you would check")
        say(f"router: {self.dhcp.how:<30} before: {', '.join(self.ranges_before)}")
        say(f"        {'':<30} after:  {', '.join(self.ranges_after)}   -> {POOL} is never leased")
        pool = self.custom.get_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", "lan")
        l2ads = self.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, "l2advertisements")["items"]
        say(f"cluster: IPAddressPool {NS}/lan  addresses={pool['spec']['addresses']}  "
            f"status={json.dumps(pool.get('status', {}), sort_keys=True)}")
        say(f"         L2Advertisement(s): {', '.join(a['metadata']['name'] for a in l2ads)}")
        svc = self.core.read_namespaced_service("traefik", "default")
        say(f"Service default/traefik  type=LoadBalancer  EXTERNAL-IP={self.vip}  "
            f"(pool: {(svc.metadata.annotations or {}).get('metallb.io/ip-allocated-from-pool')})")
        st = self.speaker_status(self.announcer) or {}
        l2 = next((a for a in (st.get("layer2") or {}).get("addresses", []) if a.get("ip") == self.vip), {})
        say(f"announcing node: {self.announcer} ({self.nodes[self.announcer].ipv4[0]}, "
            f"MAC {self.nodes[self.announcer].mac})  speaker /status: {json.dumps(l2, sort_keys=True)}")
        l2s = self.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, "servicel2statuses")["items"]
        for obj in l2s:
            say(f"ServiceL2Status {obj['metadata']['name']}: {json.dumps(obj.get('status', {}), sort_keys=True)}")
        for name in self.nodes:
            unit = self.podman("exec", f"{self.lab.prefix}-{name}", "systemctl", "is-active",
                               "baremetal-lb-speaker.service", check=False).stdout.strip()
            say(f"  {name}: baremetal-lb-speaker.service {unit}")
        self.answer = wait_for(f"curl http://{self.vip}/ from the client", self.curl, timeout=20, interval=0.2)
        say(f"client$ curl http://{self.vip}/")
        say(f"  {self.answer}")
        self.results.update({
            "vip": self.vip, "announcer": self.announcer, "answer": self.answer, "client_ip": self.client_ip,
            "dhcp_ranges_before": self.ranges_before, "dhcp_ranges_after": self.ranges_after,
            "pool": {"spec": pool["spec"], "status": pool.get("status")},
            "client_ip_outside_pool": not (ipaddress.ip_address(POOL.split("-")[0]) <= ipaddress.ip_address(
                self.client_ip) <= ipaddress.ip_address(POOL.split("-")[1])),
        })

    def failover(self) -> None:
        section("Failover: the announcing node dies")
        victim = self.announcer
        cname = f"{self.lab.prefix}-{victim}"
        self.killed = {cname}
        say(f"podman kill {cname}   ({victim} announces {self.vip})")
        t0 = time.monotonic()
        self.podman("kill", cname)
        answers: list[tuple[float, str | None]] = []

        def other() -> str | None:
            got = self.curl(timeout=0.5)
            answers.append((round(time.monotonic() - t0, 2), got))
            return got if got and got != victim else None
        new = wait_for(f"{self.vip} to answer from another node", other, timeout=30, interval=0.05)
        took = self.timed("failover", t0)
        new_announcer = wait_for("the new announcer in /status",
                                 lambda: (lambda a: a[0] if len(a) == 1 else None)(self.announcers(self.vip)),
                                 timeout=10)
        say(f"client$ curl http://{self.vip}/   -> {new}   ({took} s after the kill; "
            f"{len(answers)} tries, each --max-time 0.5)")
        say(f"announcing node now: {new_announcer}; Kubernetes still has Node {victim} Ready — the speakers' "
            f"heartbeats noticed, not the kubelet")
        self.results["failover"] = {"killed": victim, "answer": new, "announcer": new_announcer, "seconds": took}

    def _own_processes(self) -> list[int]:
        """Processes (other than this one) whose command line names this run's temp dir: conmon, podman."""
        mine = str(self.tmp).encode()
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if mine in cmdline.read_bytes() and int(cmdline.parent.name) != os.getpid():
                    pids.append(int(cmdline.parent.name))
            except (OSError, ValueError):
                continue
        return pids

    def _wait_own_processes(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self._own_processes() and time.monotonic() < deadline:
            time.sleep(0.2)

    def _own_mounts(self) -> list[str]:
        with open("/proc/self/mounts") as fh:
            points = [line.split()[1] for line in fh]
        return [p for p in points if p == str(self.tmp) or p.startswith(str(self.tmp) + "/")]

    def _unmount_own(self) -> None:
        for point in sorted(set(self._own_mounts()), key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)

    # ---------------------------------------------------------------------------------------------- teardown
    def teardown(self) -> None:
        section("Teardown")
        errors = []
        if self.keep_logs:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            for f in list(self.tmp.glob("*.log")) + list(self.tmp.glob("*.stderr")):
                shutil.copy2(f, self.keep_logs / f.name)
            for c in self.containers:
                j = self.podman("exec", c, "journalctl", "-u", "baremetal-lb-speaker", "--no-pager", check=False)
                (self.keep_logs / f"speaker-{c}.log").write_text(j.stdout + j.stderr)
        t0 = time.monotonic()
        for c in self.containers:
            self.podman("rm", "-f", "-t", "0", c, check=False)
        containers_left = self.podman("ps", "-a", "-q", "--filter", f"label=baremetal-lb-lab={self.lab.prefix}",
                                      check=False).stdout.split() if self.lab else []
        if self.api is not None:
            try:
                self.api.stop()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"API emulator stop: {exc!r}")
        prefix = self.lab.prefix if self.lab else None
        if self.lab is not None:
            self.lab.close()  # kills what runs in the namespaces (Kea, the client), deletes them
        # conmon runs `podman container cleanup` after a container dies, asynchronously: wait for every podman
        # process of this run to end, or one would re-create (and mount) the storage after it is removed.
        self._wait_own_processes()
        self.podman("system", "reset", "-f", check=False, timeout=120)
        self._wait_own_processes()
        for _ in range(3):
            self._unmount_own()
            shutil.rmtree(self.tmp, ignore_errors=True)
            time.sleep(0.5)
            if not self.tmp.exists() and not self._own_processes():
                break
            self._wait_own_processes()
        self.timed("teardown", t0)
        left = {"namespaces": leftover_namespaces(prefix) if prefix else [],
                "tmp_exists": self.tmp.exists(),
                "processes": self._own_processes(),
                "mounts": self._own_mounts(),
                "containers": containers_left}
        self.results["leftovers"] = left
        self.results["nothing_left"] = not (any(left.values()) or errors)
        say(f"containers removed, podman storage reset, namespaces {prefix}-* deleted, {self.tmp} removed: "
            + ("nothing left behind" if self.results["nothing_left"] else f"LEFT BEHIND: {left} {errors}"))
        say(f"(kept for fast reruns: the node rootfs in {IMAGE_CACHE}, wheels in ~/.cache/baremetal-lb/wheelhouse)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["demo", "failover"])
    parser.add_argument("--router", choices=sorted(ROUTERS), default="kea",
                        help="the router's DHCP server: Kea with its Control Agent (default) or dnsmasq")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--keep-logs", type=Path, help="copy Kea/Ansible/speaker logs here before teardown")
    args = parser.parse_args(argv)
    require_root()
    dhcp_tools = ("kea-dhcp4", "kea-ctrl-agent") if args.router == "kea" else ("dnsmasq",)
    for tool in ("podman", "runc", *dhcp_tools, "udhcpc", "iptables", "curl", "debootstrap"):
        if not shutil.which(tool):
            print(f"lab/run: {tool} is not installed (scripts/install-deps installs what the lab needs)",
                  file=sys.stderr)
            return 2

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    t0 = time.monotonic()
    lab = TheLab(args.keep_logs, router=args.router)
    rc = 0
    try:
        lab.build()
        lab.site()
        lab.service()
        lab.show()
        if args.command == "failover":
            lab.failover()
    except (LabError, TimeoutError, KeyboardInterrupt) as exc:
        print(f"\nlab/run: {exc}", file=sys.stderr, flush=True)
        lab.results["error"] = str(exc)
        rc = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            lab.teardown()
        finally:
            lab.results["timings"]["total"] = round(time.monotonic() - t0, 1)
            tm = lab.results["timings"]
            section("Timings (s)")
            say("  ".join(f"{k}={v}" for k, v in tm.items()))
            if args.json:
                args.json.write_text(json.dumps(lab.results, indent=2, sort_keys=True, default=str))
    if not lab.results.get("nothing_left"):
        rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
