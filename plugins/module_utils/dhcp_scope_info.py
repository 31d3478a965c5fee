# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``baremetal.lb.dhcp_scope_info`` does between ``AnsibleModule`` and ``exit_json``: list every DHCP scope
of the router through the same backends (and the same ``read``) as ``dhcp_reservation``, and describe each one.

Per backend this needs two read-only methods besides ``read``:

* ``scopes() -> [{"request", "hint", "names"}]`` -- every scope, as the ``read(request, hint)`` call that reads
  exactly that one, and the names a person may use for it (the ``scope`` filter matches them);
* ``details(state) -> {"interface", "enabled", "static_mappings", "leases"}`` -- what ``read`` folds into
  occupant labels, as records (``leases`` None when the router could not list them; ``expires`` of a lease is
  seconds since the epoch, the router's own text, or None for "never").

Nothing here writes to the router; check mode changes nothing.
"""

from __future__ import annotations

import ipaddress
import time
import typing as t
from copy import deepcopy

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import ReservationError
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_module import ARG_SPEC as RESERVATION_ARG_SPEC
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_module import _scrub as scrub
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_module import make_backend
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiError, router_api_arg_spec

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import Backend, ScopeState
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import MarkerEntry, Occupant

    Record = t.Dict[str, t.Any]

# The options of dhcp_reservation that reading a scope uses (the same spec, so the two modules never drift).
READ_OPTIONS = ("backend", "opnsense_dhcp", "conf_file", "config_dir", "lease_file", "uci_command", "openwrt_transport")

ARG_SPEC = router_api_arg_spec(
    scope={"type": "str"}, **dict((name, deepcopy(RESERVATION_ARG_SPEC[name])) for name in READ_OPTIONS)
)


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def _lease(record: Record, now: float) -> Record:
    """A lease record as returned: ``expires`` ISO 8601 UTC (or the router's text), ``expires_in`` seconds."""
    expires = record.get("expires")
    out = {
        "address": record["address"],
        "mac": record.get("mac"),
        "hostname": record.get("hostname"),
        "expires": None,
        "expires_in": None,
    }
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        out["expires"] = _iso(expires)
        out["expires_in"] = max(0, int(expires - now))
    elif expires not in (None, ""):
        out["expires"] = str(expires)
    return out


def _address_key(item: Record) -> tuple[int, int]:
    addr = ipaddress.ip_address(item["address"])
    return (addr.version, int(addr))


def _gateway(occupants: t.Sequence[Occupant]) -> str | None:
    for kind in ("gateway", "router address"):
        for occ in occupants:
            if occ.kind == kind:
                return str(occ.address)
    return None


def _marker(entries: t.Sequence[MarkerEntry] | None) -> list[Record]:
    out: list[Record] = []
    for entry in entries or []:
        out.append(
            {
                "range": str(entry.get("range", "")),
                "replaced": [
                    {"from": str(item.get("from", "")), "to": [str(p) for p in item.get("to", [])]}
                    for item in entry.get("replaced", [])
                ],
            }
        )
    return out


def describe(backend: Backend, state: ScopeState, details: Record, now: float) -> Record:
    """One scope as the module returns it (see the module's RETURN)."""
    scope = state.scope
    return {
        "name": scope.name,
        "backend": backend.name,
        "subnet": str(scope.subnet),
        "interface": details.get("interface"),
        "enabled": bool(details.get("enabled", True)),
        "gateway": _gateway(scope.occupants),
        "ranges": [str(r) for r in scope.ranges],
        "ranges_ui": [backend.ui_range(r) for r in scope.ranges],
        "static_mappings": sorted(details.get("static_mappings") or [], key=_address_key),
        "leases": None
        if details.get("leases") is None
        else sorted([_lease(rec, now) for rec in details["leases"]], key=_address_key),
        "reserved": _marker(state.entries),
    }


def collect(backend: Backend, scope: str | None = None, now: float | None = None) -> tuple[list[Record], list[str]]:
    """``(scopes, warnings)``: every scope of the router (or those named ``scope``). Raises ReservationError."""
    listed = backend.scopes()
    picked = listed
    if scope:
        picked = [item for item in listed if scope in item["names"]]
        if not picked:
            raise ReservationError(
                "scope {!r}: no {} scope has that name; scopes: {}".format(
                    scope, backend.name, "; ".join("/".join(item["names"]) for item in listed) or "(none)"
                )
            )
    scopes: list[Record] = []
    warnings: list[str] = []
    for item in picked:
        state = backend.read(item["request"], item["hint"])
        details = backend.details(state)
        scopes.append(describe(backend, state, details, time.time() if now is None else now))
        if details.get("leases") is None:
            warnings.append(
                "scope {}: {}; its leases are not listed (leases: null)".format(
                    state.scope.name,
                    getattr(backend, "leases_unknown", None) or "the router did not list the active leases",
                )
            )
    return scopes, warnings


def main_for(module: AnsibleModule) -> None:
    """Run the module; always ends with ``exit_json`` or ``fail_json``; never changes the router."""
    params = module.params
    try:
        backend = make_backend(module, params)
        scopes, warnings = collect(backend, params.get("scope"))
    except (ReservationError, ApiError) as exc:
        module.fail_json(msg=scrub(exc, params))
    except Exception as exc:  # noqa: BLE001 - a bug or a surprise from the router: reading changes nothing
        module.fail_json(
            msg=scrub(
                f"unexpected error while reading the DHCP scopes ({type(exc).__name__}: {exc}); nothing was changed",
                params,
            )
        )
    for warning in warnings:
        module.warn(scrub(warning, params))
    module.exit_json(changed=False, scopes=scopes)
