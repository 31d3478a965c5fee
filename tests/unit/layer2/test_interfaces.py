"""Which interfaces may announce a VIP (pure)."""

import ipaddress

from speaker.layer2.interfaces import IFF_LOOPBACK, IFF_NOARP, IFF_RUNNING, IFF_UP, Link, select_interfaces

UP = IFF_UP | IFF_RUNNING


def link(name, *addrs, flags=UP, master=None, index=1, mac="02:00:00:00:00:01"):
    return Link(index, name, mac, flags, master=master, addresses=tuple(ipaddress.ip_interface(a) for a in addrs))


LINKS = {
    "lo": link("lo", "127.0.0.1/8", flags=UP | IFF_LOOPBACK, mac="00:00:00:00:00:00"),
    "eth0": link("eth0", "198.51.100.10/24", "2001:db8:100::10/64"),
    "eth1": link("eth1", "192.0.2.10/24"),
    "down": link("down", "192.0.2.129/25", flags=IFF_UP),          # no carrier
    "admin": link("admin", "192.0.2.130/25", flags=0),
    "port": link("port", "198.51.100.11/24", master=7),            # a bridge port
    "tun0": link("tun0", "198.51.100.12/24", flags=UP | IFF_NOARP),
    "br0": link("br0", "192.0.2.200/26", "2001:db8:200::1/64"),
}


def test_subnet_match():
    assert select_interfaces("198.51.100.240", LINKS) == {"eth0"}
    assert select_interfaces("2001:db8:100::240", LINKS) == {"eth0"}
    assert select_interfaces("192.0.2.240", LINKS) == {"eth1", "br0"}
    assert select_interfaces("2001:db8:300::1", LINKS) == set()


def test_skips_down_members_noarp_loopback():
    assert select_interfaces("192.0.2.140", LINKS) == {"eth1"}    # "down"/"admin" match but are unusable
    assert select_interfaces("127.0.0.5", LINKS) == set()
    for name in ("down", "admin", "port", "tun0", "lo"):
        assert LINKS[name].unusable() is not None, name
    assert LINKS["eth0"].unusable() is None


def test_named_interfaces_override_subnets():
    assert select_interfaces("198.51.100.240", LINKS, ["eth1"]) == {"eth1"}
    assert select_interfaces("198.51.100.240", LINKS, ["eth1", "port", "nonexistent", "down"]) == {"eth1"}
    assert select_interfaces("198.51.100.240", LINKS, []) == set()


def test_family_must_match():
    links = {"v6only": link("v6only", "2001:db8::1/32")}
    assert select_interfaces("198.51.100.1", links) == set()
