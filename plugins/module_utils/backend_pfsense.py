# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pfSense through the REST API package v2 (pfrest/pfSense-pkg-RESTAPI, ``/api/v2``, ``X-API-Key``).

The scope is a DHCP server (``id`` = interface id, e.g. ``lan``). Its primary range is ``range_from``/``range_to``;
additional address pools (``pool``) are read so the request is checked against them but are never edited. The
primary range is one range, so a reservation that would split it is refused (reserve at either end).

Marker and the optional extra in one: a firewall alias ``blb_dhcp_<scope>`` (type ``network``) holding the reserved
addresses as CIDRs — usable in rules — with the module's record in its description. ``absent`` gives back only
what that record says, and deletes the alias when nothing is left in it.

Transaction: the range PATCH is validated by pfSense itself (a 4xx leaves the config untouched); then the alias is
written; then ``POST /api/v2/services/dhcp_server/apply``. A failure after the PATCH sets the old range back (and
applies again); the message says whether that worked.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError, ReservationError, ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiClient, ApiError

MARKER_PREFIX = "baremetal-lb dhcp_reservation "
API = "/api/v2"


def alias_name(scope):
    return ("blb_dhcp_" + "".join(c if c.isalnum() else "_" for c in scope))[:31]


def _data(answer):
    return answer.get("data") if isinstance(answer, dict) else None


