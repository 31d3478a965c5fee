"""dhcp_reservation's and dhcp_scope_info's OPNsense backend (Kea DHCPv4 and Dnsmasq) against the fake OPNsense.

The fake answers as OPNsense's own API stack did when recorded (test_opnsense_goldens.py replays the recording), so
these tests see the real field shapes (option fields as dicts, ``pools`` with newlines, a reservation's subnet as a
uuid), the real limits (a description is 255 *bytes*) and the real quirks (``reconfigure`` answers ok whatever
happened). The driver (dhcp_backend.run) is called directly - the code the module runs.

Run with ``-s`` to see what ``dhcp_scope_info`` prints for the fake's scopes (test_dry_run_of_dhcp_scope_info).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_backend, dhcp_scope_info
from ansible_collections.baremetal.lb.plugins.module_utils.backend_opnsense import make_opnsense_backend

from tests.fakes.opnsense import HOST, RANGE, TAG, FakeOpnsense

LAN = "5a6b0c1d-0000-4000-8000-00000000c0a1"  # the recorded Kea subnet 10.1.1.0/24
D001, D002 = "5a6b0c1d-0000-4000-8000-00000000d001", "5a6b0c1d-0000-4000-8000-00000000d002"
NOW = 1_790_000_000


@pytest.fixture
def opn():
    with FakeOpnsense() as fake:  # Kea and dnsmasq enabled and running, as on a router that serves DHCP
        yield fake


def backend(opn: FakeOpnsense, kind: str = "kea") -> Any:
    b = make_opnsense_backend(
        {
            "api_url": opn.url,
            "api_key": "opn-key",
            "api_secret": "opn-secret",
            "opnsense_dhcp": kind,
            "validate_certs": False,
            "timeout": 5,
        }
    )
    b.now = lambda: NOW
    return b


def run(opn: FakeOpnsense, rng: str, kind: str = "kea", **kw: Any) -> dict[str, Any]:
    return dhcp_backend.run(backend(opn, kind), rng, **kw)


def writes(opn: FakeOpnsense) -> list[str]:
    return [path for method, path, _ in opn.log if method != "GET"]


def pools(opn: FakeOpnsense) -> str:
    return opn.kea["subnet4"][LAN]["pools"]


def ranges(opn: FakeOpnsense, applied: bool = False) -> list[tuple[str, str]]:
    rows = opn.applied_dnsmasq if applied else opn.dnsmasq["dhcp_ranges"]
    return sorted(
        ((r["start_addr"], r["end_addr"]) for r in rows.values()), key=lambda r: tuple(int(x) for x in r[0].split("."))
    )


# -- Kea -----------------------------------------------------------------------------------------------------------


def test_kea_seed_reservation_on_the_real_subnet_shape_then_release(opn):
    # getSubnet gives option_data.routers as {"10.1.1.1": {"value": ..., "selected": 1}} (kea_getSubnet.json); the
    # backend of 0.x split it as a string and raised ValueError on every real subnet.
    res = run(opn, "10.1.1.240-10.1.1.250")
    assert res["changed"] and res["scope"]["name"] == "LAN"
    assert res["ranges_after"] == ["10.1.1.100-10.1.1.239"]
    assert opn.applied_kea[LAN]["pools"] == "10.1.1.100-10.1.1.239"  # reconfigured, not just saved
    assert opn.kea["subnet4"][LAN]["description"] == "LAN [baremetal-lb 10.1.1.0 240-250]"
    assert run(opn, "10.1.1.240-10.1.1.250")["changed"] is False
    assert run(opn, "10.1.1.240-10.1.1.250", state="absent")["changed"] is True
    assert opn.applied_kea[LAN]["pools"] == "10.1.1.100-10.1.1.250"
    assert opn.kea["subnet4"][LAN]["description"] == "LAN"
    assert run(opn, "10.1.1.240-10.1.1.250", state="absent")["changed"] is False


@pytest.mark.parametrize(
    "routers, rng, refused",
    [
        ("10.1.1.1", "10.1.1.1-10.1.1.9", "10.1.1.1"),
        ("10.1.1.1,10.1.1.99", "10.1.1.50-10.1.1.99", "10.1.1.99"),
        ("", "10.1.1.1-10.1.1.9", None),
    ],
)
def test_kea_gateways_from_the_routers_dict_are_refused(opn, routers, rng, refused):
    opn.kea["subnet4"][LAN]["option_data"]["routers"] = routers
    opn.kea["subnet4"][LAN]["pools"] = "10.1.1.1-10.1.1.250"
    if refused:
        with pytest.raises(dhcp_backend.ReservationError, match=rf"{refused} in range .* is the gateway"):
            run(opn, rng)
        assert writes(opn) == []
    else:  # an empty list reads {"": {"value": "", "selected": 1}}: no gateway, nothing to refuse
        assert run(opn, rng)["ranges_after"] == ["10.1.1.10-10.1.1.250"]


def test_ten_successive_reservations_in_one_kea_subnet_fit_the_255_byte_description(opn):
    bands = [f"10.1.1.{250 - 5 * i - 4}-10.1.1.{250 - 5 * i}" for i in range(5)]  # 246-250 down to 226-230
    bands += [f"10.1.1.{110 + 10 * i}-10.1.1.{114 + 10 * i}" for i in range(5)]  # splits: 110-114 ... 150-154
    for rng in bands:
        assert run(opn, rng)["changed"], rng
        assert run(opn, rng)["changed"] is False, rng  # the second run reports no change
    desc = opn.kea["subnet4"][LAN]["description"]
    assert len(desc.encode()) <= 255, desc
    assert pools(opn).split("\n") == [
        "10.1.1.100-10.1.1.109",
        "10.1.1.115-10.1.1.119",
        "10.1.1.125-10.1.1.129",
        "10.1.1.135-10.1.1.139",
        "10.1.1.145-10.1.1.149",
        "10.1.1.155-10.1.1.225",
    ]
    assert opn.applied_kea[LAN]["pools"] == pools(opn)
    print(f"\n10 reservations: the subnet description is {len(desc.encode())} bytes: {desc}")
    for rng in reversed(bands):
        assert run(opn, rng, state="absent")["changed"], rng
    assert (pools(opn), opn.kea["subnet4"][LAN]["description"]) == ("10.1.1.100-10.1.1.250", "LAN")


def test_a_marker_that_cannot_fit_is_refused_before_anything_is_written(opn):
    opn.kea["subnet4"][LAN]["description"] = "é" * 115  # 230 bytes, 115 characters: the marker needs 32 more
    with pytest.raises(dhcp_backend.ReservationError, match=r"would be \d+ bytes, OPNsense allows 255") as exc:
        run(opn, "10.1.1.240-10.1.1.250")
    assert "the router was not changed" in str(exc.value)
    assert writes(opn) == [] and pools(opn) == "10.1.1.100-10.1.1.250"


def test_kea_manual_config_is_refused_clearly_and_changes_nothing(opn):
    # kea.inc: kea-dhcp4.conf is not regenerated with manual_config on - the change would never be served
    opn.kea["general"]["manual_config"] = "1"
    for check_mode in (True, False):
        with pytest.raises(dhcp_backend.ReservationError, match="'Manual config' on .* never writes kea-dhcp4.conf"):
            run(opn, "10.1.1.240-10.1.1.250", check_mode=check_mode)
    assert writes(opn) == [] and pools(opn) == "10.1.1.100-10.1.1.250"


def test_kea_that_does_not_come_back_after_reconfigure_is_rolled_back(opn):
    # reconfigure answers {"status": "ok"} whatever happened; service/status tells
    opn.fail_start["kea"] = 1
    with pytest.raises(dhcp_backend.ApplyError, match="the service is stopped, not running") as exc:
        run(opn, "10.1.1.240-10.1.1.250")
    assert exc.value.restored and "previous pools were saved back" in str(exc.value)
    assert pools(opn) == "10.1.1.100-10.1.1.250" and opn.kea["subnet4"][LAN]["description"] == "LAN"
    assert opn.applied_kea[LAN]["pools"] == "10.1.1.100-10.1.1.250" and opn.running["kea"]
    assert writes(opn).count("/api/kea/service/reconfigure") == 2
    # and when Kea does not come back with the old pools either, the error says so instead of "as it was"
    opn.fail_start["kea"] = 2
    with pytest.raises(dhcp_backend.ApplyError, match="restoring the previous subnet failed too") as exc:
        run(opn, "10.1.1.240-10.1.1.250")
    assert not exc.value.restored and "check it by hand" in str(exc.value)


def test_kea_disabled_is_not_a_failed_start_but_its_leases_are_unknown(opn):
    opn.enable(kea=False)
    with pytest.raises(dhcp_backend.ReservationError, match="cannot list Kea's leases while Kea DHCP is disabled"):
        run(opn, "10.1.1.240-10.1.1.250")
    assert writes(opn) == []
    res = run(opn, "10.1.1.240-10.1.1.250", accept_active_leases=True)
    assert res["changed"] and pools(opn) == "10.1.1.100-10.1.1.239"


def test_kea_not_running_is_not_read_as_no_leases(opn):
    # OPNsense answers an empty lease list when Kea's socket does not answer
    opn.running["kea"] = False
    opn.kea_leases.append(
        {"ip-address": "10.1.1.245", "hw-address": "aa:bb:cc:00:00:01", "cltt": NOW, "valid-lft": 3600, "state": 0}
    )
    with pytest.raises(
        dhcp_backend.ReservationError, match="while Kea DHCP is stopped; make them readable or set accept_active_leases"
    ):
        run(opn, "10.1.1.240-10.1.1.250")


@pytest.mark.parametrize(
    "state, expire, blocks",
    [
        (0, NOW + 600, True),  # default (assigned): a client holds it
        (0, NOW - 600, False),  # expired, not yet reclaimed
        (1, NOW + 600, False),  # declined
        (2, NOW + 600, False),  # expired-reclaimed
        (3, NOW + 600, False),  # released
    ],
)
def test_kea_lease_state_decides_which_leases_are_live(opn, state, expire, blocks):
    opn.kea_leases.append(
        {
            "ip-address": "10.1.1.245",
            "hw-address": "aa:bb:cc:00:00:01",
            "hostname": "laptop",
            "cltt": expire - 3600,
            "valid-lft": 3600,
            "state": state,
            "subnet-id": 1,
        }
    )
    if blocks:
        with pytest.raises(dhcp_backend.ReservationError, match="10.1.1.245 in range .* holds active lease laptop"):
            run(opn, "10.1.1.240-10.1.1.250")
    else:
        assert run(opn, "10.1.1.240-10.1.1.250")["changed"]


def test_kea_reservation_is_found_by_its_subnet_uuid_and_refused(opn):
    with pytest.raises(
        dhcp_backend.ReservationError,
        match=r"10.1.1.20 in range .* holds reservation nas "
        r"\(00:11:22:33:44:55\)",
    ):
        run(opn, "10.1.1.15-10.1.1.25")


def test_kea_subnet_deleted_while_reading_is_a_clear_error(opn):
    opn.fail("GET", f"/api/kea/dhcpv4/getSubnet/{LAN}", 200, [])  # the real answer for an unknown uuid
    with pytest.raises(dhcp_backend.ReservationError, match="vanished while reading it"):
        run(opn, "10.1.1.240-10.1.1.250")


def test_kea_check_mode_sends_only_reads(opn):
    res = run(opn, "10.1.1.240-10.1.1.250", check_mode=True)
    assert res["changed"] and res["msg"].startswith("check mode") and writes(opn) == []


def test_kea_refused_change_leaves_nothing_saved(opn):
    opn.fail(
        "POST",
        f"/api/kea/dhcpv4/setSubnet/{LAN}",
        200,
        {"result": "failed", "validations": {"subnet4.pools": ['Entry "x" is not a valid range or subnet.']}},
    )
    with pytest.raises(dhcp_backend.ApplyError, match="nothing was saved"):
        run(opn, "10.1.1.240-10.1.1.250")
    assert pools(opn) == "10.1.1.100-10.1.1.250"


# -- the marker ----------------------------------------------------------------------------------------------------


def test_the_json_marker_of_0x_is_read_and_given_back(opn):
    # a dnsmasq range marked by the JSON marker of earlier releases (it worked on dnsmasq's flat search rows)
    opn.dnsmasq["dhcp_ranges"][D001].update(
        end_addr="10.1.1.239",
        description='LAN pool [baremetal-lb:[{"range":'
        '"10.1.1.240-10.1.1.250","replaced":[{"from":"10.1.1.100-10.1.1.250",'
        '"to":["10.1.1.100-10.1.1.239"]}]}]]',
    )
    assert run(opn, "10.1.1.240-10.1.1.250", "dnsmasq", state="absent")["changed"]
    assert ranges(opn) == [("10.1.1.10", "10.1.1.19"), ("10.1.1.100", "10.1.1.250")]
    assert opn.dnsmasq["dhcp_ranges"][D001]["description"] == "LAN pool"


# -- Dnsmasq -------------------------------------------------------------------------------------------------------


def test_dnsmasq_split_adds_a_range_and_release_removes_it(opn):
    res = run(opn, "10.1.1.150-10.1.1.160", "dnsmasq")
    assert res["changed"] and res["scope"]["name"] == "lan" and res["scope"]["subnet"] == "10.1.1.0/24"
    assert ranges(opn, applied=True) == [
        ("10.1.1.10", "10.1.1.19"),
        ("10.1.1.100", "10.1.1.149"),
        ("10.1.1.161", "10.1.1.250"),
    ]
    assert run(opn, "10.1.1.150-10.1.1.160", "dnsmasq")["changed"] is False
    assert run(opn, "10.1.1.150-10.1.1.160", "dnsmasq", state="absent")["changed"] is True
    assert sorted((r["start_addr"], r["end_addr"], r["description"]) for r in opn.applied_dnsmasq.values()) == [
        ("10.1.1.10", "10.1.1.19", "LAN pool 2"),
        ("10.1.1.100", "10.1.1.250", "LAN pool"),
    ]


def test_kea_bands_given_back_in_any_order(opn):
    """The marker keeps only what each band took: the oldest band goes back first while a newer one was cut right
    next to it and another split the range; each release leaves the ranges as if that band had never been
    reserved, and the last one the admin's pool."""
    for band in ("10.1.1.240-10.1.1.250", "10.1.1.230-10.1.1.239", "10.1.1.140-10.1.1.145"):
        run(opn, band)
    assert run(opn, "10.1.1.240-10.1.1.250", state="absent")["ranges_after"] == [
        "10.1.1.100-10.1.1.139",
        "10.1.1.146-10.1.1.229",
        "10.1.1.240-10.1.1.250",
    ]
    assert run(opn, "10.1.1.140-10.1.1.145", state="absent")["ranges_after"] == [
        "10.1.1.100-10.1.1.229",
        "10.1.1.240-10.1.1.250",
    ]
    run(opn, "10.1.1.230-10.1.1.239", state="absent")
    assert pools(opn) == "10.1.1.100-10.1.1.250"


