"""OpenWrt's DHCPv4 range arithmetic (plugins/module_utils/openwrt_range.py) against the scripts' real output.

tests/data/openwrt/ipcalc.jsonl holds 58 runs of OpenWrt's own dnsmasq.init + ipcalc.sh (23.05.4 and 24.10.4, run
under busybox, see tests/data/openwrt/README.md). Every record is replayed: each ipcalc.sh call (argv → rc, stdout,
stderr) and the dhcp-range lines the init script wrote for the recorded uci config and netifd state. The recorded
config is ``uci show`` output, read with the backend's own parser (``backend_openwrt.parse_uci_show``).
"""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import openwrt_range
from ansible_collections.baremetal.lb.plugins.module_utils.backend_openwrt import parse_uci_show

from tests.unit.plugins.openwrt.goldens import records

IPCALC = records("ipcalc.jsonl")


def _id(rec: dict[str, Any]) -> str:
    return "{}/{}".format(rec["release"], rec["case"])


def test_every_case_of_both_releases_is_recorded():
    assert len(IPCALC) == 58 and {r["release"] for r in IPCALC} == {"23.05.4", "24.10.4"}


@pytest.mark.parametrize("rec", IPCALC, ids=_id)
def test_ipcalc_calls_reproduced(rec):
    for call in rec["ipcalc_calls"]:
        res = openwrt_range.run_ipcalc(call["argv"])
        assert (res.rc, res.stdout, res.stderr) == (call["rc"], call["stdout"], call["stderr"]), call["argv"]


@pytest.mark.parametrize("rec", IPCALC, ids=_id)
def test_dhcp_range_lines_reproduced(rec):
    release = rec["release"][:5]
    sections = parse_uci_show(rec["inputs"]["uci_dhcp"])
    dhcp = [(name, opts) for name, kind, opts in sections if kind == "dhcp"]
    maindhcp = any(name == "odhcpd" and int(opts.get("maindhcp", "0")) > 0 for name, kind, opts in sections)
    ranges = openwrt_range.dnsmasq_ranges(release, dhcp, rec["inputs"]["netifd"], maindhcp=maindhcp)
    assert [r.line for r in ranges if r.line] == rec["dhcp_range"]
    # the argv the init script passed is the one the model derives from the config
    calls = [
        openwrt_range.ipcalc_argv(release, *_argv_inputs(name, opts, rec["inputs"]["netifd"]))
        for name, opts in dhcp
        if _argv_inputs(name, opts, rec["inputs"]["netifd"]) and not maindhcp
    ]
    assert calls == [c["argv"] for c in rec["ipcalc_calls"]]


def _argv_inputs(name: str, opts: dict[str, Any], netifd: dict[str, Any]) -> tuple | None:
    state = netifd.get(opts.get("interface", ""))
    if not state or opts.get("ignore") == "1" or opts.get("dhcpv4") == "disabled" or state["proto"] != "static":
        return None
    ip, _, plen = state["subnet"].partition("/")
    return (
        ip,
        opts.get("netmask") or plen,
        openwrt_range.dhcp_calc(opts.get("start", "100")),
        opts.get("limit", "150"),
    )


def test_the_documented_failure_modes_are_kinds_a_caller_can_refuse():
    by_case = {(r["release"][:5], r["case"]): r for r in IPCALC}

    def kinds(release: str, case: str) -> list[str]:
        rec = by_case[(release, case)]
        secs = [(n, o) for n, k, o in parse_uci_show(rec["inputs"]["uci_dhcp"]) if k == "dhcp"]
        return [r.kind for r in openwrt_range.dnsmasq_ranges(release, secs, rec["inputs"]["netifd"])]

    assert kinds("24.10", "24_router_inside_range") == ["broken"]
    assert kinds("23.05", "24_router_inside_range") == ["dynamic"]  # 23.05 only warns
    assert kinds("24.10", "guest_limit0_after_lan") == ["dynamic", "broken"]  # reuses lan's START/END
    assert kinds("24.10", "dynamicdhcp_0") == ["static"]
    assert kinds("24.10", "ignore_1") == ["ignored"]
    assert kinds("24.10", "dhcpv4_disabled") == ["disabled"]
