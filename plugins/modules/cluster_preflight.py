#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_preflight
short_description: Check that a Kubernetes cluster is ready for baremetal-lb before anything is changed
version_added: 0.2.0
description:
  - Reads the cluster and refuses, naming the object and the fix, when
    k3s's own ServiceLB is enabled (a k3s server without C(--disable servicelb), or ServiceLB pods running);
    kube-proxy runs in IPVS mode without strict ARP and a pool is announced by ARP/NDP (O(layer2));
    a node name in O(nodes) is not a Node of the cluster;
    MetalLB's controller or speaker is still running (a warning instead when O(load_balancer_class) is set,
    since both can then run side by side).
  - Warns when every node in O(nodes) carries the label C(node.kubernetes.io/exclude-from-external-load-balancers)
    (kubeadm puts it on control-plane nodes), unless O(ignore_exclude_lb).
  - Every error is reported in one run, and nothing is written when there is one.
  - The only change it can make is opt-in (O(fix_strict_arp)) setting C(ipvs.strictARP) in the ConfigMap
    C(kube-system/kube-proxy), as one changed line, with a diff and in check mode only reported.
author:
  - baremetal-lb developers (@baremetal-lb)
extends_documentation_fragment:
  - baremetal.lb.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reads and checks as usual; the strictARP fix is reported (diff, commands), not written.
  diff_mode:
    support: full
    description: C(diff.before)/C(diff.after) hold kube-proxy's C(config.conf) when the fix applies.
options:
  nodes:
    description: Names of the Nodes the speakers will run as (the inventory's speaker hosts).
    type: list
    elements: str
    default: []
  layer2:
    description: Whether any pool is announced by ARP/NDP; kube-proxy's IPVS ARP answers only matter then.
    type: bool
    default: true
  ignore_exclude_lb:
    description:
      - The speakers ignore the exclude-from-external-load-balancers label (their O(ignore_exclude_lb) setting),
        so the label check is skipped.
    type: bool
    default: false
  load_balancer_class:
    description: The C(loadBalancerClass) the speakers serve; empty means Services without a class (MetalLB's).
    type: str
  fix_strict_arp:
    description:
      - Set C(ipvs.strictARP=true) in ConfigMap C(kube-system/kube-proxy) when kube-proxy is in IPVS mode without
        it, and no other error stands. kube-proxy must then be restarted to read it (the result's C(commands)
        say how).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Check the cluster before the router and the pools are touched
  baremetal.lb.cluster_preflight:
    kubeconfig: ~/.kube/config
    nodes: [node1, node2, node3]
    layer2: true

- name: Same, and let the module set kube-proxy's strictARP
  baremetal.lb.cluster_preflight:
    nodes: [node1, node2, node3]
    fix_strict_arp: true
"""

RETURN = r"""
findings:
  description: Every check that found something, errors and warnings.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check's id (node_exists, k3s_servicelb, kube_proxy_strict_arp, metallb_running, exclude_label).
      type: str
    severity:
      description: C(error) (the module fails) or C(warning).
      type: str
    object:
      description: The object the finding is about, e.g. C(Node node1) or C(ConfigMap kube-system/kube-proxy).
      type: str
    message:
      description: What is wrong and how to fix it.
      type: str
commands:
  description: The change made (or, in check mode, that would be made), as readable lines.
  returned: always
  type: list
  elements: str
diff:
  description: kube-proxy's C(config.conf) before and after the strictARP fix; empty otherwise.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.baremetal.lb.plugins.module_utils.cluster_preflight import (
    CLUSTER_PREFLIGHT_ARG_SPEC,
    run_module,
)


def main() -> None:
    run_module(AnsibleModule(argument_spec=CLUSTER_PREFLIGHT_ARG_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
