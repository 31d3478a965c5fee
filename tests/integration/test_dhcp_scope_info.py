"""baremetal.lb.dhcp_scope_info against a real Kea 2.2 and a real dnsmasq in namespaces
(tests/integration/dhcpservers.py).

Each test: a udhcpc client takes a lease, dhcp_reservation reserves a band, and dhcp_scope_info -- run by
ansible-playbook inside the router namespace, the connection set once with ``module_defaults`` for the action group
``group/baremetal.lb.router`` -- shows the lease, the shrunk ranges and the reservation marker, and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collection import netns_inventory, run_playbook, task_result, task_results
from tests.dhcpclient import dhcp_leases
from tests.integration.dhcpservers import (
    CA_PORT,
    RESERVED_MAC,
    Dnsmasq,
    Kea,
    dnsmasq_lan,
    kea4_config,
    kea6_config,
    kea_lan,
)
from tests.netlab import require_binaries

pytestmark = pytest.mark.timeout(90)

BAND = "198.51.100.105-198.51.100.109"


def play(
    router: Any, tmp: Path, defaults: dict[str, Any], tasks: list[dict[str, Any]], check: bool = False
) -> tuple[int, dict[str, Any]]:
    plays = [
        {
            "hosts": "router",
            "gather_facts": False,
            "module_defaults": {"group/baremetal.lb.router": defaults},
            "tasks": tasks,
        }
    ]
    return run_playbook(plays, inventory=netns_inventory(router.ns, tmp), check=check)


def info(scope: str | None = None, check: bool = False, name: str = "scope info") -> dict[str, Any]:
    args = {"scope": scope} if scope else {}
    return {"name": name, "baremetal.lb.dhcp_scope_info": args, "check_mode": check}


def assert_expiry(lease: dict[str, Any], lifetime: int) -> None:
    assert 0 < lease["expires_in"] <= lifetime, lease
    stamp = time.mktime(time.strptime(lease["expires"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(stamp - (time.time() + lease["expires_in"])) < 30, lease


@pytest.fixture
def kea_net() -> Iterator[tuple[Any, Any, Any, Path]]:
    require_binaries("kea-dhcp4", "kea-dhcp6", "kea-ctrl-agent", "udhcpc")
    with kea_lan() as parts:
        yield parts


@pytest.fixture
def dnsmasq_net() -> Iterator[tuple[Any, Any, Path]]:
    require_binaries("dnsmasq", "udhcpc")
    with dnsmasq_lan() as parts:
        yield parts


def test_kea_lease_shrunk_pool_and_marker_are_shown_and_nothing_changes(kea_net):
    lab, router, client, tmp = kea_net
    kea = Kea(
        lab,
        router,
        tmp,
        kea4_config(tmp, ["198.51.100.100 - 198.51.100.109"]),
        kea6_config(tmp, ["2001:db8:100::1000 - 2001:db8:100::1fff"]),
    )
    (lease,) = dhcp_leases(client, tmp, 1)
    assert lease == "198.51.100.100"

    defaults = {"backend": "kea", "api_url": f"http://127.0.0.1:{CA_PORT}/"}
    rc, out = play(
        router, tmp, defaults, [{"name": "reserve", "baremetal.lb.dhcp_reservation": {"range": BAND}}, info()]
    )
    assert rc == 0, [r.get("msg") for r in task_results(out)]
    assert task_result(out, "reserve")["changed"] is True
    res = task_result(out, "scope info")
    assert res["changed"] is False and res["_status"] == "ok", res
    v4, v6 = res["scopes"]
    assert {k: v4[k] for k in ("name", "backend", "subnet", "interface", "enabled", "gateway")} == {
        "name": "subnet 1",
        "backend": "kea",
        "subnet": "198.51.100.0/24",
        "interface": None,
        "enabled": True,
        "gateway": "198.51.100.1",
    }
    assert v4["ranges"] == ["198.51.100.100-198.51.100.104"]
    assert v4["ranges_ui"] == ["198.51.100.100 - 198.51.100.104"]
    assert v4["static_mappings"] == [{"address": "198.51.100.60", "mac": RESERVED_MAC, "hostname": "nas"}]
    (got,) = v4["leases"]
    assert (got["address"], got["mac"], got["hostname"]) == (lease, client.mac, None), got
    assert_expiry(got, 600)
    assert v4["reserved"] == [
        {
            "range": BAND,
            "replaced": [{"from": "198.51.100.100-198.51.100.109", "to": ["198.51.100.100-198.51.100.104"]}],
        }
    ]
    # dhcp6 is served by the same Control Agent: its subnet is listed too
    assert (v6["name"], v6["subnet"], v6["interface"], v6["ranges"], v6["leases"], v6["reserved"]) == (
        "subnet 6",
        "2001:db8:100::/64",
        "eth0",
        ["2001:db8:100::1000-2001:db8:100::1fff"],
        [],
        [],
    )

    # scope filter (by prefix, by id), check mode, and a name that matches nothing: nothing on the router changes
    before_live, before_file = kea.live_config(), kea.files["dhcp4"].read_bytes()
    rc, out = play(
        router,
        tmp,
        defaults,
        [
            info("198.51.100.0/24", check=True, name="by prefix"),
            info("6", name="by id"),
            info("lan", name="no such scope"),
        ],
    )
    assert rc != 0
    (by_prefix,) = task_result(out, "by prefix")["scopes"]
    assert {k: v for k, v in by_prefix.items() if k != "leases"} == {k: v for k, v in v4.items() if k != "leases"}
    assert [s["name"] for s in task_result(out, "by id")["scopes"]] == ["subnet 6"]
    failed = task_result(out, "no such scope")
    assert failed["_status"] == "failed"
    assert (
        "scope 'lan': no kea scope has that name; scopes: 1/subnet 1/198.51.100.0/24; "
        "6/subnet 6/2001:db8:100::/64/eth0" in failed["msg"]
    ), failed
    assert kea.live_config() == before_live and kea.files["dhcp4"].read_bytes() == before_file


def test_kea_without_lease_cmds_reports_leases_unknown(kea_net):
    lab, router, client, tmp = kea_net
    cfg = kea4_config(tmp, ["198.51.100.100 - 198.51.100.109"])
    cfg["Dhcp4"]["hooks-libraries"] = []
    Kea(lab, router, tmp, cfg)
    rc, out = play(router, tmp, {"backend": "kea", "api_url": f"http://127.0.0.1:{CA_PORT}/"}, [info()])
    res = task_result(out, "scope info")
    assert rc == 0 and res["scopes"][0]["leases"] is None, res
    assert any("subnet 1: Kea has no lease_cmds hook loaded" in w for w in res["warnings"]), res


def test_dnsmasq_lease_shrunk_range_and_marker_are_shown_and_nothing_changes(dnsmasq_net):
    router, client, tmp = dnsmasq_net
    d = Dnsmasq(router, tmp, ["set:lan,198.51.100.100,198.51.100.109,255.255.255.0,10m"])
    defaults = {"backend": "dnsmasq", "conf_file": str(d.conf)}
    # dnsmasq picks a client's address by hashing its id, so reserve first: the lease must land in what is left
    rc, out = play(
        router,
        tmp,
        defaults,
        [{"name": "reserve", "baremetal.lb.dhcp_reservation": {"range": BAND, "restart_command": [str(d.restart)]}}],
    )
    assert rc == 0 and task_result(out, "reserve")["changed"] is True, [r.get("msg") for r in task_results(out)]
    (lease,) = dhcp_leases(client, tmp, 1)
    assert lease is not None and 100 <= int(lease.rsplit(".", 1)[1]) <= 104, lease

    rc, out = play(router, tmp, defaults, [info()])
    assert rc == 0, [r.get("msg") for r in task_results(out)]
    res = task_result(out, "scope info")
    assert res["changed"] is False, res
    (lan,) = res["scopes"]
    assert {k: lan[k] for k in ("name", "backend", "subnet", "interface", "enabled", "gateway")} == {
        "name": "lan",
        "backend": "dnsmasq",
        "subnet": "198.51.100.0/24",
        "interface": "eth0",
        "enabled": True,
        "gateway": "198.51.100.1",
    }
    assert lan["ranges"] == ["198.51.100.100-198.51.100.104"]
    assert lan["ranges_ui"] == ["dhcp-range=198.51.100.100,198.51.100.104"]
    assert lan["static_mappings"] == [{"address": "198.51.100.60", "mac": "02:00:5e:00:53:99", "hostname": "nas"}]
    (got,) = lan["leases"]
    assert (got["address"], got["mac"], got["hostname"]) == (lease, client.mac, None), got
    assert_expiry(got, 600)
    assert lan["reserved"] == [
        {
            "range": BAND,
            "replaced": [{"from": "198.51.100.100-198.51.100.109", "to": ["198.51.100.100-198.51.100.104"]}],
        }
    ]

    before, pid = d.snapshot(), d.pid()
    rc, out = play(router, tmp, defaults, [info("lan", check=True)], check=True)
    assert rc == 0 and task_result(out, "scope info")["scopes"][0]["ranges"] == lan["ranges"], out
    assert d.snapshot() == before and d.pid() == pid  # not written, not restarted
