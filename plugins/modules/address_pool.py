#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: address_pool
short_description: Create, update or delete one MetalLB-compatible address pool in a Kubernetes cluster
version_added: 0.1.0
description:
  - Manages one C(IPAddressPool) (C(metallb.io/v1beta1)) and the matching C(L2Advertisement) or
    C(BGPAdvertisement) of the same name, whose C(ipAddressPools) is exactly O(name). The baremetal-lb speaker
    (and MetalLB itself) hand out addresses from it to C(type=LoadBalancer) Services.
  - Installs the C(metallb.io) CustomResourceDefinitions when they are missing (O(install_crds)) and creates
    O(namespace) when it is missing.
  - Updates the CRDs it installed (label C(app.kubernetes.io/part-of=baremetal-lb)) when this collection ships a
    newer schema (annotation C(baremetal-lb/schema-version)); never one written by a newer collection, never one
    of another installer, and it never deletes a CRD.
  - Refuses a pool that shares an address with another C(IPAddressPool) of the namespace, naming both pools.
  - Validates every option first (bad ranges, CIDRs with host bits, reversed ranges, overlaps inside the list,
    aggregation lengths that reach outside the pool), naming the option and the value, before changing anything.
  - Only the fields this module manages are compared, so a second run reports no change. Spec fields it does
    not manage, labels and annotations added by others are kept.
  - Writes the pool, then the advertisement. If a write fails, what this run already wrote is undone (a created
    pool is deleted, an updated one restored) and the error says so.
  - Switching O(mode) replaces the advertisement of the other kind (created first, the old one deleted last).
  - O(state=absent) deletes the advertisements named O(name) that select only this pool, then the pool.
author:
  - baremetal-lb developers (@baremetal-lb)
extends_documentation_fragment:
  - baremetal.lb.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reports the commands it would run and the diff; writes nothing.
  diff_mode:
    support: full
    description: C(diff.before)/C(diff.after) hold the managed spec of each object, keyed C(Kind namespace/name).