def test_dnsmasq_a_range_taken_whole_comes_back(opn):
    """A band covering all of the 10-19 range deletes it; giving the band back adds the range again."""
    run(opn, "10.1.1.9-10.1.1.19", "dnsmasq")
    assert ranges(opn, applied=True) == [("10.1.1.100", "10.1.1.250")]
    assert run(opn, "10.1.1.9-10.1.1.19", "dnsmasq", state="absent")["changed"] is True
    assert ranges(opn, applied=True) == [("10.1.1.10", "10.1.1.19"), ("10.1.1.100", "10.1.1.250")]


def test_ten_successive_reservations_in_one_dnsmasq_scope(opn):
    bands = [f"10.1.1.{250 - 5 * i - 4}-10.1.1.{250 - 5 * i}" for i in range(5)]
    bands += [f"10.1.1.{110 + 10 * i}-10.1.1.{114 + 10 * i}" for i in range(5)]
    for rng in bands:
        assert run(opn, rng, "dnsmasq")["changed"], rng
        assert run(opn, rng, "dnsmasq")["changed"] is False, rng
    rows = opn.dnsmasq["dhcp_ranges"].values()
    assert all(len(r["description"].encode()) <= 255 for r in rows)
    assert len(ranges(opn)) == 7 and ranges(opn) == ranges(opn, applied=True)
    for rng in reversed(bands):  # the newest first: an older one's pieces were cut again by a newer one
        assert run(opn, rng, "dnsmasq", state="absent")["changed"], rng
    assert ranges(opn) == [("10.1.1.10", "10.1.1.19"), ("10.1.1.100", "10.1.1.250")]
    assert sorted(r["description"] for r in rows) == ["LAN pool", "LAN pool 2"]


