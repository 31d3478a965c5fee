"""The one-machine lab: the seed's network in namespaces, a real Kea as the router, systemd containers as nodes.

    lab/run demo      [--router kea|dnsmasq] [--collection TARBALL] [--json FILE] [--keep-logs DIR]
    lab/run failover  [--router kea|dnsmasq] [--collection TARBALL] [--json FILE] [--keep-logs DIR]

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

Then the lab is a user of the release (README.md, "Quick start on your cluster"): it builds the release as
``make dist`` does (``scripts/dist.py``; or takes one with ``--collection``), installs the collection tarball with
``ansible-galaxy collection install`` into a fresh path, copies the *installed* collection's ``inventory/example``,
makes only the edits the quick start's step 3 lists (:func:`quick_start_edits`), and runs step 4's two commands as
written (``--check --diff``, then the real run), then the real run once more, which must change nothing. The
cluster's Nodes carry the labels kubeadm gives them; all three are control-plane nodes, as in a three-node
homelab, so they carry ``node.kubernetes.io/exclude-from-external-load-balancers`` and the quick start's answer for
that case is what makes them announce. A LoadBalancer Service ``traefik`` is created (backend: a tiny HTTP server
on each node naming it, plus a DNAT rule VIP:80 -> node:8080 as the kube-proxy stand-in) and the lab prints what a
person wants to see. ``failover`` then ``podman kill``s the announcing node and times how long until the VIP
answers from another node. Teardown (always, also on failure or Ctrl-C) removes the containers, the podman
storage, the namespaces and the temp dir.

What only the lab does (a user's site has none of it) is kept apart and says why: the namespaces and the
containers, how Ansible reaches them (``LabSite``: the "how Ansible logs in" part of step 3), the collections path
of the fresh install (:meth:`TheLab.ansible_env`), and the API emulator's address inside the node namespaces.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from kubernetes import client  # noqa: E402

from tests.collection import PYTHON, VENV_BIN, netns_inventory  # noqa: E402
from tests.endpointslices import put_endpoints  # noqa: E402
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
#: README's quick start, step 4: the playbook a user runs, from the installed collection.
SITE_PLAYBOOK = "baremetal.lb.site"
#: kubeadm's labels on a control-plane node (``kubeadm init``/``join --control-plane``, on top of the kubelet's).
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
KUBEADM_CONTROL_PLANE_LABELS = {"node-role.kubernetes.io/control-plane": "", EXCLUDE_LB_LABEL: ""}
KUBEADM_CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
#: The lab's cluster: a three-node kubeadm homelab, every node a control-plane node (stacked etcd).
CONTROL_PLANE_NODES = NODES
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


def kubeadm_node(name: str, address: str, *, control_plane: bool) -> dict[str, Any]:
    """A Node as a kubeadm cluster registers it: the kubelet's well-known labels, and on a control-plane node
    kubeadm's role label, the exclude-from-external-load-balancers label and the NoSchedule taint."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    spec: dict[str, Any] = {}
    if control_plane:
        labels.update(KUBEADM_CONTROL_PLANE_LABELS)
        spec["taints"] = [KUBEADM_CONTROL_PLANE_TAINT]
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


# ---------------------------------------------------------------------------------------------- the user's path
@dataclass(frozen=True)
class Edit:
    """One change to a file of the copied example inventory; ``keys`` is the path inside that YAML document."""

    file: str
    keys: tuple[str | int, ...]
    value: Any


@dataclass(frozen=True)
class LabSite:
    """What a user types into step 3, as this lab's network gives it.

    ``router_host`` and the values of ``nodes`` are hosts.yml's "how Ansible logs in": on a real site ssh and an
    address, here a local connection into the router's namespace and podman into the node containers (lab-only, so
    they live here and not in the edits' logic). ``api_server`` is the other lab-only value: the API emulator is
    served at 127.0.0.1:6443 inside every node namespace, not at the control node's kubeconfig address, which is
    the case the quick start's ``baremetal_lb_speaker_api_server`` is for."""

    router_host: dict[str, Any]
    router_vars: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    pool: str
    kubeconfig: str
    api_server: str
    offline: bool
    every_node_control_plane: bool


