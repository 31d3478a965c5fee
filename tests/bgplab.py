"""BGP peers for the interop tests and the bench: BIRD 2, FRR bgpd (no zebra) and GoBGP in lab namespaces, and
our speaker run in-process on a thread inside a node namespace (tests/integration/test_bgp_lab.py checks them).

Every daemon writes its config, socket and log under a per-test directory; ``stop()`` kills it; ``Lab.close``
kills whatever is left in the namespaces. Only documentation prefixes and private ASNs are used.
"""

from __future__ import annotations

import ipaddress
import json
import re
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from speaker.bgp import BGPSpeaker, Route
from speaker.bgp.context import Context
from speaker.bgp.message import NotificationMessage, Open, Reader, Update, unpack_message
from speaker.bgp.message.base import MARKER
from speaker.config.cluster import BGPPeer, Secret
from tests.netlab import Host, Lab
from tests.waiting import wait_for

A = ipaddress.ip_address
N = ipaddress.ip_network


@dataclass
class Neighbor:
    """One neighbor as the router (BIRD/FRR/GoBGP) sees it."""

    name: str
    address: str
    asn: int
    password: str | None = None
    multihop: bool = False
    hold: int = 9
    passive: bool = False


class QueryFailed(RuntimeError):
    """A daemon's CLI did not answer: never read as "no routes" or "not established"."""


