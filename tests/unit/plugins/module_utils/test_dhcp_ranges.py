"""The pure range math of dhcp_reservation (plugins/module_utils/dhcp_ranges.py, parsing from ip_ranges.py):
tables and properties."""

from __future__ import annotations

import ipaddress

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_ranges as dr
from ansible_collections.baremetal.lb.plugins.module_utils import ip_ranges
from hypothesis import given, settings
from hypothesis import strategies as st

NET = ipaddress.ip_network("10.1.1.0/24")


def span(text: str) -> ip_ranges.IPRange:
    return dr.parse_range(text)


def scope(*ranges: str, occupants=()) -> dr.Scope:
    return dr.Scope("lan", NET, tuple(span(r) for r in ranges), tuple(occupants))


@pytest.mark.parametrize(
    "text, first, last",
    [
        ("10.1.1.240-10.1.1.250", "10.1.1.240", "10.1.1.250"),
        ("10.1.1.240 - 10.1.1.250", "10.1.1.240", "10.1.1.250"),
        ("10.1.1.240/29", "10.1.1.240", "10.1.1.247"),
        ("10.1.1.245/29", "10.1.1.240", "10.1.1.247"),  # a CIDR is every address in it, host bits or not
        ("10.1.1.7", "10.1.1.7", "10.1.1.7"),
        ("2001:db8::10-2001:db8::1f", "2001:db8::10", "2001:db8::1f"),
    ],
)
def test_parse(text, first, last):
    r = span(text)
    assert (str(r.first), str(r.last)) == (first, last)


@pytest.mark.parametrize(
    "text, message",
    [
        ("10.1.1.250-10.1.1.240", "ends before it starts"),
        ("10.1.1.1-2001:db8::1", "mixes IPv4 and IPv6"),
        ("10.1.1.300", "'10.1.1.300' is not an IP address"),
        ("", "'' is not an address range"),
        ("10.1.1.1-10.1.1.2-10.1.1.3", "more than one '-'"),
        ("10.1.1.0/33", "not a valid CIDR"),
    ],
)
def test_parse_errors_name_the_value(text, message):
    with pytest.raises(dr.RangeError, match=message):
        span(text)


@pytest.mark.parametrize(
    "ranges, request_, after, command",
    [
        (
            ["10.1.1.100-10.1.1.250"],
            "10.1.1.240-10.1.1.250",
            ["10.1.1.100-10.1.1.239"],
            "shrink DHCP range lan 10.1.1.100-10.1.1.250 -> 10.1.1.100-10.1.1.239",
        ),
        (
            ["10.1.1.100-10.1.1.250"],
            "10.1.1.90-10.1.1.110",
            ["10.1.1.111-10.1.1.250"],
            "shrink DHCP range lan 10.1.1.100-10.1.1.250 -> 10.1.1.111-10.1.1.250",
        ),
        (
            ["10.1.1.100-10.1.1.250"],
            "10.1.1.150-10.1.1.160",
            ["10.1.1.100-10.1.1.149", "10.1.1.161-10.1.1.250"],
            "split DHCP range lan 10.1.1.100-10.1.1.250 -> 10.1.1.100-10.1.1.149, 10.1.1.161-10.1.1.250",
        ),
        (
            ["10.1.1.100-10.1.1.150", "10.1.1.200-10.1.1.210"],
            "10.1.1.195-10.1.1.215",
            ["10.1.1.100-10.1.1.150"],
            "remove DHCP range lan 10.1.1.200-10.1.1.210 (inside the reservation 10.1.1.195-10.1.1.215)",
        ),
    ],
)
def test_plan_present(ranges, request_, after, command):
    plan = dr.plan_present(scope(*ranges), span(request_))
    assert [str(r) for r in plan.ranges_after] == after
    assert command in plan.commands


def test_already_outside_is_no_change():
    plan = dr.plan_present(scope("10.1.1.100-10.1.1.239"), span("10.1.1.240-10.1.1.250"))
    assert not plan.changed and plan.commands == []


def test_refuses_to_empty_the_scope_and_splits_beyond_max_ranges():
    with pytest.raises(dr.Conflict, match="no dynamic range"):
        dr.plan_present(scope("10.1.1.240-10.1.1.245"), span("10.1.1.240-10.1.1.250"))
    with pytest.raises(dr.Conflict, match="at most 1 dynamic range"):
        dr.plan_present(scope("10.1.1.100-10.1.1.250"), span("10.1.1.150-10.1.1.160"), max_ranges=1)


