#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dhcp_reservation
short_description: Keep an address range out of a router's DHCP scope (for load-balancer addresses)
version_added: 0.1.0
description:
  - Shrinks or splits the dynamic ranges of one DHCP scope on a router so that O(range) is never handed out by
    DHCP, touching nothing else in the scope. This is the manual step of every MetalLB setup ("give the balancer
    10.1.1.240-10.1.1.250 outside the DHCP range"), done from the inventory.
  - Refuses, naming the address and the object, when the range is outside the scope's subnet, contains the
    network, broadcast or gateway/router address, holds a static mapping/reservation, or holds an active lease
    (unless O(accept_active_leases=true)).
  - Transactional. It reads the scope, computes the new ranges, has the router validate the result (Kea
    C(config-test), C(dnsmasq --test), the router API's own validation), applies it, then reads it back. On any
    failure the router is left (or put back) as it was and the message says so.
  - Records what it took in a marker kept on the router (Kea subnet C(user-context), a comment beside the
    dnsmasq C(dhcp-range), a pfSense firewall alias, the OPNsense range/subnet description, a UCI option on
    OpenWrt). O(state=absent) gives back exactly what that marker says and never widens a range a person
    configured.
  - "Backends: V(kea) (the Kea Control Agent; run anywhere that reaches it), V(dnsmasq) (run the task on the router
    host itself), V(openwrt) (rpcd's JSON-RPC from the controller, or C(uci) on the router), V(pfsense) (REST API
    package v2), V(opnsense) (core API, Kea or dnsmasq)."
author:
  - baremetal-lb developers (@baremetal-lb)
extends_documentation_fragment:
  - baremetal.lb.router_api
  - baremetal.lb.dhcp_backend
attributes:
  check_mode:
    support: full
    description: Reads the scope and has the router validate the new configuration, then stops before applying.
  diff_mode:
    support: full
    description: Shows the scope's dynamic ranges before and after, written the way the router's UI shows them.
options:
  backend:
    description: Which kind of DHCP server the router runs.
    type: str
    required: true
    choices: [kea, dnsmasq, pfsense, opnsense, openwrt]
  range:
    description:
      - The addresses to keep out of DHCP, as C(first-last), a CIDR (every address in it) or one address; IPv4 or
        IPv6 (Kea C(subnet6) pools, dnsmasq IPv6 ranges).
    type: str
    required: true
  state:
    description:
      - V(present) removes O(range) from the scope's dynamic ranges.
      - V(absent) gives back what an earlier V(present) of the same O(range) took, if its marker is there;
        otherwise it changes nothing.
    type: str
    choices: [present, absent]
    default: present
  scope:
    description:
      - Which DHCP scope. If omitted, the scope whose subnet holds O(range) (an error if none or several do).
      - "Kea: subnet id, prefix (V(10.1.1.0/24)) or C(interface). dnsmasq: the tag set by the range
        (C(set:lan)), the interface, or the prefix. pfSense: interface id (V(lan), V(opt1)). OPNsense: the subnet
        prefix, the interface or the description. OpenWrt: the UCI section of C(/etc/config/dhcp) (V(lan))."
    type: str
  accept_active_leases:
    description:
      - Reserve the range even when clients hold active leases inside it. Those clients keep their address
        until the lease ends, so the balancer and a client may answer for the same address until then.
    type: bool
    default: false
  subnet_cmds:
    description:
      - Kea only. V(auto) uses C(subnet4-update)/C(subnet6-update) when the server offers them (the
        C(subnet_cmds) hook, open source since Kea 2.7.7), else C(config-set) of the whole configuration.
    type: str
    choices: [auto, always, never]
    default: auto
  service:
    description:
      - dnsmasq and OpenWrt. The service to restart after a change (C(systemctl restart SERVICE), on OpenWrt
        C(/etc/init.d/SERVICE restart)). dnsmasq needs a restart to read C(dhcp-range); SIGHUP does not.
      - Default V(dnsmasq); on OpenWrt V(odhcpd) when C(dhcp.odhcpd.maindhcp) makes odhcpd the DHCPv4 server.
        With O(openwrt_transport=rpcd) only that default is restarted (the rpcd ACL grants exactly that).
    type: str
  restart_command:
    description:
      - dnsmasq and OpenWrt with O(openwrt_transport=uci). The command (argv list) to restart the DHCP server
        instead of O(service).
    type: list
    elements: str
  dnsmasq_binary:
    description: dnsmasq only. The C(dnsmasq) executable used for C(dnsmasq --test).
    type: path
    default: dnsmasq
notes:
  - Secrets (O(api_key), O(api_secret), O(api_password)) never appear in results, diffs or messages.
  - Kea needs the C(lease_cmds) hook to check active leases; without it the module refuses unless
    O(accept_active_leases=true).
  - OpenWrt and the pfSense primary range hold one dynamic range per scope, so a reservation in the middle of
    the range is refused (reserve a band at either end).
  - Set the router connection once for all tasks with C(module_defaults) and the action group
    C(group/baremetal.lb.router).
seealso:
  - module: baremetal.lb.address_pool
"""

EXAMPLES = r"""
- name: Keep the balancer's band out of the pfSense LAN scope (the seed's network)
  baremetal.lb.dhcp_reservation:
    backend: pfsense
    api_url: https://10.1.1.1
    api_key: "{{ vault_pfsense_key }}"
    scope: lan
    range: 10.1.1.240-10.1.1.250
  delegate_to: localhost

