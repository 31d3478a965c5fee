"""dhcp_reservation's pfSense, OPNsense and OpenWrt backends against contract FAKES (tests/fakes/).

pfSense and OPNsense cannot run on these machines; the fakes follow their documented APIs (docs/router.md says
which versions). The driver (dhcp_backend.run) is called directly for most cases — the same code the module runs —
and the module itself is run through ansible-playbook for the checks that need Ansible (no_log, check mode,
ansible-doc).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.collection import ansible_doc, collection_path, run_module
from tests.fakes.openwrt_router import FakeOpenwrt
from tests.fakes.opnsense import FakeOpnsense
from tests.fakes.pfsense import FakePfsense

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_backend
from ansible_collections.baremetal.lb.plugins.module_utils.backend_opnsense import make_opnsense_backend
from ansible_collections.baremetal.lb.plugins.module_utils.backend_pfsense import PfsenseBackend

LAN_UUID = "5a6b0c1d-0000-4000-8000-00000000c0a1"  # the recorded Kea subnet (tests/data/opnsense)


@pytest.fixture
def pf():
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as fake:
        yield fake


@pytest.fixture
def opn():
    with FakeOpnsense() as fake:
        yield fake


def pf_run(pf: FakePfsense, key: str = "pf-secret-key", **kw: Any) -> dict[str, Any]:
    backend = PfsenseBackend.from_params({"api_url": pf.url, "api_key": key, "validate_certs": False, "timeout": 5})
    return dhcp_backend.run(backend, kw.pop("range"), **kw)


# -- pfSense ---------------------------------------------------------------------------------------------------


def test_pfsense_seed_scenario_reserve_apply_alias_and_idempotence(pf):
    res = pf_run(pf, range="10.1.1.240-10.1.1.250")
    assert res["changed"] and res["ranges_after"] == ["10.1.1.100-10.1.1.239"]
    assert res["diff"]["after"] == "scope lan (10.1.1.0/24)\n  dynamic range: 10.1.1.100 to 10.1.1.239\n"
    assert pf.applied["lan"]["range_to"] == "10.1.1.239" and not pf.dirty  # applied, not just saved
    alias = pf.aliases[0]
    assert alias["name"] == "blb_dhcp_lan" and alias["type"] == "network"
    assert alias["address"] == ["10.1.1.240/29", "10.1.1.248/31", "10.1.1.250/32"]
    assert pf_run(pf, range="10.1.1.240-10.1.1.250")["changed"] is False
    # the key only ever travels in the X-API-Key header
    assert all("pf-secret-key" not in path for _, path, _ in pf.log)

    res = pf_run(pf, range="10.1.1.240-10.1.1.250", state="absent")
    assert res["changed"] and pf.applied["lan"]["range_to"] == "10.1.1.250" and pf.aliases == []
    assert pf_run(pf, range="10.1.1.240-10.1.1.250", state="absent")["changed"] is False


def test_pfsense_refusals(pf):
    pf.leases.append(
        {
            "ip": "10.1.1.241",
            "mac": "aa:bb:cc:00:00:01",
            "hostname": "laptop",
            "active_status": "active",
            "ends": "2026/11/24 10:00:00",
        }
    )
    for rng, text in [
        ("10.1.1.15-10.1.1.25", "10.1.1.20 in range 10.1.1.15-10.1.1.25 holds static mapping nas (00:11:22:33:44:55)"),
        ("10.1.1.1-10.1.1.9", "10.1.1.1 in range 10.1.1.1-10.1.1.9 is the router address"),
        ("10.1.1.240-10.1.1.250", "10.1.1.241 in range 10.1.1.240-10.1.1.250 holds active lease laptop"),
        ("10.1.1.150-10.1.1.160", "would split the primary range"),
    ]:
        with pytest.raises(dhcp_backend.ReservationError, match=text.replace("(", r"\(").replace(")", r"\)")):
            pf_run(pf, range=rng)
    assert pf.servers["lan"]["range_to"] == "10.1.1.250" and pf.aliases == []
    with pytest.raises(dhcp_backend.ReservationError, match="HTTP 401: Authentication failed"):
        pf_run(pf, key="wrong", range="10.1.1.240-10.1.1.250")


def test_pfsense_bands_given_back_out_of_order(pf):
    """The primary range is one range: a band at the other end goes back in any order; a band that would leave the
    range in two pieces (a newer band was cut next to it) is refused, naming what to do, and nothing changes."""
    for band in ("10.1.1.240-10.1.1.250", "10.1.1.100-10.1.1.109", "10.1.1.230-10.1.1.239"):
        pf_run(pf, range=band)
    assert pf_run(pf, range="10.1.1.100-10.1.1.109", state="absent")["ranges_after"] == ["10.1.1.100-10.1.1.229"]
    with pytest.raises(dhcp_backend.ReservationError, match="give back the reservations made after it first"):
        pf_run(pf, range="10.1.1.240-10.1.1.250", state="absent")
    assert (pf.servers["lan"]["range_from"], pf.servers["lan"]["range_to"]) == ("10.1.1.100", "10.1.1.229")
    pf_run(pf, range="10.1.1.230-10.1.1.239", state="absent")
    assert pf_run(pf, range="10.1.1.240-10.1.1.250", state="absent")["ranges_after"] == ["10.1.1.100-10.1.1.250"]


def test_pfsense_apply_failure_puts_the_range_back(pf):
    pf.fail(
        "POST",
        "/api/v2/services/dhcp_server/apply",
        500,
        {
            "code": 500,
            "status": "server error",
            "response_id": "DHCP_SERVER_APPLY_FAILED",
            "message": "dhcpd failed to start",
            "data": [],
        },
    )
    with pytest.raises(dhcp_backend.ApplyError) as exc:
        pf_run(pf, range="10.1.1.240-10.1.1.250")
    assert "dhcpd failed to start" in str(exc.value) and "the router is as it was" in str(exc.value)
    assert exc.value.restored
    assert pf.servers["lan"]["range_to"] == "10.1.1.250" and pf.applied["lan"]["range_to"] == "10.1.1.250"
    assert pf.aliases == []


def test_pfsense_check_mode_writes_nothing(pf):
    res = pf_run(pf, range="10.1.1.240-10.1.1.250", check_mode=True)
    assert res["changed"] and res["msg"].startswith("check mode")
    assert [m for m, _, _ in pf.log if m != "GET"] == []


# -- OPNsense ----------------------------------------------------------------------------------------------------


def opn_run(opn: FakeOpnsense, kind: str = "kea", **kw: Any) -> dict[str, Any]:
    backend = make_opnsense_backend(
        {
            "api_url": opn.url,
            "api_key": "opn-key",
            "api_secret": "opn-secret",
            "opnsense_dhcp": kind,
            "validate_certs": False,
            "timeout": 5,
        }
    )
    return dhcp_backend.run(backend, kw.pop("range"), **kw)


# The OPNsense cases (Kea and dnsmasq against the recorded-answer fake) are in test_opnsense_backend.py.


# -- OpenWrt (the fake router of tests/fakes/openwrt_router.py; its own tests: tests/unit/plugins/openwrt/) -----------


@pytest.fixture
def openwrt(tmp_path):
    with FakeOpenwrt(tmp_path) as router:
        yield router


def wrt_run(openwrt: FakeOpenwrt, **kw: Any) -> dict[str, Any]:
    return dhcp_backend.run(openwrt.backend(), kw.pop("range"), **kw)


def test_ipv6_ranges_are_refused_clearly_by_the_ipv4_only_backends(pf, opn, openwrt):
    # pfSense's DHCPv6 server, OPNsense's Kea DHCPv6 and OpenWrt's odhcpd are not managed (yet): say so, name the
    # field and the value, change nothing (this used to end in a TypeError from the message formatting).
    before = (
        json.dumps(pf.servers, sort_keys=True),
        json.dumps(opn.kea["subnet4"], sort_keys=True),
        openwrt.dhcp_file(),
    )
    rng = "2001:db8:1::f0-2001:db8:1::ff"
    for name, run in (
        ("pfsense", lambda: pf_run(pf, range=rng)),
        ("opnsense", lambda: opn_run(opn, range=rng)),
        ("openwrt", lambda: wrt_run(openwrt, range=rng)),
    ):
        with pytest.raises(dhcp_backend.ReservationError) as exc:
            run()
        text = str(exc.value)
        assert text.startswith(f"range: {rng} is IPv6; the {name} backend manages"), text
        assert text.endswith("the router was not changed"), text
    assert before == (
        json.dumps(pf.servers, sort_keys=True),
        json.dumps(opn.kea["subnet4"], sort_keys=True),
        openwrt.dhcp_file(),
    )


# -- the module through Ansible -------------------------------------------------------------------------------------


def test_module_secrets_never_leak_and_check_mode(opn):
    args = {
        "backend": "opnsense",
        "api_url": opn.url,
        "api_key": "opn-key",
        "api_secret": "opn-secret",
        "range": "10.1.1.240-10.1.1.250",
    }
    rc, res = run_module("baremetal.lb.dhcp_reservation", args, check=True, diff=True)
    assert rc == 0 and res["changed"] is True, res
    assert opn.kea["subnet4"][LAN_UUID]["pools"] == "10.1.1.100-10.1.1.250"
    assert "opn-secret" not in json.dumps(res) and "opn-key" not in json.dumps(res)
    rc, res = run_module("baremetal.lb.dhcp_reservation", {**args, "api_secret": "wrong-secret"})
    assert rc != 0 and "HTTP 401" in res["msg"]
    assert "wrong-secret" not in json.dumps(res)


@pytest.mark.parametrize(
    "module, spec_from, words",
    [
        (
            "dhcp_reservation",
            "dhcp_module",
            ("backend", "accept_active_leases", "api_secret", "BAREMETAL_LB_ROUTER_API_KEY", "ranges_after"),
        ),
        (
            "dhcp_scope_info",
            "dhcp_scope_info",
            (
                "backend",
                "scope",
                "api_secret",
                "BAREMETAL_LB_ROUTER_API_KEY",
                "static_mappings",
                "expires_in",
                "reserved",
            ),
        ),
    ],
)
def test_module_docs_render(module, spec_from, words):
    import importlib

    text = ansible_doc("baremetal.lb." + module)
    for word in words:
        assert word in text
    data = json.loads(ansible_doc("baremetal.lb." + module, json_output=True))
    doc = data["baremetal.lb." + module]
    options = doc["doc"]["options"]
    ARG_SPEC = importlib.import_module("ansible_collections.baremetal.lb.plugins.module_utils." + spec_from).ARG_SPEC
    assert set(options) == set(ARG_SPEC)
    for name, spec in ARG_SPEC.items():
        assert options[name].get("type", "str") == spec.get("type", "str"), name
        assert options[name].get("default") == spec.get("default"), name
        assert options[name].get("choices") == spec.get("choices"), name
        assert bool(options[name].get("required")) == bool(spec.get("required")), name
    assert doc["examples"] and doc["return"]