@pytest.mark.parametrize(
    "request_, occupant, accept, message",
    [
        ("10.1.1.0-10.1.1.5", None, False, "10.1.1.0 in range 10.1.1.0-10.1.1.5 is the network address"),
        ("10.1.1.250-10.1.1.255", None, False, "10.1.1.255 in range 10.1.1.250-10.1.1.255 is the broadcast address"),
        ("10.1.1.250-10.1.2.5", None, False, "10.1.2.5 (in range 10.1.1.250-10.1.2.5) is outside scope lan's subnet"),
        ("2001:db8::1-2001:db8::5", None, False, "is IPv6 but scope lan is IPv4"),
        (
            "10.1.1.240-10.1.1.250",
            dr.Occupant(ipaddress.ip_address("10.1.1.245"), "static mapping", "nas (aa:bb)"),
            False,
            "10.1.1.245 in range 10.1.1.240-10.1.1.250 holds static mapping nas (aa:bb) in scope lan",
        ),
        (
            "10.1.1.1-10.1.1.9",
            dr.Occupant(ipaddress.ip_address("10.1.1.1"), "gateway", "(option routers)"),
            False,
            "10.1.1.1 in range 10.1.1.1-10.1.1.9 is the gateway (option routers) in scope lan",
        ),
        (
            "10.1.1.240-10.1.1.250",
            dr.Occupant(ipaddress.ip_address("10.1.1.241"), "active lease", "laptop"),
            False,
            "10.1.1.241 in range 10.1.1.240-10.1.1.250 holds active lease laptop in scope lan (wait for it",
        ),
    ],
)
def test_refusals_name_address_and_object(request_, occupant, accept, message):
    s = scope("10.1.1.100-10.1.1.250", occupants=[occupant] if occupant else [])
    with pytest.raises(dr.Conflict) as exc:
        dr.check_request(s, span(request_), accept)
    assert message in str(exc.value)


def test_active_lease_accepted_on_request_warns():
    lease = dr.Occupant(ipaddress.ip_address("10.1.1.241"), "active lease", "laptop")
    warnings = dr.check_request(scope("10.1.1.100-10.1.1.250", occupants=[lease]), span("10.1.1.240-10.1.1.250"), True)
    assert len(warnings) == 1 and "10.1.1.241" in warnings[0]


def test_absent_reverses_exactly_the_marker_and_refuses_when_changed_by_hand():
    s = scope("10.1.1.100-10.1.1.250")
    req = span("10.1.1.150-10.1.1.160")
    plan = dr.plan_present(s, req)
    entries = dr.merge_marker([], req, plan)
    after = dr.Scope("lan", NET, plan.ranges_after, ())
    back = dr.plan_absent(after, req, dr.marker_replacements(dr.find_marker(entries, req)))
    assert back.ranges_after == s.ranges
    hand = dr.Scope("lan", NET, (span("10.1.1.100-10.1.1.140"), span("10.1.1.161-10.1.1.250")), ())
    with pytest.raises(dr.Conflict, match="10.1.1.100-10.1.1.149 .* is no longer a dynamic range"):
        dr.plan_absent(hand, req, dr.marker_replacements(entries[0]))


addr = st.integers(min_value=1, max_value=254)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(addr, addr), min_size=1, max_size=4), addr, addr)
def test_present_then_absent_round_trips_and_never_touches_outside(pairs, a, b):
    """Property: after present no dynamic address is in the request, every other address is unchanged, and absent
    with the marker restores the ranges exactly."""
    ranges, used = [], set()
    for x, y in pairs:
        lo, hi = min(x, y), max(x, y)
        if used & set(range(lo, hi + 1)):
            continue
        used |= set(range(lo, hi + 1))
        ranges.append(f"10.1.1.{lo}-10.1.1.{hi}")
    ranges.sort(key=lambda t: int(t.split("-")[0].rsplit(".", 1)[1]))
    s = scope(*ranges)
    req = span(f"10.1.1.{min(a, b)}-10.1.1.{max(a, b)}")
    try:
        plan = dr.plan_present(s, req)
    except dr.Conflict:
        assert all(req.covers(r) for r in s.ranges)  # only refused when nothing would be left
        return

    def addrs(rs):
        return {int(x) for r in rs for x in range(int(r.first), int(r.last) + 1)}

    before, after = addrs(s.ranges), addrs(plan.ranges_after)
    req_set = set(range(int(req.first), int(req.last) + 1))
    assert after == before - req_set
    entries = dr.merge_marker([], req, plan)
    back = dr.plan_absent(
        dr.Scope("lan", NET, plan.ranges_after, ()),
        req,
        dr.marker_replacements(dr.find_marker(entries, req)) if entries else [],
    )
    assert tuple(back.ranges_after) == tuple(s.ranges)


