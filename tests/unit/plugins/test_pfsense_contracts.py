"""dhcp_reservation's pfSense backend against the fake REST API package (tests/fakes/pfsense.py), one test per way a
real pfSense differs from what the v1 backend assumed (issue 12). Each of these failed against the v1 backend
(commit 7ed598d); the report of the change says how each one failed.

The fake itself is checked first against the package's error table (tests/data/pfsense/errors.json).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from base64 import b64encode
from pathlib import Path
from typing import Any

import pytest

from tests.collection import collection_path
from tests.fakes.pfsense import ENDPOINTS, ERRORS, FakePfsense, plain_http, privilege

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils import (
    backend_pfsense,
    dhcp_backend,
    dhcp_scope_info,
)
from ansible_collections.baremetal.lb.plugins.module_utils.backend_pfsense import PfsenseBackend

REPO = Path(__file__).resolve().parents[3]
KEY = {"api_key": "pf-secret-key"}
BASIC = {"api_username": "admin", "api_password": "pfsense"}


def backend(pf: FakePfsense, creds: dict[str, str] | None = None) -> PfsenseBackend:
    params = {"api_url": pf.url, "validate_certs": False, "timeout": 5, **(creds or BASIC)}
    return PfsenseBackend.from_params(params, opener=plain_http, sleep=lambda seconds: None)


def run(pf: FakePfsense, rng: str, creds: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    return dhcp_backend.run(backend(pf, creds), rng, **kw)


def snapshot(pf: FakePfsense) -> str:
    return json.dumps([pf.servers, pf.applied, pf.aliases], sort_keys=True)


def call(
    pf: FakePfsense, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One raw request to the fake (as curl would send it)."""
    import urllib.error
    import urllib.request

    auth = "Basic " + b64encode(b"admin:pfsense").decode()
    req = urllib.request.Request(
        pf.url + path,
        method=method,
        headers={"Authorization": auth, **(headers or {})},
        data=json.dumps(body).encode() if body is not None else None,
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def pf():
    with FakePfsense() as fake:
        yield fake


# -- the fake answers as the package does --------------------------------------------------------------------------


def test_fake_errors_are_the_packages(pf):
    before = snapshot(pf)
    cases = [
        # (method, path, body, response id)
        (
            "PATCH",
            "/api/v2/services/dhcp_server",
            {"id": "lan", "range_to": "10.1.1.255"},
            "DHCP_SERVER_RANGE_FROM_CANNOT_BE_BROADCAST_ADDRESS",
        ),
        (
            "PATCH",
            "/api/v2/services/dhcp_server",
            {"id": "lan", "range_from": "10.1.1.10", "range_to": "10.1.1.30"},
            "DHCP_SERVER_PRIMARY_POOL_OVERLAPS_EXISTING_OBJECT",
        ),
        (
            "PATCH",
            "/api/v2/services/dhcp_server",
            {"id": "lan", "range_from": "10.1.1.1000"},
            "IP_ADDRESS_VALIDATOR_FAILED",
        ),
        ("PATCH", "/api/v2/services/dhcp_server", {"range_from": "10.1.1.100"}, "MODEL_REQUIRES_ID"),
        (
            "POST",
            "/api/v2/firewall/alias",
            {"name": "x", "type": "network", "descr": "é" * 513},
            "LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT",
        ),  # 1026 bytes: the cap counts bytes (strlen)
        (
            "POST",
            "/api/v2/firewall/alias",
            {"name": "a" * 32, "type": "network"},
            "LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT",
        ),
        (
            "POST",
            "/api/v2/firewall/alias",
            {"name": "x", "type": "network", "address": ["10.1.1.5"]},
            "INVALID_NETWORK_ALIAS_ADDRESS",
        ),
        (
            "POST",
            "/api/v2/firewall/alias",
            {"name": "x", "type": "network", "address": [], "detail": ["d"]},
            "TOO_MANY_ALIAS_DETAILS",
        ),
        ("POST", "/api/v2/firewall/alias", {"name": "x", "type": "url"}, "FIELD_INVALID_CHOICE"),
        ("POST", "/api/v2/services/dhcp_server/apply", {"async": "no"}, "ENDPOINT_ASYNC_FIELD_INVALID_TYPE"),
        ("DELETE", "/api/v2/firewall/aliases", None, "MODEL_DELETE_MANY_REQUIRES_QUERY_PARAMS"),
        ("POST", "/api/v2/status/services", {}, "ENDPOINT_METHOD_NOT_ALLOWED"),
    ]
    for method, path, body, rid in cases:
        status, answer = call(pf, method, path, body)
        assert (status, answer["response_id"]) == (ERRORS[rid]["code"], rid), (path, body, answer)
        assert set(answer) == {"code", "status", "response_id", "message", "data"}
        assert "'" not in answer["message"] and '"' not in answer["message"]  # Core/Response.inc:121
    status, answer = call(pf, "POST", "/api/v2/firewall/alias", {"name": "x", "type": "url"})
    assert answer["message"] == "Field `type` must be one of [host, network, port]"
    assert snapshot(pf) == before  # nothing above changed anything


def test_fake_alias_ids_are_positions_that_shift_and_names_cannot_change(pf):
    for name in ("one", "two", "three"):
        assert call(pf, "POST", "/api/v2/firewall/alias", {"name": name, "type": "host"})[0] == 200
    assert call(pf, "DELETE", "/api/v2/firewall/alias?id=0")[0] == 200
    _, answer = call(pf, "GET", "/api/v2/firewall/aliases")
    assert [(a["id"], a["name"]) for a in answer["data"]] == [(0, "two"), (1, "three")]
    status, answer = call(pf, "PATCH", "/api/v2/firewall/alias", {"id": 1, "name": "two", "descr": "x"})
    assert (status, answer["response_id"]) == (400, "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE")
    status, answer = call(pf, "DELETE", "/api/v2/firewall/aliases?name=three")
    assert status == 200 and [a["name"] for a in pf.aliases] == ["two"]
    # fewer details than addresses: the package fills them in
    call(
        pf,
        "POST",
        "/api/v2/firewall/alias",
        {"name": "four", "type": "network", "address": ["10.9.0.0/24", "10.9.1.0/24"], "detail": ["mine"]},
    )
    assert pf.aliases[-1]["detail"][0] == "mine" and pf.aliases[-1]["detail"][1].startswith("Entry added ")


def test_fake_authentication_follows_the_settings(pf):
    assert call(pf, "GET", "/api/v2/status/services")[0] == 200  # Basic: the fresh-install default
    status, answer = call(
        pf, "GET", "/api/v2/status/services", headers={"Authorization": "", "X-API-Key": "pf-secret-key"}
    )
    assert (status, answer["response_id"]) == (401, "AUTH_AUTHENTICATION_FAILED")  # Key auth not enabled
    pf.auth_methods = ["KeyAuth"]
    assert (
        call(pf, "GET", "/api/v2/status/services", headers={"Authorization": "", "X-API-Key": "pf-secret-key"})[0]
        == 200
    )
    pf.auth_methods = ["BasicAuth"]
    pf.users["admin"]["privileges"] = [privilege("GET", "/api/v2/interface")]
    assert call(pf, "GET", "/api/v2/interface?id=lan")[0] == 200
    status, answer = call(pf, "GET", "/api/v2/status/services")
    assert (status, answer["response_id"]) == (403, "AUTH_AUTHORIZATION_FAILED")
    pf.read_only = True
    pf.users["admin"]["privileges"] = ["page-all"]
    status, answer = call(pf, "PATCH", "/api/v2/services/dhcp_server", {"id": "lan"})
    assert (status, answer["response_id"]) == (405, "ENDPOINT_METHOD_NOT_ALLOWED_IN_READ_ONLY_MODE")


# -- authentication --------------------------------------------------------------------------------------------------


def test_a_fresh_install_takes_basic_auth_and_a_key_gets_told_how_to_enable_key_auth(pf):
    with pytest.raises(dhcp_backend.ReservationError) as exc:
        run(pf, "10.1.1.240-10.1.1.250", KEY)
    text = str(exc.value)
    assert "HTTP 401: Authentication failed." in text
    assert (
        "System > REST API > Settings > Authentication Methods: select 'Key' (setting auth_methods, KeyAuth)" in text
    ), text
    assert "pf-secret-key" not in text
    assert [m for m, _, _ in pf.log if m != "GET"] == []
    pf.log.clear()
    res = run(pf, "10.1.1.240-10.1.1.250", BASIC)  # what works out of the box
    assert res["changed"] and pf.applied["lan"]["range_to"] == "10.1.1.239"
    assert all(h.get("authorization", "").startswith("Basic ") and "x-api-key" not in h for _, _, h in pf.log)
    pf.auth_methods = ["BasicAuth", "KeyAuth"]
    assert run(pf, "10.1.1.240-10.1.1.250", KEY)["changed"] is False


def test_wrong_password_and_missing_privilege_say_what_to_fix(pf):
    with pytest.raises(dhcp_backend.ReservationError) as exc:
        run(pf, "10.1.1.240-10.1.1.250", {"api_username": "admin", "api_password": "wrong"})
    assert "did not accept user 'admin'" in str(
        exc.value
    ) and "'Local database' (setting auth_methods, BasicAuth)" in str(exc.value)
    assert "wrong" not in str(exc.value).replace("is wrong", "")
    pf.users["ansible"] = {
        "password": "s3cret",
        "disabled": False,
        "privileges": [
            privilege(m, p)
            for p, methods in ENDPOINTS.items()
            for m in methods
            if (m, p) != ("PATCH", "/api/v2/services/dhcp_server")
        ],
    }
    with pytest.raises(dhcp_backend.ReservationError) as exc:
        run(pf, "10.1.1.240-10.1.1.250", {"api_username": "ansible", "api_password": "s3cret"})
    assert "HTTP 403" in str(exc.value) and "'api-v2-services-dhcp-server-patch'" in str(exc.value), str(exc.value)
    assert exc.value.restored and pf.servers["lan"]["range_to"] == "10.1.1.250"


def test_the_documented_privileges_are_enough_for_everything(pf):
    # A least-privilege user with exactly the privileges docs/router.md lists: reserve, look, release (which reads
    # every place an alias can be referenced).
    names = sorted({privilege(m, "/api/v2" + p) for m, p in backend_pfsense.CALLS})
    docs = (REPO / "docs" / "router.md").read_text()
    assert [n for n in names if n not in docs] == []
    pf.users["ansible"] = {"password": "s3cret", "disabled": False, "privileges": names}
    creds = {"api_username": "ansible", "api_password": "s3cret"}
    assert run(pf, "10.1.1.240-10.1.1.250", creds)["changed"]
    scopes, warnings = dhcp_scope_info.collect(backend(pf, creds), now=0)
    assert warnings == [] and scopes[0]["ranges"] == ["10.1.1.100-10.1.1.239"]
    assert run(pf, "10.1.1.240-10.1.1.250", creds, state="absent")["changed"]
    assert pf.aliases == [] and pf.applied["lan"]["range_to"] == "10.1.1.250"


# -- apply: synchronous, and the service must run afterwards --------------------------------------------------------


def test_the_apply_has_finished_when_the_module_returns(pf):
    run(pf, "10.1.1.240-10.1.1.250")
    # with the package's default (async) the answer comes before dhcpd restarts: nothing may be left running
    assert pf.background == [] and pf.applied["lan"]["range_to"] == "10.1.1.239" and not pf.dirty


def test_a_dhcp_service_that_does_not_start_is_rolled_back(pf):
    pf.dhcpd_starts = lambda servers: servers["lan"]["range_to"] != "10.1.1.239"  # dhcpd dies on the new config
    before = snapshot(pf)
    with pytest.raises(dhcp_backend.ApplyError) as exc:
        run(pf, "10.1.1.240-10.1.1.250")
    assert "DHCP service dhcpd is not running after the change" in str(exc.value)
    assert exc.value.restored and "put back as it was" in str(exc.value)
    assert snapshot(pf) == before and pf.dhcpd_running


def test_a_service_that_stays_down_after_the_rollback_is_reported_not_hidden(pf):
    pf.dhcp_backend = "kea"
    pf.dhcpd_starts = lambda servers: False
    with pytest.raises(dhcp_backend.ApplyError) as exc:
        run(pf, "10.1.1.240-10.1.1.250")
    assert not exc.value.restored and "kea-dhcp4 is still not running" in str(exc.value)
    assert pf.servers["lan"]["range_to"] == "10.1.1.250"  # the configuration is back at least


def test_a_stopped_dhcp_service_is_refused_before_any_change(pf):
    pf.dhcpd_running = False
    with pytest.raises(
        dhcp_backend.ReservationError,
        match=r"DHCP service dhcpd \(ISC DHCP Server\) is not running "
        r"before any change",
    ):
        run(pf, "10.1.1.240-10.1.1.250", check_mode=True)
    assert [m for m, _, _ in pf.log if m != "GET"] == []


# -- marker storage: ten reservations in one scope, the real 1024-byte limits ---------------------------------------


def test_ten_reservations_in_one_scope_then_released_in_turn(pf):
    bands = [f"10.1.1.{249 - 2 * i}-10.1.1.{250 - 2 * i}" for i in range(10)]  # 249-250, 247-248, ...
    for i, band in enumerate(bands):
        res = run(pf, band)
        assert res["changed"], band
        assert pf.servers["lan"]["range_to"] == f"10.1.1.{248 - 2 * i}"
    assert [run(pf, band)["changed"] for band in bands] == [False] * 10  # second run: no change
    (alias,) = pf.aliases
    assert len(alias["address"]) == 20 and len(alias["detail"]) == 20
    assert all(len(d.encode()) <= 1024 for d in alias["detail"]) and len(alias["descr"].encode()) <= 1024
    # what the v1 backend would have written into descr: more than the package accepts
    v1 = "baremetal-lb dhcp_reservation " + json.dumps(
        backend(pf).read(dhcp_backend.parse_range(bands[0], "r"), "lan").entries, separators=(",", ":")
    )
    assert len(v1) > 1024
    (lan,), _ = dhcp_scope_info.collect(backend(pf), now=0)
    assert [r["range"] for r in lan["reserved"]] == bands
    for band in reversed(bands):
        assert run(pf, band, state="absent")["changed"], band
    assert pf.aliases == [] and pf.servers["lan"]["range_to"] == pf.applied["lan"]["range_to"] == "10.1.1.250"


def test_a_v1_alias_is_read_and_rewritten(pf):
    entry = {
        "range": "10.1.1.240-10.1.1.250",
        "replaced": [{"from": "10.1.1.100-10.1.1.250", "to": ["10.1.1.100-10.1.1.239"]}],
    }
    pf.servers["lan"]["range_to"] = pf.applied["lan"]["range_to"] = "10.1.1.239"
    pf.aliases.append(
        {
            "name": "blb_dhcp_lan",
            "type": "network",
            "descr": "baremetal-lb dhcp_reservation " + json.dumps([entry], separators=(",", ":")),
            "address": ["10.1.1.240/29", "10.1.1.248/31", "10.1.1.250/32"],
            "detail": ["load-balancer addresses (baremetal.lb.dhcp_reservation)"] * 3,
        }
    )
    assert run(pf, "10.1.1.238-10.1.1.239")["changed"]
    (alias,) = pf.aliases
    assert alias["descr"] == "baremetal-lb dhcp_reservation: load-balancer addresses kept out of DHCP server lan"
    assert alias["address"] == ["10.1.1.240/29", "10.1.1.248/31", "10.1.1.250/32", "10.1.1.238/31"]
    assert run(pf, "10.1.1.238-10.1.1.239", state="absent")["changed"]
    assert run(pf, "10.1.1.240-10.1.1.250", state="absent")["changed"]
    assert pf.aliases == [] and pf.applied["lan"]["range_to"] == "10.1.1.250"


def test_an_alias_of_that_name_the_module_did_not_write_is_left_alone(pf):
    pf.aliases.append(
        {"name": "blb_dhcp_lan", "type": "host", "descr": "mine", "address": ["10.1.1.7"], "detail": ["printer"]}
    )
    before = snapshot(pf)
    with pytest.raises(
        dhcp_backend.ReservationError, match="firewall alias blb_dhcp_lan exists .* but was not written by this module"
    ):
        run(pf, "10.1.1.240-10.1.1.250")
    assert snapshot(pf) == before


# -- aliases in use, aliases by name ---------------------------------------------------------------------------------


def test_an_alias_a_rule_uses_is_never_deleted(pf):
    run(pf, "10.1.1.240-10.1.1.250")
    pf.rules.append(
        {
            "type": "pass",
            "interface": ["lan"],
            "source": "any",
            "destination": "!blb_dhcp_lan",
            "descr": "LAN to anything but the balancer",
        }
    )
    pf.lists["port_forwards"].append(
        {"source": "any", "destination": "wan:ip", "target": "blb_dhcp_lan", "descr": "https to traefik"}
    )
    before = snapshot(pf)
    with pytest.raises(dhcp_backend.ReservationError) as exc:
        run(pf, "10.1.1.240-10.1.1.250", state="absent")
    text = str(exc.value)
    assert (
        "in use by firewall rule 0 'LAN to anything but the balancer' (destination); NAT port forward 0 "
        "'https to traefik' (target)" in text
    ), text
    assert text.endswith("the router was not changed") and snapshot(pf) == before
    # an address of the user's own in the alias: the module gives its band back and keeps the alias for it
    pf.aliases[0]["address"].append("10.1.1.7/32")
    pf.aliases[0]["detail"].append("printer")
    assert run(pf, "10.1.1.240-10.1.1.250", state="absent")["changed"]
    assert pf.aliases[0]["address"] == ["10.1.1.7/32"] and pf.aliases[0]["detail"] == ["printer"]
    assert pf.applied["lan"]["range_to"] == "10.1.1.250"


def test_an_unreadable_reference_list_means_no_delete(pf):
    run(pf, "10.1.1.240-10.1.1.250")
    pf.users["admin"]["privileges"] = [
        privilege(m, p) for p, methods in ENDPOINTS.items() for m in methods if p != "/api/v2/routing/static_routes"
    ]
    with pytest.raises(
        dhcp_backend.ReservationError,
        match="reading the static routes failed .*HTTP 403.*'api-v2-routing-static-routes-get'",
    ):
        run(pf, "10.1.1.240-10.1.1.250", state="absent")
    assert len(pf.aliases) == 1 and pf.servers["lan"]["range_to"] == "10.1.1.239"


def test_the_alias_is_found_by_name_when_someone_deletes_an_earlier_one(pf):
    pf.aliases.append({"name": "office", "type": "network", "descr": "", "address": ["10.1.5.0/24"], "detail": ["o"]})
    run(pf, "10.1.1.249-10.1.1.250")
    pf.aliases.append({"name": "cameras", "type": "network", "descr": "", "address": ["10.1.9.0/24"], "detail": ["c"]})
    cameras = copy.deepcopy(pf.aliases[2])
    # between the module's read and its write, someone deletes "office" in the GUI: every later id moves down
    pf.before("PATCH", "/api/v2/services/dhcp_server", lambda: pf.aliases.pop(0))
    assert run(pf, "10.1.1.247-10.1.1.248")["changed"]
    assert [a["name"] for a in pf.aliases] == ["blb_dhcp_lan", "cameras"]
    assert pf.aliases[1] == cameras
    assert pf.aliases[0]["address"] == ["10.1.1.249/32", "10.1.1.250/32", "10.1.1.247/32", "10.1.1.248/32"]


# -- what the list in the issue missed ---------------------------------------------------------------------------------


def test_a_virtual_ip_in_the_band_is_an_occupant(pf):
    pf.vips.append(
        {
            "mode": "carp",
            "interface": "lan",
            "type": "single",
            "subnet": "10.1.1.245",
            "subnet_bits": 24,
            "descr": "LAN CARP",
            "vhid": 1,
        }
    )
    with pytest.raises(
        dhcp_backend.ReservationError,
        match=r"10.1.1.245 in range 10.1.1.240-10.1.1.250 holds "
        r"virtual IP LAN CARP \(carp\)",
    ):
        run(pf, "10.1.1.240-10.1.1.250")
    assert pf.servers["lan"]["range_to"] == "10.1.1.250"


# -- what a user sees -------------------------------------------------------------------------------------------------


def test_dry_run_script_prints_the_scope_a_user_sees():
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "pfsense-scope-info-dry-run")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    print(out)
    assert "ranges_ui:\n  - 10.1.1.100 to 10.1.1.230" in out
    assert "- range: 10.1.1.249-10.1.1.250" in out and "- range: 10.1.1.231-10.1.1.232" in out
    assert "backend: pfsense" in out and "an-example-password" not in out