def test_dnsmasq_range_without_mask_takes_the_interface_network_not_a_24(opn):
    # dnsmasq(8): without a netmask the interface's is used. LAN is a /22 here; the range has no mask.
    opn.interfaces["lan"]["ipv4"] = ["10.1.0.1/22"]
    del opn.dnsmasq["dhcp_ranges"][D001]
    opn.dnsmasq["dhcp_ranges"][D002].update(start_addr="10.1.2.10", end_addr="10.1.3.200")
    res = run(opn, "10.1.3.100-10.1.3.110", "dnsmasq")
    assert res["scope"]["subnet"] == "10.1.0.0/22"
    assert ranges(opn) == [("10.1.2.10", "10.1.3.99"), ("10.1.3.111", "10.1.3.200")]


def test_dnsmasq_range_without_mask_and_no_interface_network_is_refused(opn):
    opn.interfaces["lan"]["ipv4"] = []
    with pytest.raises(
        dhcp_backend.ReservationError,
        match=r"range 10.1.1.10-10.1.1.19 \(LAN pool 2\) has no "
        r"subnet_mask and no interface address",
    ):
        run(opn, "10.1.1.240-10.1.1.250", "dnsmasq")
    assert writes(opn) == []


def test_dnsmasq_dns_only_host_does_not_block_but_a_dhcp_host_does(opn):
    opn.upsert(
        "dnsmasq",
        "hosts",
        "5a6b0c1d-0000-4000-8000-00000000e003",
        HOST,
        {"host": "lb", "domain": "internal", "ip": "10.1.1.245", "descr": "the balancer's name"},
    )
    assert run(opn, "10.1.1.240-10.1.1.250", "dnsmasq")["changed"]
    opn.upsert(
        "dnsmasq",
        "hosts",
        "5a6b0c1d-0000-4000-8000-00000000e004",
        HOST,
        {"host": "cam", "ip": "10.1.1.235", "client_id": "01:aa:bb:cc:dd:ee:ff"},
    )
    with pytest.raises(dhcp_backend.ReservationError, match="10.1.1.235 in range .* holds static mapping cam"):
        run(opn, "10.1.1.230-10.1.1.239", "dnsmasq")


