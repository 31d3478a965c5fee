"""The layer 2 responder on a namespace LAN, checked with real clients (arping, ping + ip neigh, ndisc6, curl).

The Announcer runs in this process, started on a thread inside the node's namespace (its threads, and the
responder process it starts from them, stay there); clients are other namespaces on the same bridge. By
default the answering is done by that child process (``responder: process``); the tests marked with both
modes also run with ``responder: thread``. The child's counts reach ``metrics`` in reports (every 0.2 s),
hence the ``wait_for`` around counters. tests/integration/test_layer2_process.py covers the child's lifecycle.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from speaker.layer2 import Announcement, Announcer, Layer2Settings, ProbeSettings, bpf
from speaker.layer2.exclude import exclusion
from speaker.layer2.frames import arp_request, ip_bytes, mac_bytes, neighbor_solicit
from speaker.layer2.gratuitous import DEFAULT_BURST
from speaker.layer2.metrics import Layer2Metrics
from tests.integration.conftest import wait_for
from tests.netlab import Host, Lab, require_root

VIP4 = "198.51.100.240"
OBSERVE = 1.0  # seconds to watch for frames a node must not send
VIP6 = "2001:db8:100::240"
NODE1 = ("198.51.100.10/24", "2001:db8:100::10/64")
NODE2 = ("198.51.100.11/24", "2001:db8:100::11/64")
CLIENT = ("198.51.100.20/24", "2001:db8:100::20/64")
FAST_PROBE = ProbeSettings(count=2, interval=0.05, timeout=0.1, retry=60.0, peer_retry=0.3)


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        yield lab


class Node:
    """An Announcer running inside a host's namespace, stopped at teardown."""

    def __init__(
        self,
        host: Host,
        *,
        probe: bool = False,
        refresh: float = 0.0,
        mode: str = "process",
        peers: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.conflicts: list[tuple[str, str]] = []
        self.metrics = Layer2Metrics()
        self.ann = Announcer(
            host.name,
            settings=Layer2Settings(probe=probe, probing=FAST_PROBE, refresh_interval=refresh, responder=mode),
            on_conflict=lambda ip, mac: self.conflicts.append((ip, mac)),
            metrics=self.metrics,
            peer_of=(peers or {}).get,
        )
        host.call(self.ann.start)

    def state(self, ip: str) -> str | None:
        for row in self.ann.snapshot()["addresses"]:
            if row["ip"] == ip:
                return row["state"]
        return None

    def wait_state(self, ip: str, state: str, timeout: float = 5.0) -> None:
        wait_for(f"{ip} to be {state} on {self.host.name}", lambda: self.state(ip) == state, timeout)


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for n in started:
        n.ann.stop()


def start(nodes: list[Node], host: Host, **kw) -> Node:
    n = Node(host, **kw)
    nodes.append(n)
    return n


def arping(client: Host, ip: str, timeout: int = 1) -> str | None:
    """The MAC that answers ``arping`` for ip, or None."""
    out = client.run(f"arping -c1 -w{timeout} -I eth0 {ip}", check=False).stdout
    m = re.search(r"bytes from ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


def ndisc(client: Host, ip: str) -> str | None:
    out = client.run(f"ndisc6 -1 -r1 -w500 {ip} eth0", check=False).stdout
    m = re.search(r"Target link-layer address: ([0-9A-Fa-f:]{17})", out)
    return m.group(1).lower() if m else None


def neigh(client: Host, ip: str) -> str | None:
    """The MAC in the client's kernel neighbour table for ip (any state but FAILED/INCOMPLETE)."""
    out = client.run(f"ip neigh show {ip} dev eth0", check=False).stdout
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


def kernel_lookup(client: Host, ip: str) -> None:
    """Make the client's kernel resolve ip (what any application does on first contact)."""
    flag = "-6 " if ":" in ip else ""
    client.run(f"ping {flag}-c1 -W1 {ip}", check=False)


def counted(counter: dict[str, int], key: str, at_least: int) -> bool:
    return counter.get(key, 0) >= at_least


MODES = pytest.mark.parametrize("mode", ["process", "thread"])


# --- answering -------------------------------------------------------------------------------------------
@MODES
def test_arp_and_ndp_answered_with_the_node_mac(lab, nodes, mode):
    node = lab.host("node", *NODE1)
    client = lab.host("client", *CLIENT)
    n = start(nodes, node, mode=mode)
    n.ann.set_desired({VIP4: Announcement("default/web"), VIP6: Announcement("default/web")})
    n.wait_state(VIP4, "announced")
    n.wait_state(VIP6, "announced")

    assert arping(client, VIP4) == node.mac
    assert ndisc(client, VIP6) == node.mac
    kernel_lookup(client, VIP4)
    kernel_lookup(client, VIP6)
    assert neigh(client, VIP4) == node.mac
    assert neigh(client, VIP6) == node.mac
    # nobody else answers: the client's own address is not ours, neither is an unallocated one
    assert arping(client, "198.51.100.241") is None
    wait_for(
        "requests and responses counted",
        lambda: (
            counted(n.metrics.requests, VIP4, 2)
            and counted(n.metrics.responses, VIP4, 2)
            and counted(n.metrics.responses, VIP6, 1)
        ),
    )
    wait_for("the burst on announcing counted", lambda: counted(n.metrics.gratuitous, VIP4, 2))
    # the node joined the VIP's solicited-node multicast group on eth0
    assert "33:33:ff:00:02:40" in node.run("ip maddr show dev eth0").stdout
    snap = n.ann.snapshot()
    assert snap["answering_on"] == ["eth0"]
    assert {r["ip"]: r["interfaces"] for r in snap["addresses"]} == {VIP4: ["eth0"], VIP6: ["eth0"]}
    assert snap["responder"]["mode"] == mode and snap["responder"]["up"] is True


def test_curl_reaches_a_backend_on_the_node_through_the_vip(lab, nodes):
    node = lab.host("node", *NODE1)
    client = lab.host("client", *CLIENT)
    # kube-proxy stand-in: the VIP is DNATed to the node's own address, where the "backend" listens
    node.run(f"iptables -t nat -A PREROUTING -d {VIP4} -j DNAT --to-destination 198.51.100.10")
    node.run(f"ip6tables -t nat -A PREROUTING -d {VIP6} -j DNAT --to-destination 2001:db8:100::10")
    srv = node.popen(
        [
            "python3",
            "-c",
            (
                "import http.server, socket\n"
                "class S(http.server.ThreadingHTTPServer): address_family = socket.AF_INET6\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "    def do_GET(self):\n"
                "        body = b'hello from node\\n'\n"
                "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
                "        self.end_headers()\n"
                "        self.wfile.write(body)\n"
                "    def log_message(self, *a): pass\n"
                "S(('::', 80), H).serve_forever()\n"
            ),
        ]
    )
    try:
        n = start(nodes, node)
        n.ann.set_desired({VIP4: Announcement("default/web"), VIP6: Announcement("default/web")})
        n.wait_state(VIP4, "announced")
        n.wait_state(VIP6, "announced")
        wait_for(
            "the backend to listen", lambda: node.run("curl -s -m1 http://198.51.100.10/", check=False).returncode == 0
        )
        out = client.run(f"curl -s -m3 http://{VIP4}/").stdout
        assert out == "hello from node\n"
        out6 = client.run(f"curl -s -m3 http://[{VIP6}]/").stdout
        assert out6 == "hello from node\n"
        assert neigh(client, VIP4) == node.mac
    finally:
        srv.kill()
        srv.wait(5)


def test_answers_only_on_the_interfaces_chosen_for_the_vip(lab, nodes):
    node = lab.host("node", *NODE1)
    client = lab.host("client", *CLIENT)
    node.run("ip link add vx0 type veth peer name vx1")
    node.run("ip link set vx0 up")
    node.run("ip link set vx1 up")
    n = start(nodes, node)
    # an L2Advertisement naming vx0 only: eth0 must stay silent even though the subnet matches
    n.ann.set_desired({VIP4: Announcement("default/web", frozenset({"vx0"}))})
    n.wait_state(VIP4, "announced")
    assert n.ann.snapshot()["answering_on"] == ["vx0"]
    assert arping(client, VIP4) is None
    assert n.metrics.dropped.get("not-match-interface", 0) == 0  # the eth0 socket does not even exist
    n.ann.set_desired({VIP4: Announcement("default/web", frozenset({"vx0", "eth0"}))})
    wait_for("eth0 to answer", lambda: arping(client, VIP4) == node.mac, timeout=5)


def test_withdraw_stops_answering_and_sends_nothing(lab, nodes):
    node = lab.host("node", *NODE1)
    client = lab.host("client", *CLIENT)
    n = start(nodes, node)
    n.ann.announce(VIP4, "default/web")
    n.ann.announce(VIP6, "default/web")
    n.wait_state(VIP4, "announced")
    assert arping(client, VIP4) == node.mac
    assert ndisc(client, VIP6) == node.mac
    # the whole gratuitous burst sent and counted: per round two ARP frames for IPv4, one NA for IPv6
    wait_for(
        "the gratuitous burst to finish",
        lambda: (
            counted(n.metrics.gratuitous, VIP4, 2 * len(DEFAULT_BURST))
            and counted(n.metrics.gratuitous, VIP6, len(DEFAULT_BURST))
        ),
        timeout=15,
    )
    garps = dict(n.metrics.gratuitous)
    # anything that could move or confirm a client's entry: ARP, or a Neighbor Advertisement (the node's
    # kernel sends unrelated router solicitations meanwhile)
    cap = client.popen(
        [
            "tcpdump",
            "-nli",
            "eth0",
            "-c",
            "1",
            "--immediate-mode",
            "-w",
            "/dev/null",
            f"ether src {node.mac} and (arp or (icmp6 and ip6[40] == 136))",
        ]
    )
    try:
        n.ann.withdraw(VIP4)
        n.ann.withdraw(VIP6)
        wait_for("withdrawal", lambda: n.state(VIP4) is None and n.state(VIP6) is None)
        assert arping(client, VIP4) is None
        assert ndisc(client, VIP6) is None
        assert "33:33:ff:00:02:40" not in node.run("ip maddr show dev eth0").stdout
        assert n.ann.snapshot()["answering_on"] == []
        # "sends nothing" needs a window to watch: tcpdump exits on the first ARP/NA from the node, so it is still
        # running after OBSERVE seconds only if the node stayed silent (and the burst counters did not move).
        with pytest.raises(subprocess.TimeoutExpired):
            cap.wait(timeout=OBSERVE)
        assert n.metrics.gratuitous == garps
    finally:
        cap.kill()
        cap.wait(5)


# --- takeover ----------------------------------------------------------------------------------------------
@MODES
def test_takeover_moves_client_neighbour_entries_at_once(lab, nodes, mode):
    h1 = lab.host("node1", *NODE1)
    h2 = lab.host("node2", *NODE2)
    client = lab.host("client", *CLIENT)
    n1, n2 = start(nodes, h1, mode=mode), start(nodes, h2, mode=mode)
    n1.ann.set_desired({VIP4: Announcement("default/web"), VIP6: Announcement("default/web")})
    n1.wait_state(VIP4, "announced")
    n1.wait_state(VIP6, "announced")
    kernel_lookup(client, VIP4)
    kernel_lookup(client, VIP6)
    assert neigh(client, VIP4) == h1.mac and neigh(client, VIP6) == h1.mac

    # handover as the daemon does it: the new owner announces (no probe: the old one still answers), then
    # the old one withdraws
    t0 = time.monotonic()
    n2.ann.set_desired({VIP4: Announcement("default/web", probe=False), VIP6: Announcement("default/web", probe=False)})
    n1.ann.set_desired({})
    # The client sends nothing meanwhile and its entries stay valid for base_reachable_time (30 s, so at least
    # 15 s): an entry that moves within the wait moved because of the announcements (figures: bench/failover.py).
    wait_for("the client's IPv4 entry to move", lambda: neigh(client, VIP4) == h2.mac, timeout=10, interval=0.005)
    moved4 = time.monotonic() - t0
    wait_for("the client's IPv6 entry to move", lambda: neigh(client, VIP6) == h2.mac, timeout=10, interval=0.005)
    moved6 = time.monotonic() - t0
    print(f"neighbour entries moved after {moved4 * 1000:.1f} ms (IPv4) / {moved6 * 1000:.1f} ms (IPv6)")
    assert arping(client, VIP4) == h2.mac


def test_node_death_the_survivor_takes_over(lab, nodes):
    h1 = lab.host("node1", *NODE1)
    h2 = lab.host("node2", *NODE2)
    client = lab.host("client", *CLIENT)
    n1, n2 = start(nodes, h1), start(nodes, h2)
    n1.ann.announce(VIP4, "default/web")
    n1.wait_state(VIP4, "announced")
    kernel_lookup(client, VIP4)
    assert neigh(client, VIP4) == h1.mac
    h1.link_down()  # node 1 is gone; membership (not part of this test) tells node 2
    n2.ann.announce(VIP4, "default/web", probe=False)
    wait_for("the client to follow node 2", lambda: neigh(client, VIP4) == h2.mac, timeout=2, interval=0.005)


# --- interfaces and link events ---------------------------------------------------------------------------
def test_link_down_stops_answering_there_and_link_up_resumes(lab, nodes):
    node = lab.host("node", *NODE1)
    client = lab.host("client", *CLIENT)
    n = start(nodes, node)
    n.ann.announce(VIP4, "default/web")
    n.wait_state(VIP4, "announced")
    assert arping(client, VIP4) == node.mac
    wait_for(
        "the gratuitous burst to finish",
        lambda: counted(n.metrics.gratuitous, VIP4, 2 * len(DEFAULT_BURST)),
        timeout=15,
    )
    before = n.metrics.gratuitous[VIP4]
    node.link_down()
    n.wait_state(VIP4, "pending")
    assert n.ann.snapshot()["answering_on"] == []
    assert n.ann.snapshot()["interfaces"]["eth0"]["reason"] == "no carrier"
    node.link_up()
    n.wait_state(VIP4, "announced")
    wait_for("an answer after the link came back", lambda: arping(client, VIP4) == node.mac, timeout=5)
    # coming back, the node announced itself again (clients may have moved elsewhere meanwhile)
    wait_for("the gratuitous burst", lambda: n.metrics.gratuitous[VIP4] > before)


def row(n: Node, ip: str) -> dict:
    return next(r for r in n.ann.snapshot()["addresses"] if r["ip"] == ip)


def test_a_vip_no_interface_holds_is_answered_on_every_interface_until_one_holds_it(lab, nodes):
    """MetalLB's behaviour as the fallback: with no interface in the VIP's subnet (a VLAN the node joins at Layer 2
    only), every usable interface answers, flagged ``all_interfaces``; once an interface holds the subnet, only it."""
    node = lab.host("node", *NODE1)
    client = lab.host("client", *CLIENT)
    vip = "192.0.2.240"
    client.add_address("192.0.2.20/24")
    node.run("ip link add vx0 type veth peer name vx1")
    node.run("ip link set vx0 up")
    node.run("ip link set vx1 up")
    n = start(nodes, node)
    n.ann.announce(vip, "default/other")
    n.wait_state(vip, "announced")  # no interface has 192.0.2.0/24: every usable one answers
    assert row(n, vip)["interfaces"] == ["eth0", "vx0", "vx1"] and row(n, vip)["all_interfaces"] is True
    assert arping(client, vip) == node.mac
    node.add_address("192.0.2.10/24")  # no restart: the link watcher sees RTM_NEWADDR
    wait_for("only eth0 to answer", lambda: row(n, vip)["interfaces"] == ["eth0"], timeout=5)
    assert "all_interfaces" not in row(n, vip) and n.ann.snapshot()["answering_on"] == ["eth0"]
    assert arping(client, vip) == node.mac
    node.run("ip addr del 192.0.2.10/24 dev eth0")
    wait_for("every interface again", lambda: row(n, vip)["interfaces"] == ["eth0", "vx0", "vx1"], timeout=5)


def test_excluded_interfaces_are_never_answered_on(lab, nodes):
    """MetalLB's metallb-excludel2 list, applied to a running announcer: an excluded interface stops answering at
    once (even one that holds the subnet), and the others keep answering."""
    node = lab.host("node", *NODE1)
    client = lab.host("client", *CLIENT)
    node.run("ip link add vx0 type veth peer name vx1")
    node.run("ip link set vx0 up")
    node.run("ip link set vx1 up")
    n = start(nodes, node)
    n.ann.announce(VIP4, "default/web", {"eth0", "vx0"})
    n.wait_state(VIP4, "announced")
    assert n.ann.snapshot()["answering_on"] == ["eth0", "vx0"]
    assert arping(client, VIP4) == node.mac
    n.ann.set_exclusion(exclusion(["^vx"], "test list"))
    wait_for("vx0 to stop answering", lambda: n.ann.snapshot()["answering_on"] == ["eth0"], timeout=5)
    assert n.ann.snapshot()["interfaces"]["vx0"] == {
        "mac": n.ann.snapshot()["interfaces"]["vx0"]["mac"],
        "usable": False,
        "reason": "excluded by '^vx' (test list)",
    }
    assert arping(client, VIP4) == node.mac
    n.ann.set_exclusion(exclusion(["^eth0$", "^vx"], "test list"))
    wait_for("eth0 to stop answering", lambda: n.ann.snapshot()["answering_on"] == [], timeout=5)
    n.wait_state(VIP4, "pending")
    assert arping(client, VIP4) is None


# --- conflicts ----------------------------------------------------------------------------------------------
def test_conflicting_host_is_detected_and_the_vip_not_announced(lab, nodes):
    node = lab.host("node", *NODE1)
    rogue = lab.host("rogue", "198.51.100.30/24", "2001:db8:100::30/64")
    client = lab.host("client", *CLIENT)
    rogue.add_address(f"{VIP4}/24")
    rogue.add_address(f"{VIP6}/64")
    n = start(nodes, node, probe=True)
    n.ann.set_desired(
        {
            VIP4: Announcement("default/web"),
            VIP6: Announcement("default/web"),
            "198.51.100.241": Announcement("default/free"),
        }
    )
    n.wait_state(VIP4, "conflict")
    n.wait_state(VIP6, "conflict")
    n.wait_state("198.51.100.241", "announced")  # a free address passes its probe
    assert sorted(n.conflicts) == sorted([(VIP4, rogue.mac), (VIP6, rogue.mac)])
    snap = {r["ip"]: r for r in n.ann.snapshot()["addresses"]}
    assert snap[VIP4]["conflict_mac"] == rogue.mac
    assert n.metrics.conflicts == {VIP4: 1, VIP6: 1}
    # only the rogue answers for the VIP; the node never announced it
    out = client.run(f"arping -c2 -w2 -I eth0 {VIP4}", check=False).stdout
    assert rogue.mac in out and node.mac not in out
    assert n.metrics.gratuitous.get(VIP4, 0) == 0
    assert arping(client, "198.51.100.241") == node.mac


def test_an_answer_from_another_speaker_is_a_handover_not_a_conflict(lab, nodes):
    """node2 still answers for an address node1 is told to take (their views of who is alive differed for a
    moment): node1's probe is answered by node2's MAC, which ``peer_of`` knows. No conflict, no Warning; node1
    probes again after ``peer_retry`` and announces as soon as node2 lets the address go."""
    h1, h2, client = lab.host("node1", *NODE1), lab.host("node2", *NODE2), lab.host("client", *CLIENT)
    n2 = start(nodes, h2)
    n2.ann.set_desired({VIP4: Announcement("default/web")})
    n2.wait_state(VIP4, "announced")
    n1 = start(nodes, h1, probe=True, peers={h2.mac: "node2"})
    n1.ann.set_desired({VIP4: Announcement("default/web")})
    n1.wait_state(VIP4, "peer-answering")
    assert arping(client, VIP4) == h2.mac
    n2.ann.set_desired({})
    n1.wait_state(VIP4, "announced", timeout=3)
    assert arping(client, VIP4) == h1.mac
    assert n1.conflicts == [] and n1.metrics.conflicts == {}


# --- the kernel runs our filters ------------------------------------------------------------------------------
def test_bpf_filters_in_the_kernel(lab):
    rx = lab.host("rx", *NODE1)
    tx = lab.host("tx", *CLIENT)
    from speaker.layer2.responder import packet_socket

    def open_socks():
        arp_s = packet_socket("eth0", 0x0806, bpf.arp_program([ip_bytes(VIP4)]))
        ndp_s = packet_socket("eth0", 0x86DD, bpf.ndp_program([ip_bytes(VIP6)]))
        arp_s.settimeout(0.3)
        ndp_s.settimeout(0.3)
        return arp_s, ndp_s

    arp_s, ndp_s = rx.call(open_socks)
    cm = mac_bytes(tx.mac)

    def send(frames):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("eth0", 0))
        for f in frames:
            s.send(f)
        s.close()

    def received(sock):
        got = []
        try:
            while True:
                got.append(sock.recv(2048))
        except (TimeoutError, BlockingIOError):
            return got

    req_vip = arp_request(cm, ip_bytes("198.51.100.20"), ip_bytes(VIP4))
    req_other = arp_request(cm, ip_bytes("198.51.100.20"), ip_bytes("198.51.100.7"))
    ns_vip = neighbor_solicit(cm, ip_bytes("2001:db8:100::20"), ip_bytes(VIP6))
    ns_other = neighbor_solicit(cm, ip_bytes("2001:db8:100::20"), ip_bytes("2001:db8:100::7"))
    ns_hlim = bytearray(ns_vip)
    ns_hlim[21] = 64
    tx.call(lambda: send([req_other, req_vip, ns_other, bytes(ns_hlim), ns_vip]))
    got_arp = rx.call(lambda: received(arp_s))
    got_ndp = rx.call(lambda: received(ndp_s))
    assert got_arp == [req_vip]
    assert got_ndp == [ns_vip]
    # our own outgoing frames never reach the responder
    rx.call(lambda: send([req_vip, ns_vip]))
    assert rx.call(lambda: received(arp_s)) == [] and rx.call(lambda: received(ndp_s)) == []
    arp_s.close()
    ndp_s.close()
