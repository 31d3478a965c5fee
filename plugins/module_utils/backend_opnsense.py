# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OPNsense through its core API (key + secret as HTTP basic auth).

* Kea (``opnsense_dhcp: kea``, the default): ``/api/kea/dhcpv4/searchSubnet``, ``getSubnet/{uuid}``,
  ``setSubnet/{uuid}`` (``{"subnet4": {...}}``), ``searchReservation``, ``/api/kea/leases4/search``, then
  ``/api/kea/service/reconfigure``. A subnet's ``pools`` field is text, one pool per line, so splits are fine.
  Marker: a ``[baremetal-lb:...]`` suffix on the subnet's ``description`` (the rest of the description is kept).
* dnsmasq (``opnsense_dhcp: dnsmasq``): ``/api/dnsmasq/settings/search_range``, ``get_range/{uuid}``,
  ``set_range/{uuid}``, ``add_range``, ``del_range/{uuid}``, ``search_host``, ``/api/dnsmasq/leases/search``, then
  ``/api/dnsmasq/service/reconfigure``. Each range is its own object; a shrink edits it, a split adds one.
  Marker: the ``description`` of the range objects the module touched.
* ISC DHCP (``opnsense_dhcp: isc``): OPNsense has **no API** for the ISC DHCP server's ranges (its pages are legacy
  PHP forms), so the module refuses and says so.

The API validates every ``set*`` call itself (``{"result": "failed", "validations": {...}}`` and nothing saved).
Saved changes go live with ``reconfigure``; if that fails the previous values are saved back and reconfigured.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re
import time

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError, ReservationError, ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange, RangeError, parse_range
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiClient, ApiError

MARKER_RE = re.compile(r"\s*\[baremetal-lb:(?P<json>.*)\]\s*$")

ISC_MESSAGE = ("OPNsense offers no API for the ISC DHCP server's ranges (they are legacy PHP pages), so the module "
               "cannot change them safely. Move the scope to Kea or dnsmasq (Services > Kea DHCP / Dnsmasq) and use "
               "opnsense_dhcp: kea or dnsmasq, or shrink the ISC range by hand")


def make_opnsense_backend(params, opener=None):
    kind = params.get("opnsense_dhcp") or "kea"
    if kind == "isc":
        raise ReservationError(ISC_MESSAGE + "; the router was not changed")
    if not params.get("api_key") or not params.get("api_secret"):
        raise ReservationError("opnsense: api_key and api_secret are required (an OPNsense API key pair)")
    client = ApiClient(params.get("api_url"), "OPNsense API", auth=("basic", params["api_key"], params["api_secret"]),
                       validate_certs=params.get("validate_certs", True), timeout=params.get("timeout", 30),
                       opener=opener)
    return OpnsenseKea(client) if kind == "kea" else OpnsenseDnsmasq(client)


def split_marker(description):
    """``(person's description, marker entries)``."""
    description = description or ""
    m = MARKER_RE.search(description)
    if not m:
        return description, []
    try:
        entries = json.loads(m.group("json"))
    except ValueError:
        raise ReservationError("the description %r holds a baremetal-lb marker the module cannot read; fix it by "
                               "hand" % description)
    return description[:m.start()], entries


def join_marker(text, entries):
    if not entries:
        return text
    return "%s [baremetal-lb:%s]" % (text, json.dumps(entries, separators=(",", ":")))


class _Opnsense:
    name = "opnsense"
    max_ranges = None

    def __init__(self, client, now=None):
        self.client = client
        self.now = now or time.time
        self.leases_unknown = None

    def call(self, method, path, body=None):
        try:
            return self.client.request(method, path, body)
        except ApiError as exc:
            raise ReservationError(str(exc))

    def saved(self, answer, what):
        if not isinstance(answer, dict) or answer.get("result") not in ("saved", "deleted"):
            detail = answer.get("validations") if isinstance(answer, dict) else answer
            raise ApiError("OPNsense refused %s: %s" % (what, json.dumps(detail, sort_keys=True)))
        return answer

    def reconfigure(self, path):
        answer = self.client.request("POST", path, {})
        if not isinstance(answer, dict) or answer.get("status", "").lower() != "ok":
            raise ApiError("OPNsense %s answered %r" % (path, answer))

    def leases(self, path, subnet):
        return [Occupant(addr, "active lease", "%s (%s)" % (row.get("hostname") or "", row.get("hwaddr", "")))
                for addr, row in self.lease_records(path, subnet) or []]

    def lease_records(self, path, subnet):
        """The active leases inside ``subnet`` as ``(address, row)``; None, with ``leases_unknown`` set, when
        OPNsense did not list them."""
        try:
            rows = (self.client.request("GET", path) or {}).get("rows", [])
        except ApiError as exc:
            self.leases_unknown = "OPNsense did not list the leases (%s)" % exc
            return None
        out = []
        now = self.now()
        for row in rows:
            try:
                addr = ipaddress.ip_address(row.get("address", ""))
            except ValueError:
                continue
            expire = row.get("expire")
            try:
                if expire not in (None, "", 0, "0") and float(expire) <= now:
                    continue
            except (TypeError, ValueError):
                pass
            if addr in subnet:
                out.append((addr, row))
        return out

    def lease_details(self, path, subnet):
        """dhcp_scope_info's lease records (None when OPNsense did not list them)."""
        records = self.lease_records(path, subnet)
        if records is None:
            return None
        out = []
        for addr, row in records:
            expire = row.get("expire")
            try:
                expire = int(float(expire)) if expire not in (None, "", 0, "0") else None
            except (TypeError, ValueError):
                pass  # not a time stamp: kept as OPNsense wrote it
            out.append({"address": str(addr), "mac": row.get("hwaddr") or None, "hostname": row.get("hostname") or None,
                        "expires": expire})
        return out

    def ui_range(self, rng):
        return "%s - %s" % (rng.first, rng.last)