- name: Same on a Kea server (Control Agent on the router)
  baremetal.lb.dhcp_reservation:
    backend: kea
    api_url: http://127.0.0.1:8000/
    range: 10.1.1.240-10.1.1.250

- name: A Linux router running dnsmasq (task runs on the router)
  baremetal.lb.dhcp_reservation:
    backend: dnsmasq
    conf_file: /etc/dnsmasq.conf
    range: 10.1.1.240-10.1.1.250
  become: true

- name: An OpenWrt router, over rpcd from the controller (no Python on the router)
  baremetal.lb.dhcp_reservation:
    backend: openwrt
    api_url: https://192.168.1.1
    api_username: baremetal-lb
    api_password: "{{ vault_openwrt_rpcd_password }}"
    ca_path: files/openwrt-uhttpd.crt
    scope: lan
    range: 192.168.1.240-192.168.1.250
  delegate_to: localhost

- name: Give the band back to DHCP (only what this module took)
  baremetal.lb.dhcp_reservation:
    backend: kea
    api_url: http://127.0.0.1:8000/
    range: 10.1.1.240-10.1.1.250
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the router's dynamic ranges (or the module's marker) changed.
  returned: always
  type: bool
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
  sample: "reserved 10.1.1.240-10.1.1.250: scope lan now hands out 10.1.1.100-10.1.1.239"
commands:
  description: The changes as readable pseudo-commands (also in check mode).
  returned: always
  type: list
  elements: str
  sample: ["shrink DHCP range lan 10.1.1.100-10.1.1.250 -> 10.1.1.100-10.1.1.239"]
scope:
  description: The scope acted on.
  returned: always
  type: dict
  contains:
    name:
      description: The scope's name on the router.
      type: str
      sample: lan
    subnet:
      description: The scope's subnet.
      type: str
      sample: 10.1.1.0/24
    backend:
      description: The backend used.
      type: str
      sample: pfsense
ranges_before:
  description: The scope's dynamic ranges before, as C(first-last).
  returned: always
  type: list
  elements: str
  sample: ["10.1.1.100-10.1.1.250"]
ranges_after:
  description: The scope's dynamic ranges after (what they would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["10.1.1.100-10.1.1.239"]
diff:
  description: The scope as the router's UI shows it, before and after.
  returned: always
  type: dict
  sample: {"before": "scope lan (10.1.1.0/24)\n  dynamic range: 10.1.1.100 to 10.1.1.250\n",
           "after": "scope lan (10.1.1.0/24)\n  dynamic range: 10.1.1.100 to 10.1.1.239\n"}
router_restored:
  description: On a failure while applying, whether the router was put back as it was.
  returned: failed while applying
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_module import ARG_SPEC, main_for


def main() -> None:
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    main_for(module)


if __name__ == "__main__":
    main()