def test_missing_privileges_are_named(opn):
    # ACL.xml of Kea / Dnsmasq / Core: what a user given only the documented privileges may call
    opn.privileges = ["api/dnsmasq/*"]
    with pytest.raises(
        dhcp_backend.ReservationError,
        match=r"HTTP 403: Forbidden \(give the API key's user the "
        r"privilege 'Services: DHCP: Kea\(v4\)'\)",
    ):
        run(opn, "10.1.1.240-10.1.1.250")
    # range d002 has no subnet mask: its network comes from the interface addresses
    with pytest.raises(dhcp_backend.ReservationError, match="privilege 'Status: Interfaces'"):
        run(opn, "10.1.1.240-10.1.1.250", "dnsmasq")
    opn.privileges.append("api/interfaces/overview/*")
    assert run(opn, "10.1.1.240-10.1.1.250", "dnsmasq")["changed"]
    assert writes(opn) and all(p.startswith("/api/dnsmasq/") for p in writes(opn))


def test_dnsmasq_set_tag_is_a_uuid_and_the_scope_is_named_by_the_tag(opn):
    tag = "5a6b0c1d-0000-4000-8000-0000000071a9"
    opn.upsert("dnsmasq", "dhcp_tags", tag, TAG, {"tag": "iot"})
    opn.upsert(
        "dnsmasq",
        "dhcp_ranges",
        "5a6b0c1d-0000-4000-8000-00000000d003",
        RANGE,
        {
            "set_tag": tag,
            "start_addr": "10.1.1.100",
            "end_addr": "10.1.1.250",
            "subnet_mask": "255.255.255.0",
            "description": "IoT",
        },
    )  # the same addresses tagged for IoT clients: another scope
    res = run(opn, "10.1.1.240-10.1.1.250", "dnsmasq", scope="iot")
    assert res["scope"]["name"] == "iot"
    assert opn.dnsmasq["dhcp_ranges"]["5a6b0c1d-0000-4000-8000-00000000d003"]["end_addr"] == "10.1.1.239"
    assert opn.dnsmasq["dhcp_ranges"][D001]["end_addr"] == "10.1.1.250"


