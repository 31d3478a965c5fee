# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``baremetal.lb.dhcp_reservation`` does between ``AnsibleModule`` and ``exit_json``: the argument spec,
the choice of backend, and turning project exceptions into ``fail_json`` messages (secrets scrubbed)."""

from __future__ import annotations

import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_backend
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import router_api_arg_spec

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import Backend

BACKENDS = ("kea", "dnsmasq", "pfsense", "opnsense", "openwrt")

ARG_SPEC = router_api_arg_spec(
    backend={"type": "str", "required": True, "choices": list(BACKENDS)},
    range={"type": "str", "required": True},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    scope={"type": "str"},
    accept_active_leases={"type": "bool", "default": False},
    # kea
    subnet_cmds={"type": "str", "default": "auto", "choices": ["auto", "always", "never"]},
    # opnsense
    opnsense_dhcp={"type": "str", "default": "kea", "choices": ["kea", "dnsmasq", "isc"]},
    # dnsmasq
    conf_file={"type": "path", "default": "/etc/dnsmasq.conf"},
    config_dir={"type": "path"},
    lease_file={"type": "path"},
    service={"type": "str"},
    restart_command={"type": "list", "elements": "str"},
    dnsmasq_binary={"type": "path", "default": "dnsmasq"},
    # openwrt
    uci_command={"type": "path", "default": "uci"},
    openwrt_transport={"type": "str", "choices": ["rpcd", "uci"]},
)


def make_backend(module: AnsibleModule, params: dict[str, t.Any]) -> Backend:
    """The backend object for ``params['backend']`` (imports only the one needed)."""
    name = params["backend"]
    if name == "kea":
        from ansible_collections.baremetal.lb.plugins.module_utils.backend_kea import KeaBackend

        return KeaBackend.from_params(params)
    if name == "dnsmasq":
        from ansible_collections.baremetal.lb.plugins.module_utils.backend_dnsmasq import DnsmasqBackend

        return DnsmasqBackend.from_params(params, module.run_command)
    if name == "pfsense":
        from ansible_collections.baremetal.lb.plugins.module_utils.backend_pfsense import PfsenseBackend

        return PfsenseBackend.from_params(params)
    if name == "opnsense":
        from ansible_collections.baremetal.lb.plugins.module_utils.backend_opnsense import make_opnsense_backend

        return make_opnsense_backend(params)
    from ansible_collections.baremetal.lb.plugins.module_utils.backend_openwrt import OpenwrtBackend

    return OpenwrtBackend.from_params(params, module.run_command)


def _scrub(text: object, params: dict[str, t.Any]) -> str:
    text = str(text)
    for key in ("api_key", "api_secret", "api_password"):
        if params.get(key):
            text = text.replace(params[key], "********")
    return text


def main_for(module: AnsibleModule) -> None:
    """Run the module; always ends with ``exit_json`` or ``fail_json``."""
    params = module.params
    try:
        backend = make_backend(module, params)
        result = dhcp_backend.run(
            backend,
            params["range"],
            state=params["state"],
            scope=params.get("scope"),
            accept_active_leases=params["accept_active_leases"],
            check_mode=module.check_mode,
        )
    except dhcp_backend.ApplyError as exc:
        module.fail_json(msg=_scrub(exc, params), router_restored=exc.restored)
    except dhcp_backend.ReservationError as exc:
        module.fail_json(msg=_scrub(exc, params))
    except Exception as exc:  # noqa: BLE001 - a bug or a surprise from the router: still say what the router state is
        module.fail_json(
            msg=_scrub(
                f"unexpected error before the change was complete ({type(exc).__name__}: {exc}); check the router's "
                "DHCP scope",
                params,
            )
        )
    for warning in result.pop("warnings", []):
        module.warn(_scrub(warning, params))
    module.exit_json(**result)
