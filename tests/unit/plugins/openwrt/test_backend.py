"""The OpenWrt backend (plugins/module_utils/backend_openwrt.py) against a fake OpenWrt router.

The router is tests/fakes/openwrt_router.py: a recorded config (tests/data/openwrt/configs/), reached over the fake
rpcd ``/ubus`` endpoint (the default: no Python on the router) or with the fake ``uci`` CLI (the task on the router).
Ranges are what OpenWrt's own scripts compute (tests/data/openwrt/ipcalc.jsonl has their real output for the same
configs); the expectations below quote those records.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_backend, dhcp_scope_info

from tests.fakes.openwrt_router import ACL_FILE, PASSWORD, FakeOpenwrt

NOW = 1_790_000_000
BOTH = pytest.mark.parametrize("transport", ["rpcd", "uci"])


@pytest.fixture
def router(tmp_path, request):
    config = getattr(request, "param", "stock-24.10")
    with FakeOpenwrt(tmp_path, config) as fake:
        yield fake


def run(router: FakeOpenwrt, rng: str, transport: str = "rpcd", **kw: Any) -> dict[str, Any]:
    backend = router.backend(transport, **kw.pop("params", {}))
    backend.now = lambda: NOW
    return dhcp_backend.run(backend, rng, **kw)


def lan(router: FakeOpenwrt) -> str:
    return router.uci("show", "dhcp.lan")


@BOTH
def test_reserve_release_marker_list_and_second_run(router, transport):
    res = run(router, "192.168.1.240-192.168.1.250", transport)
    assert (res["ranges_before"], res["ranges_after"]) == (
        ["192.168.1.100-192.168.1.249"],
        ["192.168.1.100-192.168.1.239"],
    )
    assert "dhcp.lan.start='100'\n" in lan(router) and "dhcp.lan.limit='140'\n" in lan(router)
    assert '\tlist baremetal_lb \'{"range":"192.168.1.240-192.168.1.250"' in router.dhcp_file()
    assert router.restarts() == ["dnsmasq restart"]
    assert run(router, "192.168.1.240-192.168.1.250", transport)["changed"] is False
    assert run(router, "192.168.1.240-192.168.1.250", transport, state="absent")["changed"] is True
    assert "dhcp.lan.limit='150'\n" in lan(router) and "baremetal_lb" not in router.dhcp_file()
    assert router.restarts() == ["dnsmasq restart"] * 2
    assert router.uci("changes") == ""  # everything committed, nothing left staged


def test_bands_given_back_out_of_order_while_one_range_can_hold_them(router):
    """One range per section: a band that is not the newest (100-109, with 230-239 reserved after it) goes back; a
    band whose release would split the range (240-249: 230-239 was cut right below it since) is refused, naming the
    newer band, and nothing changes."""
    for band in ("192.168.1.240-192.168.1.249", "192.168.1.100-192.168.1.109", "192.168.1.230-192.168.1.239"):
        run(router, band)
    assert run(router, "192.168.1.100-192.168.1.109", state="absent")["ranges_after"] == ["192.168.1.100-192.168.1.229"]
    before = router.dhcp_file()
    with pytest.raises(
        dhcp_backend.ReservationError, match=r"at most 1 dynamic range.*\(192.168.1.230-192.168.1.239\)"
    ):
        run(router, "192.168.1.240-192.168.1.249", state="absent")
    assert router.dhcp_file() == before
    run(router, "192.168.1.230-192.168.1.239", state="absent")
    assert run(router, "192.168.1.240-192.168.1.249", state="absent")["ranges_after"] == ["192.168.1.100-192.168.1.249"]
    assert "dhcp.lan.start='100'\n" in lan(router) and "dhcp.lan.limit='150'\n" in lan(router)


@BOTH
def test_ten_reservations_in_one_scope_each_idempotent_and_no_field_grows(router, transport):
    for last in range(249, 239, -1):
        addr = f"192.168.1.{last}"
        assert run(router, addr, transport)["changed"] is True, addr
        assert run(router, addr, transport)["changed"] is False, addr
    assert "dhcp.lan.limit='140'\n" in lan(router)
    items = [line for line in router.dhcp_file().splitlines() if line.startswith("\tlist baremetal_lb ")]
    assert len(items) == 10
    assert max(len(line) for line in items) < 200  # one entry per item: no value grows with the count
    for last in range(240, 250):
        assert run(router, f"192.168.1.{last}", transport, state="absent")["changed"] is True
    assert "dhcp.lan.limit='150'\n" in lan(router) and "baremetal_lb" not in router.dhcp_file()


@pytest.mark.parametrize("router", ["start-address"], indirect=True)
@BOTH
def test_start_written_as_an_address(router, transport):
    # configs/start-address: ipaddr 10.1.1.1/24, start '10.1.1.100' -> 10.1.1.100-10.1.1.249 (ipcalc.jsonl
    # 24_start_as_address_10.1.1.100); the old backend did int('10.1.1.100').
    res = run(router, "10.1.1.240-10.1.1.250", transport)
    assert res["ranges_before"] == ["10.1.1.100-10.1.1.249"] and res["ranges_after"] == ["10.1.1.100-10.1.1.239"]
    assert "dhcp.lan.start='100'\n" in lan(router) and "dhcp.lan.limit='140'\n" in lan(router)


@pytest.mark.parametrize("router", ["limit-past-subnet"], indirect=True)
@BOTH
def test_end_is_clamped_to_broadcast_minus_one(router, transport):
    # limit 300 on a /24: 192.168.1.100-192.168.1.254 (ipcalc.jsonl 24_limit300), not .100-.399
    res = run(router, "192.168.1.250-192.168.1.254", transport)
    assert res["ranges_before"] == ["192.168.1.100-192.168.1.254"]
    assert res["ranges_after"] == ["192.168.1.100-192.168.1.249"]
    assert "dhcp.lan.limit='150'\n" in lan(router)


@BOTH
def test_router_address_at_the_range_start_shifts_the_range(router, transport):
    router.uci("set", "network.lan.ipaddr=192.168.1.100")
    router.uci("commit", "network")
    # ipcalc.jsonl 24_router_at_range_start: .101-.250 on both releases
    res = run(router, "192.168.1.245-192.168.1.250", transport)
    assert res["ranges_before"] == ["192.168.1.101-192.168.1.250"]
    assert res["ranges_after"] == ["192.168.1.101-192.168.1.244"]
    assert "dhcp.lan.start='101'\n" in lan(router) and "dhcp.lan.limit='144'\n" in lan(router)


@BOTH
def test_router_inside_the_range_is_refused_naming_both_releases(router, transport):
    router.uci("set", "network.lan.ipaddr=192.168.1.150")
    router.uci("commit", "network")
    before = router.dhcp_file()
    with pytest.raises(dhcp_backend.ReservationError) as exc:
        run(router, "192.168.1.240-192.168.1.249", transport)
    text = str(exc.value)
    assert "OpenWrt 23.05: 192.168.1.100-192.168.1.249" in text
    assert "OpenWrt 24.10: broken" in text and "dhcp-range=set:lan,19,," in text
    assert text.endswith("the router was not changed") and router.dhcp_file() == before and router.restarts() == []


@pytest.mark.parametrize(
    "router, kind",
    [("ignore", "ignore=1"), ("dynamicdhcp-0", "dynamicdhcp=0"), ("dhcpv4-disabled", "dhcpv4=disabled")],
    indirect=["router"],
)
@BOTH
def test_sections_without_a_dynamic_range_are_not_touched(router, kind, transport):
    before = router.dhcp_file()
    res = run(router, "192.168.1.240-192.168.1.250", transport)
    assert res["changed"] is False and res["ranges_before"] == [] and "already outside" in res["msg"]
    assert router.dhcp_file() == before and router.restarts() == []
    (scope,), _ = dhcp_scope_info.collect(router.backend(transport), now=NOW)
    assert scope["ranges"] == [] and scope["enabled"] is (kind == "dynamicdhcp=0")


@BOTH
def test_a_section_without_interface_serves_nothing(router, transport):
    router.uci("delete", "dhcp.lan.interface")
    router.uci("commit", "dhcp")
    before = router.dhcp_file()
    with pytest.raises(
        dhcp_backend.ReservationError, match="dhcp.lan has no 'interface' option, so dnsmasq serves no DHCP for it"
    ):
        run(router, "192.168.1.240-192.168.1.250", transport, scope="lan")
    assert router.dhcp_file() == before


@pytest.mark.parametrize("router", ["dhcp-netmask-override"], indirect=True)
@BOTH
def test_the_sections_netmask_overrides_the_interface(router, transport):
    # netmask 255.255.255.128 on 192.168.1.1/24: 192.168.1.100-192.168.1.126 (ipcalc.jsonl dhcp_netmask_override_25)
    res = run(router, "192.168.1.120-192.168.1.126", transport)
    assert res["scope"]["subnet"] == "192.168.1.0/25"
    assert (res["ranges_before"], res["ranges_after"]) == (
        ["192.168.1.100-192.168.1.126"],
        ["192.168.1.100-192.168.1.119"],
    )
    assert "dhcp.lan.limit='20'\n" in lan(router)


@pytest.mark.parametrize("router", ["list-ipaddr"], indirect=True)
@BOTH
def test_a_list_valued_ipaddr_uses_the_first_address(router, transport):
    router.uci("add_list", "network.lan.ipaddr=10.1.2.1/24")
    router.uci("commit", "network")
    res = run(router, "10.1.1.240-10.1.1.250", transport)
    assert res["scope"]["subnet"] == "10.1.1.0/24" and res["ranges_before"] == ["10.1.1.100-10.1.1.249"]
    with pytest.raises(dhcp_backend.ReservationError, match="no dhcp section's interface holds 10.1.2.240"):
        run(router, "10.1.2.240-10.1.2.250", transport)


@pytest.mark.parametrize("router", ["odhcpd-maindhcp"], indirect=True)
def test_odhcpd_as_dhcpv4_server_its_leases_and_its_restart(router):
    router.rpcd.odhcpd_leases = {
        "br-lan": [
            {"mac": "aabbcc000005", "hostname": "tv", "flags": ["bound"], "address": "192.168.1.245", "valid": 600}
        ]
    }
    before = router.dhcp_file()
    with pytest.raises(dhcp_backend.ReservationError, match="192.168.1.245 in range .* holds active lease tv"):
        run(router, "192.168.1.240-192.168.1.250")
    assert router.dhcp_file() == before
    res = run(router, "192.168.1.246-192.168.1.249")
    assert (res["ranges_before"], res["ranges_after"]) == (
        ["192.168.1.100-192.168.1.249"],
        ["192.168.1.100-192.168.1.245"],
    )
    assert "dhcp.lan.limit='146'\n" in lan(router) and router.restarts() == ["odhcpd restart"]
    router.write_leases("0 aa:bb:cc:00:00:09 192.168.1.100 in-dnsmasqs-file-not-odhcpds *\n")
    assert run(router, "192.168.1.100-192.168.1.110")["ranges_after"] == ["192.168.1.111-192.168.1.245"]


def test_restart_failure_puts_the_old_values_back(router):
    router.rpcd.exec_results["/etc/init.d/dnsmasq restart"] = [(1, "", "dnsmasq: bad option at line 3\n")]
    with pytest.raises(dhcp_backend.ApplyError) as exc:
        run(router, "192.168.1.240-192.168.1.250")
    assert "restarting dnsmasq failed (exit 1: dnsmasq: bad option at line 3)" in str(exc.value)
    assert "the router is as it was" in str(exc.value) and exc.value.restored is True
    assert "dhcp.lan.limit='150'\n" in lan(router) and "baremetal_lb" not in router.dhcp_file()
    assert router.restarts() == ["dnsmasq restart"] * 2


def test_restart_failing_twice_says_check_by_hand(router):
    router.rpcd.exec_results["/etc/init.d/dnsmasq restart"] = (1, "", "dnsmasq: bad option at line 3\n")
    with pytest.raises(dhcp_backend.ApplyError) as exc:
        run(router, "192.168.1.240-192.168.1.250")
    assert exc.value.restored is False and "check dhcp.lan by hand" in str(exc.value)
    assert "dhcp.lan.limit='150'\n" in lan(router)  # the old values are committed back all the same


def test_uci_transport_restart_failure(router):
    with pytest.raises(dhcp_backend.ApplyError, match="restarting dnsmasq failed"):
        run(
            router,
            "192.168.1.240-192.168.1.250",
            "uci",
            params={"restart_command": ["sh", "-c", "echo broken >&2; exit 3"]},
        )
    assert "dhcp.lan.limit='150'\n" in lan(router)


def test_uci_transport_refuses_someone_elses_staged_changes(router):
    router.uci("set", "dhcp.lan.leasetime=1h")
    with pytest.raises(dhcp_backend.ReservationError, match=r"uncommitted changes.*dhcp.lan.leasetime='1h'"):
        run(router, "192.168.1.240-192.168.1.250", "uci")
    assert "option limit '150'" in router.dhcp_file()


def test_rpcd_never_commits_changes_staged_elsewhere(router):
    router.uci("set", "dhcp.lan.leasetime=1h")  # someone's pending edit on the shell (/tmp/.uci)
    assert run(router, "192.168.1.240-192.168.1.250")["changed"] is True
    assert "option leasetime '12h'" in router.dhcp_file() and "option limit '140'" in router.dhcp_file()
    assert router.uci("changes", "dhcp") == "dhcp.lan.leasetime='1h'\n"  # still theirs, still pending


def test_rpcd_wrong_password_is_clear_and_secret_free(router):
    with pytest.raises(Exception) as exc:
        run(router, "192.168.1.240-192.168.1.250", params={"api_password": "wrong-" + PASSWORD})
    assert "rpcd refused the login of 'baremetal-lb'" in str(exc.value)
    assert PASSWORD not in str(exc.value)


def test_rpcd_acl_without_write_is_refused_before_staging(tmp_path):
    acl = json.loads(ACL_FILE.read_text())
    del acl["baremetal-lb"]["write"]
    with FakeOpenwrt(tmp_path, acl=json.dumps(acl)) as router:
        before = router.dhcp_file()
        with pytest.raises(dhcp_backend.ReservationError) as exc:
            run(router, "192.168.1.240-192.168.1.250", check_mode=True)
        text = str(exc.value)
        assert "lacks these ACL grants" in text and "ubus uci: set" in text and "uci dhcp: write" in text
        assert "file /etc/init.d/dnsmasq restart: exec" in text
        assert router.dhcp_file() == before and not [c for c in router.rpcd.calls if c[1] in ("set", "commit")]


def test_rpcd_session_expiry_is_survived(router):
    backend = router.backend()
    assert dhcp_scope_info.collect(backend, now=NOW)[0]
    router.rpcd.expire(backend.t.client.session)
    assert dhcp_scope_info.collect(backend, now=NOW)[0]
    assert [c[1] for c in router.rpcd.calls].count("login") == 2


def test_rpcd_lease_file_too_big_means_leases_unknown(router):
    router.write_leases("0 aa:bb:cc:00:00:02 192.168.1.105 laptop *\n" * 7000)  # 301 000 bytes
    with pytest.raises(dhcp_backend.ReservationError, match="256 KiB or larger.*accept_active_leases"):
        run(router, "192.168.1.240-192.168.1.250")
    assert run(router, "192.168.1.240-192.168.1.250", accept_active_leases=True)["changed"] is True


def test_check_mode_changes_nothing(router):
    before = router.dhcp_file()
    res = run(router, "192.168.1.240-192.168.1.250", check_mode=True)
    assert res["changed"] and res["msg"].startswith("check mode")
    assert router.dhcp_file() == before and router.restarts() == []
    assert not [c for c in router.rpcd.calls if c[1] in ("set", "delete", "commit", "exec")]


def test_a_pending_luci_apply_blocks_the_commit_and_is_named(router):
    router.rpcd.pending_apply = True  # rpcd uci.c 1330: commit and revert refused until the apply is confirmed
    before = router.dhcp_file()
    with pytest.raises(dhcp_backend.ApplyError) as exc:
        run(router, "192.168.1.240-192.168.1.250")
    assert "rpcd refuses commits while a LuCI change is waiting" in str(exc.value) and exc.value.restored is True
    assert router.dhcp_file() == before and router.restarts() == []
    router.rpcd.pending_apply = False
    for sid in [s for s in router.rpcd.sessions if s != "0" * 32]:
        router.rpcd.expire(sid)  # the staged values go away with their session
    assert not list((router.root / "var/run/rpcd").iterdir())
    assert run(router, "192.168.1.240-192.168.1.250")["changed"] is True
