# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: pool_overlaps
short_description: Which pools of an inventory list share addresses
version_added: 0.1.0
description:
  - Compares every pair of pools in a C(baremetal_lb_pools) list and returns one message per pair of address
    entries that share addresses, naming both pools, both entries and the shared addresses.
  - Pools with C(state=absent) are left out (they are being removed). Entries that do not parse are left out too;
    M(baremetal.lb.address_pool) reports those, naming the field and the value.
  - Entries are parsed as M(baremetal.lb.address_pool) and the speaker parse them (C(first-last), a CIDR without
    host bits, or one address; IPv4 or IPv6).
  - The C(baremetal.lb.pools) role runs it in its preflight, so two overlapping pools stop the run before anything
    is written (the module alone checks one pool against the cluster, where neither pool exists yet).
author:
  - baremetal-lb developers (@baremetal-lb)
options:
  _input:
    description: The pools, as in C(baremetal_lb_pools) (each a dict with C(name), C(addresses), optional C(state)).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: No two pools share an address
  ansible.builtin.assert:
    that: baremetal_lb_pools | baremetal.lb.pool_overlaps | length == 0
    fail_msg: "{{ baremetal_lb_pools | baremetal.lb.pool_overlaps | join('; ') }}"
"""

RETURN = r"""
_value:
  description:
    - One message per overlapping pair of entries, empty when no two pools share an address.
  type: list
  elements: str
  sample:
    - >-
      baremetal_lb_pools: pool lan addresses[0] 10.1.1.240-10.1.1.250 and pool dmz addresses[1] 10.1.1.248/29
      share 10.1.1.248-10.1.1.250
"""

import typing as t

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange, RangeError, parse_range


def _entries(pool: dict[str, t.Any]) -> list[tuple[int, str, IPRange]]:
    addresses: t.Any = pool.get("addresses")
    if isinstance(addresses, str) or not is_sequence(addresses):
        return []
    out: list[tuple[int, str, IPRange]] = []
    for index, text in enumerate(addresses):
        try:
            out.append((index, str(text).strip(), parse_range(text, strict=True)))
        except RangeError:
            continue  # the module names it, with the field and the value
    return out


def pool_overlaps(pools: t.Any) -> list[str]:
    """``["baremetal_lb_pools: pool A addresses[i] X and pool B addresses[j] Y share Z", ...]`` (list order)."""
    if not is_sequence(pools) or isinstance(pools, str):
        raise AnsibleFilterError(f"pool_overlaps: expected the list baremetal_lb_pools, got {type(pools).__name__}")
    present: list[tuple[str, list[tuple[int, str, IPRange]]]] = []
    for pool in pools:
        if isinstance(pool, dict) and pool.get("state", "present") != "absent":
            present.append((str(pool.get("name", "?")), _entries(pool)))
    found: list[str] = []
    for i, (name, entries) in enumerate(present):
        for other_name, other_entries in present[i + 1 :]:
            for index, text, rng in entries:
                for other_index, other_text, other in other_entries:
                    shared = rng.intersection(other)
                    if shared is not None:
                        found.append(
                            f"baremetal_lb_pools: pool {name} addresses[{index}] {text} and pool {other_name} "
                            f"addresses[{other_index}] {other_text} share {shared.compact()}"
                        )
    return found


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"pool_overlaps": pool_overlaps}