def reserve_all(s: dr.Scope, bands: list[str]) -> tuple[dr.Scope, list[dict]]:
    entries: list[dict] = []
    for band in bands:
        plan = dr.plan_present(s, span(band))
        if plan.changed:
            entries = dr.merge_marker(entries, span(band), plan)
        s = s._replace(ranges=plan.ranges_after)
    return s, entries


def release(s: dr.Scope, entries: list[dict], band: str, max_ranges: int | None = None) -> tuple[dr.Scope, list]:
    plan, entries = dr.plan_release(s, span(band), entries, max_ranges)
    return s._replace(ranges=plan.ranges_after), entries


def test_the_oldest_band_is_given_back_while_a_newer_adjacent_one_stays():
    """240-250, then 230-239 (cut from what 240-250 left); giving back 240-250 first: its addresses come back as
    their own range, 230-239 stays out of DHCP, and giving that back too restores the admin's one range."""
    s, entries = reserve_all(scope("10.1.1.100-10.1.1.250"), ["10.1.1.240-10.1.1.250", "10.1.1.230-10.1.1.239"])
    assert [str(r) for r in s.ranges] == ["10.1.1.100-10.1.1.229"]
    s, entries = release(s, entries, "10.1.1.240-10.1.1.250")
    assert [str(r) for r in s.ranges] == ["10.1.1.100-10.1.1.229", "10.1.1.240-10.1.1.250"]
    assert [e["range"] for e in entries] == ["10.1.1.230-10.1.1.239"]
    s, entries = release(s, entries, "10.1.1.230-10.1.1.239")
    assert [str(r) for r in s.ranges] == ["10.1.1.100-10.1.1.250"] and entries == []


def test_an_address_two_bands_hold_stays_reserved_while_one_of_them_does():
    s, entries = reserve_all(scope("10.1.1.100-10.1.1.250"), ["10.1.1.200-10.1.1.210", "10.1.1.205-10.1.1.220"])
    s, entries = release(s, entries, "10.1.1.200-10.1.1.210")
    assert [str(r) for r in s.ranges] == ["10.1.1.100-10.1.1.204", "10.1.1.221-10.1.1.250"]


def test_a_release_the_router_cannot_hold_is_refused_naming_the_newer_band():
    """OpenWrt holds one range: giving back the end band while a newer one is cut below it would need two."""
    s, entries = reserve_all(scope("10.1.1.100-10.1.1.250"), ["10.1.1.240-10.1.1.250", "10.1.1.230-10.1.1.239"])
    with pytest.raises(dr.Conflict, match=r"at most 1 dynamic range.*made after it first \(10.1.1.230-10.1.1.239\)"):
        dr.plan_release(s, span("10.1.1.240-10.1.1.250"), entries, 1)


def test_a_newer_band_changed_by_hand_is_refused_naming_both():
    s, entries = reserve_all(scope("10.1.1.100-10.1.1.250"), ["10.1.1.240-10.1.1.250", "10.1.1.230-10.1.1.239"])
    hand = s._replace(ranges=(span("10.1.1.100-10.1.1.199"),))
    with pytest.raises(dr.Conflict, match="cannot give back 10.1.1.240-10.1.1.250 .* cannot give back 10.1.1.230"):
        dr.plan_release(hand, span("10.1.1.240-10.1.1.250"), entries)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(addr, st.integers(min_value=0, max_value=12)), min_size=1, max_size=6, unique=True),
    st.randoms(use_true_random=False),
)
def test_bands_given_back_in_any_order(bands, rnd):
    """Property: reserve bands one after another, give them back in a random order: after every release the
    dynamic addresses are the admin's less the bands still reserved, and at the end the ranges are exactly the
    admin's."""
    original = scope("10.1.1.20-10.1.1.80", "10.1.1.100-10.1.1.250")
    texts = []
    s, entries = original, []
    for lo, width in bands:
        band = f"10.1.1.{lo}-10.1.1.{min(lo + width, 254)}"
        try:
            plan = dr.plan_present(s, span(band))
        except dr.Conflict:
            continue
        if plan.changed:
            entries = dr.merge_marker(entries, span(band), plan)
            texts.append(str(span(band)))
        s = s._replace(ranges=plan.ranges_after)

    def addrs(rs):
        return {int(x) for r in rs for x in range(int(r.first), int(r.last) + 1)}

    order = texts[:]
    rnd.shuffle(order)
    for i, band in enumerate(order):
        s, entries = release(s, entries, band)
        held = [span(b) for b in order[i + 1 :]]
        assert addrs(s.ranges) == addrs(original.ranges) - addrs(held)
        assert sorted(e["range"] for e in entries) == sorted(order[i + 1 :])
    assert s.ranges == original.ranges
