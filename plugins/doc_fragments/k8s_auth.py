# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of ``K8S_AUTH_ARG_SPEC`` (plugins/module_utils/k8s_auth.py): ``extends_documentation_fragment:
baremetal.lb.k8s_auth``. tests/unit/plugins/module_utils/test_k8s_auth.py keeps the two in step."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file (a plain C(http://host:port) server works).
      - If not set, the environment variable E(K8S_AUTH_KUBECONFIG) is used, then E(KUBECONFIG) (a list of files
        separated by C(:), as kubectl reads it).
      - Without O(kubeconfig) and O(host) the module uses the in-cluster service account when it runs in a pod,
        else C(~/.kube/config).
      - Inline kubeconfig contents are not accepted, so that credentials never travel in module arguments or
        logs; write the file with M(ansible.builtin.copy) and C(no_log) first.
    type: path
  context:
    description:
      - The kubeconfig context to use instead of its C(current-context).
      - If not set, the environment variable E(K8S_AUTH_CONTEXT) is used.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example C(https://10.1.1.10:6443). Overrides the kubeconfig's server.
      - If not set, the environment variable E(K8S_AUTH_HOST) is used.
    type: str
  api_key:
    description:
      - A bearer token for the API server. Overrides the kubeconfig's credentials. Never logged or returned.
      - If not set, the environment variable E(K8S_AUTH_API_KEY) is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Unset means what the kubeconfig says (verify by default).
      - If not set, the environment variable E(K8S_AUTH_VERIFY_SSL) is used (C(true)/C(false)).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA certificate bundle to verify the API server with.
      - If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for TLS client authentication.
      - If not set, the environment variable E(K8S_AUTH_CERT_FILE) is used.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the private key of O(client_cert).
      - If not set, the environment variable E(K8S_AUTH_KEY_FILE) is used.
    type: path
    aliases: [key_file]
requirements:
  - kubernetes >= 30 (the official Python client) on the host that runs the module
"""
