"""The pure parts of the pfSense backend (plugins/module_utils/backend_pfsense.py): which authentication the
credentials choose, what a 401/403 tells the user, the marker records in alias details, and where an alias is
referenced. The backend against the fake REST API is in tests/unit/plugins/test_pfsense_contracts.py.

Runs under both ``pytest`` and ``ansible-test units`` (see tests/unit/plugins/conftest.py).
"""

from __future__ import annotations

import json

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import backend_pfsense as pfs
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import ReservationError

ENTRY = {
    "range": "10.1.1.240-10.1.1.250",
    "replaced": [{"from": "10.1.1.100-10.1.1.250", "to": ["10.1.1.100-10.1.1.239"]}],
}


@pytest.mark.parametrize(
    "params, mode",
    [
        ({"api_key": "k"}, "key"),
        ({"api_username": "u", "api_password": "p"}, "basic"),
        ({"api_key": "k", "api_secret": "ignored by pfsense"}, "key"),
    ],
)
def test_the_credentials_given_choose_the_authentication(params, mode):
    assert pfs.choose_auth(params)[0] == mode


@pytest.mark.parametrize(
    "params, words",
    [
        (
            {"api_key": "k", "api_username": "u", "api_password": "p"},
            "set either api_key (Key authentication) or api_username and api_password",
        ),
        ({"api_key": "k", "api_password": "p"}, "not both"),
        ({"api_username": "u"}, "api_username is set but api_password is not"),
        ({"api_password": "p"}, "api_password is set but api_username is not"),
        (
            {},
            "no credentials; set api_username and api_password (Basic authentication, the REST API package's default)",
        ),
    ],
)
def test_ambiguous_or_missing_credentials_are_refused(params, words):
    with pytest.raises(ReservationError) as exc:
        pfs.choose_auth(params)
    assert words in str(exc.value)
    assert "'p'" not in str(exc.value) and "'k'" not in str(exc.value)


def test_401_advice_names_the_setting_for_the_method_tried():
    key = pfs.auth_advice("key")
    assert "System > REST API > Settings > Authentication Methods: select 'Key' (setting auth_methods, KeyAuth)" in key
    basic = pfs.auth_advice("basic", "ansible")
    assert "user 'ansible'" in basic and "select 'Local database' (setting auth_methods, BasicAuth)" in basic


def test_privilege_names_as_the_package_makes_them():
    # Endpoint::get_method_priv_name: the URL, '/' and '_' as '-', then the method in lower case
    assert pfs.privilege("PATCH", "/services/dhcp_server") == "api-v2-services-dhcp-server-patch"
    assert pfs.privilege("GET", "/firewall/aliases?name=blb_dhcp_lan") == "api-v2-firewall-aliases-get"


def test_records_live_in_the_details_and_survive_a_round_trip():
    foreign = [("10.1.1.7/32", "printer")]
    alias = pfs.build_alias("lan", [ENTRY], foreign)
    assert alias["address"] == ["10.1.1.7/32", "10.1.1.240/29", "10.1.1.248/31", "10.1.1.250/32"]
    assert alias["detail"][0] == "printer" and len(set(alias["detail"][1:])) == 1
    assert alias["descr"] == pfs.ALIAS_DESCR % "lan"
    assert pfs.decode_alias(dict(alias, name="blb_dhcp_lan")) == ([ENTRY], foreign)
    assert pfs.build_alias("lan", [], []) is None


def test_one_record_per_detail_keeps_every_field_small_however_many_reservations():
    entries = [
        {
            "range": f"10.1.1.{250 - i}",
            "replaced": [{"from": f"10.1.1.100-10.1.1.{250 - i}", "to": [f"10.1.1.100-10.1.1.{249 - i}"]}],
        }
        for i in range(100)
    ]
    alias = pfs.build_alias("lan", entries, [])
    assert len(alias["address"]) == 100
    assert max(len(d.encode()) for d in alias["detail"]) < 200 and len(alias["descr"]) < 200
    assert pfs.decode_alias(dict(alias, name="x"))[0] == entries


def test_a_record_too_big_for_a_detail_is_refused_not_truncated():
    big = dict(ENTRY, replaced=ENTRY["replaced"] * 20)
    with pytest.raises(ReservationError, match=r"more than the 1024 bytes pfSense keeps in an alias detail"):
        pfs.encode_detail(big)


def test_a_v1_alias_is_read():
    v1 = {
        "name": "blb_dhcp_lan",
        "type": "network",
        "descr": pfs.LEGACY_PREFIX + json.dumps([ENTRY]),
        "address": ["10.1.1.240/29"],
        "detail": ["load-balancer addresses (baremetal.lb.dhcp_reservation)"],
    }
    assert pfs.decode_alias(v1) == ([ENTRY], [])


def test_an_unreadable_record_is_an_error_naming_the_address():
    alias = {"name": "blb_dhcp_lan", "address": ["10.1.1.240/32"], "detail": [pfs.DETAIL_PREFIX + "{oops"]}
    with pytest.raises(ReservationError, match="the detail of 10.1.1.240/32 is not a record"):
        pfs.decode_alias(alias)


def test_references_found_in_every_shape_pfsense_uses():
    listings = [
        (
            "firewall rule",
            ("source", "destination"),
            [
                {"id": 0, "source": "any", "destination": "lan"},
                {"id": 1, "source": "!blb_dhcp_lan", "destination": "any", "descr": "not the balancer"},
            ],
        ),
        (
            "firewall alias",
            ("address",),
            [
                {"id": 0, "name": "blb_dhcp_lan", "address": ["10.1.1.240/29"]},
                {"id": 1, "name": "nested", "address": ["blb_dhcp_lan", "10.9.0.0/16"]},
            ],
        ),
        ("OpenVPN server", ("local_network", "remote_network"), [{"id": 0, "local_network": ["10.1.1.0/24"]}]),
    ]
    assert pfs.references("blb_dhcp_lan", listings) == [
        "firewall rule 1 'not the balancer' (source)",
        "firewall alias 1 'nested' (address)",
    ]
    assert pfs.references("blb_dhcp_opt1", listings) == []
