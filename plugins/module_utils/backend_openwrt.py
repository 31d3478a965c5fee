# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenWrt: UCI ``dhcp.<section>.start/limit`` on the router itself (the task runs on the OpenWrt host).

OpenWrt describes a scope's one dynamic range as ``start`` (offset from the network address of the interface
``dhcp.<section>.interface`` → ``network.<if>.ipaddr``/``netmask``) and ``limit`` (how many addresses), so a
reservation in the middle of the range is refused (reserve at either end). Static leases are ``dhcp.@host[]``
(``ip``), active leases are read from dnsmasq's lease file (default ``/tmp/dhcp.leases``).

Marker: the option ``dhcp.<section>.baremetal_lb`` (JSON). Transaction: refuse if ``uci changes dhcp`` already holds
someone else's uncommitted edits; stage with ``uci set``, ``uci commit dhcp``, restart dnsmasq
(``/etc/init.d/dnsmasq restart``); on a failure before the commit ``uci revert dhcp``, after it the old values are
committed back and dnsmasq restarted again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import time

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError, ReservationError, ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange

MARKER_OPTION = "baremetal_lb"
DEFAULT_LEASE_FILE = "/tmp/dhcp.leases"


class OpenwrtBackend:
    name = "openwrt"
    max_ranges = 1

    def __init__(self, run_command, uci="uci", restart_command=None, lease_file=None, now=None):
        self.run_command = run_command
        self.uci_bin = uci
        self.restart_command = restart_command or ["/etc/init.d/dnsmasq", "restart"]
        self.lease_file = lease_file or DEFAULT_LEASE_FILE
        self.now = now or time.time
        self.leases_unknown = None

    @classmethod
    def from_params(cls, params, run_command):
        restart = params.get("restart_command") or ["/etc/init.d/%s" % (params.get("service") or "dnsmasq"), "restart"]
        return cls(run_command, uci=params.get("uci_command") or "uci", restart_command=restart,
                   lease_file=params.get("lease_file"))

    def uci(self, *args, **kw):
        rc, out, err = self.run_command([self.uci_bin] + list(args))
        if rc != 0 and not kw.get("allow_fail"):
            raise UciError("uci %s failed: %s" % (" ".join(args), (err or out).strip()))
        return rc, out.strip()

    def get(self, key, default=None):
        rc, out = self.uci("-q", "get", key, allow_fail=True)
        return out if rc == 0 else default

    def read(self, request, scope_hint):
        if request.version != 4:
            raise ReservationError("range: %s is IPv6; the openwrt backend manages the IPv4 range (start/limit) only "
                                   "(odhcpd's DHCPv6 is not supported yet); the router was not changed" % (request,))
        sections = self._dhcp_sections()
        if scope_hint:
            if scope_hint not in sections:
                raise ReservationError("no UCI section dhcp.%s (sections: %s)" % (scope_hint, ", ".join(sorted(sections))))
            name = scope_hint
        else:
            holding = [s for s, iface in sections.items() if iface and request.first in iface.network]
            if len(holding) != 1:
                raise ReservationError("%s dhcp section's interface holds %s (sections: %s); set scope"
                                       % ("no" if not holding else "more than one", request.first,
                                          ", ".join(sorted(sections))))
            name = holding[0]
        iface = sections[name]
        if iface is None:
            raise ReservationError("dhcp.%s: cannot find the interface address (network.%s.ipaddr)"
                                   % (name, self.get("dhcp.%s.interface" % name, name)))
        net = iface.network
        start = int(self.get("dhcp.%s.start" % name, "100"))
        limit = int(self.get("dhcp.%s.limit" % name, "150"))
        first = net.network_address + start
        last = first + limit - 1
        ranges = [IPRange(first, last)] if limit > 0 else []
        occupants = [Occupant(iface.ip, "router address", "(network.%s.ipaddr)" % name)]
        occupants += self._static_hosts(net)
        occupants += self._leases(net)
        raw_marker = self.get("dhcp.%s.%s" % (name, MARKER_OPTION))
        entries = []
        if raw_marker:
            try:
                entries = json.loads(raw_marker)
            except ValueError:
                raise ReservationError("dhcp.%s.%s holds a marker the module cannot read; fix it by hand"
                                       % (name, MARKER_OPTION))
        scope = Scope(name, net, tuple(ranges), tuple(occupants))
        return ScopeState(scope, entries, {"section": name, "start": start, "limit": limit, "marker": raw_marker,
                                           "network": net})

    def _dhcp_sections(self):
        rc, out = self.uci("show", "dhcp")
        sections = {}
        for line in out.splitlines():
            key, dummy, value = line.partition("=")
            parts = key.split(".")
            if len(parts) == 2 and value.strip("'") == "dhcp":
                sections[parts[1]] = None
        for name in list(sections):
            ifname = self.get("dhcp.%s.interface" % name, name)
            addr = self.get("network.%s.ipaddr" % ifname)
            mask = self.get("network.%s.netmask" % ifname)
            if addr:
                try:
                    sections[name] = ipaddress.ip_interface(addr if "/" in addr else "%s/%s" % (addr, mask or "24"))
                except ValueError:
                    sections[name] = None
        return sections

    def _static_hosts(self, net):
        return [Occupant(addr, "static mapping", "%s (%s, dhcp.%s)" % (host.get("name", ""), host.get("mac", ""), section))
                for addr, section, host in self._host_records(net)]

    def _host_records(self, net):
        """``(address, section, options)`` of every ``dhcp.@host[]`` whose ``ip`` is inside ``net``."""
        rc, out = self.uci("show", "dhcp")
        types, options = {}, {}
        for line in out.splitlines():
            key, dummy, value = line.partition("=")
            parts = key.split(".")
            if len(parts) == 2:
                types[parts[1]] = value.strip("'")
            elif len(parts) == 3:
                options.setdefault(parts[1], {})[parts[2]] = value.strip("'")
        found = []
        for section, kind in types.items():
            host = options.get(section, {})
            if kind != "host" or not host.get("ip"):
                continue
            try:
                addr = ipaddress.ip_address(host["ip"])
            except ValueError:
                continue
            if addr in net:
                found.append((addr, section, host))
        return found

    def _leases(self, net):
        return [Occupant(addr, "active lease", "%s (%s)" % (fields[3], fields[1]))
                for addr, fields, expiry in self._lease_records(net)]

    def _lease_records(self, net):
        """The active leases inside ``net`` from dnsmasq's lease file: ``(address, fields, expiry)`` (0: never)."""
        if not os.path.exists(self.lease_file):
            return []
        out = []
        with open(self.lease_file) as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 4:
                    continue
                try:
                    expiry, addr = int(fields[0]), ipaddress.ip_address(fields[2])
                except ValueError:
                    continue
                if addr in net and (expiry == 0 or expiry > self.now()):
                    out.append((addr, fields, expiry))
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self):
        """Every ``dhcp`` section whose interface has an IPv4 address: ``[{"request", "hint", "names"}]``
        (``read(request, hint)`` reads that one section)."""
        found = []
        for name, iface in self._dhcp_sections().items():
            if iface is None:
                continue
            net = iface.network
            found.append({"request": IPRange(net.network_address, net.network_address), "hint": name,
                          "names": [name, str(net)]})
        return found

    def details(self, state):
        """For dhcp_scope_info: the interface, whether DHCP is served there (``ignore``), the static hosts and the
        active leases as records."""
        section, net = state.raw["section"], state.raw["network"]
        statics = [{"address": str(addr), "mac": host.get("mac") or None, "hostname": host.get("name") or None}
                   for addr, dummy, host in self._host_records(net)]
        leases = [{"address": str(addr), "mac": fields[1], "hostname": fields[3] if fields[3] != "*" else None,
                   "expires": expiry or None} for addr, fields, expiry in self._lease_records(net)]
        return {"interface": self.get("dhcp.%s.interface" % section, section),
                "enabled": self.get("dhcp.%s.ignore" % section, "0") not in ("1", "true", "on", "yes"),
                "static_mappings": statics, "leases": leases}

    def prepare(self, state, plan, entries_after, request, action):
        net = state.raw["network"]
        rng = plan.ranges_after[0]
        start = int(rng.first) - int(net.network_address)
        return {"start": str(start), "limit": str(rng.size),
                "marker": json.dumps(entries_after, separators=(",", ":")) if entries_after else None}

    def validate(self, state, candidate):
        rc, out = self.uci("changes", "dhcp")
        if out.strip():
            raise ReservationError("UCI package dhcp has uncommitted changes made by someone else (%s); commit or "
                                   "revert them first; the router was not changed" % out.strip().replace("\n", "; "))

    def _stage(self, section, start, limit, marker):
        self.uci("set", "dhcp.%s.start=%s" % (section, start))
        self.uci("set", "dhcp.%s.limit=%s" % (section, limit))
        if marker:
            self.uci("set", "dhcp.%s.%s=%s" % (section, MARKER_OPTION, marker))
        else:
            self.uci("-q", "delete", "dhcp.%s.%s" % (section, MARKER_OPTION), allow_fail=True)

    def apply(self, state, candidate):
        section = state.raw["section"]
        try:
            self._stage(section, candidate["start"], candidate["limit"], candidate["marker"])
            self.uci("commit", "dhcp")
        except UciError as exc:
            self.uci("revert", "dhcp", allow_fail=True)
            raise ApplyError("%s; the staged changes were reverted, the router is as it was" % exc, restored=True)
        rc, out, err = self.run_command(list(self.restart_command))
        if rc != 0:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError("restarting dnsmasq failed (%s), and restoring the previous values failed too (%s): "
                                 "check dhcp.%s by hand" % ((err or out).strip(), rb, section), restored=False)
            raise ApplyError("restarting dnsmasq failed (%s); the previous start/limit were committed back and "
                             "dnsmasq restarted, the router is as it was" % (err or out).strip(), restored=True)

    def rollback(self, state):
        raw = state.raw
        self._stage(raw["section"], raw["start"], raw["limit"], raw["marker"])
        self.uci("commit", "dhcp")
        rc, out, err = self.run_command(list(self.restart_command))
        if rc != 0:
            raise ReservationError("restarting dnsmasq failed: %s" % (err or out).strip())

    def verify(self, state, plan):
        section = state.raw["section"]
        start, limit = int(self.get("dhcp.%s.start" % section, "-1")), int(self.get("dhcp.%s.limit" % section, "-1"))
        want = self.prepare(state, plan, [], None, None)
        if (str(start), str(limit)) != (want["start"], want["limit"]):
            raise ReservationError("UCI reads back start=%s limit=%s, expected start=%s limit=%s"
                                   % (start, limit, want["start"], want["limit"]))

    def ui_range(self, rng):
        return "%s - %s" % (rng.first, rng.last)


class UciError(Exception):
    pass
