# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OPNsense backend's reservation marker: what fits in a 255-byte description, and that it reads back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils.backend_opnsense import (
    DESCRIPTION_BYTES,
    decode_marker,
    description_bytes,
    entries_for,
    join_marker,
    split_marker,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import ReservationError
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import (
    Scope,
    marker_entry,
    merge_marker,
    plan_present,
)
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import parse_range


def reserve_many(subnet, pool, bands):
    """``(marker entries, ranges)`` after reserving ``bands`` one after the other in a scope with one pool (the
    driver's math)."""
    scope = Scope("LAN", ipaddress.ip_network(subnet), (parse_range(pool),), ())
    entries = []
    for band in bands:
        request = parse_range(band)
        plan = plan_present(scope, request)
        entries = merge_marker(entries, request, plan)
        scope = scope._replace(ranges=plan.ranges_after)
    return entries, scope.ranges


def read_back(text, ranges):
    desc, marks = split_marker(text)
    return desc, entries_for(marks, ranges)


def test_ten_bands_in_a_24_fit_with_room_for_a_description():
    bands = [f"10.1.1.{250 - 5 * i - 4}-10.1.1.{250 - 5 * i}" for i in range(10)]
    entries, ranges = reserve_many("10.1.1.0/24", "10.1.1.100-10.1.1.250", bands)
    text = join_marker("LAN", entries, ipaddress.ip_address("10.1.1.0"))
    assert description_bytes(text) <= DESCRIPTION_BYTES - 120, text  # room for 120 more bytes of description
    assert text.startswith("LAN [baremetal-lb 10.1.1.0 246-250 241-245 236-240 ")
    desc, again = read_back(text, ranges)
    assert desc == "LAN" and [e["range"] for e in again] == bands
    # the newest gives back exactly what it took, joined with the range it was cut from
    assert again[-1]["replaced"] == entries[-1]["replaced"]


def test_ten_bands_in_a_16_fit():
    bands = [f"10.1.{200 + i}.1-10.1.{200 + i}.20" for i in range(10)]
    entries, ranges = reserve_many("10.1.0.0/16", "10.1.100.1-10.1.250.254", bands)
    text = join_marker("Servers and lab machines", entries, ipaddress.ip_address("10.1.0.0"))
    assert description_bytes(text) <= DESCRIPTION_BYTES, (description_bytes(text), text)
    assert [e["range"] for e in read_back(text, ranges)[1]] == bands


def test_a_pool_outside_its_subnet_still_encodes():
    # OPNsense saves Kea pools outside the subnet (golden kea_setSubnet_pool_outside_subnet.json)
    request = parse_range("10.1.1.5-10.1.1.9")
    scope = Scope("LAN", ipaddress.ip_network("10.1.2.0/24"), (parse_range("10.1.1.1-10.1.1.50"),), ())
    plan = plan_present(scope, request)
    entries = [marker_entry(request, plan)]
    text = join_marker("", entries, ipaddress.ip_address("10.1.2.0"))
    assert text == "[baremetal-lb 10.1.1.5 0-4]"  # the base moves down to the band
    assert read_back(text, plan.ranges_after) == ("", entries)


def test_a_band_reaching_past_the_pool_stores_what_it_took_and_gives_back_only_that():
    request = parse_range("10.1.1.240-10.1.1.254")
    scope = Scope(
        "LAN",
        ipaddress.ip_network("10.1.1.0/24"),
        (parse_range("10.1.1.100-10.1.1.149"), parse_range("10.1.1.151-10.1.1.245")),
        (),
    )
    plan = plan_present(scope, request)
    text = join_marker("LAN", [marker_entry(request, plan)], ipaddress.ip_address("10.1.1.0"))
    assert text == "LAN [baremetal-lb 10.1.1.0 240-254:240-245]"
    (entry,) = read_back(text, plan.ranges_after)[1]
    assert entry["replaced"] == [{"from": "10.1.1.151-10.1.1.245", "to": ["10.1.1.151-10.1.1.239"]}]


def test_the_json_marker_of_earlier_releases_is_read():
    old = 'LAN [baremetal-lb:[{"range":"10.1.1.240-10.1.1.250","replaced":[]}]]'
    assert read_back(old, []) == ("LAN", [{"range": "10.1.1.240-10.1.1.250", "replaced": []}])


@pytest.mark.parametrize("body", ["", "not-an-address 1-2", "10.1.1.0 x", "10.1.1.0 5-4", "10.1.1.0 1:y"])
def test_an_unreadable_marker_is_a_clear_error(body):
    with pytest.raises(ReservationError, match="cannot read"):
        decode_marker(" ", body, "the description")