class OpnsenseKea(_Opnsense):
    BASE = "/api/kea/dhcpv4"

    def read(self, request, scope_hint):
        if request.version != 4:
            raise ReservationError("range: %s is IPv6; the opnsense backend manages Kea DHCPv4 subnets only (DHCPv6 is "
                                   "not supported yet); the router was not changed" % (request,))
        rows = (self.call("GET", self.BASE + "/searchSubnet") or {}).get("rows", [])
        picked = []
        for row in rows:
            net = ipaddress.ip_network(row["subnet"], strict=False)
            desc, dummy = split_marker(row.get("description"))
            if scope_hint:
                if scope_hint in (row["uuid"], row["subnet"], desc.strip()) or scope_hint == str(net):
                    picked.append((row, net))
            elif request.first in net:
                picked.append((row, net))
        if len(picked) != 1:
            raise ReservationError("%s OPNsense Kea subnet matches %s (subnets: %s)%s" % (
                "no" if not picked else "more than one", scope_hint or request.first,
                ", ".join(r["subnet"] for r in rows), "" if scope_hint else "; set scope"))
        row, net = picked[0]
        subnet = (self.call("GET", "%s/getSubnet/%s" % (self.BASE, row["uuid"])) or {}).get("subnet4") or {}
        ranges = []
        for line in str(subnet.get("pools", "")).splitlines():
            if line.strip():
                try:
                    ranges.append(parse_range(line.replace(" ", ""), "OPNsense Kea pool"))
                except RangeError as exc:
                    raise ReservationError(str(exc))
        occupants = []
        routers = (subnet.get("option_data") or {}).get("routers", "")
        for a in str(routers).split(","):
            if a.strip():
                occupants.append(Occupant(ipaddress.ip_address(a.strip()), "gateway", "(option routers)"))
        for res in self._reservations(net):
            occupants.append(Occupant(ipaddress.ip_address(res["ip_address"]), "reservation", "%s (%s)" % (
                res.get("hostname") or res.get("description") or "", res.get("hw_address", ""))))
        occupants += self.leases("/api/kea/leases4/search", net)
        desc, entries = split_marker(subnet.get("description"))
        name = desc.strip() or row["subnet"]
        scope = Scope(name, net, tuple(ranges), tuple(occupants))
        return ScopeState(scope, entries, {"uuid": row["uuid"], "subnet": subnet, "description": desc})

    def _reservations(self, net):
        return [res for res in (self.call("GET", self.BASE + "/searchReservation") or {}).get("rows", [])
                if res.get("ip_address") and ipaddress.ip_address(res["ip_address"]) in net]

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self):
        """Every Kea DHCPv4 subnet: ``[{"request", "hint", "names"}]`` (``read(request, hint)`` reads one)."""
        found = []
        for row in (self.call("GET", self.BASE + "/searchSubnet") or {}).get("rows", []):
            net = ipaddress.ip_network(row["subnet"], strict=False)
            desc, dummy = split_marker(row.get("description"))
            found.append({"request": IPRange(net.network_address, net.network_address), "hint": row["uuid"],
                          "names": [n for n in (desc.strip(), row["subnet"], str(net), row["uuid"]) if n]})
        return found

    def details(self, state):
        """For dhcp_scope_info: the reservations and active leases as records (Kea subnets have no interface)."""
        net = state.scope.subnet
        statics = [{"address": res["ip_address"], "mac": res.get("hw_address") or None,
                    "hostname": res.get("hostname") or None} for res in self._reservations(net)]
        return {"interface": None, "enabled": True, "static_mappings": statics,
                "leases": self.lease_details("/api/kea/leases4/search", net)}

    def prepare(self, state, plan, entries_after, request, action):
        return {"pools": "\n".join("%s-%s" % (r.first, r.last) for r in plan.ranges_after),
                "description": join_marker(state.raw["description"], entries_after)}

    def validate(self, state, candidate):
        return None  # setSubnet validates and refuses without saving

    def _set(self, uuid, values):
        self.saved(self.client.request("POST", "%s/setSubnet/%s" % (self.BASE, uuid), {"subnet4": values}),
                   "the subnet change")

    def apply(self, state, candidate):
        uuid = state.raw["uuid"]
        try:
            self._set(uuid, candidate)
        except ApiError as exc:
            raise ApplyError("%s; nothing was saved, the router is as it was" % exc, restored=True)
        try:
            self.reconfigure("/api/kea/service/reconfigure")
        except ApiError as exc:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError("%s, and restoring the previous subnet failed too (%s): check it by hand"
                                 % (exc, rb), restored=False)
            raise ApplyError("%s; the previous pools were saved back and applied, the router is as it was" % exc,
                             restored=True)

    def rollback(self, state):
        old = state.raw["subnet"]
        self._set(state.raw["uuid"], {"pools": old.get("pools", ""), "description": old.get("description", "")})
        self.reconfigure("/api/kea/service/reconfigure")

    def verify(self, state, plan):
        subnet = (self.call("GET", "%s/getSubnet/%s" % (self.BASE, state.raw["uuid"])) or {}).get("subnet4") or {}
        got = [parse_range(x.replace(" ", "")) for x in str(subnet.get("pools", "")).splitlines() if x.strip()]
        if tuple(got) != tuple(plan.ranges_after):
            raise ReservationError("OPNsense reports pools %s after the change, expected %s"
                                   % ([str(r) for r in got], [str(r) for r in plan.ranges_after]))


