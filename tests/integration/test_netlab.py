"""The namespace LAN itself: hosts talk over the bridge, a pulled cable cuts them off, teardown leaves nothing."""

from tests.netlab import Lab, leftover_namespaces


def test_lan_ping_arp_cable_and_cleanup():
    with Lab() as lab:
        a = lab.host("a", "198.51.100.1/24", "2001:db8:100::1/64")
        b = lab.host("b", "198.51.100.2/24", "2001:db8:100::2/64")
        assert b.run("ping -c1 -W2 198.51.100.1").returncode == 0
        assert b.run("ping -6 -c1 -W2 2001:db8:100::1").returncode == 0
        neigh = b.run("ip neigh show 198.51.100.1").stdout
        assert a.mac in neigh
        a.link_down()
        assert b.run("ping -c1 -W1 198.51.100.1", check=False).returncode != 0
        a.link_up()
        assert b.run("ping -c1 -W2 198.51.100.1").returncode == 0
        # a socket opened "inside" a namespace from this process serves that namespace's loopback
        srv = a.listen("127.0.0.1", 0)
        port = srv.getsockname()[1]
        assert (
            a.run(["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"]).returncode
            == 0
        )
        srv.close()
    left = leftover_namespaces(f"blb{lab.tag}")
    assert left == [], f"namespaces left behind: {left}"


def test_api_emulator_reachable_inside_a_namespace(kube_api):
    """Speakers in node namespaces reach the API at their own loopback; the root namespace is not touched."""
    with Lab() as lab:
        node = lab.host("node", "198.51.100.10/24")
        url = kube_api.add_listener(node.listen("127.0.0.1", 0))
        out = node.run(["curl", "-s", f"{url}/api/v1/namespaces/default"], timeout=10).stdout
        assert '"name":"default"' in out.replace(" ", "")
