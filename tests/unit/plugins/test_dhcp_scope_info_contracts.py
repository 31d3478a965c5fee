"""baremetal.lb.dhcp_scope_info against the pfSense, OPNsense (Kea and dnsmasq) and OpenWrt contract FAKES.

Each backend: dhcp_reservation's driver reserves a band first (the code the module runs), then the scope-info
collector (module_utils/dhcp_scope_info.collect, the code dhcp_scope_info runs) must show the shrunk ranges as the
router's UI writes them, the static mappings, the active leases (not the expired ones) and the reservation marker,
and send nothing but reads. The module itself runs through ansible-playbook for no_log and check mode; real Kea
and dnsmasq are in tests/integration/test_dhcp_scope_info.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.collection import collection_path, run_module
from tests.fakes.pfsense import FakePfsense

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils import (
    dhcp_backend,
    dhcp_module,
    dhcp_scope_info,
)
from ansible_collections.baremetal.lb.plugins.module_utils.backend_pfsense import PfsenseBackend

NOW = 1_790_000_000  # a fixed "now" for expires_in


def only_reads(log: list[tuple[str, str, Any]]) -> bool:
    return all(method == "GET" for method, _, _ in log)


def by_name(scopes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in scopes}


# -- pfSense ---------------------------------------------------------------------------------------------------


def pf_backend(pf: FakePfsense, key: str = "pf-secret-key") -> PfsenseBackend:
    return PfsenseBackend.from_params({"api_url": pf.url, "api_key": key, "validate_certs": False, "timeout": 5})


def test_pfsense_seed_scope_after_a_reservation():
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        pf.leases += [
            {
                "ip": "10.1.1.105",
                "mac": "aa:bb:cc:00:00:01",
                "hostname": "laptop",
                "active_status": "active",
                "ends": "2026/11/24 10:00:00",
            },
            {
                "ip": "10.1.1.106",
                "mac": "aa:bb:cc:00:00:02",
                "hostname": "old",
                "active_status": "expired",
                "ends": "2026/11/20 10:00:00",
            },
        ]
        # a disabled DHCP server on opt1, and opt2 without a static address (no scope there)
        pf.interfaces["opt1"] = {
            "id": "opt1",
            "if": "em2",
            "descr": "IOT",
            "typev4": "static",
            "ipaddr": "10.1.2.1",
            "subnet": 24,
        }
        pf.interfaces["opt2"] = {
            "id": "opt2",
            "if": "em3",
            "descr": "WAN2",
            "typev4": "dhcp",
            "ipaddr": "dhcp",
            "subnet": "",
        }
        pf.servers["opt1"] = {
            "id": "opt1",
            "enable": False,
            "range_from": "10.1.2.100",
            "range_to": "10.1.2.200",
            "gateway": "10.1.2.254",
            "pool": [],
            "staticmap": [],
        }
        pf.servers["opt2"] = {"id": "opt2", "enable": False, "pool": [], "staticmap": []}
        assert dhcp_backend.run(pf_backend(pf), "10.1.1.240-10.1.1.250")["changed"]
        pf.log.clear()

        scopes, warnings = dhcp_scope_info.collect(pf_backend(pf), now=NOW)
        assert warnings == [] and only_reads(pf.log)
        assert [s["name"] for s in scopes] == ["lan", "opt1"]
        lan, opt1 = scopes
        assert lan == {
            "name": "lan",
            "backend": "pfsense",
            "subnet": "10.1.1.0/24",
            "interface": "em1",
            "enabled": True,
            "gateway": "10.1.1.1",  # no gateway set on the DHCP server: pfSense hands out its own address
            "ranges": ["10.1.1.100-10.1.1.239"],
            "ranges_ui": ["10.1.1.100 to 10.1.1.239"],
            "static_mappings": [{"address": "10.1.1.20", "mac": "00:11:22:33:44:55", "hostname": "nas"}],
            "leases": [
                {
                    "address": "10.1.1.105",
                    "mac": "aa:bb:cc:00:00:01",
                    "hostname": "laptop",
                    "expires": "2026/11/24 10:00:00",
                    "expires_in": None,
                }
            ],
            "reserved": [
                {
                    "range": "10.1.1.240-10.1.1.250",
                    "replaced": [{"from": "10.1.1.100-10.1.1.250", "to": ["10.1.1.100-10.1.1.239"]}],
                }
            ],
        }
        assert (opt1["enabled"], opt1["interface"], opt1["gateway"], opt1["reserved"]) == (
            False,
            "em2",
            "10.1.2.254",
            [],
        )

        (only,) = dhcp_scope_info.collect(pf_backend(pf), scope="opt1", now=NOW)[0]
        assert only["subnet"] == "10.1.2.0/24"
        with pytest.raises(
            dhcp_backend.ReservationError,
            match=r"scope 'wan': no pfsense scope has that name; "
            r"scopes: lan/10.1.1.0/24; opt1/10.1.2.0/24",
        ):
            dhcp_scope_info.collect(pf_backend(pf), scope="wan")


def test_pfsense_leases_unknown_is_null_with_a_warning():
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        pf.fail(
            "GET",
            "/api/v2/status/dhcp_server/leases",
            500,
            {
                "code": 500,
                "status": "server error",
                "response_id": "X",
                "message": "dhcpd.leases unreadable",
                "data": [],
            },
            times=10,
        )
        (lan,), warnings = dhcp_scope_info.collect(pf_backend(pf), now=NOW)
        assert lan["leases"] is None
        assert warnings and "scope lan: pfSense did not list the DHCP leases" in warnings[0]
        assert "dhcpd.leases unreadable" in warnings[0]


# -- OPNsense ----------------------------------------------------------------------------------------------------


# The OPNsense cases (Kea and dnsmasq against the recorded-answer fake) are in test_opnsense_backend.py.


# -- the module through Ansible -------------------------------------------------------------------------------------


def test_module_reads_in_check_mode_and_never_shows_secrets():
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        args = {"backend": "pfsense", "api_url": pf.url, "api_key": "pf-secret-key", "validate_certs": False}
        rc, res = run_module("baremetal.lb.dhcp_scope_info", args, check=True)
        assert rc == 0 and res["changed"] is False, res
        assert [s["ranges_ui"] for s in res["scopes"]] == [["10.1.1.100 to 10.1.1.250"]]
        assert "pf-secret-key" not in json.dumps(res)
        assert only_reads(pf.log)
        rc, res = run_module("baremetal.lb.dhcp_scope_info", {**args, "api_key": "wrong-secret"})
        assert rc != 0 and "HTTP 401" in res["msg"], res
        assert "wrong-secret" not in json.dumps(res)


def test_argument_spec_is_dhcp_reservations_for_every_shared_option():
    spec = dhcp_scope_info.ARG_SPEC
    assert set(spec) - set(dhcp_module.ARG_SPEC) == set()
    for name, option in spec.items():
        assert option == dhcp_module.ARG_SPEC[name], name
    assert "range" not in spec and "state" not in spec and spec["scope"] == {"type": "str"}


def test_return_docs_describe_exactly_what_is_returned():
    import yaml
    from ansible_collections.baremetal.lb.plugins.modules import dhcp_scope_info as module

    doc = yaml.safe_load(module.RETURN)["scopes"]["contains"]
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        pf.leases.append(
            {
                "ip": "10.1.1.105",
                "mac": "aa:bb:cc:00:00:01",
                "hostname": "laptop",
                "active_status": "active",
                "ends": "2026/11/24 10:00:00",
            }
        )
        dhcp_backend.run(pf_backend(pf), "10.1.1.240-10.1.1.250")
        (lan,), _ = dhcp_scope_info.collect(pf_backend(pf), now=NOW)
    assert set(lan) == set(doc)
    for key in ("static_mappings", "leases", "reserved"):
        assert set(lan[key][0]) == set(doc[key]["contains"]), key
    assert set(lan["reserved"][0]["replaced"][0]) == {"from", "to"}
    assert yaml.safe_load(module.DOCUMENTATION)["module"] == "dhcp_scope_info"
