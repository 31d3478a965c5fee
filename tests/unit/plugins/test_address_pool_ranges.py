"""The collection's address parsing (plugins/module_utils/ip_ranges.py) agrees with the speaker's.

Modules run on remote hosts and cannot import ``speaker``, so the range parser exists twice: once in the
speaker, once in the collection (``ip_ranges``, used strictly by address_pool and leniently by
dhcp_reservation). These tables keep them from drifting: every input is accepted by both with the same
interval and spelling, or refused by both with the same message, and a pool the module accepts is one the
speaker accepts (``speaker.config.cluster.build_config``).
"""

from __future__ import annotations

import ipaddress
import sys

import pytest

from speaker.config.cluster import build_config
from speaker.ipam import ranges as speaker_ranges
from tests.collection import collection_path

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils import ip_ranges
from ansible_collections.baremetal.lb.plugins.module_utils import metallb_pool as mp

ENTRIES = [
    # accepted
    "10.1.1.240-10.1.1.250",
    "10.1.1.240/29",
    "10.1.1.240/32",
    "10.1.1.240",
    " 10.1.1.240-10.1.1.250 ",
    "10.1.1.250-10.1.1.250",
    "192.168.0.0/16",
    "0.0.0.0/0",
    "2001:db8::/64",
    "2001:db8::1-2001:db8::ff",
    "2001:db8::5",
    "fd00::/8",
    "10.0.0.0-10.255.255.255",
    "::/0",
    "203.0.113.0/24",
    # refused
    "10.1.1.250-10.1.1.240",
    "10.1.1.5/24",
    "10.1.1.0/33",
    "10.1.1.999",
    "10.1.1.1-2001:db8::1",
    "10.1.1.1-10.1.1.2-10.1.1.3",
    "",
    "   ",
    "lan",
    "10.1.1.0/",
    "/24",
    "10.1.1.1-",
    "-10.1.1.1",
    "2001:db8::1/64",
    "fe80::1%eth0",
    "10.1.1.1/24/1",
    "10.1.1",
    "2001:db8:::1",
    "1.2.3.4 - 1.2.3.5",
]


def _speaker(text):
    try:
        r = speaker_ranges.parse_range(text)
    except speaker_ranges.RangeError as exc:
        return ("error", str(exc))
    return (r.version, r.first, r.last, str(r))


def _module(text):
    try:
        r = ip_ranges.parse_range(text, strict=True)  # strict: how address_pool parses
    except ip_ranges.RangeError as exc:
        return ("error", str(exc))
    return (r.version, int(r.first), int(r.last), r.compact())


@pytest.mark.parametrize("text", ENTRIES)
def test_parse_range_matches_the_speaker(text):
    assert _module(text) == _speaker(text)


@pytest.mark.parametrize("text", ENTRIES)
def test_lenient_parse_differs_only_by_widening_host_bits(text):
    """dhcp_reservation parses with ``strict=False``: the same answers, except that a CIDR with host bits set
    means every address of its network instead of an error."""
    try:
        r = ip_ranges.parse_range(text)
        lenient = (r.version, int(r.first), int(r.last), r.compact())
    except ip_ranges.RangeError as exc:
        lenient = ("error", str(exc))
    strict = _module(text)
    if strict[0] == "error" and "has host bits set" in strict[1]:
        assert lenient == _speaker(str(ipaddress.ip_network(text.strip(), strict=False)))
    else:
        assert lenient == strict


def test_non_strings_refused_by_both():
    for value in (None, 5, ["10.1.1.1"]):
        assert _module(value)[0] == "error" and _speaker(value)[0] == "error"
        assert _module(value) == _speaker(value)


POOLS = [
    ["10.1.1.240-10.1.1.250"],
    ["10.1.1.240/29", "10.1.1.248/30"],  # overlap inside the pool
    ["10.1.1.240-10.1.1.250", "2001:db8::/120"],
    ["127.0.0.1/32"],  # loopback
    ["224.0.0.0/24"],  # multicast
    ["0.0.0.0/0"],  # includes 'this network'
    ["::1"],
    ["ff02::1"],
    ["::/0"],
    ["fe80::1%eth0"],
    ["10.1.1.250-10.1.1.240"],
    ["10.1.1.5/24"],
    ["255.255.255.255"],
    [],
    ["10.1.1.1", "10.1.1.1"],
]


@pytest.mark.parametrize("addresses", POOLS, ids=lambda a: ",".join(a) or "empty")
def test_pool_validation_matches_the_speaker(addresses):
    """The module refuses exactly the pools the speaker would leave out, naming the same entry."""
    obj = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {
            "name": "p",
            "namespace": "metallb-system",
            "uid": "u1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"addresses": addresses},
    }
    cfg = build_config(pools=[obj])
    errors = cfg.errors
    try:
        entries = mp.parse_addresses(addresses)
        module_error = None
    except mp.AddressPoolError as exc:
        module_error = str(exc)
    if errors:
        assert module_error is not None, f"speaker refused {addresses}: {errors[0]}, module accepted"
        speaker_field = errors[0].field.replace("spec.", "")
        assert module_error.startswith(speaker_field), (module_error, str(errors[0]))
    elif cfg.warnings:
        # The one deliberate difference (docs/pools.md): an existing pool with host bits is masked by the speaker,
        # as MetalLB does, with a warning; the module, writing a new pool, refuses it. Both name the same entry.
        assert "host bits" in cfg.warnings[0].message
        assert module_error is not None and module_error.startswith(cfg.warnings[0].field.replace("spec.", ""))
    else:
        assert module_error is None, module_error
        assert [r.compact() for _f, _t, r in entries] == [str(speaker_ranges.parse_range(a)) for a in addresses]
