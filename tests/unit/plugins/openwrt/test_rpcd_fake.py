"""The fake /ubus endpoint (tests/fakes/openwrt_rpcd.py) answers in the shapes its docstring cites from uhttpd and
rpcd: checked here with raw JSON-RPC, so a fake drifting from them fails before any backend test relies on it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.fakes.openwrt_router import PASSWORD, USER, FakeOpenwrt

NULL = "0" * 32


@pytest.fixture
def router(tmp_path):
    with FakeOpenwrt(tmp_path) as fake:
        yield fake


def post(router: FakeOpenwrt, body: Any) -> dict[str, Any]:
    req = urllib.request.Request(
        router.rpcd.url + "/ubus",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200  # uhttpd answers JSON-RPC errors with HTTP 200 too
        return json.loads(resp.read())


def call(router: FakeOpenwrt, sid: str, obj: str, func: str, args: dict[str, Any]) -> dict[str, Any]:
    return post(router, {"jsonrpc": "2.0", "id": 7, "method": "call", "params": [sid, obj, func, args]})


def login(router: FakeOpenwrt) -> str:
    res = call(router, NULL, "session", "login", {"username": USER, "password": PASSWORD})
    status, data = res["result"]
    assert status == 0 and set(data) == {"ubus_rpc_session", "timeout", "expires", "acls", "data"}
    assert data["timeout"] == 300 and data["acls"]["uci"]["dhcp"] == ["read", "write"]
    return data["ubus_rpc_session"]


def test_jsonrpc_errors(router):
    assert post(router, {"id": 1})["error"] == {"code": -32700, "message": "Parse error"}
    assert post(router, {"jsonrpc": "2.0", "id": 1, "method": "frobnicate"})["error"]["code"] == -32601
    assert call(router, NULL, "nosuchobject", "x", {})["error"] == {"code": -32000, "message": "Object not found"}
    assert call(router, NULL, "uci", "get", {"config": "dhcp"})["error"] == {"code": -32002, "message": "Access denied"}
    assert call(router, NULL, "session", "login", {"username": USER, "password": "no"}) == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": [6],
    }


def test_uci_and_file_answers(router):
    sid = login(router)
    values = call(router, sid, "uci", "get", {"config": "dhcp"})["result"][1]["values"]
    assert values["lan"][".index"] == 1 and values["lan"]["ra_flags"] == ["managed-config", "other-config"]
    assert values["cfg01411c"][".anonymous"] is True
    assert call(router, sid, "uci", "get", {"config": "dhcp", "section": "lan", "option": "nope"})["result"] == [0]
    assert call(router, sid, "uci", "get", {"config": "nope"})["result"] == [6]  # the ACL is checked first
    network = (router.root / "etc/config/network").read_text()
    (router.root / "etc/config/network").unlink()
    assert call(router, sid, "uci", "get", {"config": "network"})["result"] == [4]  # granted but missing
    (router.root / "etc/config/network").write_text(network)
    assert call(router, sid, "uci", "get", {"config": "rpcd"})["result"] == [6]  # not granted
    assert call(router, sid, "uci", "set", {"config": "network", "section": "lan", "values": {"ipaddr": "10.0.0.1"}})[
        "result"
    ] == [6]  # read only
    assert call(router, sid, "file", "read", {"path": "/etc/shadow"})["result"] == [6]
    assert call(router, sid, "file", "read", {"path": "/tmp/dhcp.leases"})["result"] == [4]
    assert call(router, sid, "file", "exec", {"command": "/etc/init.d/dnsmasq", "params": ["stop"]})["result"] == [6]
    assert call(router, sid, "uci", "set", {"config": "dhcp", "section": "lan", "values": {"limit": 20}})["result"] == [
        0
    ]
    assert call(router, sid, "uci", "changes", {"config": "dhcp"})["result"] == [
        0,
        {"changes": [["set", "lan", "limit", "20"]]},
    ]
    assert router.uci("changes") == ""  # the session's own delta directory, not /tmp/.uci
    assert call(router, sid, "uci", "commit", {"config": "dhcp"})["result"] == [0]
    assert "option limit '20'" in router.dhcp_file()
    assert router.rpcd.events == [{"type": "config.change", "data": {"package": "dhcp"}}]
