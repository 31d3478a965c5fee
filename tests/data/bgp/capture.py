"""Regenerate the golden captures in this directory: ``sudo .venv/bin/python tests/data/bgp/capture.py``.

For each of BIRD, FRR bgpd and GoBGP: a lab (namespaces, tests/netlab.py), the daemon in a router namespace
exporting 192.0.2.0/24 (community 64513:7, large community 64513:1:2) and 2001:db8:200::/48 to our speaker in a
node namespace, and ``tcpdump -w`` in the node namespace. The TCP payload the daemon sent is reassembled and
split into messages; its OPEN and its first IPv4 and IPv6 UPDATEs carrying routes are stored as hex, one file
each (``<daemon>-open.hex``, ``<daemon>-update4.hex``, ``<daemon>-update6.hex``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from scapy.all import IP, TCP, rdpcap  # noqa: E402

from speaker.bgp.attribute import MpReach  # noqa: E402
from speaker.bgp.context import Context  # noqa: E402
from speaker.bgp.message import Open, Reader, Update, unpack_message  # noqa: E402
from tests.bgplab import Bird, Frr, Gobgp, Neighbor, Node, wait_for  # noqa: E402
from tests.netlab import Lab  # noqa: E402

HERE = Path(__file__).resolve().parent
ROUTER, NODE = "198.51.100.2", "198.51.100.10"


class BirdX(Bird):
    def write_config(self) -> None:
        super().write_config()
        conf = (self.dir / "bird.conf").read_text().replace("export none;", "export all;")
        conf += (
            "protocol static s4 { ipv4; route 192.0.2.0/24 blackhole { bgp_community.add((64513,7)); "
            "bgp_large_community.add((64513,1,2)); }; }\n"
            "protocol static s6 { ipv6; route 2001:db8:200::/48 blackhole; }\n"
        )
        (self.dir / "bird.conf").write_text(conf)


class FrrX(Frr):
    def write_config(self) -> None:
        super().write_config()
        lines = (self.dir / "bgpd.conf").read_text().splitlines()
        out = []
        for line in lines:
            out.append(line)
            if line == " address-family ipv4 unicast":
                out.append("  network 192.0.2.0/24 route-map RM")
            if line == " address-family ipv6 unicast":
                out.append("  network 2001:db8:200::/48")
        out += ["route-map RM permit 10", " set community 64513:7", " set large-community 64513:1:2"]
        (self.dir / "bgpd.conf").write_text("\n".join(out) + "\n")


def capture(kind: str, cls: type, tmp: Path) -> dict[str, bytes]:
    with Lab() as lab:
        r = lab.host("r", f"{ROUTER}/24", "2001:db8:100::2/64")
        n = lab.host("n1", f"{NODE}/24", "2001:db8:100::10/64")
        pcap = tmp / f"{kind}.pcap"
        dump = n.popen(["tcpdump", "-U", "-i", "eth0", "-w", str(pcap), "tcp port 179"], stderr=subprocess.PIPE)
        assert dump.stderr is not None
        dump.stderr.readline()  # "listening on eth0 ..." once it captures
        d = cls(r, tmp, asn=64513, router_id=ROUTER, neighbors=[Neighbor("n1", NODE, 64512)]).start()
        if kind == "gobgp":
            d.gobgp(
                "global",
                "rib",
                "add",
                "192.0.2.0/24",
                "community",
                "64513:7",
                "large-community",
                "64513:1:2",
                "-a",
                "ipv4",
                check=True,
            )
            d.gobgp("global", "rib", "add", "2001:db8:200::/48", "-a", "ipv6", check=True)
        node = Node(n)
        node.speaker.set_peers([node.peer("r", ROUTER, 64513)])
        node.wait_established("r")
        wait_for("routes received", lambda: node.status("r").prefixes_received >= 2, timeout=15)
        time.sleep(0.5)
        node.stop()
        time.sleep(0.5)
        dump.terminate()
        dump.wait(5)
    stream = b"".join(
        bytes(p[TCP].payload)
        for p in rdpcap(str(pcap))
        if TCP in p and p[TCP].sport == 179 and (IP in p and p[IP].src == ROUTER) and len(p[TCP].payload)
    )
    reader = Reader()
    reader.feed(stream)
    found: dict[str, bytes] = {}
    while (raw := reader.next_raw()) is not None:
        msg = unpack_message(raw, Context())
        if isinstance(msg, Open):
            found.setdefault("open", raw)
        elif isinstance(msg, Update) and msg.nlri:
            found.setdefault("update4", raw)
        elif isinstance(msg, Update) and msg.get(MpReach) is not None and msg.get(MpReach).nlri:
            found.setdefault("update6", raw)
    return found


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for kind, cls in (("bird", BirdX), ("frr", FrrX), ("gobgp", Gobgp)):
            found = capture(kind, cls, Path(tmp))
            for what, raw in sorted(found.items()):
                (HERE / f"{kind}-{what}.hex").write_text(raw.hex() + "\n")
                print(kind, what, len(raw), "octets")


if __name__ == "__main__":
    main()