def test_dnsmasq_that_does_not_come_back_is_rolled_back_with_the_same_uuids(opn):
    before = json.dumps(opn.dnsmasq["dhcp_ranges"], sort_keys=True)
    opn.fail_start["dnsmasq"] = 1
    with pytest.raises(dhcp_backend.ApplyError, match="dnsmasq but the service is stopped") as exc:
        run(opn, "10.1.1.100-10.1.1.160", "dnsmasq")  # cuts the range: one set
    assert exc.value.restored
    assert json.dumps(opn.dnsmasq["dhcp_ranges"], sort_keys=True) == before


def test_dnsmasq_refuses_the_routers_own_address(opn):
    opn.dnsmasq["dhcp_ranges"][D002].update(start_addr="10.1.1.1", end_addr="10.1.1.19")
    with pytest.raises(
        dhcp_backend.ReservationError,
        match=r"10.1.1.1 in range .* is the router address "
        r"\(interface lan\)",
    ):
        run(opn, "10.1.1.1-10.1.1.5", "dnsmasq")


def test_dnsmasq_lease_expiry_decides_which_leases_are_live(opn):
    opn.dnsmasq_leases += [
        {"expire": NOW - 60, "hwaddr": "aa:bb:cc:00:00:02", "address": "10.1.1.241", "hostname": "gone"},
        {"expire": 0, "hwaddr": "aa:bb:cc:00:00:03", "address": "10.1.1.242", "hostname": "fixed"},
    ]
    with pytest.raises(dhcp_backend.ReservationError, match="10.1.1.242 in range .* holds active lease fixed"):
        run(opn, "10.1.1.240-10.1.1.250", "dnsmasq")


