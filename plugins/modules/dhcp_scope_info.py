#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dhcp_scope_info
short_description: Show a router's DHCP scopes, their leases and what baremetal-lb reserved
version_added: 0.1.0
description:
  - Reads every DHCP scope of the router (or the one named by O(scope)) and reports its subnet, interface,
    gateway, dynamic ranges (also written the way the router's UI shows them), static mappings/reservations,
    active leases, and the ranges M(baremetal.lb.dhcp_reservation) took out of DHCP according to the marker it
    keeps on the router.
  - Uses the same backends and connection options as M(baremetal.lb.dhcp_reservation), and reads the scope the
    same way, so what it shows is what that module sees.
  - Never changes anything on the router.
author:
  - baremetal-lb developers (@baremetal-lb)
extends_documentation_fragment:
  - baremetal.lb.router_api
  - baremetal.lb.dhcp_backend
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  backend:
    description: Which kind of DHCP server the router runs.
    type: str
    required: true
    choices: [kea, dnsmasq, pfsense, opnsense, openwrt]
  scope:
    description:
      - Report only this scope. If omitted, every scope.
      - "The names M(baremetal.lb.dhcp_reservation) accepts: Kea: subnet id, prefix (V(10.1.1.0/24)) or
        C(interface). dnsmasq: the tag set by the range (C(set:lan)), the interface, or the prefix. pfSense:
        interface id (V(lan), V(opt1)). OPNsense: the subnet prefix, the interface or the description. OpenWrt:
        the UCI section of C(/etc/config/dhcp) (V(lan))."
      - An error, listing the scopes there are, when no scope has that name.
    type: str
notes:
  - Secrets (O(api_key), O(api_secret), O(api_password)) never appear in results or messages.
  - Kea lists leases only with the C(lease_cmds) hook loaded; without it (or when the router does not answer the
    lease query) a scope's RV(scopes[].leases) is V(null) and a warning says why.
  - The V(dnsmasq) backend (and V(openwrt) with O(openwrt_transport=uci)) reads files and runs C(ip)/C(uci) on the
    router, so run the task there; the API backends (and V(openwrt) over rpcd) run anywhere that reaches the router.
  - Set the router connection once for all tasks with C(module_defaults) and the action group
    C(group/baremetal.lb.router).
seealso:
  - module: baremetal.lb.dhcp_reservation
"""

EXAMPLES = r"""
- name: What the pfSense LAN scope looks like (the seed's network)
  baremetal.lb.dhcp_scope_info:
    backend: pfsense
    api_url: https://10.1.1.1
    api_key: "{{ vault_pfsense_key }}"
    scope: lan
  delegate_to: localhost
  register: lan

- name: The balancer's band is out of DHCP
  ansible.builtin.assert:
    that: "'10.1.1.240-10.1.1.250' in lan.scopes[0].reserved | map(attribute='range')"

- name: Who holds a lease on the LAN
  ansible.builtin.debug:
    msg: "{{ lan.scopes[0].leases | map(attribute='address') | zip(lan.scopes[0].leases | map(attribute='hostname')) }}"

- name: Every scope of a Kea server
  baremetal.lb.dhcp_scope_info:
    backend: kea
    api_url: http://127.0.0.1:8000/
  register: kea

- name: A Linux router running dnsmasq (task runs on the router)
  baremetal.lb.dhcp_scope_info:
    backend: dnsmasq
    conf_file: /etc/dnsmasq.conf
  become: true
"""

RETURN = r"""
scopes:
  description: The router's DHCP scopes (only the one named by O(scope) when it is set), in the router's order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description:
        - The scope's name, as M(baremetal.lb.dhcp_reservation) reports it in its
          RV(baremetal.lb.dhcp_reservation#module:scope.name).
      type: str
      sample: lan
    backend:
      description: The backend used.
      type: str
      sample: pfsense
    subnet:
      description: The scope's subnet.
      type: str
      sample: 10.1.1.0/24
    interface:
      description:
        - The interface the scope serves, where the router says (pfSense's device, the Kea subnet's C(interface),
          the dnsmasq interface, OpenWrt's C(dhcp.<section>.interface)); V(null) otherwise.
      type: str
      sample: em1
    enabled:
      description: Whether the router serves DHCP there (V(false) for a disabled pfSense DHCP server or an OpenWrt
        section with C(ignore=1)).
      type: bool
      sample: true
    gateway:
      description:
        - The router address clients are given (the C(routers) option), else the router's own address in the
          subnet where the backend hands that out by default; V(null) when neither is known.
      type: str
      sample: 10.1.1.1
    ranges:
      description: The dynamic ranges, as C(first-last) (the spelling of M(baremetal.lb.dhcp_reservation)'s results).
      type: list
      elements: str
      sample: ["10.1.1.100-10.1.1.239"]
    ranges_ui:
      description: The same ranges written the way the router's UI or configuration shows them.
      type: list
      elements: str
      sample: ["10.1.1.100 to 10.1.1.239"]
    static_mappings:
      description: Static mappings / host reservations inside the subnet, by address.
      type: list
      elements: dict
      contains:
        address:
          description: The reserved address.
          type: str
          sample: 10.1.1.20
        mac:
          description: The client's MAC address, when the mapping names one.
          type: str
          sample: "00:11:22:33:44:55"
        hostname:
          description: The host name, when the mapping has one.
          type: str
          sample: nas
    leases:
      description:
        - Active leases inside the subnet, by address. V(null) when the router could not list them (a warning says
          why).
      type: list
      elements: dict
      contains:
        address:
          description: The leased address.
          type: str
          sample: 10.1.1.105
        mac:
          description: The client's MAC address (V(null) for DHCPv6 leases without one).
          type: str
          sample: "aa:bb:cc:00:00:01"
        hostname:
          description: The host name the client sent, V(null) when none.
          type: str
          sample: laptop
        expires:
          description:
            - When the lease ends, ISO 8601 in UTC; pfSense's own text (as its status page shows it) for V(pfsense);
              V(null) for a lease that never expires.
          type: str
          sample: "2026-11-24T10:00:00Z"
        expires_in:
          description: Seconds until the lease ends, when the router gives a time stamp; else V(null).
          type: int
          sample: 3541
    reserved:
      description:
        - What M(baremetal.lb.dhcp_reservation) took out of the dynamic ranges, from the marker it keeps on the
          router; empty when it took nothing here.
      type: list
      elements: dict
      contains:
        range:
          description: The reserved range, as given to M(baremetal.lb.dhcp_reservation).
          type: str
          sample: 10.1.1.240-10.1.1.250
        replaced:
          description: Each dynamic range it changed, and what it left in its place (what V(absent) gives back).
          type: list
          elements: dict
          sample: [{"from": "10.1.1.100-10.1.1.250", "to": ["10.1.1.100-10.1.1.239"]}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_scope_info import ARG_SPEC, main_for


def main() -> None:
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    main_for(module)


if __name__ == "__main__":
    main()