class PfsenseBackend:
    name = "pfsense"
    max_ranges = None  # the primary range is checked in prepare (pools are not edited)

    def __init__(self, client):
        self.client = client
        self.leases_unknown = None

    @classmethod
    def from_params(cls, params, opener=None):
        if not params.get("api_key"):
            raise ReservationError("pfsense: api_key is required (the REST API key, sent as X-API-Key)")
        client = ApiClient(params.get("api_url"), "pfSense REST API", auth=("header", "X-API-Key", params["api_key"]),
                           validate_certs=params.get("validate_certs", True), timeout=params.get("timeout", 30),
                           opener=opener)
        return cls(client)

    def _get(self, path):
        try:
            return _data(self.client.request("GET", API + path))
        except ApiError as exc:
            raise ReservationError("%s; the router was not changed" % exc)

    def _subnet_of(self, iface_id):
        iface = self._get("/interface?id=%s" % iface_id) or {}
        try:
            return ipaddress.ip_interface("%s/%s" % (iface["ipaddr"], iface["subnet"]))
        except (KeyError, ValueError):
            raise ReservationError("pfSense interface %s has no static IPv4 address (ipaddr %r, subnet %r)"
                                   % (iface_id, iface.get("ipaddr"), iface.get("subnet")))

    def read(self, request, scope_hint):
        if request.version != 4:
            raise ReservationError("range: %s is IPv6; the pfsense backend manages the IPv4 DHCP server only (its DHCPv6 "
                                   "server is not supported yet); the router was not changed" % (request,))
        scope_id = scope_hint
        if not scope_id:
            servers = self._get("/services/dhcp_servers") or []
            holding = []
            for server in servers:
                try:
                    if request.first in self._subnet_of(server["id"]).network:
                        holding.append(server["id"])
                except ReservationError:
                    continue
            if len(holding) != 1:
                raise ReservationError("%s pfSense DHCP server's interface subnet holds %s (servers: %s); set scope"
                                       % ("no" if not holding else "more than one", request.first,
                                          ", ".join(s.get("id", "?") for s in servers)))
            scope_id = holding[0]
        server = self._get("/services/dhcp_server?id=%s" % scope_id)
        if not server:
            raise ReservationError("pfSense has no DHCP server %r" % scope_id)
        iface = self._subnet_of(scope_id)
        ranges = []
        if server.get("range_from") and server.get("range_to"):
            ranges.append(IPRange.make(server["range_from"], server["range_to"], "pfSense %s range" % scope_id))
        for pool in server.get("pool") or []:
            ranges.append(IPRange.make(pool["range_from"], pool["range_to"], "pfSense %s pool" % scope_id))
        occupants = [Occupant(iface.ip, "router address", "(pfSense interface %s)" % scope_id)]
        if server.get("gateway") and server["gateway"] != "none":
            occupants.append(Occupant(ipaddress.ip_address(server["gateway"]), "gateway", "(DHCP server gateway)"))
        for sm in server.get("staticmap") or []:
            if sm.get("ipaddr"):
                occupants.append(Occupant(ipaddress.ip_address(sm["ipaddr"]), "static mapping",
                                          "%s (%s)" % (sm.get("hostname") or sm.get("descr") or "", sm.get("mac", ""))))
        for addr, lease in self._lease_records(iface.network) or []:
            occupants.append(Occupant(addr, "active lease", "%s (%s, ends %s)" % (
                lease.get("hostname") or "", lease.get("mac", ""), lease.get("ends", "?"))))
        alias = self._alias(scope_id)
        entries = []
        if alias and str(alias.get("descr", "")).startswith(MARKER_PREFIX):
            try:
                entries = json.loads(alias["descr"][len(MARKER_PREFIX):])
            except ValueError:
                raise ReservationError("firewall alias %s has a description the module cannot read; fix or delete it"
                                       % alias["name"])
        scope = Scope(scope_id, iface.network, tuple(ranges), tuple(occupants))
        return ScopeState(scope, entries, {"id": scope_id, "server": server, "alias": alias})

    def _lease_records(self, network):
        """The active leases inside ``network`` as ``(address, lease)``; None, with ``leases_unknown`` set, when
        pfSense did not list them."""
        try:
            leases = _data(self.client.request("GET", API + "/status/dhcp_server/leases")) or []
        except ApiError as exc:
            self.leases_unknown = "pfSense did not list the DHCP leases (%s)" % exc
            return None
        out = []
        for lease in leases:
            if lease.get("active_status") != "active" or not lease.get("ip"):
                continue
            addr = ipaddress.ip_address(lease["ip"])
            if addr in network:
                out.append((addr, lease))
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self):
        """Every DHCP server on an interface with a static IPv4 address: ``[{"request", "hint", "names"}]``
        (``read(request, hint)`` reads that one scope)."""
        found = []
        for server in self._get("/services/dhcp_servers") or []:
            try:
                net = self._subnet_of(server["id"]).network
            except ReservationError:
                continue  # no static IPv4 address on the interface: no DHCP scope there
            found.append({"request": IPRange(net.network_address, net.network_address), "hint": server["id"],
                          "names": [server["id"], str(net)]})
        return found

    def details(self, state):
        """What ``read`` does not keep apart, for dhcp_scope_info: the interface, the static mappings and the
        active leases as records (``leases`` None when pfSense did not list them)."""
        server = state.raw["server"]
        iface = self._get("/interface?id=%s" % state.raw["id"]) or {}
        statics = [{"address": sm["ipaddr"], "mac": sm.get("mac") or None, "hostname": sm.get("hostname") or None}
                   for sm in server.get("staticmap") or [] if sm.get("ipaddr")]
        records = self._lease_records(state.scope.subnet)
        leases = None
        if records is not None:
            leases = [{"address": str(addr), "mac": lease.get("mac") or None, "hostname": lease.get("hostname") or None,
                       "expires": lease.get("ends") or None} for addr, lease in records]
        return {"interface": iface.get("if") or state.raw["id"], "enabled": server.get("enable", True) is not False,
                "static_mappings": statics, "leases": leases}

    def _alias(self, scope_id):
        name = alias_name(scope_id)
        found = self._get("/firewall/aliases?name=%s" % name) or []
        found = [a for a in found if a.get("name") == name]
        return found[0] if found else None

    def prepare(self, state, plan, entries_after, request, action):
        server = state.raw["server"]
        primary = IPRange.make(server["range_from"], server["range_to"]) if server.get("range_from") else None
        for rep in plan.replacements:
            if len(rep.pieces) != 1:
                raise ReservationError("reserving %s would %s the primary range %s of pfSense DHCP server %s, which "
                                       "holds one range; reserve a band at either end; the router was not changed"
                                       % (request, "split" if rep.pieces else "remove all of", rep.source,
                                          state.raw["id"]))
            live = rep.source if action == "present" else rep.pieces[0]
            if live != primary:
                raise ReservationError("%s overlaps the additional address pool %s of pfSense DHCP server %s; this "
                                       "module only edits the primary range - change the pool by hand; the router "
                                       "was not changed" % (request, live, state.raw["id"]))
        new_primary = plan.ranges_after[0]  # the primary range comes first, pools after it
        alias = None
        if entries_after:
            cidrs = []
            for entry in entries_after:
                rng = IPRange.make(*entry["range"].split("-")) if "-" in entry["range"] else IPRange.make(
                    entry["range"], entry["range"])
                cidrs += [str(n) for n in ipaddress.summarize_address_range(rng.first, rng.last)]
            alias = {"name": alias_name(state.raw["id"]), "type": "network",
                     "descr": MARKER_PREFIX + json.dumps(entries_after, separators=(",", ":")),
                     "address": cidrs,
                     "detail": ["load-balancer addresses (baremetal.lb.dhcp_reservation)"] * len(cidrs)}
        return {"range_from": str(new_primary.first), "range_to": str(new_primary.last), "alias": alias}

    def validate(self, state, candidate):
        # pfSense validates the PATCH itself and rejects it without changing anything; nothing to dry-run here.
        return None

    def _patch_range(self, scope_id, first, last):
        self.client.request("PATCH", API + "/services/dhcp_server",
                            {"id": scope_id, "range_from": first, "range_to": last})

    def _write_alias(self, state, alias):
        old = state.raw["alias"]
        if alias is None:
            if old is not None:
                self.client.request("DELETE", API + "/firewall/alias?id=%s" % old["id"])
        elif old is None:
            self.client.request("POST", API + "/firewall/alias", alias)
        else:
            body = dict(alias)
            body.pop("name")
            body["id"] = old["id"]
            self.client.request("PATCH", API + "/firewall/alias", body)

    def apply(self, state, candidate):
        scope_id = state.raw["id"]
        server = state.raw["server"]
        try:
            self._patch_range(scope_id, candidate["range_from"], candidate["range_to"])
        except ApiError as exc:
            raise ApplyError("pfSense refused the new range (%s); the router was left as it was" % exc, restored=True)
        try:
            self._write_alias(state, candidate["alias"])
            self.client.request("POST", API + "/services/dhcp_server/apply", {})
            if candidate["alias"] is not None or state.raw["alias"] is not None:
                self.client.request("POST", API + "/firewall/apply", {})
        except ApiError as exc:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError("%s after the range was changed, and setting the range back failed too (%s): check "
                                 "DHCP server %s by hand" % (exc, rb, scope_id), restored=False)
            raise ApplyError("%s after the range was changed; the old range %s-%s was set back, the router is as it "
                             "was" % (exc, server["range_from"], server["range_to"]), restored=True)

    def rollback(self, state):
        server = state.raw["server"]
        self._patch_range(state.raw["id"], server["range_from"], server["range_to"])
        old = state.raw["alias"]
        now = self._alias(state.raw["id"])
        if old is None and now is not None:
            self.client.request("DELETE", API + "/firewall/alias?id=%s" % now["id"])
        elif old is not None and now != old:
            if now is None:
                self.client.request("POST", API + "/firewall/alias", {k: old[k] for k in old if k != "id"})
            else:
                body = {k: old[k] for k in old if k != "name"}
                self.client.request("PATCH", API + "/firewall/alias", body)
        self.client.request("POST", API + "/services/dhcp_server/apply", {})

    def verify(self, state, plan):
        server = self._get("/services/dhcp_server?id=%s" % state.raw["id"])
        got = [IPRange.make(server["range_from"], server["range_to"])]
        got += [IPRange.make(p["range_from"], p["range_to"]) for p in server.get("pool") or []]
        if tuple(got) != tuple(plan.ranges_after):
            raise ReservationError("pfSense reports ranges %s after the change, expected %s"
                                   % ([str(r) for r in got], [str(r) for r in plan.ranges_after]))

    def ui_range(self, rng):
        return "%s to %s" % (rng.first, rng.last)
