"""A connection open across a planned hand-over survives it (speaker/layer2/handover.py), with real packets.

Two nodes with a kube-proxy stand-in each (DNAT from the VIP to a local server), a client whose neighbour entry
for the VIP moves from node1 to node2 in the middle of a connection — what the new owner's gratuitous ARP does.
The client's next segment reaches node2, which never saw that connection: without forwarding it answers with a
RST (the request lost on a planned stop, tests/integration/test_layer2_e2e.py); with the new owner's forwarding
installed before the move, node2 passes it on to node1, which finishes the request.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from speaker.layer2.handover import HandoverForwarder, _on_link_device
from tests.netlab import Lab

VIP = "198.51.100.240"
SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("%s", 8080)); s.listen()
print("listening", flush=True)
c, _ = s.accept(); got = b""
while not got.endswith(b"more"):
    got += c.recv(100)
c.sendall(b"answered by %s"); c.close()
"""
# Sends the request in two parts: the first while the client still talks to node1, the second once the test
# has moved the client (a line on stdin).
CLIENT = """
import socket, sys
s = socket.create_connection(("%s", 80), timeout=10); s.sendall(b"hello")
print("connected", flush=True); sys.stdin.readline()
s.sendall(b"more")
try:
    print(s.recv(100).decode(), flush=True)
except OSError as exc:
    print("lost", repr(exc), flush=True)
"""


@pytest.mark.parametrize("forward", [True, False], ids=["forwarded", "without-forwarding"])
def test_a_connection_open_across_the_move_is_finished_by_the_old_owner(forward: bool):
    with Lab() as lab:
        client = lab.host("client", "198.51.100.100/24")
        nodes = [lab.host(f"node{i}", f"198.51.100.{10 + i}/24") for i in (1, 2)]
        for n in nodes:
            n.run(f"iptables -t nat -A PREROUTING -d {VIP} -p tcp --dport 80 -j DNAT --to-destination {n.ipv4[0]}:8080")
        node1, node2 = nodes
        server = node1.popen(
            [sys.executable, "-c", SERVER % (node1.ipv4[0], "node1")], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout.readline().strip() == "listening"
        client.run(f"ip neigh replace {VIP} lladdr {node1.mac} dev eth0")  # node1 announces the VIP
        conn = client.popen(
            [sys.executable, "-c", CLIENT % VIP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert conn.stdout.readline().strip() == "connected"

        forwarder = HandoverForwarder(
            run=lambda script: node2.run(["nft", "-f", "-"], input=script) and None,
            device_for=lambda ip: node2.call(lambda: _on_link_device(ip)),
        )
        if forward:  # node2 takes over from node1, which left cleanly: forwarding first, then the announcement
            assert [f.device for f in forwarder.begin({VIP: [node1.ipv4[0]]})] == ["eth0"]
        client.run(f"ip neigh replace {VIP} lladdr {node2.mac} dev eth0")  # the gratuitous ARP's effect
        conn.stdin.write("go\n")
        conn.stdin.flush()
        answer = conn.stdout.readline().strip()
        conn.wait(10)
        if forward:
            assert answer == "answered by node1"
            counters = node2.run(["nft", "list", "table", "netdev", "baremetal-lb-handover"]).stdout
            assert "counter packets 0 " not in counters  # the segment did go through node2's forwarding
            forwarder.stop()
            assert "baremetal-lb-handover" not in node2.run(["nft", "list", "tables"]).stdout
            assert server.wait(10) == 0
        else:
            assert answer.startswith("lost ConnectionResetError"), answer  # node2 reset it