class Daemon:
    """A router daemon. Every query raises :class:`QueryFailed` when the daemon's CLI fails, so a negative check
    ("no route", "not established") can only pass on an answer; ``ready()`` alone turns a failure into False."""

    kind = ""

    def __init__(self, host: Host, workdir: Path, *, asn: int, router_id: str, neighbors: Iterable[Neighbor]) -> None:
        self.host = host
        self.dir = workdir / f"{self.kind}-{host.name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.asn = asn
        self.router_id = router_id
        self.neighbors = list(neighbors)
        self.proc: subprocess.Popen[Any] | None = None
        self.log = self.dir / "log"

    def start(self) -> Daemon:
        self.write_config()
        self._logf = open(self.log, "ab")
        self.proc = self.host.popen(self.command(), stdout=self._logf, stderr=subprocess.STDOUT)
        wait_for(f"{self.kind} in {self.host.name} to answer", self.ready, timeout=10, interval=0.05)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def query(self, cmd: list[str]) -> str:
        """Run a CLI command in the daemon's namespace; its output, or :class:`QueryFailed` naming the failure."""
        r = self.host.run(cmd, check=False)
        if r.returncode != 0:
            raise QueryFailed(
                f"{self.kind} in {self.host.name}: {' '.join(cmd)} exited {r.returncode}: "
                f"{(r.stderr or r.stdout).strip()[-500:]}"
            )
        return r.stdout

    def json_query(self, cmd: list[str]) -> Any:
        out = self.query(cmd)
        try:
            return json.loads(out)
        except ValueError as exc:
            raise QueryFailed(f"{self.kind} in {self.host.name}: {' '.join(cmd)} gave no JSON: {out[-300:]!r}") from exc

    def _ready(self, probe: Any) -> bool:
        try:
            return bool(probe())
        except QueryFailed:
            return False

    # per daemon
    def write_config(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def established(self, address: str) -> bool:
        raise NotImplementedError

    def routes(self, version: int = 4) -> dict[str, list[dict[str, Any]]]:
        """prefix → paths, each {next_hop, as_path, local_pref, communities, large_communities, from}."""
        raise NotImplementedError


class Bird(Daemon):
    kind = "bird"

    def write_config(self) -> None:
        parts = [
            f"log stderr all;\nrouter id {self.router_id};\nprotocol device {{}}\n",
            "protocol kernel k4 { ipv4 { export all; }; merge paths on; }\n",
            "protocol kernel k6 { ipv6 { export all; }; merge paths on; }\n",
        ]
        for n in self.neighbors:
            ibgp = n.asn == self.asn
            local = self.host.ipv4[0] if ":" not in n.address else self.host.ipv6[0]
            channel = "import all; export none;"
            extra = f'password "{n.password}";' if n.password else ""
            extra += " direct;" if ibgp else ""  # iBGP is multihop by default in BIRD
            extra += " multihop;" if n.multihop else ""
            extra += " passive on;" if n.passive else ""
            parts.append(
                f"protocol bgp {n.name} {{ local {local} as {self.asn}; neighbor {n.address} as {n.asn}; "
                f"hold time {n.hold}; connect delay time 1; connect retry time 1; error wait time 1, 2; {extra}\n"
                f"  ipv4 {{ {channel} }}; ipv6 {{ {channel} }}; }}\n"
            )
        (self.dir / "bird.conf").write_text("".join(parts))

    def command(self) -> list[str]:
        return [
            "bird",
            "-f",
            "-c",
            str(self.dir / "bird.conf"),
            "-s",
            str(self.dir / "bird.ctl"),
            "-P",
            str(self.dir / "bird.pid"),
        ]

    def birdc(self, *cmd: str) -> str:
        """birdc's answer; birdc exits 0 even when it cannot reach BIRD, so its own errors are caught here too."""
        out = self.query(["birdc", "-s", str(self.dir / "bird.ctl"), *cmd])
        # birdc's reply codes (BIRD's doc/reply_codes): 8xxx/9xxx are errors; "Unable to connect" is its client's.
        if re.search(r"^(Unable to connect|[89]\d{3}[ -])", out, re.M):
            raise QueryFailed(f"bird in {self.host.name}: birdc {' '.join(cmd)}: {out.strip()[-300:]}")
        return out

    def ready(self) -> bool:
        return self._ready(lambda: "ready" in self.birdc("show", "status"))

    def established(self, address: str) -> bool:
        name = next(n.name for n in self.neighbors if n.address == address)
        out = self.birdc("show", "protocols", name)
        if name not in out:
            raise QueryFailed(f"bird in {self.host.name}: no protocol {name} in {out.strip()[-300:]!r}")
        return "Established" in out

    def count(self, version: int = 4) -> int:
        out = self.birdc("show", "route", "count", "table", f"master{version}")
        m = re.search(r"(\d+) of \d+ routes", out)
        if not m:
            raise QueryFailed(f"bird in {self.host.name}: no route count in {out.strip()[-300:]!r}")
        return int(m.group(1))

    def routes(self, version: int = 4) -> dict[str, list[dict[str, Any]]]:
        out = self.birdc("show", "route", "all", "table", f"master{version}")
        routes: dict[str, list[dict[str, Any]]] = {}
        prefix = None
        cur: dict[str, Any] | None = None
        for line in out.splitlines():
            m = re.match(r"^(\S+)?\s+unicast \[(\S+) .*?\] (\*?)", line)
            if m and (m.group(1) or prefix):
                prefix = m.group(1) or prefix
                cur = {"from": m.group(2), "best": m.group(3) == "*", "communities": [], "large_communities": []}
                routes.setdefault(prefix, []).append(cur)
                continue
            if cur is None:
                continue
            line = line.strip()
            if line.startswith("BGP.next_hop:"):
                cur["next_hop"] = line.split(": ", 1)[1].split()
            elif line.startswith("BGP.as_path:"):
                cur["as_path"] = [int(a) for a in line.split(":", 1)[1].split()]
            elif line.startswith("BGP.local_pref:"):
                cur["local_pref"] = int(line.split(": ")[1])
            elif line.startswith("BGP.community:"):
                cur["communities"] = [f"{a}:{b}" for a, b in re.findall(r"\((\d+),(\d+)\)", line)]
            elif line.startswith("BGP.large_community:"):
                cur["large_communities"] = [f"{a}:{b}:{c}" for a, b, c in re.findall(r"\((\d+), (\d+), (\d+)\)", line)]
        return routes

    def kernel_nexthops(self, prefix: str) -> list[str]:
        """The next hops the kernel of BIRD's namespace got for ``prefix`` (ECMP shows several)."""
        hops: list[str] = []
        for r in self.json_query(["ip", "-j", "-6" if ":" in prefix else "-4", "route", "show", prefix]):
            if "gateway" in r:
                hops.append(r["gateway"])
            hops += [h["gateway"] for h in r.get("nexthops", [])]
        return sorted(hops)


class Frr(Daemon):
    kind = "frr"

    def write_config(self) -> None:
        lines = [
            "frr defaults traditional",
            f"hostname {self.host.name}",
            "log stdout informational",
            "!",
            f"router bgp {self.asn}",
            f" bgp router-id {self.router_id}",
            " no bgp ebgp-requires-policy",
            " no bgp network import-check",
            " no bgp default ipv4-unicast",
        ]
        for n in self.neighbors:
            lines += [
                f" neighbor {n.address} remote-as {n.asn}",
                f" neighbor {n.address} timers {max(1, n.hold // 3)} {n.hold}",
                f" neighbor {n.address} timers connect 1",
                f" neighbor {n.address} disable-connected-check",
            ]
            if n.password:
                lines.append(f" neighbor {n.address} password {n.password}")
            if n.multihop:
                lines.append(f" neighbor {n.address} ebgp-multihop 255")
        for af in ("ipv4", "ipv6"):
            lines.append(f" address-family {af} unicast")
            lines += [" maximum-paths 8", " maximum-paths ibgp 8"]
            lines += [f"  neighbor {n.address} activate" for n in self.neighbors]
            lines.append(" exit-address-family")
        (self.dir / "bgpd.conf").write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [
            "/usr/lib/frr/bgpd",
            "-Z",
            "-S",
            "-f",
            str(self.dir / "bgpd.conf"),
            "-i",
            str(self.dir / "bgpd.pid"),
            "--vty_socket",
            str(self.dir),
            "-u",
            "root",
            "-g",
            "root",
            "--log",
            "stdout",
        ]

    def vtysh(self, cmd: str) -> str:
        return self.query(["vtysh", "--vty_socket", str(self.dir), "-c", cmd])

    def vtysh_json(self, cmd: str) -> Any:
        return self.json_query(["vtysh", "--vty_socket", str(self.dir), "-c", cmd])

    def ready(self) -> bool:
        return self._ready(lambda: self.vtysh_json("show bgp summary json") is not None)

    def established(self, address: str) -> bool:
        data = self.vtysh_json("show bgp neighbors json")
        if address not in data:
            raise QueryFailed(f"frr in {self.host.name}: no neighbor {address} in {sorted(data)}")
        return data[address].get("bgpState") == "Established"

    def routes(self, version: int = 4) -> dict[str, list[dict[str, Any]]]:
        listing = self.vtysh_json(f"show bgp ipv{version} unicast json")
        if "routes" not in listing:
            raise QueryFailed(f"frr in {self.host.name}: no routes table in {str(listing)[:300]}")
        out: dict[str, list[dict[str, Any]]] = {}
        for prefix, brief in listing["routes"].items():
            detail = self.vtysh_json(f"show bgp ipv{version} unicast {prefix} json").get("paths", [])
            for b, p in zip(brief, detail, strict=False):
                out.setdefault(prefix, []).append(
                    {
                        "from": b.get("peerId"),
                        "next_hop": [h.get("ip") for h in p.get("nexthops", [])],
                        "as_path": [int(a) for a in str(p.get("aspath", {}).get("string", "")).split() if a.isdigit()],
                        "local_pref": p.get("locPrf", p.get("localpref")),
                        "communities": (p.get("community") or {}).get("list", []),
                        "large_communities": (p.get("largeCommunity") or {}).get("list", []),
                        "multipath": bool(b.get("multipath")),
                        "best": bool(b.get("bestpath")),
                    }
                )
        return out


class Gobgp(Daemon):
    kind = "gobgp"

    def write_config(self) -> None:
        text = f'[global.config]\n  as = {self.asn}\n  router-id = "{self.router_id}"\n'
        for n in self.neighbors:
            text += (
                f'[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "{n.address}"\n    peer-as = {n.asn}\n'
            )
            if n.password:
                text += f'    auth-password = "{n.password}"\n'
            text += (
                f"  [neighbors.timers.config]\n    hold-time = {n.hold}\n"
                f"    keepalive-interval = {max(1, n.hold // 3)}\n"
                f"    connect-retry = 1\n"
            )
            if n.passive:
                text += "  [neighbors.transport.config]\n    passive-mode = true\n"
            if n.multihop:
                text += "  [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 255\n"
            for af in ("ipv4-unicast", "ipv6-unicast"):
                text += f'  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "{af}"\n'
        (self.dir / "gobgpd.toml").write_text(text)

    def command(self) -> list[str]:
        return ["gobgpd", "-f", str(self.dir / "gobgpd.toml"), "-t", "toml", "--api-hosts", "127.0.0.1:50051"]

    def gobgp(self, *args: str) -> str:
        return self.query(["gobgp", "-u", "127.0.0.1", "-p", "50051", *args])

    def gobgp_json(self, *args: str) -> Any:
        return self.json_query(["gobgp", "-u", "127.0.0.1", "-p", "50051", *args, "-j"])

    def ready(self) -> bool:
        return self._ready(lambda: self.gobgp("global") is not None)

    def established(self, address: str) -> bool:
        data = self.gobgp_json("neighbor", address)
        if "state" not in data:
            raise QueryFailed(f"gobgp in {self.host.name}: no state for {address} in {str(data)[:300]}")
        return data["state"].get("session_state") in (6, "established", "ESTABLISHED")

    def routes(self, version: int = 4) -> dict[str, list[dict[str, Any]]]:
        data = self.gobgp_json("global", "rib", "-a", f"ipv{version}") or {}
        out: dict[str, list[dict[str, Any]]] = {}
        for prefix, paths in data.items():
            for p in paths:
                r: dict[str, Any] = {
                    "from": p.get("neighbor-ip"),
                    "communities": [],
                    "large_communities": [],
                    "best": p.get("best", False),
                }
                for a in p.get("attrs", []):
                    t = a.get("type")
                    if t == 2:
                        r["as_path"] = [x for s in a.get("as_paths", []) for x in s.get("asns", [])]
                    elif t == 3:
                        r["next_hop"] = [a["nexthop"]]
                    elif t == 5:
                        r["local_pref"] = a.get("value")
                    elif t == 8:
                        r["communities"] = [f"{c >> 16}:{c & 0xFFFF}" for c in a.get("communities", [])]
                    elif t == 14:
                        r["next_hop"] = [a["nexthop"]] + (
                            [a["linklocal_nexthop"]] if a.get("linklocal_nexthop") else []
                        )
                    elif t == 32:
                        r["large_communities"] = [
                            f"{c['ASN']}:{c['LocalData1']}:{c['LocalData2']}" for c in a.get("value", [])
                        ]
                out.setdefault(prefix, []).append(r)
        return out


DAEMONS = {"bird": Bird, "frr": Frr, "gobgp": Gobgp}


class Node:
    """Our speaker, in-process, its loop thread inside the node's namespace."""

    def __init__(
        self,
        host: Host,
        *,
        asn: int = 64512,
        router_id: str | None = None,
        listen: tuple[str, int] | None = None,
        link_local: bool = False,
    ):
        self.host = host
        self.asn = asn
        self.speaker = BGPSpeaker(
            host.name,
            router_id=router_id,
            registry=CollectorRegistry(),
            listen=listen,
            ipv6_link_local_next_hop=link_local,
        )
        self.registry = self.speaker.metrics  # per-node metrics for assertions
        host.call(self.speaker.start)

    def peer(self, name: str, address: str, peer_asn: int, **kw: Any) -> BGPPeer:
        kw.setdefault("hold_time", 9)
        kw.setdefault("keepalive_time", 3)
        kw.setdefault("connect_time", 2)
        if isinstance(kw.get("password"), str):
            kw["password"] = Secret(kw["password"])
        return BGPPeer(name=name, my_asn=self.asn, peer_asn=peer_asn, address=A(address), **kw)

    def status(self, name: str) -> Any:
        return next((s for s in self.speaker.snapshot() if s.peer == name), None)

    def wait_established(self, name: str, timeout: float = 15) -> Any:
        return wait_for(
            f"{self.host.name} → {name} Established",
            lambda: (s := self.status(name)) and s.state == "Established" and s,
            timeout,
        )

    def stop(self) -> None:
        self.speaker.stop(5)


def route(prefix: str, **kw: Any) -> Route:
    return Route(N(prefix), **kw)


# ---- speaker processes against the API emulator, with a BIRD router (end-to-end tests and bench) ---------------

PREFIX = "192.0.2.0/28"


class BGPWorld:
    """Two node namespaces running ``baremetal-lb speaker`` processes, a BIRD router, pool + advertisement + peer."""

    def __init__(self, lab: Lab, kube_api: Any, cluster: Any, tmp: Path) -> None:
        from tests.integration.conftest import NS
        from tests.l2world import Node

        self.cluster = cluster
        router = lab.host("router", "198.51.100.1/24")
        self.nodes: dict[str, Node] = {}
        for i in (1, 2):
            host = lab.host(f"node{i}", f"198.51.100.{10 + i}/24")
            self.nodes[host.name] = Node(host, tmp, kube_api.add_listener(host.listen("127.0.0.1", 0)))
            cluster.core.create_node(
                {
                    "metadata": {"name": host.name, "labels": {"bgp": "yes"}},
                    "status": {
                        "addresses": [{"type": "InternalIP", "address": host.ipv4[0]}],
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                }
            )
        self.bird = Bird(
            router,
            tmp,
            asn=64513,
            router_id="198.51.100.1",
            neighbors=[Neighbor(n, node.ip, 64512, hold=9) for n, node in self.nodes.items()],
        ).start()
        cluster.pool("public", [PREFIX])
        cluster.custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            NS,
            "bgpadvertisements",
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "BGPAdvertisement",
                "metadata": {"name": "public"},
                "spec": {"ipAddressPools": ["public"], "communities": ["64512:100"]},
            },
        )
        cluster.custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta2",
            NS,
            "bgppeers",
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": {"name": "router"},
                "spec": {
                    "myASN": 64512,
                    "peerASN": 64513,
                    "peerAddress": "198.51.100.1",
                    "holdTime": "9s",
                    "nodeSelectors": [{"matchLabels": {"bgp": "yes"}}],
                },
            },
        )

    def next_hops(self, prefix: str) -> list[str]:
        return sorted(r["next_hop"][0] for r in self.bird.routes(4).get(prefix, []))