def quick_start_edits(site: LabSite) -> list[Edit]:
    """README's quick start, step 3, and nothing else (pure): the edits in the order the README lists them.

    A variable set here that the README's quick start does not name is a bug in the README (tests/integration/
    test_lab.py checks every ``baremetal_lb_*`` name set here against the README's text)."""
    edits = [
        # inventory/hosts.yml: your router and your nodes (name = Kubernetes Node name, how Ansible logs in)
        Edit("hosts.yml", ("all", "children", "routers", "hosts"), {"router": site.router_host}),
        Edit("hosts.yml", ("all", "children", "k8s_nodes", "hosts"), site.nodes),
    ]
    # inventory/group_vars/routers.yml: the backend, its API URL (or, on the router itself, its options), credential
    edits += [Edit("group_vars/routers.yml", (key,), value) for key, value in site.router_vars.items()]
    edits += [
        # inventory/group_vars/all.yml: the pool's addresses and the admin kubeconfig
        Edit("group_vars/all.yml", ("baremetal_lb_pools", 0, "addresses"), [site.pool]),
        Edit("group_vars/all.yml", ("baremetal_lb_kubeconfig",), site.kubeconfig),
        # ... and the ones that apply here: the nodes reach the API at another address, they have no package index
        Edit("group_vars/all.yml", ("baremetal_lb_speaker_api_server",), site.api_server),
        Edit("group_vars/all.yml", ("baremetal_lb_speaker_offline",), site.offline),
    ]
    if site.every_node_control_plane:  # kubeadm, every node control plane: the quick start's answer (docs/kubeadm.md)
        edits.append(Edit("group_vars/all.yml", ("baremetal_lb_speaker_ignore_exclude_lb",), True))
    return edits