# -- dhcp_scope_info ------------------------------------------------------------------------------------------------


def test_dry_run_of_dhcp_scope_info(opn):
    """What a user sees from baremetal.lb.dhcp_scope_info on this OPNsense after two reservations (``-s`` prints
    it); and it sends nothing but reads."""
    opn.kea_leases += [
        {
            "ip-address": "10.1.1.101",
            "hw-address": "aa:bb:cc:00:00:03",
            "hostname": "phone",
            "cltt": NOW - 300,
            "valid-lft": 600,
            "state": 0,
        },
        {
            "ip-address": "10.1.1.102",
            "hw-address": "aa:bb:cc:00:00:04",
            "hostname": "gone",
            "cltt": NOW - 300,
            "valid-lft": 600,
            "state": 2,
        },
    ]
    opn.dnsmasq_leases.append(
        {"expire": NOW + 120, "hwaddr": "aa:bb:cc:00:00:05", "address": "10.1.1.120", "hostname": "*"}
    )
    run(opn, "10.1.1.240-10.1.1.250")
    run(opn, "10.1.1.150-10.1.1.160", "dnsmasq")
    opn.log.clear()
    shown = {}
    for kind in ("kea", "dnsmasq"):
        scopes, warnings = dhcp_scope_info.collect(backend(opn, kind), now=NOW)
        assert warnings == []
        shown[kind] = scopes
        print(
            f"\n# dhcp_scope_info backend=opnsense opnsense_dhcp={kind}\n"
            + yaml.safe_dump({"changed": False, "scopes": scopes}, sort_keys=False)
        )
    assert writes(opn) == []
    (lan,) = shown["kea"]
    assert lan == {
        "name": "LAN",
        "backend": "opnsense",
        "subnet": "10.1.1.0/24",
        "interface": None,
        "enabled": True,
        "gateway": "10.1.1.1",
        "ranges": ["10.1.1.100-10.1.1.239"],
        "ranges_ui": ["10.1.1.100 - 10.1.1.239"],
        "static_mappings": [{"address": "10.1.1.20", "mac": "00:11:22:33:44:55", "hostname": "nas"}],
        "leases": [
            {
                "address": "10.1.1.101",
                "mac": "aa:bb:cc:00:00:03",
                "hostname": "phone",
                "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 300)),
                "expires_in": 300,
            }
        ],
        "reserved": [
            {
                "range": "10.1.1.240-10.1.1.250",
                "replaced": [{"from": "10.1.1.100-10.1.1.250", "to": ["10.1.1.100-10.1.1.239"]}],
            }
        ],
    }
    (dns,) = shown["dnsmasq"]
    assert (dns["name"], dns["interface"], dns["subnet"]) == ("lan", "lan", "10.1.1.0/24")
    assert dns["ranges"] == ["10.1.1.10-10.1.1.19", "10.1.1.100-10.1.1.149", "10.1.1.161-10.1.1.250"]
    # the DNS-only printer.internal (10.1.1.30) is not a static mapping
    assert dns["static_mappings"] == [{"address": "10.1.1.20", "mac": "00:11:22:33:44:55", "hostname": "nas"}]
    assert dns["gateway"] == "10.1.1.1"  # the router's own address on the interface: dnsmasq's default gateway
    assert [(x["address"], x["hostname"], x["expires_in"]) for x in dns["leases"]] == [("10.1.1.120", None, 120)]
    assert [e["range"] for e in dns["reserved"]] == ["10.1.1.150-10.1.1.160"]
    for name in ("LAN", "10.1.1.0/24", LAN):
        assert dhcp_scope_info.collect(backend(opn), scope=name)[0][0]["name"] == "LAN"


def test_isc_is_refused_with_the_reason():
    with pytest.raises(dhcp_backend.ReservationError, match="no API for the ISC DHCP"):
        make_opnsense_backend(
            {"api_url": "http://127.0.0.1:9", "api_key": "k", "api_secret": "s", "opnsense_dhcp": "isc"}
        )


def test_wrong_secret_is_the_recorded_401(opn):
    b = make_opnsense_backend({"api_url": opn.url, "api_key": "opn-key", "api_secret": "nope", "timeout": 5})
    with pytest.raises(dhcp_backend.ReservationError, match="HTTP 401: Authentication Failed") as exc:
        dhcp_backend.run(b, "10.1.1.240-10.1.1.250")
    assert "nope" not in str(exc.value)
