"""Which interfaces may announce a VIP (pure): the subnet rule, named interfaces, the interfaces MetalLB's
``metallb-excludel2`` excludes, and the fallback to every interface when none holds the VIP's subnet."""

import ipaddress

import pytest

from speaker.layer2.exclude import DEFAULT, exclusion
from speaker.layer2.interfaces import (
    IFF_LOOPBACK,
    IFF_NOARP,
    IFF_RUNNING,
    IFF_UP,
    InterfaceChoice,
    Link,
    choose_interfaces,
    select_interfaces,
)

UP = IFF_UP | IFF_RUNNING


def link(name, *addrs, flags=UP, master=None, index=1, mac="02:00:00:00:00:01"):
    return Link(index, name, mac, flags, master=master, addresses=tuple(ipaddress.ip_interface(a) for a in addrs))


LINKS = {
    "lo": link("lo", "127.0.0.1/8", flags=UP | IFF_LOOPBACK, mac="00:00:00:00:00:00"),
    "eth0": link("eth0", "198.51.100.10/24", "2001:db8:100::10/64"),
    "eth1": link("eth1", "192.0.2.10/24"),
    "down": link("down", "192.0.2.129/25", flags=IFF_UP),  # no carrier
    "admin": link("admin", "192.0.2.130/25", flags=0),
    "port": link("port", "198.51.100.11/24", master=7),  # a bridge port
    "tun0": link("tun0", "198.51.100.12/24", flags=UP | IFF_NOARP),
    "br0": link("br0", "192.0.2.200/26", "2001:db8:200::1/64"),
}


def test_subnet_match():
    assert select_interfaces("198.51.100.240", LINKS) == {"eth0"}
    assert select_interfaces("2001:db8:100::240", LINKS) == {"eth0"}
    assert select_interfaces("192.0.2.240", LINKS) == {"eth1", "br0"}


def test_skips_down_members_noarp_loopback():
    assert select_interfaces("192.0.2.140", LINKS) == {"eth1"}  # "down"/"admin" match but are unusable
    for name in ("down", "admin", "port", "tun0", "lo"):
        assert LINKS[name].unusable() is not None, name
    assert LINKS["eth0"].unusable() is None


def test_named_interfaces_override_subnets():
    assert select_interfaces("198.51.100.240", LINKS, ["eth1"]) == {"eth1"}
    assert select_interfaces("198.51.100.240", LINKS, ["eth1", "port", "nonexistent", "down"]) == {"eth1"}
    assert select_interfaces("198.51.100.240", LINKS, []) == set()


def test_family_must_match():
    links = {"v6only": link("v6only", "2001:db8::1/32"), "v4": link("v4", "198.51.100.9/24")}
    assert select_interfaces("198.51.100.1", links) == {"v4"}
    assert select_interfaces("2001:db8::5", links) == {"v6only"}


# A node as a cluster has it: the LAN, a VLAN it joins at Layer 2 only (no address), the container bridges and a
# Calico veth (not in a bridge, so usable by flags), kube-proxy's IPVS dummy (NOARP) and flannel's VXLAN device.
NODE = {
    "eth0": link("eth0", "198.51.100.10/24", "fe80::1/64"),
    "eth0.20": link("eth0.20", "fe80::2/64"),
    "docker0": link("docker0", "172.17.0.1/16"),
    "cni0": link("cni0", "10.244.0.1/24", "fe80::3/64"),
    "cali1234abcd": link("cali1234abcd", "fe80::ecee:eeff:feee:eeee/64"),
    "kube-ipvs0": link("kube-ipvs0", "198.51.100.240/32", flags=UP | IFF_NOARP),
    "flannel.1": link("flannel.1", "10.244.0.0/32"),
    "lo": link("lo", "127.0.0.1/8", flags=UP | IFF_LOOPBACK, mac="00:00:00:00:00:00"),
}
NOTHING = exclusion((), "test")
LAN_VIP, VLAN_VIP, VLAN_VIP6 = "198.51.100.240", "192.0.2.50", "2001:db8:20::50"

# (description, VIP, L2Advertisement interfaces, exclusion, expected names, all_interfaces)
CASES = [
    ("the subnet rule: only the LAN answers", LAN_VIP, None, DEFAULT, {"eth0"}, False),
    (
        "an interface that holds the subnet but is excluded does not answer, and then nobody holds it: fallback",
        "172.17.0.50",
        None,
        DEFAULT,
        {"eth0", "eth0.20"},
        True,
    ),
    (
        "no interface holds the VIP: every usable, non-excluded interface (MetalLB's default list)",
        VLAN_VIP,
        None,
        DEFAULT,
        {"eth0", "eth0.20"},
        True,
    ),
    (
        "...and with an empty list, the container interfaces too (NOARP and loopback never)",
        VLAN_VIP,
        None,
        NOTHING,
        {"eth0", "eth0.20", "docker0", "cni0", "cali1234abcd", "flannel.1"},
        True,
    ),
    ("IPv6 fallback: only interfaces with an IPv6 address", VLAN_VIP6, None, DEFAULT, {"eth0", "eth0.20"}, True),
    ("IPv6, nothing excluded", VLAN_VIP6, None, NOTHING, {"eth0", "eth0.20", "cni0", "cali1234abcd"}, True),
    (
        "named interfaces: an excluded one is left out, even named (MetalLB has no responder there)",
        LAN_VIP,
        ("eth0.20", "docker0"),
        DEFAULT,
        {"eth0.20"},
        False,
    ),
    ("named interfaces are never a fallback", VLAN_VIP, ("docker0",), DEFAULT, set(), False),
    (
        "a user's own list: unanchored, as Go's MatchString",
        VLAN_VIP,
        None,
        exclusion(["\\.20"], "test"),
        {"eth0", "docker0", "cni0", "cali1234abcd", "flannel.1"},
        True,
    ),
    ("everything excluded: nothing, and no fallback claimed", VLAN_VIP, None, exclusion([".*"], "test"), set(), False),
]


@pytest.mark.parametrize(
    ("ip", "names", "exclude", "expected", "fallback"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_choice(ip, names, exclude, expected, fallback):
    assert choose_interfaces(ip, NODE, names, exclude) == InterfaceChoice(frozenset(expected), fallback)
    assert select_interfaces(ip, NODE, names, exclude) == expected
