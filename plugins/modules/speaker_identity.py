#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speaker_identity
short_description: The baremetal-lb speakers' identity in a cluster - ServiceAccount, least-privilege RBAC, token
version_added: 0.1.0
description:
  - The speakers run under systemd on the nodes, outside pods, so nothing gives them a service-account token.
    This module creates what they need and returns a token for their kubeconfig (the C(baremetal.lb.speaker)
    role does that with O(baremetal.lb.speaker#role:main:baremetal_lb_speaker_identity=true)).
  - Creates the ServiceAccount O(name) in O(namespace); a ClusterRole and ClusterRoleBinding O(name) that allow
    list/watch of Services, Nodes, Namespaces and EndpointSlices, patch of C(services/status) and create of
    Events; a Role and RoleBinding O(name) in O(namespace) that allow list/watch of the C(metallb.io) objects,
    patch of C(ipaddresspools/status), writes to C(servicel2statuses)/C(servicebgpstatuses), create of Leases
    and get/update of the Lease O(lease_name) only, list/watch of Secrets (BGP passwords), get/list/watch of the
    Secret O(memberlist_secret) only and create of Secrets (the allocator leader creates the heartbeat key's
    Secret when it is missing; RBAC cannot limit C(create) to one name), and get/list/watch of MetalLB's
    ConfigMap C(metallb-excludel2) only (the interfaces Layer 2 never answers on).
  - The token is a Secret C(NAME-token) of type C(kubernetes.io/service-account-token) - long-lived, revoked by
    deleting the Secret. Re-running returns the same token; it is replaced only when it is no longer valid (the
    ServiceAccount was re-created) or when O(rotate_token=true).
  - A rotation creates a new Secret C(NAME-token-xxxxx) (a token controller would give a re-created C(NAME-token)
    the same token), waits for its token, then deletes the old Secret, which revokes the old token.
  - Rules that drifted are put back; labels and fields the module does not manage are kept.
author:
  - baremetal-lb developers (@baremetal-lb)
extends_documentation_fragment:
  - baremetal.lb.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reports the commands it would run and the diff; writes nothing. A token is returned only if it
      exists already.
  diff_mode:
    support: full
    description: C(diff.before)/C(diff.after) hold the managed fields of each object, keyed C(Kind namespace/name).
options:
  name:
    description: Name of the ServiceAccount, the ClusterRole/Role and their bindings; the Secret is C(NAME-token)
      (C(NAME-token-xxxxx) after a rotation).
    type: str
    default: baremetal-lb-speaker
  namespace:
    description: The speakers' namespace (where the C(metallb.io) objects and the allocator Lease live).
    type: str
    default: metallb-system
  lease_name:
    description: The allocator Lease the speakers may read and update (the speaker's C(lease.name)).
    type: str
    default: baremetal-lb-allocator
  memberlist_secret:
    description: The Secret holding the speakers' heartbeat key (the speaker's C(membership.secret_name)); MetalLB's
      C(memberlist) Secret by default, so an existing one is reused.
    type: str
    default: memberlist
  state:
    description: C(absent) deletes the Secret, the bindings, the roles and the ServiceAccount (not the namespace).
    type: str
    choices: [present, absent]
    default: present
  create_namespace:
    description: Create O(namespace) when it is missing.
    type: bool
    default: true
  rotate_token:
    description: Replace the token even though it is still valid (the speakers then need their kubeconfig
      rewritten, which the role does in the same run).
    type: bool
    default: false
  token_timeout:
    description: Seconds to wait for the cluster's token controller to fill a new token Secret.
    type: int
    default: 30
notes:
  - Needs the Python C(kubernetes) package where the module runs.
  - The returned RV(token) is a credential; register the result with C(no_log=true).
"""

EXAMPLES = r"""
- name: Identity for the speakers, token into every node's kubeconfig (what the role does)
  baremetal.lb.speaker_identity:
    kubeconfig: ~/.kube/config
  delegate_to: localhost
  run_once: true
  register: speaker_identity
  no_log: true

- name: Revoke it
  baremetal.lb.speaker_identity:
    state: absent
"""

RETURN = r"""
changed:
  description: Whether anything was (or in check mode would be) written.
  type: bool
  returned: always
commands:
  description: What was done, one readable line per write.
  type: list
  elements: str
  returned: always
  sample:
    - create ServiceAccount metallb-system/baremetal-lb-speaker
    - update ClusterRole baremetal-lb-speaker (rules)
service_account:
  description: The user name the speakers act as.
  type: str
  returned: state=present
  sample: system:serviceaccount:metallb-system:baremetal-lb-speaker
secret:
  description: The Secret that holds the token.
  type: str
  returned: state=present
  sample: baremetal-lb-speaker-token
token:
  description: The bearer token for the speakers' kubeconfig (empty in check mode before it exists).
  type: str
  returned: always
ca_cert:
  description: The cluster CA (PEM) the token controller put next to the token, if any.
  type: str
  returned: always
api_server:
  description:
    - The API server URL this module reached the cluster at (from the kubeconfig or O(host)); the speaker role
      writes it into the nodes' kubeconfigs unless told another address.
  type: str
  returned: always
  sample: https://10.1.1.11:6443
api_ca_cert:
  description: The CA (PEM) this module trusted for that server (from the kubeconfig or O(ca_cert)); empty if none.
  type: str
  returned: always
cluster_rules:
  description: The ClusterRole's rules.
  type: list
  elements: dict
  returned: state=present
namespace_rules:
  description: The Role's rules.
  type: list
  elements: dict
  returned: state=present
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.baremetal.lb.plugins.module_utils.speaker_identity import (
    SPEAKER_IDENTITY_ARG_SPEC,
    run_module,
)


def main() -> None:
    module = AnsibleModule(argument_spec=SPEAKER_IDENTITY_ARG_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