options:
  name:
    description:
      - Name of the C(IPAddressPool) and of its advertisement; Services select it with the annotation
        C(metallb.io/address-pool).
    type: str
    required: true
  namespace:
    description: Namespace of the pool objects (where the speaker reads them). Created when missing.
    type: str
    default: metallb-system
  state:
    description: Whether the pool and its advertisement should exist.
    type: str
    choices: [present, absent]
    default: present
  addresses:
    description:
      - The pool's addresses, each a range C(first-last), a CIDR (no host bits) or a single address; IPv4 or IPv6.
      - Required with O(state=present).
      - "Example: C(10.1.1.240-10.1.1.250), the band the router's DHCP scope leaves free."
    type: list
    elements: str
  mode:
    description:
      - How the addresses are announced. C(layer2) creates an C(L2Advertisement) (one node answers ARP/NDP for
        each address); C(bgp) creates a C(BGPAdvertisement) (announced to the BGP peers).
    type: str
    choices: [layer2, bgp]
    default: layer2
  auto_assign:
    description: Whether Services get addresses from this pool without asking for it (C(spec.autoAssign)).
    type: bool
    default: true
  avoid_buggy_ips:
    description: Skip C(.0) and C(.255) IPv4 addresses, which some old clients refuse (C(spec.avoidBuggyIPs)).
    type: bool
    default: false
  service_allocation:
    description: MetalLB's C(spec.serviceAllocation) - which Services the pool prefers or is limited to.
    type: dict
    suboptions:
      priority:
        description: Lower numbers are tried first among pools that match a Service.
        type: int
      namespaces:
        description: Only Services in these namespaces get addresses from the pool.
        type: list
        elements: str
      namespace_selectors:
        description: Label selectors (C(matchLabels)/C(matchExpressions)) for the namespaces of eligible Services.
        type: list
        elements: dict
      service_selectors:
        description: Label selectors (C(matchLabels)/C(matchExpressions)) for eligible Services.
        type: list
        elements: dict
  l2:
    description: Settings of the C(L2Advertisement) (only with O(mode=layer2)).
    type: dict
    suboptions:
      interfaces:
        description: Announce only on these node interfaces (default all).
        type: list
        elements: str
      node_selectors:
        description: Only nodes matching these label selectors announce the addresses.
        type: list
        elements: dict
  bgp:
    description: Settings of the C(BGPAdvertisement) (only with O(mode=bgp)).
    type: dict
    suboptions:
      aggregation_length:
        description:
          - Prefix length of the IPv4 routes announced (1-32, the server's default is 32). Must not be shorter
            than the largest block of any pool range, or the route would cover addresses that are not the pool's.
        type: int
      aggregation_length_v6:
        description: Prefix length of the IPv6 routes announced (1-128, the server's default is 128).
        type: int
      local_pref:
        description: BGP LOCAL_PREF attached to the routes (iBGP only).
        type: int
      communities:
        description: BGP communities, each C(AA:NN), C(large:A:B:C) or the name of an alias in a C(Community) object.
        type: list
        elements: str
      peers:
        description: Announce only to these C(BGPPeer) objects (default all).
        type: list
        elements: str
      node_selectors:
        description: Only nodes matching these label selectors announce the routes.
        type: list
        elements: dict
  install_crds:
    description:
      - Create the C(metallb.io) CustomResourceDefinitions that are missing and update the ones this collection
        installed when it ships a newer schema (others, for example MetalLB's, are left as they are). With
        C(false) no CRD is written and a missing CRD is an error.
    type: bool
    default: true
notes:
  - Set the connection once for all cluster modules with C(module_defaults) and the action group
    C(group/baremetal.lb.cluster).
  - The role C(baremetal.lb.pools) runs this module for every entry of C(baremetal_lb_pools).
seealso:
  - name: docs/pools.md
    description: Defining pools in the inventory.
    link: https://github.com/baremetal-lb/baremetal-lb/blob/main/docs/pools.md
"""

EXAMPLES = r"""
- name: The seed's pool - Traefik gets 10.1.1.240, answered by ARP from one node
  baremetal.lb.address_pool:
    kubeconfig: /etc/rancher/k3s/k3s.yaml
    name: lan
    addresses:
      - 10.1.1.240-10.1.1.250

- name: A BGP pool announced as one /28 to the routers, for the web namespace first
  baremetal.lb.address_pool:
    name: public
    addresses: [203.0.113.16/28]
    mode: bgp
    auto_assign: false
    service_allocation:
      priority: 10
      namespaces: [web]
    bgp:
      aggregation_length: 28
      communities: ["64512:100"]
      peers: [pfsense]

- name: Auth once for every cluster module
  module_defaults:
    group/baremetal.lb.cluster:
      kubeconfig: "{{ lookup('env', 'HOME') }}/.kube/config"
      context: homelab
  block:
    - name: Remove the old pool
      baremetal.lb.address_pool:
        name: old
        state: absent
"""

RETURN = r"""
changed:
  description: Whether anything was (or, in check mode, would be) written.
  returned: always
  type: bool
commands:
  description: What was done (or would be), one readable line per API write, in order.
  returned: always
  type: list
  elements: str
  sample:
    - install CustomResourceDefinition ipaddresspools.metallb.io
    - create Namespace metallb-system
    - create IPAddressPool metallb-system/lan 10.1.1.240-10.1.1.250
    - create L2Advertisement metallb-system/lan for pool lan
diff:
  description: The managed spec of each object before and after, keyed C(Kind namespace/name).
  returned: always
  type: dict
  sample:
    before: {}
    after:
      IPAddressPool metallb-system/lan: {addresses: [10.1.1.240-10.1.1.250], autoAssign: true, avoidBuggyIPs: false}
      L2Advertisement metallb-system/lan: {ipAddressPools: [lan]}
pool:
  description: The C(IPAddressPool) as written (in check mode, as it would be); empty with O(state=absent).
  returned: always
  type: dict
  sample:
    apiVersion: metallb.io/v1beta1
    kind: IPAddressPool
    metadata: {name: lan, namespace: metallb-system, labels: {app.kubernetes.io/managed-by: baremetal-lb}}
    spec: {addresses: [10.1.1.240-10.1.1.250], autoAssign: true, avoidBuggyIPs: false}
advertisement:
  description: The C(L2Advertisement) or C(BGPAdvertisement) as written; empty with O(state=absent).
  returned: always
  type: dict
  sample:
    apiVersion: metallb.io/v1beta1
    kind: L2Advertisement
    metadata: {name: lan, namespace: metallb-system, labels: {app.kubernetes.io/managed-by: baremetal-lb}}
    spec: {ipAddressPools: [lan]}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.baremetal.lb.plugins.module_utils.metallb_pool import ADDRESS_POOL_ARG_SPEC, run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=ADDRESS_POOL_ARG_SPEC,
        required_if=[("state", "present", ["addresses"])],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
