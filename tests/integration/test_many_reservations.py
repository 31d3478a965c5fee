"""Ten successive reservations in one scope on the real Kea and the real dnsmasq (issue 12: "many bands in one
scope must work on every backend"; the pfSense, OPNsense and OpenWrt fakes have their own ten-band tests).

One playbook reserves ten bands one task after another, a second one repeats them (changed=0 each), then two more
give them back in an order that is not last-in first-out (the first band first, then ones from the middle): halfway
the dynamic ranges are exactly the admin's range less the bands still reserved, and at the end the router is byte
for byte (dnsmasq) or pool for pool (Kea) as the admin wrote it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.collection import netns_inventory, run_playbook, task_results
from tests.integration.dhcpservers import CA_PORT, Dnsmasq, Kea, dnsmasq_lan, kea4_config, kea_lan
from tests.netlab import require_binaries

pytestmark = pytest.mark.timeout(300)

# .110-.113, .120-.123, ... .200-.203: ten bands inside the scope .100-.250, with free addresses between them
BANDS = [f"198.51.100.{base}-198.51.100.{base + 3}" for base in range(110, 210, 10)]
REMAINING = (
    ["198.51.100.100-198.51.100.109"]
    + [f"198.51.100.{base + 4}-198.51.100.{base + 9}" for base in range(110, 200, 10)]
    + ["198.51.100.204-198.51.100.250"]
)
# Released in two halves, neither last-in first-out: the oldest band first, then bands from the middle.
FIRST_HALF = [BANDS[i] for i in (0, 4, 9, 2, 7)]
SECOND_HALF = [BANDS[i] for i in (5, 1, 8, 3, 6)]
# Halfway, the admin's range less the bands still reserved (.120-.123, .160-.163, .190-.193, .140-.143, .170-.173).
HALFWAY = [
    "198.51.100.100-198.51.100.119",
    "198.51.100.124-198.51.100.139",
    "198.51.100.144-198.51.100.159",
    "198.51.100.164-198.51.100.169",
    "198.51.100.174-198.51.100.189",
    "198.51.100.194-198.51.100.250",
]


def run_bands(
    router: Any, tmp: Path, params: dict[str, Any], state: str = "present", bands: list[str] = BANDS
) -> list[dict[str, Any]]:
    tasks = [
        {"name": f"band {i}", "baremetal.lb.dhcp_reservation": {**params, "range": band, "state": state}}
        for i, band in enumerate(bands)
    ]
    rc, out = run_playbook(
        [{"hosts": "router", "gather_facts": False, "tasks": tasks}],
        inventory=netns_inventory(router.ns, tmp),
        timeout=240,
    )
    results = [r for r in task_results(out) if "changed" in r]
    assert rc == 0 and len(results) == len(bands), (rc, out.get("error", ""), [r.get("msg") for r in results])
    return results


def test_ten_bands_in_one_kea_subnet():
    require_binaries("kea-dhcp4", "kea-ctrl-agent")
    with kea_lan() as (lab, router, _client, tmp):
        kea = Kea(lab, router, tmp, kea4_config(tmp, ["198.51.100.100 - 198.51.100.250"]))
        params = {"backend": "kea", "api_url": f"http://127.0.0.1:{CA_PORT}/"}

        assert all(r["changed"] for r in run_bands(router, tmp, params))
        assert kea.pools() == REMAINING
        saved = json.loads(kea.files["dhcp4"].read_text())["Dhcp4"]["subnet4"][0]
        assert [r["range"] for r in saved["user-context"]["baremetal-lb"]["reservations"]] == BANDS

        assert not any(r["changed"] for r in run_bands(router, tmp, params))  # a second run changes nothing

        assert all(r["changed"] for r in run_bands(router, tmp, params, "absent", FIRST_HALF))
        assert kea.pools() == HALFWAY
        saved = json.loads(kea.files["dhcp4"].read_text())["Dhcp4"]["subnet4"][0]
        assert [r["range"] for r in saved["user-context"]["baremetal-lb"]["reservations"]] == [
            b for b in BANDS if b in SECOND_HALF
        ]

        assert all(r["changed"] for r in run_bands(router, tmp, params, "absent", SECOND_HALF))
        assert kea.pools() == ["198.51.100.100-198.51.100.250"]


def test_ten_bands_in_one_dnsmasq_range():
    require_binaries("dnsmasq")
    with dnsmasq_lan() as (router, _client, tmp):
        d = Dnsmasq(router, tmp, ["set:lan,198.51.100.100,198.51.100.250,255.255.255.0,10m"])
        original = d.snapshot()
        params = {"backend": "dnsmasq", "conf_file": str(d.conf), "restart_command": [str(d.restart)]}

        results = run_bands(router, tmp, params)
        assert all(r["changed"] for r in results)
        assert results[-1]["ranges_after"] == REMAINING
        assert d.running()

        assert not any(r["changed"] for r in run_bands(router, tmp, params))

        results = run_bands(router, tmp, params, "absent", FIRST_HALF)
        assert all(r["changed"] for r in results)
        assert results[-1]["ranges_after"] == HALFWAY
        assert d.running()

        assert all(r["changed"] for r in run_bands(router, tmp, params, "absent", SECOND_HALF))
        assert d.snapshot() == original  # byte for byte what the person wrote
        assert d.running()
