# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the router's API, for example C(https://10.1.1.1) (pfSense, OPNsense) or
        C(http://127.0.0.1:8000/) (the Kea Control Agent).
      - Not used by the V(dnsmasq) backend, which runs on the router host itself. V(openwrt) uses it for rpcd
        (C(https://192.168.1.1); C(/ubus) is appended).
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_API_URL) is used.
    type: str
  api_key:
    description:
      - pfSense REST API key (sent as the C(X-API-Key) header), OPNsense API key (basic-auth user), or the Kea
        Control Agent basic-auth user.
      - Never shown in results, diffs or error messages.
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_API_KEY) is used.
    type: str
  api_secret:
    description:
      - OPNsense API secret (basic-auth password) or the Kea Control Agent basic-auth password.
      - Never shown in results, diffs or error messages.
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_API_SECRET) is used.
    type: str
  api_username:
    description:
      - User name for routers that authenticate with a login rather than a key pair (pfSense REST API basic
        auth, OpenWrt rpcd/ubus).
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_API_USERNAME) is used.
    type: str
  api_password:
    description:
      - Password for O(api_username).
      - Never shown in results, diffs or error messages.
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_API_PASSWORD) is used.
    type: str
  ca_path:
    description:
      - PEM file with the CA certificate (or the router's own self-signed certificate) to trust for the router's
        TLS, so that O(validate_certs) can stay V(true) with a self-signed router certificate.
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_CA_PATH) is used.
    type: path
  validate_certs:
    description:
      - Whether to check the router's TLS certificate. Set to V(false) only for a router with a self-signed
        certificate on a network you trust.
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_VALIDATE_CERTS) is used.
    type: bool
    default: true
    aliases: [verify_ssl]
  timeout:
    description:
      - Seconds to wait for each API call (and for each command the local backends run).
      - If not set, the environment variable E(BAREMETAL_LB_ROUTER_TIMEOUT) is used.
    type: int
    default: 30
"""