def apply_edits(inventory: Path, edits: list[Edit]) -> None:
    """Make ``edits`` to the YAML files under ``inventory`` (what a person does in an editor; comments are lost)."""
    docs: dict[str, Any] = {}
    pasted: dict[str, list[str]] = {}
    for edit in edits:
        doc = docs.setdefault(edit.file, yaml.safe_load((inventory / edit.file).read_text()))
        if isinstance(edit.value, Vaulted):  # the printed block replaces the key (routers.yml says so)
            doc.pop(edit.keys[0], None)
            pasted.setdefault(edit.file, []).append(edit.value.block)
            continue
        node = doc
        try:
            for key in edit.keys[:-1]:
                node = node[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise LabError(
                f"inventory/example/{edit.file} has no {'.'.join(map(str, edit.keys[:-1]))} "
                f"(README's quick start step 3 edits it): {exc!r}"
            ) from exc
        node[edit.keys[-1]] = edit.value
    for name, doc in docs.items():
        (inventory / name).write_text(
            "# inventory/example as shipped, with README's quick start step 3 edits\n"
            + yaml.safe_dump(doc, sort_keys=False)
            + "".join(block.rstrip("\n") + "\n" for block in pasted.get(name, []))
        )


def readme_commands(readme: Path, program: str) -> list[list[str]]:
    """The ``program`` command lines of the README's quick start section, as written there (``shlex`` split)."""
    text = readme.read_text()
    start = text.index("## Quick start on your cluster")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    return [
        shlex.split(line.split("#", 1)[0])
        for line in (ln.strip() for ln in section.splitlines())
        if line.startswith(program + " ")
    ]


@dataclass(frozen=True)
class Vaulted:
    """A value as ``ansible-vault encrypt_string --name NAME`` prints it (``NAME: !vault |`` and the block), which
    the user pastes into the file."""

    block: str


def kea_router_vars(api_url: str, user: str, password: Vaulted) -> dict[str, Any]:
    """group_vars/routers.yml for Kea: the backend, the Control Agent's URL (as the router sees it: the module runs
    on the router host for kea), and its basic-auth login, the password from the vault (README, step 3)."""
    return {
        "baremetal_lb_router_backend": "kea",
        "baremetal_lb_router_api_url": api_url,
        "baremetal_lb_router_api_key": user,
        "baremetal_lb_router_api_secret": password,
    }


def dnsmasq_router_vars(conf_file: Path, restart: Path) -> dict[str, Any]:
    """group_vars/routers.yml for dnsmasq: no API; where its configuration is and how it restarts (this one is not
    Debian's packaged dnsmasq under systemd, so the defaults do not fit: baremetal_lb_router_options)."""
    return {
        "baremetal_lb_router_backend": "dnsmasq",
        "baremetal_lb_router_api_url": "",
        "baremetal_lb_router_options": {"conf_file": str(conf_file), "restart_command": [str(restart)]},
    }


class KeaRouter:
    """The router's DHCP server: Kea with its Control Agent (tests/integration/dhcpservers.py)."""

    name = "kea"

    def __init__(self, lab: Lab, host: Any, tmp: Path) -> None:
        from tests.integration.dhcpservers import CA_PORT, Kea, kea4_config

        self.api_url = f"http://127.0.0.1:{CA_PORT}/"
        self.login = ("baremetal-lb", secrets.token_urlsafe(18))
        self.kea = Kea(lab, host, tmp, kea4_config(tmp, [DHCP_SCOPE]), ca_login=self.login)
        self.what = f"kea-dhcp4 + kea-ctrl-agent ({self.api_url} inside the namespace, basic auth)"
        self.how = "Kea DHCP pools (config-get)"

    def ranges(self) -> list[str]:
        return self.kea.pools()

    def router_vars(self, vault: Callable[[str, str], Vaulted]) -> dict[str, Any]:
        return kea_router_vars(self.api_url, self.login[0], vault("baremetal_lb_router_api_secret", self.login[1]))


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

    def router_vars(self, vault: Callable[[str, str], Vaulted]) -> dict[str, Any]:
        return dnsmasq_router_vars(self.dnsmasq.conf, self.dnsmasq.restart)


ROUTERS = {"kea": KeaRouter, "dnsmasq": DnsmasqRouter}


class TheLab:
    def __init__(self, keep_logs: Path | None = None, router: str = "kea", collection: Path | None = None) -> None:
        self.keep_logs = keep_logs
        self.collection_tarball = collection
        self.vault_password = secrets.token_urlsafe(16)  # what the user types at --ask-vault-pass
        self.router_kind = router
        self.tmp = Path(tempfile.mkdtemp(prefix="blblab"))  # short: Kea's unix socket paths are limited
        self.results: dict[str, Any] = {"timings": {}, "tmp": str(self.tmp), "router_backend": router}
        self.lab: Lab | None = None
        self.api: Any = None
        self.containers: list[str] = []
        storage = self.tmp / "storage.conf"
        storage.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.tmp}/graph"\nrunroot = "{self.tmp}/run"\n'
        )
        # molecule/resources/containers.conf (runc, limits, no network) plus a libpod tmp dir of this run's own:
        # nothing podman keeps for the lab is shared with another podman user (a Molecule run, another lab).
        conf = self.tmp / "containers.conf"
        conf.write_text(
            CONTAINERS_CONF.read_text() + f'tmp_dir = "{self.tmp}/libpod"\n'
            f'\n[network]\nnetwork_config_dir = "{self.tmp}/net"\n'
        )
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
        proc = subprocess.run(
            [str(ROOT / "scripts" / "build-test-image")], env=self.env, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise LabError(f"scripts/build-test-image failed: {proc.stderr.strip()}")
        self.image = proc.stdout.strip().splitlines()[-1]
        say(f"node image      {self.image}  ({self.timed('image', t0)} s; rootfs cached in {IMAGE_CACHE})")

        self._release()
        self._install()

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

    def _release(self) -> None:
        """The release a user downloads: ``make dist`` (scripts/dist.py), unless one was given (--collection)."""
        t0 = time.monotonic()
        if self.collection_tarball is None:
            proc = subprocess.run(
                [PYTHON, str(ROOT / "scripts" / "dist.py"), "--out", str(self.tmp / "dist")],
                capture_output=True,
                text=True,
                timeout=900,
            )
            if proc.returncode != 0:
                raise LabError(f"scripts/dist.py (make dist) failed: {proc.stderr.strip()[-3000:]}")
            self.collection_tarball = Path(json.loads(proc.stdout.strip().splitlines()[-1])["collection"])
            how = "built by scripts/dist.py (make dist)"
        else:
            how = "given with --collection"
        size = self.collection_tarball.stat().st_size / 1e6
        say(f"release         {self.collection_tarball.name} ({size:.1f} MB, {how}; {self.timed('release', t0)} s)")

    def _install(self) -> None:
        """Quick start step 1, into a fresh path of this run's own (-p) instead of ~/.ansible/collections."""
        t0 = time.monotonic()
        self.collections = self.tmp / "collections"
        proc = subprocess.run(
            [
                str(VENV_BIN / "ansible-galaxy"),
                "collection",
                "install",
                str(self.collection_tarball),
                "-p",
                str(self.collections),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=self.ansible_env(),
        )
        if proc.returncode != 0:
            raise LabError(f"ansible-galaxy collection install failed: {proc.stdout}{proc.stderr}")
        self.installed = self.collections / "ansible_collections" / "baremetal" / "lb"
        say(
            f"installed       ansible-galaxy collection install {self.collection_tarball.name} -p {self.collections} "
            f"({self.timed('install', t0)} s)"
        )

    def _start_api(self) -> None:
        cluster = self.cluster_mod = _load_cluster_module()
        # root namespace loopback: the control node's view; the admin token, else RBAC from the stored objects
        self.api = cluster.start(0, "127.0.0.1", enforce_rbac=True)
        self.admin_kubeconfig = write_kubeconfig(self.tmp / "admin-kubeconfig", self.api.url, token=cluster.ADMIN_TOKEN)
        self.k8s = api_client(self.api.url, token=cluster.ADMIN_TOKEN)
        self.core = client.CoreV1Api(self.k8s)
        self.custom = client.CustomObjectsApi(self.k8s)
        for _i, (name, host) in enumerate(self.nodes.items()):
            self.api.add_listener(host.listen("127.0.0.1", NODE_API_PORT))
            self.core.create_node(kubeadm_node(name, host.ipv4[0], control_plane=name in CONTROL_PLANE_NODES))
        self.results["node_labels"] = {n.metadata.name: n.metadata.labels for n in self.core.list_node().items}
        say(
            f"API emulator    {self.api.url} (control node); http://127.0.0.1:{NODE_API_PORT} in every node "
            f"namespace; RBAC enforced; Nodes {', '.join(self.nodes)} Ready"
        )
        say(f"                kubeadm's labels: every node is control plane ({EXCLUDE_LB_LABEL})")

    def _start_nodes(self) -> None:
        for name, host in self.nodes.items():
            cname = f"{self.lab.prefix}-{name}"
            self.podman(
                "run",
                "-d",
                "--name",
                cname,
                "--hostname",
                name,
                "--network",
                f"ns:/run/netns/{host.ns}",
                "--systemd=always",
                "--pull=never",
                "--cap-add",
                "SYS_ADMIN,NET_ADMIN,NET_RAW,NET_BIND_SERVICE",
                "--ulimit",
                "nofile=16384:16384",
                "--ulimit",
                "nproc=16384:16384",
                "--label",
                f"baremetal-lb-lab={self.lab.prefix}",
                self.image,
                "/sbin/init",
            )
            self.containers.append(cname)
        for cname in self.containers:
            state = self.podman(
                "exec", cname, "systemctl", "is-system-running", "--wait", check=False, timeout=60
            ).stdout.strip()
            if state not in ("running", "degraded"):
                raise LabError(f"systemd in {cname} is {state!r}")
        for name, host in self.nodes.items():
            say(f"{name:<15} container {self.lab.prefix}-{name} (systemd) on {host.ns}: {host.ipv4[0]}")

    def _client_dhcp(self, label: str) -> str:
        script = self.tmp / "udhcpc.script"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        proc = self.client.run(
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
                "3",
                "-T",
                "1",
                "-A",
                "1",
                "-x",
                "0x3d:01" + self.client.mac.replace(":", ""),
            ],
            check=False,
            timeout=20,
        )
        leases = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("LEASE ")]
        if not leases:
            raise LabError(f"the client got no DHCP lease from {self.dhcp.name}: {proc.stdout} {proc.stderr}")
        self.client_ip = leases[0]
        say(f"{label:<15} {self.client.ns}: {self.client_ip} by DHCP from {self.dhcp.name}")
        return self.client_ip

    # ---------------------------------------------------------------------------------------------- ansible
    def lab_site(self) -> LabSite:
        """This lab's answers to step 3 (see :class:`LabSite` for the lab-only ones)."""
        router = netns_inventory(self.router.ns, self.tmp)["all"]["hosts"]["router"]
        nodes = {
            name: {
                "ansible_host": f"{self.lab.prefix}-{name}",
                # lab-only: the nodes are podman containers reached with podman exec (a real node: ssh + ansible_user),
                # through Molecule's pipelining variant of containers.podman.podman (one `podman exec -i` per task
                # instead of about five podman commands: molecule/resources/connection_plugins/blb_podman.py).
                # podman exec is root already and the image has no sudo; /tmp is a tmpfs the plugin's copy cannot see.
                "ansible_connection": "blb_podman",
                "ansible_become": False,
                "ansible_remote_tmp": "/root/.ansible/tmp",
            }
            for name in self.nodes
        }
        return LabSite(
            router_host=router,
            router_vars=self.dhcp.router_vars(self.vault),
            nodes=nodes,
            pool=POOL,
            kubeconfig=str(self.admin_kubeconfig),
            # lab-only value: the emulator as every node namespace sees it (see LabSite)
            api_server=f"http://127.0.0.1:{NODE_API_PORT}",
            # the node namespaces have no route to a package index: the bundled wheelhouse
            offline=True,
            every_node_control_plane=set(CONTROL_PLANE_NODES) == set(self.nodes),
        )

    def vault(self, name: str, value: str) -> Vaulted:
        """README step 3: ``ansible-vault encrypt_string --name NAME 'VALUE'``, the vault password typed twice."""
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-vault"), "encrypt_string", "--name", name, value],
            input=f"{self.vault_password}\n{self.vault_password}\n",
            capture_output=True,
            text=True,
            env=self.ansible_env(),
            cwd=self.tmp,
            timeout=60,
            start_new_session=True,
        )
        block = proc.stdout[proc.stdout.find(f"{name}: !vault |") :] if f"{name}: !vault |" in proc.stdout else ""
        if proc.returncode != 0 or not block:
            raise LabError(f"ansible-vault encrypt_string --name {name} failed ({proc.returncode}): {proc.stderr}")
        return Vaulted(block)

    def prepare_inventory(self) -> Path:
        """Quick start steps 2 and 3: copy the installed collection's inventory/example, make step 3's edits."""
        self.site_dir = self.tmp / "site"  # the user's working directory
        self.site_dir.mkdir()
        inv = self.site_dir / "inventory"
        shutil.copytree(self.installed / "inventory" / "example", inv)
        self.edits = quick_start_edits(self.lab_site())
        apply_edits(inv, self.edits)
        self.results["edits"] = [{"file": e.file, "keys": list(e.keys)} for e in self.edits]
        self.results["inventory_files"] = {
            "example": sorted(
                str(f.relative_to(self.installed / "inventory" / "example"))
                for f in (self.installed / "inventory" / "example").rglob("*")
            ),
            "used": sorted(str(f.relative_to(inv)) for f in inv.rglob("*")),
        }
        return inv

    def ansible_env(self) -> dict[str, str]:
        """The environment Ansible runs in: the user's, with only these lab-only differences (each says why)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}  # no setting of the caller's
        env.update(
            {
                # the collection was installed with -p into this run's own path, not ~/.ansible/collections (which
                # Ansible searches by default, and which may hold another version on this machine); the nodes'
                # connection plugin (containers.podman) comes from the venv's ansible package (sys.path, the default)
                "ANSIBLE_COLLECTIONS_PATH": str(self.tmp / "collections"),
                "ANSIBLE_HOME": str(self.tmp / "ansible-home"),
                # the podman connection plugin runs podman: this run's own storage and containers.conf
                "CONTAINERS_CONF": self.env["CONTAINERS_CONF"],
                "CONTAINERS_STORAGE_CONF": self.env["CONTAINERS_STORAGE_CONF"],
                # the pipelining podman connection (see lab_site) is the test tree's, not the collection's
                "ANSIBLE_CONNECTION_PLUGINS": str(ROOT / "molecule" / "resources" / "connection_plugins"),
                "ANSIBLE_PIPELINING": "true",
                # the control node's Ansible and Python `kubernetes` (quick start: "what you need") are the repo's venv
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
            }
        )
        return env

    def ansible_playbook(self, argv: list[str], label: str, timeout: float = 300) -> dict[str, Any]:
        """Run one of the README's command lines in the user's directory; ``--ask-vault-pass`` is answered on
        stdin (Ansible reads it there when there is no terminal)."""
        log = self.tmp / f"ansible-{label}.log"
        t0 = time.monotonic()
        with open(log, "w") as fh:
            proc = subprocess.Popen(
                [str(VENV_BIN / argv[0]), *argv[1:]],
                env=self.ansible_env(),
                cwd=self.site_dir,
                stdin=subprocess.PIPE,
                stdout=fh,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            try:
                if "--ask-vault-pass" in argv:
                    proc.stdin.write(self.vault_password + "\n")
                proc.stdin.close()
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
            for line in lines[[i for i, ln in enumerate(lines) if ln.startswith("PLAY RECAP")][-1] + 1 :]:
                m = re.match(r"^(\S+)\s+:\s+(.*)$", line)
                if m:
                    recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        if proc.returncode != 0:
            raise LabError(f"{' '.join(argv)} ({label}) failed, rc {proc.returncode}:\n" + "\n".join(lines[-60:]))
        return {
            "seconds": seconds,
            "recap": recap,
            "changed": sum(r.get("changed", 0) for r in recap.values()),
            "warnings": [ln for ln in lines if ln.startswith("[WARNING]")],
            "recap_lines": [ln for ln in lines if re.match(r"^\S+\s+:\s+ok=", ln)],
        }

    def site(self) -> None:
        section("README's quick start: the example inventory, step 3's edits, step 4's commands")
        inv = self.prepare_inventory()
        say(f"inventory       cp -r {self.installed}/inventory/example {inv}")
        for edit in self.edits:
            say(f"  edit          {edit.file}: {'.'.join(map(str, edit.keys))}")
        commands = readme_commands(self.installed / "README.md", "ansible-playbook")
        if [c for c in commands if SITE_PLAYBOOK not in c]:
            raise LabError(f"the quick start's ansible-playbook lines are not all {SITE_PLAYBOOK}: {commands}")
        if not [c for c in commands if "--check" in c] or not [c for c in commands if "--check" not in c]:
            raise LabError(f"the quick start should show a --check run and a real run: {commands}")
        self.ranges_before = self.dhcp.ranges()
        apply = [c for c in commands if "--check" not in c][-1]
        runs = [(f"step4-{i + 1}", c) for i, c in enumerate(commands)] + [("again", apply)]
        for label, argv in runs:
            res = self.ansible_playbook(argv, label)
            key = {"again": "site_second"}.get(label, "site_first" if argv is apply else "site_check")
            self.results[key] = {k: res[k] for k in ("seconds", "changed", "recap", "warnings")}
            self.results["timings"][key] = res["seconds"]
            if key == "site_check":
                self.results["dhcp_ranges_after_check"] = self.dhcp.ranges()
            say(f"$ {' '.join(argv)}   ({label}): {res['seconds']} s, changed={res['changed']}")
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
            self.podman(
                "exec",
                cname,
                "systemd-run",
                "--unit",
                "lab-backend",
                "--property",
                "Restart=always",
                "python3",
                "-m",
                "http.server",
                str(BACKEND_PORT),
                "--bind",
                host.ipv4[0],
                "--directory",
                "/srv/www",
            )
            host.run(
                f"iptables -t nat -A PREROUTING -d {POOL.split('-')[0]}/28 -p tcp --dport 80 "
                f"-j DNAT --to-destination {host.ipv4[0]}:{BACKEND_PORT}"
            )
        ports = [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": BACKEND_PORT}]
        # What the EndpointSlice controller of a real cluster writes for Traefik's Pods, one ready on every node (the
        # emulator runs no controllers): without it the speakers rightly announce nothing, as MetalLB would not.
        put_endpoints(self.core.api_client, "traefik", "default", list(self.nodes), ports=ports)
        self.core.create_namespaced_service(
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "traefik", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "traefik"}, "ports": ports},
            },
        )
        t0 = time.monotonic()

        def vip() -> str | None:
            svc = self.core.read_namespaced_service("traefik", "default")
            ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
            return ingress[0].ip if ingress else None

        try:
            self.vip = wait_for("the Service traefik to get an address", vip, timeout=30)
            self.announcer = wait_for(
                f"one node announcing {self.vip}",
                lambda: (lambda a: a[0] if len(a) == 1 else None)(self.announcers(self.vip)),
                timeout=30,
            )
        except TimeoutError as exc:  # what docs/troubleshooting.md says to look at first: the Service's Events
            raise LabError(f"{exc}; the Service's Events: {self.service_events('traefik')}") from exc
        self.results["timings"]["service_announced"] = round(time.monotonic() - t0, 2)

    def service_events(self, name: str) -> list[str]:
        """``kubectl describe service NAME``'s Events: type, reason, message."""
        events = self.core.list_namespaced_event("default").items
        return [
            f"{e.type} {e.reason}: {e.message}" for e in events if e.involved_object and e.involved_object.name == name
        ]

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
        r = self.client.run(
            ["curl", "-s", "--max-time", str(timeout), f"http://{self.vip}/"], check=False, timeout=timeout + 5
        )
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None

    def show(self) -> None:
        section("What you would check")
        say(f"router: {self.dhcp.how:<30} before: {', '.join(self.ranges_before)}")
        say(f"        {'':<30} after:  {', '.join(self.ranges_after)}   -> {POOL} is never leased")
        pool = self.custom.get_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", "lan")
        l2ads = self.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, "l2advertisements")["items"]
        say(
            f"cluster: IPAddressPool {NS}/lan  addresses={pool['spec']['addresses']}  "
            f"status={json.dumps(pool.get('status', {}), sort_keys=True)}"
        )
        say(f"         L2Advertisement(s): {', '.join(a['metadata']['name'] for a in l2ads)}")
        svc = self.core.read_namespaced_service("traefik", "default")
        say(
            f"Service default/traefik  type=LoadBalancer  EXTERNAL-IP={self.vip}  "
            f"(pool: {(svc.metadata.annotations or {}).get('metallb.io/ip-allocated-from-pool')})"
        )
        st = self.speaker_status(self.announcer) or {}
        l2 = next((a for a in (st.get("layer2") or {}).get("addresses", []) if a.get("ip") == self.vip), {})
        say(
            f"announcing node: {self.announcer} ({self.nodes[self.announcer].ipv4[0]}, "
            f"MAC {self.nodes[self.announcer].mac})  speaker /status: {json.dumps(l2, sort_keys=True)}"
        )
        l2s = self.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, "servicel2statuses")["items"]
        for obj in l2s:
            say(f"ServiceL2Status {obj['metadata']['name']}: {json.dumps(obj.get('status', {}), sort_keys=True)}")
        for name in self.nodes:
            unit = self.podman(
                "exec",
                f"{self.lab.prefix}-{name}",
                "systemctl",
                "is-active",
                "baremetal-lb-speaker.service",
                check=False,
            ).stdout.strip()
            say(f"  {name}: baremetal-lb-speaker.service {unit}")
        self.answer = wait_for(f"curl http://{self.vip}/ from the client", self.curl, timeout=20, interval=0.2)
        say(f"client$ curl http://{self.vip}/")
        say(f"  {self.answer}")
        # The cluster as an operator sees it (docs/troubleshooting.md shows this output): the release's command,
        # on the PATH the speaker role gives it, run as root on a node (its speaker's own kubeconfig).
        cluster = self.podman(
            "exec", f"{self.lab.prefix}-{self.announcer}", "baremetal-lb", "status", "--cluster", check=False
        )
        say(f"{self.announcer}$ baremetal-lb status --cluster   (exit {cluster.returncode})")
        for line in (cluster.stdout + cluster.stderr).rstrip().splitlines():
            say(f"  {line}")
        self.results["cluster_status"] = {
            "exit": cluster.returncode,
            "stdout": cluster.stdout,
            "stderr": cluster.stderr,
        }
        self.results.update(
            {
                "vip": self.vip,
                "announcer": self.announcer,
                "answer": self.answer,
                "client_ip": self.client_ip,
                "dhcp_ranges_before": self.ranges_before,
                "dhcp_ranges_after": self.ranges_after,
                "pool": {"spec": pool["spec"], "status": pool.get("status")},
                "client_ip_outside_pool": not (
                    ipaddress.ip_address(POOL.split("-")[0])
                    <= ipaddress.ip_address(self.client_ip)
                    <= ipaddress.ip_address(POOL.split("-")[1])
                ),
            }
        )

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
        new_announcer = wait_for(
            "the new announcer in /status",
            lambda: (lambda a: a[0] if len(a) == 1 else None)(self.announcers(self.vip)),
            timeout=10,
        )
        say(
            f"client$ curl http://{self.vip}/   -> {new}   ({took} s after the kill; "
            f"{len(answers)} tries, each --max-time 0.5)"
        )
        say(
            f"announcing node now: {new_announcer}; Kubernetes still has Node {victim} Ready — the speakers' "
            f"heartbeats noticed, not the kubelet"
        )
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
        containers_left = (
            self.podman(
                "ps", "-a", "-q", "--filter", f"label=baremetal-lb-lab={self.lab.prefix}", check=False
            ).stdout.split()
            if self.lab
            else []
        )
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
        left = {
            "namespaces": leftover_namespaces(prefix) if prefix else [],
            "tmp_exists": self.tmp.exists(),
            "processes": self._own_processes(),
            "mounts": self._own_mounts(),
            "containers": containers_left,
        }
        self.results["leftovers"] = left
        self.results["nothing_left"] = not (any(left.values()) or errors)
        say(
            f"containers removed, podman storage reset, namespaces {prefix}-* deleted, {self.tmp} removed: "
            + ("nothing left behind" if self.results["nothing_left"] else f"LEFT BEHIND: {left} {errors}")
        )
        say(
            f"(kept for fast reruns: the node rootfs in {IMAGE_CACHE}, the release's wheelhouse download in "
            "~/.cache/baremetal-lb/wheelhouse)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["demo", "failover"])
    parser.add_argument(
        "--router",
        choices=sorted(ROUTERS),
        default="kea",
        help="the router's DHCP server: Kea with its Control Agent (default) or dnsmasq",
    )
    parser.add_argument(
        "--collection",
        type=Path,
        help="a release's collection tarball (default: build one with scripts/dist.py, as make dist)",
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--keep-logs", type=Path, help="copy Kea/Ansible/speaker logs here before teardown")
    args = parser.parse_args(argv)
    require_root()
    dhcp_tools = ("kea-dhcp4", "kea-ctrl-agent") if args.router == "kea" else ("dnsmasq",)
    for tool in ("podman", "runc", *dhcp_tools, "udhcpc", "iptables", "curl", "debootstrap"):
        if not shutil.which(tool):
            print(
                f"lab/run: {tool} is not installed (scripts/install-deps installs what the lab needs)", file=sys.stderr
            )
            return 2

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)

    t0 = time.monotonic()
    lab = TheLab(args.keep_logs, router=args.router, collection=args.collection.resolve() if args.collection else None)
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
