"""The /ubus JSON-RPC client (plugins/module_utils/openwrt_ubus.py) against scripted answers in uhttpd's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils.openwrt_ubus import UbusClient, UbusError

SID = "a" * 32
DENIED = {"jsonrpc": "2.0", "id": 0, "error": {"code": -32002, "message": "Access denied"}}


class Opener:
    """Answers POSTs from a script of ``(params[1:3] prefix, answer)``; records every request body."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, url, method, data, headers, validate_certs, timeout, ca_path=None):
        assert url == "https://192.0.2.1/ubus" and method == "POST"
        self.bodies.append(json.loads(data))
        return 200, json.dumps(self.answers.pop(0)).encode()


def login_answer(sid: str = SID) -> dict[str, Any]:
    session = {
        "ubus_rpc_session": sid,
        "timeout": 300,
        "expires": 300,
        "acls": {"uci": {"dhcp": ["read", "write"]}},
        "data": {"username": "blb"},
    }
    return {"jsonrpc": "2.0", "id": 1, "result": [0, session]}


def client(opener: Opener) -> UbusClient:
    return UbusClient("https://192.0.2.1/", "blb", "pw-secret", opener=opener)


def test_login_then_call_in_the_legacy_shape():
    opener = Opener(login_answer(), {"jsonrpc": "2.0", "id": 2, "result": [0, {"value": "100"}]})
    c = client(opener)
    assert c.call("uci", "get", {"config": "dhcp", "section": "lan", "option": "start"}) == {"value": "100"}
    assert opener.bodies[0]["params"] == ["0" * 32, "session", "login", {"username": "blb", "password": "pw-secret"}]
    assert opener.bodies[1] == {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "call",
        "params": [SID, "uci", "get", {"config": "dhcp", "section": "lan", "option": "start"}],
    }
    assert c.granted("uci", "dhcp", "write") and not c.granted("uci", "network", "write")


def test_an_expired_session_is_replaced_once():
    opener = Opener(login_answer(), DENIED, login_answer("b" * 32), {"jsonrpc": "2.0", "id": 4, "result": [0]})
    assert client(opener).call("uci", "commit", {"config": "dhcp"}) == {}
    assert opener.bodies[3]["params"][0] == "b" * 32


def test_access_denied_twice_names_the_missing_grant_and_never_the_secrets():
    opener = Opener(login_answer(), DENIED, login_answer(), DENIED)
    with pytest.raises(UbusError) as exc:
        client(opener).call("file", "exec", {"command": "/etc/init.d/dnsmasq", "params": ["restart"]})
    assert "lacks the ACL grant ubus file: [exec]" in str(exc.value)
    assert "pw-secret" not in str(exc.value) and SID not in str(exc.value)


@pytest.mark.parametrize(
    "status, missing_ok, outcome",
    [(4, True, None), (4, False, "NOT_FOUND"), (6, False, "PERMISSION_DENIED"), (8, False, "NOT_SUPPORTED")],
)
def test_ubus_status_codes(status, missing_ok, outcome):
    opener = Opener(login_answer(), {"jsonrpc": "2.0", "id": 2, "result": [status]})
    if outcome is None:
        assert client(opener).call("file", "read", {"path": "/tmp/x"}, missing_ok=missing_ok) is None
    else:
        with pytest.raises(UbusError, match=outcome) as exc:
            client(opener).call("file", "read", {"path": "/tmp/x"}, missing_ok=missing_ok)
        assert exc.value.status == status


def test_wrong_password_and_missing_credentials_are_clear():
    with pytest.raises(UbusError, match="rpcd refused the login of 'blb'"):
        client(Opener({"jsonrpc": "2.0", "id": 1, "result": [6]})).login()
    with pytest.raises(Exception, match="set api_username and api_password"):
        UbusClient("https://192.0.2.1", None, None)
