"""baremetal.lb.dhcp_reservation against a real Kea 2.2 (kea-dhcp4/kea-dhcp6 + kea-ctrl-agent) in a namespace.

The router namespace runs Kea by hand (pid/lock files, control sockets, memfile leases and the config file all in a
temp dir); the module runs inside that namespace through an interpreter wrapper (tests/collection.py
``netns_inventory``), so it reaches the Control Agent on the namespace's 127.0.0.1. DHCP clients are busybox
``udhcpc`` in a client namespace, each with its own client-id, bounded in number and time.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collection import netns_inventory, run_playbook, task_result
from tests.dhcpclient import dhcp_leases
from tests.integration.dhcpservers import CA_PORT, Kea, kea4_config, kea6_config, kea_lan
from tests.integration.dhcpservers import norm_pool as _norm
from tests.netlab import Lab, require_binaries

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _kea_installed() -> None:
    require_binaries("kea-dhcp4", "kea-dhcp6", "kea-ctrl-agent")


@pytest.fixture
def lan() -> Iterator[tuple[Lab, Any, Any, Path]]:
    with kea_lan() as parts:
        yield parts


def reserve(router: Any, tmp: Path, check: bool = False, **args: Any) -> tuple[int, dict[str, Any]]:
    params = {"backend": "kea", "api_url": f"http://127.0.0.1:{args.pop('port', CA_PORT)}/", **args}
    play = [
        {
            "hosts": "router",
            "gather_facts": False,
            "tasks": [{"name": "reserve", "baremetal.lb.dhcp_reservation": params}],
        }
    ]
    rc, out = run_playbook(play, inventory=netns_inventory(router.ns, tmp), check=check, diff=True)
    return rc, task_result(out, "reserve")


def in_range(address: str, first: int, last: int) -> bool:
    return address.startswith("198.51.100.") and first <= int(address.rsplit(".", 1)[1]) <= last


def test_reserve_shrinks_pools_clients_stay_outside_and_release_restores(lan):
    lab, router, client, tmp = lan
    kea = Kea(lab, router, tmp, kea4_config(tmp, ["198.51.100.100 - 198.51.100.109"]))

    t0 = time.monotonic()
    rc, res = reserve(router, tmp, range="198.51.100.103-198.51.100.106")
    module_seconds = time.monotonic() - t0
    assert rc == 0, res
    assert res["changed"] is True
    assert res["ranges_before"] == ["198.51.100.100-198.51.100.109"]
    assert res["ranges_after"] == ["198.51.100.100-198.51.100.102", "198.51.100.107-198.51.100.109"]
    assert res["commands"] == [
        "split DHCP range subnet 1 198.51.100.100-198.51.100.109 -> "
        "198.51.100.100-198.51.100.102, 198.51.100.107-198.51.100.109"
    ]
    assert "198.51.100.100 - 198.51.100.109" in res["diff"]["before"]
    assert "198.51.100.107 - 198.51.100.109" in res["diff"]["after"]
    assert kea.pools() == ["198.51.100.100-198.51.100.102", "198.51.100.107-198.51.100.109"]
    # persisted with config-write, marker in the subnet's user-context
    saved = json.loads(kea.files["dhcp4"].read_text())["Dhcp4"]["subnet4"][0]
    assert [_norm(p["pool"]) for p in saved["pools"]] == kea.pools()
    assert saved["user-context"]["baremetal-lb"]["reservations"][0]["range"] == "198.51.100.103-198.51.100.106"
    print(f"module run (ansible-playbook, one task): {module_seconds:.2f}s")

    rc, again = reserve(router, tmp, range="198.51.100.103-198.51.100.106")
    assert rc == 0 and again["changed"] is False, again

    # Seven clients for six free addresses: every lease is outside the reserved band, the seventh gets nothing.
    got = dhcp_leases(client, tmp, 7)
    leased = [a for a in got if a]
    assert len(leased) == 6, got
    assert not [a for a in leased if in_range(a, 103, 106)], got
    assert all(in_range(a, 100, 102) or in_range(a, 107, 109) for a in leased), got
    assert got[-1] is None

    rc, res = reserve(router, tmp, range="198.51.100.103-198.51.100.106", state="absent")
    assert rc == 0 and res["changed"] is True, res
    assert kea.pools() == ["198.51.100.100-198.51.100.109"]
    assert "user-context" not in kea.live_config()["Dhcp4"]["subnet4"][0]
    rc, res = reserve(router, tmp, range="198.51.100.103-198.51.100.106", state="absent")
    assert rc == 0 and res["changed"] is False, res


def test_check_mode_changes_nothing_and_absent_never_widens(lan):
    lab, router, client, tmp = lan
    kea = Kea(lab, router, tmp, kea4_config(tmp, ["198.51.100.100 - 198.51.100.199"]))
    before_file = kea.files["dhcp4"].read_bytes()
    before_live = kea.live_config()

    rc, res = reserve(router, tmp, check=True, range="198.51.100.190-198.51.100.199")
    assert rc == 0 and res["changed"] is True, res
    assert res["ranges_after"] == ["198.51.100.100-198.51.100.189"]
    assert res["msg"].startswith("check mode: would have reserved")
    assert kea.files["dhcp4"].read_bytes() == before_file
    assert kea.live_config() == before_live

    # A person narrowed the pool by hand: absent has no marker, so it gives nothing back.
    rc, res = reserve(router, tmp, range="198.51.100.200-198.51.100.250", state="absent")
    assert rc == 0 and res["changed"] is False, res
    assert "not reserved by this module" in res["msg"]
    assert kea.live_config() == before_live


def test_refusals_name_the_address_and_leave_kea_unchanged(lan):
    lab, router, client, tmp = lan
    kea = Kea(lab, router, tmp, kea4_config(tmp, ["198.51.100.50 - 198.51.100.199"]))
    before_file = kea.files["dhcp4"].read_bytes()
    before_live = kea.live_config()

    cases = [
        ("198.51.100.55-198.51.100.65", "198.51.100.60", "reservation nas"),
        ("198.51.100.1-198.51.100.9", "198.51.100.1", "gateway"),
        ("198.51.100.0-198.51.100.9", "198.51.100.0", "network address"),
        ("198.51.100.250-198.51.100.255", "198.51.100.255", "broadcast address"),
        ("198.51.100.250-198.51.101.5", "198.51.101.5", "outside scope subnet 1's subnet 198.51.100.0/24"),
        ("192.0.2.10-192.0.2.20", "192.0.2.10", "no Kea subnet contains"),
    ]
    for rng, address, what in cases:
        rc, res = reserve(router, tmp, range=rng)
        assert rc != 0 and res["_status"] == "failed", (rng, res)
        assert address in res["msg"] and what in res["msg"], (rng, res["msg"])
    assert kea.live_config() == before_live

    # An active lease inside the band: refused (naming the lease), accepted only when told so.
    got = dhcp_leases(client, tmp, 1)
    assert got == ["198.51.100.50"], got
    rc, res = reserve(router, tmp, range="198.51.100.50-198.51.100.59")
    assert rc != 0
    assert "198.51.100.50" in res["msg"] and "active lease" in res["msg"], res["msg"]
    assert "the router was not changed" in res["msg"]
    assert kea.live_config() == before_live and kea.files["dhcp4"].read_bytes() == before_file

    rc, res = reserve(router, tmp, range="198.51.100.50-198.51.100.59", accept_active_leases=True)
    assert rc == 0 and res["changed"] is True, res
    assert any("active lease" in w for w in res.get("warnings", [])), res
    assert kea.pools() == ["198.51.100.60-198.51.100.199"]


class FaultyProxy:
    """An HTTP proxy in the router namespace in front of the Control Agent that fails one command.

    This is the failure injected between validate and apply: ``config-test`` passes, then ``config-set`` (or
    ``config-write``) is answered with a Kea error, exactly as Kea answers when it cannot apply or save.
    """

    def __init__(self, router: Any, fail_command: str):
        sock = router.listen("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                command = json.loads(body)["command"]
                proxy.seen.append(command)
                if command == fail_command and proxy.seen.count(command) == 1:
                    out = json.dumps([{"result": 1, "text": f"injected failure of {command}"}]).encode()
                else:

                    def forward() -> bytes:
                        req = urllib.request.Request(
                            f"http://127.0.0.1:{CA_PORT}/", data=body, headers={"Content-Type": "application/json"}
                        )
                        with urllib.request.urlopen(req, timeout=10) as resp:
                            return resp.read()

                    out = router.call(forward, timeout=15)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.socket.close()
        self.server.socket = sock
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("fail_command", ["config-set", "config-write"])
def test_failure_after_validation_leaves_kea_as_it_was(lan, fail_command):
    lab, router, client, tmp = lan
    kea = Kea(lab, router, tmp, kea4_config(tmp, ["198.51.100.100 - 198.51.100.199"]))
    before_file = kea.files["dhcp4"].read_bytes()
    before_live = kea.live_config()
    proxy = FaultyProxy(router, fail_command)
    try:
        rc, res = reserve(router, tmp, range="198.51.100.190-198.51.100.199", port=proxy.port)
    finally:
        proxy.close()
    assert rc != 0, res
    assert f"injected failure of {fail_command}" in res["msg"], res["msg"]
    assert "as it was" in res["msg"] and res["router_restored"] is True, res
    assert proxy.seen.index("config-test") < proxy.seen.index(fail_command), proxy.seen
    assert kea.live_config() == before_live
    assert kea.files["dhcp4"].read_bytes() == before_file
    assert kea.pools() == ["198.51.100.100-198.51.100.199"]


def test_ipv6_pools_are_shrunk_and_given_back(lan):
    lab, router, client, tmp = lan
    kea = Kea(lab, router, tmp, None, kea6_config(tmp, ["2001:db8:100::1000 - 2001:db8:100::1fff"]))
    rc, res = reserve(router, tmp, range="2001:db8:100::1f00/120")
    assert rc == 0 and res["changed"] is True, res
    assert kea.pools("dhcp6") == ["2001:db8:100::1000-2001:db8:100::1eff"]
    rc, res = reserve(router, tmp, range="2001:db8:100::1f00/120")
    assert rc == 0 and res["changed"] is False, res
    rc, res = reserve(router, tmp, range="2001:db8:100::1f00/120", state="absent")
    assert rc == 0 and res["changed"] is True, res
    assert kea.pools("dhcp6") == ["2001:db8:100::1000-2001:db8:100::1fff"]
