"""OpenWrt's DHCPv4 range arithmetic (plugins/module_utils/openwrt_range.py): hand-picked cases and properties.

The full replay of the scripts' recorded output is tests/unit/plugins/openwrt/test_range_goldens.py (pytest only:
its data is not part of the collection); the values here are taken from those records.
"""

from __future__ import annotations

import ipaddress

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import openwrt_range as owr
from hypothesis import given, settings
from hypothesis import strategies as st

LAN = {"lan": {"device": "br-lan", "proto": "static", "subnet": "192.168.1.1/24"}}


def one(release: str, netifd=None, **opts: str) -> owr.Range:
    opts.setdefault("interface", "lan")
    return owr.dnsmasq_ranges(release, [("lan", opts)], netifd or LAN)[0]


@pytest.mark.parametrize("release", owr.RELEASES)
@pytest.mark.parametrize(
    "opts, start, end",
    [
        ({}, "192.168.1.100", "192.168.1.249"),  # defaults start 100, limit 150
        ({"limit": "300"}, "192.168.1.100", "192.168.1.254"),  # clamped to broadcast - 1
        ({"start": "10.1.1.100"}, "192.168.1.100", "192.168.1.249"),  # a dotted start, masked
        ({"start": "0"}, "192.168.1.2", "192.168.1.151"),  # network+1, then off the router
        ({"netmask": "255.255.255.128"}, "192.168.1.100", "192.168.1.126"),  # the section's netmask wins
    ],
)
def test_ranges_both_releases_agree_on(release, opts, start, end):
    r = one(release, **opts)
    assert (r.kind, r.start, r.end) == ("dynamic", start, end)


def test_router_inside_the_range_23_05_warns_24_10_writes_a_broken_line():
    netifd = {"lan": {"device": "br-lan", "proto": "static", "subnet": "192.168.1.150/24"}}
    old, new = one("23.05", netifd), one("24.10", netifd)
    assert (old.kind, old.start, old.end) == ("dynamic", "192.168.1.100", "192.168.1.249")
    assert new.kind == "broken" and new.line == "dhcp-range=set:lan,19,,255.255.255.0,12h"


@pytest.mark.parametrize(
    "opts, kind",
    [
        ({"ignore": "1"}, "ignored"),
        ({"ignore": "on"}, "ignored"),
        ({"dynamicdhcp": "0"}, "static"),
        ({"dhcpv4": "disabled"}, "disabled"),
        ({"interface": ""}, "skipped"),
    ],
)
def test_sections_without_a_dynamic_range(opts, kind):
    assert one("24.10", **opts).kind == kind


def test_a_failing_second_section_reuses_the_first_sections_range_in_24_10():
    netifd = dict(LAN, guest={"device": "br-guest", "proto": "static", "subnet": "192.168.2.1/24"})
    secs = [("lan", {"interface": "lan"}), ("guest", {"interface": "guest", "limit": "0", "leasetime": "1h"})]
    lan, guest = owr.dnsmasq_ranges("24.10", secs, netifd)
    assert guest.kind == "broken" and guest.line == "dhcp-range=set:guest,192.168.1.100,192.168.1.249,255.255.255.0,1h"
    assert owr.dnsmasq_ranges("23.05", secs, netifd)[1].start == "192.168.2.100"  # 23.05: limit 0 is one address


def test_maindhcp_leaves_dnsmasq_without_ranges_and_odhcpd_computes_its_pool():
    assert one("24.10").kind == "dynamic"
    assert owr.dnsmasq_ranges("24.10", [("lan", {"interface": "lan"})], LAN, maindhcp=True)[0].kind == "skipped"
    pool = owr.odhcpd_range(
        "lan", {"interface": "lan", "dhcpv4": "server", "start": "100", "limit": "150"}, "192.168.1.1/24"
    )
    assert (pool.kind, pool.start, pool.end) == ("dynamic", "192.168.1.100", "192.168.1.249")
    default25 = owr.odhcpd_range("lan", {"dhcpv4": "server"}, "192.168.1.1/25")
    assert (default25.kind, default25.start, default25.end) == ("dynamic", "192.168.1.20", "192.168.1.119")
    assert (
        owr.odhcpd_range("lan", {"dhcpv4": "server", "limit": "300", "start": "100"}, "192.168.1.1/24").kind
        == "skipped"
    )  # pool end past the host part: no pool at all
    assert owr.odhcpd_range("lan", {"start": "100"}, "192.168.1.1/24").kind == "odhcpd-off"  # dhcpv4 not server


def test_netifd_view_of_an_interface():
    assert owr.netifd_subnet(
        {"proto": "static", "ipaddr": "192.168.1.1", "netmask": "255.255.255.0", "device": "br-lan"}
    ) == ("br-lan", "static", "192.168.1.1/24")
    assert owr.netifd_subnet({"proto": "static", "ipaddr": ["10.1.1.1/24", "10.1.2.1/24"]})[2] == "10.1.1.1/24"
    assert owr.netifd_subnet({"proto": "static", "ipaddr": "10.1.1.1"})[2] == "10.1.1.1/32"
    assert owr.netifd_subnet({"proto": "dhcp"})[2] is None


def test_dhcp_calc():
    assert owr.dhcp_calc("100") == 100 and owr.dhcp_calc("10.1.1.100") == 167838052
    with pytest.raises(ValueError):
        owr.dhcp_calc("1O0")


@settings(max_examples=300, deadline=None)
@given(prefix=st.integers(16, 29), host=st.integers(1, 2**13), start=st.integers(0, 600), limit=st.integers(1, 600))
def test_a_dynamic_range_is_inside_the_subnet_and_never_holds_the_router(prefix, host, start, limit):
    net = ipaddress.ip_network(f"10.0.0.0/{prefix}")
    ip = net.network_address + (host % (net.num_addresses - 2)) + 1
    netifd = {"lan": {"device": "br-lan", "proto": "static", "subnet": f"{ip}/{prefix}"}}
    for release in owr.RELEASES:
        r = one(release, netifd, start=str(start), limit=str(limit))
        if r.kind != "dynamic":
            continue
        assert net.network_address < r.first <= r.last < net.broadcast_address
        if release == "24.10":
            assert not (r.first <= ip <= r.last)
