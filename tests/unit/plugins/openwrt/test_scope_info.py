"""baremetal.lb.dhcp_scope_info and dhcp_reservation for OpenWrt, read over rpcd from the controller.

scripts/openwrt-dry-run prints the same module output for a person to read.
"""

from __future__ import annotations

import json
import time

from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_backend, dhcp_scope_info

from tests.collection import run_module
from tests.fakes.openwrt_router import PASSWORD, FakeOpenwrt

NOW = 1_790_000_000


def test_sections_hosts_leases_and_marker_read_without_writing(tmp_path):
    with FakeOpenwrt(tmp_path, "static-hosts") as router:
        router.uci("set", "dhcp.guest=dhcp")
        router.uci("set", "dhcp.guest.interface=guest")
        router.uci("set", "dhcp.guest.ignore=1")
        router.uci("set", "network.guest=interface")
        router.uci("set", "network.guest.proto=static")
        router.uci("set", "network.guest.ipaddr=192.168.2.1/24")
        router.uci("commit")
        router.write_leases(
            "0 aa:bb:cc:00:00:02 192.168.1.105 laptop *\n"
            f"{NOW + 60} aa:bb:cc:00:00:03 192.168.1.106 * 01:aa:bb:cc:00:00:03\n"
            f"{NOW - 60} aa:bb:cc:00:00:04 192.168.1.107 old *\n"
        )
        backend = router.backend()
        backend.now = lambda: NOW
        assert dhcp_backend.run(backend, "192.168.1.240-192.168.1.250")["changed"]
        committed = router.dhcp_file()
        router.rpcd.calls.clear()
        reader = router.backend()
        reader.now = lambda: NOW
        scopes, warnings = dhcp_scope_info.collect(reader, now=NOW)
        assert warnings == [] and router.dhcp_file() == committed
        assert {c[1] for c in router.rpcd.calls} <= {"login", "get", "read"}, router.rpcd.calls
        lan, guest = scopes
        assert lan == {
            "name": "lan",
            "backend": "openwrt",
            "subnet": "192.168.1.0/24",
            "interface": "lan",
            "enabled": True,
            "gateway": "192.168.1.1",
            "ranges": ["192.168.1.100-192.168.1.239"],
            "ranges_ui": ["192.168.1.100 - 192.168.1.239"],
            "static_mappings": [
                {"address": "192.168.1.10", "mac": "00:11:22:33:44:55", "hostname": "nas"},
                {"address": "192.168.1.20", "mac": None, "hostname": "printer"},
                {"address": "192.168.1.30", "mac": "aa:bb:cc:dd:ee:01 aa:bb:cc:dd:ee:02", "hostname": "laptop"},
            ],
            "leases": [
                {
                    "address": "192.168.1.105",
                    "mac": "aa:bb:cc:00:00:02",
                    "hostname": "laptop",
                    "expires": None,
                    "expires_in": None,
                },
                {
                    "address": "192.168.1.106",
                    "mac": "aa:bb:cc:00:00:03",
                    "hostname": None,
                    "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 60)),
                    "expires_in": 60,
                },
            ],
            "reserved": [
                {
                    "range": "192.168.1.240-192.168.1.250",
                    "replaced": [{"from": "192.168.1.100-192.168.1.249", "to": ["192.168.1.100-192.168.1.239"]}],
                }
            ],
        }
        assert guest["name"] == "guest" and guest["enabled"] is False and guest["ranges"] == []


def test_the_modules_from_the_controller_never_show_the_password(tmp_path):
    with FakeOpenwrt(tmp_path) as router:
        args = {
            "backend": "openwrt",
            "api_url": router.rpcd.url,
            "api_username": "baremetal-lb",
            "api_password": PASSWORD,
            "range": "192.168.1.240-192.168.1.250",
        }
        rc, res = run_module("baremetal.lb.dhcp_reservation", args, check=True, diff=True)
        assert rc == 0 and res["changed"] is True and res["msg"].startswith("check mode"), res
        assert "option limit '150'" in router.dhcp_file()
        rc, res = run_module("baremetal.lb.dhcp_reservation", args)
        assert rc == 0 and res["ranges_after"] == ["192.168.1.100-192.168.1.239"], res
        assert "option limit '140'" in router.dhcp_file()
        info = {k: v for k, v in args.items() if k != "range"}
        rc, res = run_module("baremetal.lb.dhcp_scope_info", info, check=True)
        assert rc == 0 and res["scopes"][0]["ranges"] == ["192.168.1.100-192.168.1.239"], res
        rc, bad = run_module("baremetal.lb.dhcp_scope_info", {**info, "api_password": "not-" + PASSWORD})
        assert rc != 0 and "rpcd refused the login of 'baremetal-lb'" in bad["msg"], bad
        for out in (res, bad):
            assert PASSWORD not in json.dumps(out)