# ---- what went over the wire -------------------------------------------------------------------------------------


class BGPCapture:
    """tcpdump on one lab host's BGP traffic; afterwards, the messages one side sent, in the order it sent them.

    The router daemons show the *result* of a session (a route present or gone) but not the order of messages:
    BIRD, FRR and GoBGP all drop a peer's routes on a Cease NOTIFICATION, so "the route is gone after a stop"
    passes whether or not the speaker withdrew first. The capture shows the order itself. TCP streams are
    reassembled by sequence number and decoded with our codec (whose decoding is checked against real peers'
    captures in tests/unit/bgp/). A segment the capture missed (tcpdump on a loaded 2-core machine dropped one
    19-byte KEEPALIVE in CI on 6a0d051; the peer had ACKed it, so it was on the wire) removes the messages in it
    but cannot reorder the others: reading resumes at the next segment if that one starts a BGP message (every
    message is its own segment: the speaker sets TCP_NODELAY), and fails loudly otherwise. A check that needs a
    message to be there still fails when it is the one missed, so a gap can make a check fail, never pass.
    """

    def __init__(self, host: Host, workdir: Path) -> None:
        self.host = host
        self.file = workdir / f"bgp-{host.name}.pcap"
        self.err = workdir / f"tcpdump-{host.name}.log"
        self.proc: subprocess.Popen[Any] | None = None

    def __enter__(self) -> BGPCapture:
        self._errf = open(self.err, "wb")
        # --immediate-mode + -U: every packet reaches the file as it arrives (no ring-buffer block held back).
        self.proc = self.host.popen(
            [
                "tcpdump",
                "-i",
                "any",
                "--immediate-mode",
                "-U",
                "-Z",
                "root",
                "-n",
                "-s",
                "0",
                "-w",
                str(self.file),
                "tcp port 179",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._errf,
        )
        wait_for(
            f"tcpdump in {self.host.name} to listen",
            lambda: self.proc.poll() is None and "listening on" in self.err.read_text(errors="replace"),
            timeout=10,
        )
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # tcpdump flushes and closes the file
            self.proc.wait(10)
        self.proc = None
        if not self._errf.closed:
            self._errf.close()

    def until_notification(self, src: str, timeout: float = 15) -> list[Any]:
        """Wait until ``src``'s NOTIFICATION is in the capture; then stop and return what ``src`` sent."""

        def seen() -> bool:
            try:
                return any(isinstance(m, NotificationMessage) for m in self.sent_by(src))
            except Exception:  # noqa: BLE001 - a record being written, or a segment not yet captured: poll again
                return False

        wait_for(f"a NOTIFICATION from {src} in the capture", seen, timeout=timeout, interval=0.2)
        self.stop()
        return self.sent_by(src)

    def sent_by(self, src: str) -> list[Any]:
        """Every BGP message ``src`` sent, decoded, connection after connection (by first packet)."""
        from scapy.layers.inet import IP, TCP
        from scapy.layers.inet6 import IPv6
        from scapy.utils import rdpcap

        streams: list[tuple[tuple[Any, ...], _Stream]] = []
        current: dict[tuple[Any, ...], _Stream] = {}
        for pkt in rdpcap(str(self.file)):
            ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
            if ip is None or TCP not in pkt or ip.src != src:
                continue
            tcp = pkt[TCP]
            key = (ip.src, tcp.sport, ip.dst, tcp.dport)
            stream = current.get(key)
            syn = bool(tcp.flags & 0x02)
            if stream is None or (syn and stream.base != (tcp.seq + 1) & 0xFFFFFFFF and stream.segments):
                # a new connection (the same ports can come back after the old one closed)
                stream = current[key] = _Stream(float(pkt.time))
                streams.append((key, stream))
            if syn:  # data starts at seq + 1
                stream.base = (tcp.seq + 1) & 0xFFFFFFFF
            if bytes(tcp.payload):
                stream.segments[tcp.seq] = bytes(tcp.payload)
        out: list[Any] = []
        for key, stream in sorted(streams, key=lambda kv: kv[1].first):
            for piece in stream.pieces(key, self.err):
                reader = Reader()
                reader.feed(piece)
                while (raw := reader.next_raw()) is not None:
                    out.append(unpack_message(raw, Context()))
        return out


@dataclass
class _Stream:
    first: float
    base: int | None = None
    segments: dict[int, bytes] = field(default_factory=dict)

    def pieces(self, key: tuple[Any, ...], log: Path) -> list[bytes]:
        """The stream's bytes in sequence order, split where the capture missed a segment (see BGPCapture)."""
        if not self.segments:
            return []
        base = self.base if self.base is not None else min(self.segments)
        pos, out, pieces = 0, bytearray(), []
        for offset, payload in sorted((((seq - base) & 0xFFFFFFFF), p) for seq, p in self.segments.items()):
            if offset > pos:
                if payload[:16] != MARKER:
                    tcpdump = log.read_text(errors="replace").strip() if log.exists() else ""
                    raise AssertionError(
                        f"capture of {key} lost bytes {pos}..{offset} and the next segment does not "
                        f"start a BGP message: cannot tell the message order (tcpdump: {tcpdump})"
                    )
                pieces.append(bytes(out))
                out, pos = bytearray(), offset
            out += payload[pos - offset :]
            pos = max(pos, offset + len(payload))
        return [*pieces, bytes(out)]


def withdrawn(msg: Any) -> set[str]:
    """The prefixes an UPDATE withdraws (IPv4 withdrawn routes and MP_UNREACH_NLRI), as strings."""
    if not isinstance(msg, Update):
        return set()
    from speaker.bgp.attribute.mp import MpUnreach

    unreach = msg.get(MpUnreach)
    return {str(p) for p in msg.withdrawn} | {str(p) for p in (unreach.withdrawn if unreach else ())}


def withdrawn_before_notification(messages: list[Any]) -> tuple[set[str], Any]:
    """(prefixes withdrawn on the last connection before its NOTIFICATION, that NOTIFICATION); raises if none."""
    opens = [i for i, m in enumerate(messages) if isinstance(m, Open)]
    last = messages[opens[-1] :] if opens else messages
    notes = [i for i, m in enumerate(last) if isinstance(m, NotificationMessage)]
    if not notes:
        raise AssertionError(f"no NOTIFICATION among {[type(m).__name__ for m in last]}")
    out: set[str] = set()
    for m in last[: notes[0]]:
        out |= withdrawn(m)
    return out, last[notes[0]]