class OpnsenseDnsmasq(_Opnsense):
    BASE = "/api/dnsmasq/settings"

    def _groups(self):
        """The dynamic ranges grouped into scopes: ``{(subnet, interface, tag): [(IPRange, row)]}``."""
        rows = (self.call("GET", self.BASE + "/search_range") or {}).get("rows", [])
        groups = {}
        for row in rows:
            if not row.get("start_addr") or row.get("constructor") or row.get("mode") in ("static",):
                continue
            rng = IPRange.make(row["start_addr"], row.get("end_addr") or row["start_addr"], "dnsmasq range")
            if rng.version == 4:
                mask = row.get("subnet_mask") or "255.255.255.0"
                net = ipaddress.ip_network("%s/%s" % (rng.first, mask), strict=False)
            else:
                net = ipaddress.ip_network("%s/%s" % (rng.first, row.get("prefix_len") or 64), strict=False)
            key = (net, row.get("interface") or "", row.get("set_tag") or "")
            groups.setdefault(key, []).append((rng, row))
        return groups

    def read(self, request, scope_hint):
        groups = self._groups()
        picked = []
        for key, members in groups.items():
            net, iface, tag = key
            if scope_hint:
                if scope_hint in (iface, tag, str(net)):
                    picked.append(key)
            elif request.first in net:
                picked.append(key)
        if len(picked) != 1:
            raise ReservationError("%s OPNsense dnsmasq scope matches %s (scopes: %s)" % (
                "no" if not picked else "more than one", scope_hint or request.first,
                ", ".join("%s %s" % (k[0], k[1] or k[2]) for k in groups)))
        key = picked[0]
        net, iface, tag = key
        members = sorted(groups[key], key=lambda m: int(m[0].first))
        occupants = []
        for addr, host in self._hosts(net):
            occupants.append(Occupant(addr, "static mapping", "%s (%s)" % (
                host.get("host") or host.get("descr") or "", host.get("hwaddr", ""))))
        occupants += self.leases("/api/dnsmasq/leases/search", net)
        entries = []
        for rng, row in members:
            dummy, marks = split_marker(row.get("description"))
            for entry in marks:
                if entry not in entries:
                    entries.append(entry)
        scope = Scope(iface or tag or str(net), net, tuple(r for r, dummy in members), tuple(occupants))
        return ScopeState(scope, entries, {"members": members})

    def _hosts(self, net):
        """``(address, host row)`` for every host entry address inside ``net``."""
        out = []
        for host in (self.call("GET", self.BASE + "/search_host") or {}).get("rows", []):
            for a in str(host.get("ip", "")).split(","):
                a = a.strip()
                if a and ipaddress.ip_address(a) in net:
                    out.append((ipaddress.ip_address(a), host))
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self):
        """Every scope (ranges grouped by subnet, interface and tag): ``[{"request", "hint", "names"}]``. The hint
        is what ``read`` matches for exactly this scope: the interface, the tag or the subnet."""
        groups = self._groups()
        found = []
        for net, iface, tag in groups:
            names = [n for n in (iface, tag, str(net)) if n]
            hint = next((n for n in names
                         if len([k for k in groups if n in (k[1], k[2], str(k[0]))]) == 1), None)
            if hint is None:
                raise ReservationError("OPNsense dnsmasq scopes %s cannot be told apart by interface, tag or subnet"
                                       % ", ".join("%s %s" % (k[0], k[1] or k[2]) for k in groups))
            found.append({"request": IPRange(net.network_address, net.network_address), "hint": hint, "names": names})
        return found

    def details(self, state):
        """For dhcp_scope_info: the interface, the host entries and the active leases as records."""
        net = state.scope.subnet
        statics = [{"address": str(addr), "mac": host.get("hwaddr") or None, "hostname": host.get("host") or None}
                   for addr, host in self._hosts(net)]
        iface = next((row.get("interface") for dummy, row in state.raw["members"] if row.get("interface")), None)
        return {"interface": iface, "enabled": True, "static_mappings": statics,
                "leases": self.lease_details("/api/dnsmasq/leases/search", net)}

    def prepare(self, state, plan, entries_after, request, action):
        """A list of operations: ("set", uuid, fields) / ("add", None, fields) / ("del", uuid, None)."""
        by_range = dict((rng, row) for rng, row in state.raw["members"])
        ops = []
        for rep in plan.replacements:
            olds = [rep.source] if action == "present" else list(rep.pieces)
            news = list(rep.pieces) if action == "present" else [rep.source]
            template = by_range[olds[0]] if olds else None
            for i, old in enumerate(olds):
                row = by_range[old]
                if i < len(news):
                    desc, dummy = split_marker(row.get("description"))
                    ops.append(("set", row["uuid"], {"start_addr": str(news[i].first), "end_addr": str(news[i].last),
                                                     "description": join_marker(desc, entries_after)}))
                else:
                    ops.append(("del", row["uuid"], None))
            for new in news[len(olds):]:
                fields = dict((k, v) for k, v in template.items() if k not in ("uuid", "%interface"))
                desc, dummy = split_marker(template.get("description"))
                fields.update({"start_addr": str(new.first), "end_addr": str(new.last),
                               "description": join_marker(desc, entries_after)})
                ops.append(("add", None, fields))
        touched = set(op[1] for op in ops if op[1])
        for rng, row in state.raw["members"]:
            desc, marks = split_marker(row.get("description"))
            if row["uuid"] not in touched and marks and marks != entries_after:
                ops.append(("set", row["uuid"], {"start_addr": row["start_addr"], "end_addr": row.get("end_addr", ""),
                                                 "description": join_marker(desc, entries_after)}))
        return ops

    def validate(self, state, candidate):
        return None

    def _do(self, op):
        kind, uuid, fields = op
        if kind == "set":
            return self.saved(self.client.request("POST", "%s/set_range/%s" % (self.BASE, uuid), {"range": fields}),
                              "the range change")
        if kind == "add":
            return self.saved(self.client.request("POST", self.BASE + "/add_range", {"range": fields}),
                              "the new range")
        return self.saved(self.client.request("POST", "%s/del_range/%s" % (self.BASE, uuid), {}),
                          "deleting the range")

    def apply(self, state, candidate):
        self.done = []
        try:
            for op in candidate:
                answer = self._do(op)
                self.done.append((op, answer))
            self.reconfigure("/api/dnsmasq/service/reconfigure")
        except ApiError as exc:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError("%s, and restoring the previous ranges failed too (%s): check them by hand"
                                 % (exc, rb), restored=False)
            raise ApplyError("%s; the previous ranges were restored, the router is as it was" % exc, restored=True)

    def rollback(self, state):
        originals = dict((row["uuid"], row) for dummy, row in state.raw["members"])
        for (kind, uuid, fields), answer in reversed(getattr(self, "done", [])):
            if kind == "add":
                self._do(("del", answer.get("uuid"), None))
            elif kind == "set":
                row = originals[uuid]
                self._do(("set", uuid, {"start_addr": row["start_addr"], "end_addr": row.get("end_addr", ""),
                                        "description": row.get("description", "")}))
            else:
                self._do(("add", None, dict((k, v) for k, v in originals[uuid].items() if k != "uuid")))
        self.done = []
        self.reconfigure("/api/dnsmasq/service/reconfigure")

    def verify(self, state, plan):
        again = self.read(plan.ranges_after[0] if plan.ranges_after else plan.ranges_before[0], state.scope.name)
        if tuple(again.scope.ranges) != tuple(plan.ranges_after):
            raise ReservationError("OPNsense reports ranges %s after the change, expected %s"
                                   % ([str(r) for r in again.scope.ranges], [str(r) for r in plan.ranges_after]))
