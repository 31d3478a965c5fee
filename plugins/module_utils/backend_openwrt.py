# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenWrt: the DHCPv4 range of a ``dhcp`` section of ``/etc/config/dhcp`` (``start``/``limit``).

Two ways to reach the router (``openwrt_transport``):

* ``rpcd`` (default when ``api_url`` is set): from the controller over rpcd's JSON-RPC at ``<api_url>/ubus`` (present
  wherever LuCI is), logged in as an rpcd user whose ACL grants exactly what this needs (docs/router.md). Stock
  OpenWrt has no Python, so this is the normal way.
* ``uci``: the task runs on the router (an OpenWrt with Python) and calls the ``uci`` command.

The range is never ``network + start``: OpenWrt computes it at every service start, so ``openwrt_range`` computes it
the same way (dnsmasq.init + ipcalc.sh of 23.05 and 24.10, or odhcpd when ``dhcp.odhcpd.maindhcp`` is set). A
section whose range the two releases compute differently (e.g. the router's address inside the range: 23.05 warns,
24.10 writes a broken line) is refused with both results named; a written ``start``/``limit`` is checked the same
way before anything is staged.

Marker: the list ``dhcp.<section>.baremetal_lb``, one compact JSON entry per reservation, so no single value grows
with the number of reservations. Transaction: stage with ``uci set``, ``commit``, restart the DHCP server (``dnsmasq``,
or ``odhcpd`` with maindhcp) and check its exit code; a failure before the commit reverts, after it the previous
values are committed back and the server restarted again. With ``uci`` the module refuses while the ``dhcp`` package
holds someone else's uncommitted changes (a commit would publish them); rpcd keeps each session's changes apart.
"""

from __future__ import annotations

import ipaddress
import json
import time
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError,
    ReservationError,
    ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange
from ansible_collections.baremetal.lb.plugins.module_utils.openwrt_range import (
    RELEASES,
    dnsmasq_ranges,
    first_value,
    netifd_subnet,
    odhcpd_range,
)
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiError

if t.TYPE_CHECKING:
    from ipaddress import IPv4Interface, IPv4Network

    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import MarkerEntry, Plan
    from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPAddress
    from ansible_collections.baremetal.lb.plugins.module_utils.openwrt_range import Range
    from ansible_collections.baremetal.lb.plugins.module_utils.openwrt_ubus import UbusClient

    Json = t.Dict[str, t.Any]
    Section = t.Tuple[str, t.Optional[str], t.Dict[str, t.Any]]  # (name, type, options) of a uci section
    RunCommand = t.Callable[[t.List[str]], t.Tuple[int, str, str]]  # AnsibleModule.run_command's shape

MARKER_OPTION = "baremetal_lb"
DEFAULT_LEASE_FILE = "/tmp/dhcp.leases"  # dnsmasq.init's default for dhcp.@dnsmasq[].leasefile
TRANSPORTS = ("rpcd", "uci")


class UciError(Exception):
    pass


# -- transports: the same small surface over the uci CLI and over rpcd ------------------------------------------


class UciCliTransport:
    """The ``uci`` command on the router itself (module ``run_command``)."""

    where = "uci"

    def __init__(self, run_command: RunCommand, uci: str = "uci", restart_command: list[str] | None = None) -> None:
        self.run_command = run_command
        self.uci_bin = uci
        self.restart_command = restart_command

    def _uci(self, *args: t.Any, **kw: t.Any) -> tuple[int, str]:
        rc, out, err = self.run_command([self.uci_bin] + list(args))
        if rc != 0 and not kw.get("allow_fail"):
            raise UciError("uci {} failed: {}".format(" ".join(args), (err or out).strip()))
        return rc, out

    def package(self, config: str) -> list[Section] | None:
        """``[(name, type, options)]`` in file order, from ``uci -X show`` (internal names of unnamed sections)."""
        rc, out = self._uci("-X", "show", config, allow_fail=True)
        if rc != 0:
            return None
        return parse_uci_show(out.splitlines())

    def changes(self, config: str) -> list[t.Any]:
        rc, out = self._uci("changes", config)
        return [line for line in out.splitlines() if line.strip()]

    def stage(self, config: str, section: str, values: Json) -> None:
        for key, value in values.items():
            target = f"{config}.{section}.{key}"
            if value is None:
                self._uci("-q", "delete", target, allow_fail=True)
            elif isinstance(value, list):
                self._uci("-q", "delete", target, allow_fail=True)
                for item in value:
                    self._uci("add_list", f"{target}={item}")
            else:
                self._uci("set", f"{target}={value}")

    def commit(self, config: str) -> None:
        self._uci("commit", config)

    def revert(self, config: str) -> t.Any:
        self._uci("revert", config, allow_fail=True)

    def read_file(self, path: str) -> t.Any:
        """``(text, None)``, ``(None, None)`` when missing, ``(None, reason)`` when unreadable."""
        try:
            with open(path) as fh:
                return fh.read(), None
        except OSError as exc:
            if getattr(exc, "errno", None) == 2:
                return None, None
            return None, f"cannot read {path}: {exc}"

    def restart(self, service: str) -> tuple[int, str]:
        cmd = list(self.restart_command or [f"/etc/init.d/{service}", "restart"])
        rc, out, err = self.run_command(cmd)
        return rc, (err or out or "").strip()

    def odhcpd_leases(self) -> tuple[t.Any, ...]:
        rc, out, err = self.run_command(["ubus", "call", "dhcp", "ipv4leases"])
        if rc != 0:
            return None, f"ubus call dhcp ipv4leases failed: {(err or out).strip()}"
        try:
            return json.loads(out), None
        except ValueError:
            return None, "ubus call dhcp ipv4leases did not answer JSON"


class RpcdTransport:
    """rpcd over ``/ubus`` (``openwrt_ubus.UbusClient``): ``uci``, ``file`` and odhcpd's ``dhcp`` objects."""

    where = "rpcd"

    def __init__(self, client: UbusClient) -> None:
        self.client = client

    def package(self, config: str) -> list[Section] | None:
        data = self.client.call("uci", "get", {"config": config}, missing_ok=True)
        if data is None:
            return None
        values = data.get("values") or {}
        rows = sorted(values.values(), key=lambda s: s.get(".index", 0))
        return [(s[".name"], s[".type"], dict((k, v) for k, v in s.items() if not k.startswith("."))) for s in rows]

    def changes(self, config: str) -> list[t.Any]:
        data = self.client.call("uci", "changes", {"config": config})
        return [f"{item}" for item in data.get("changes") or []]

    def stage(self, config: str, section: str, values: Json) -> None:
        drop = [k for k, v in values.items() if v is None]
        keep = dict((k, v) for k, v in values.items() if v is not None)
        if keep:
            self.client.call("uci", "set", {"config": config, "section": section, "values": keep})
        if drop:
            current = dict((name, opts) for name, dummy, opts in self.package(config) or [])
            drop = [k for k in drop if k in current.get(section, {})]
            if drop:
                self.client.call("uci", "delete", {"config": config, "section": section, "options": drop})

    def commit(self, config: str) -> None:
        self.client.call("uci", "commit", {"config": config})

    def revert(self, config: str) -> t.Any:
        self.client.call("uci", "revert", {"config": config})

    def read_file(self, path: str) -> t.Any:
        try:
            data = self.client.call("file", "read", {"path": path}, missing_ok=True)
        except ApiError as exc:
            if getattr(exc, "status", None) == 8:
                return None, f"rpcd does not read {path}: it is 256 KiB or larger (rpcd file.c RPC_FILE_MAX_SIZE)"
            return None, str(exc)
        if data is None:
            return None, None
        return data.get("data", ""), None

    def restart(self, service: str) -> tuple[int, str]:
        data = self.client.call("file", "exec", {"command": f"/etc/init.d/{service}", "params": ["restart"]})
        return int(data.get("code", 0)), (data.get("stderr") or data.get("stdout") or "").strip()

    def missing_grants(self, server: str, lease_path: str) -> t.Any:
        """The ACL grants this change needs that the rpcd login lacks (checked before anything is staged)."""
        need = [("ubus", "uci", f) for f in ("get", "changes", "set", "delete", "commit", "revert")]
        need += [
            ("uci", "dhcp", "read"),
            ("uci", "dhcp", "write"),
            ("uci", "network", "read"),
            ("ubus", "file", "exec"),
        ]
        if server == "odhcpd":
            need.append(("ubus", "dhcp", "ipv4leases"))
        else:
            need += [("ubus", "file", "read"), ("file", lease_path, "read")]
        missing = [(scope, obj, func) for scope, obj, func in need if not self.client.granted(scope, obj, func)]
        restart = f"/etc/init.d/{server}"
        command = restart + " restart"
        if not (self.client.granted("file", restart, "exec") or self.client.granted("file", command, "exec")):
            missing.append(("file", restart + " restart", "exec"))
        return ["{} {}: {}".format(*m) for m in missing]

    def odhcpd_leases(self) -> tuple[t.Any, ...]:
        try:
            return self.client.call("dhcp", "ipv4leases", {}), None
        except ApiError as exc:
            return None, str(exc)


def parse_uci_show(lines: list[str]) -> list[Section]:
    """``uci show`` lines (``dhcp.lan=dhcp``, ``dhcp.lan.start='100'``) -> ``[(name, type, options)]`` in order.

    Pure, the one parser of that output: the backend reads the router with it, and the tests feed it the recorded
    output of the real ``uci`` (tests/data/openwrt/)."""
    sections: list[Section] = []
    index: dict[str, dict[str, t.Any]] = {}
    for line in lines:
        key, dummy, value = line.partition("=")
        parts = key.split(".")
        if len(parts) == 2:
            opts: dict[str, t.Any] = {}
            sections.append((parts[1], value, opts))
            index[parts[1]] = opts
        elif len(parts) == 3:
            if parts[1] not in index:  # ``uci show pkg.section.option`` prints the option alone
                index[parts[1]] = {}
                sections.append((parts[1], None, index[parts[1]]))
            index[parts[1]][parts[2]] = _show_value(value)
    return sections


def _show_value(text: str) -> t.Any:
    """``uci show`` quoting → str, or a list when several quoted items follow each other."""
    items, cur, i, inq = [], "", 0, False
    while i < len(text):
        if text.startswith("'\\''", i):
            cur += "'"
            i += 4
            continue
        ch = text[i]
        if ch == "'":
            if inq:
                items.append(cur)
                cur = ""
            inq = not inq
        elif inq:
            cur += ch
        i += 1
    return items if len(items) > 1 else (items[0] if items else "")


# -- the backend -----------------------------------------------------------------------------------------------


class OpenwrtBackend:
    name = "openwrt"
    max_ranges = 1

    def __init__(
        self,
        transport: RpcdTransport | UciCliTransport,
        lease_file: str | None = None,
        now: t.Callable[[], float] | None = None,
    ) -> None:
        self.t = transport
        self.lease_file = lease_file
        self.now = now or time.time
        self.leases_unknown: str | None = None
        self._listing = False

    @classmethod
    def from_params(cls, params: Json, run_command: RunCommand) -> OpenwrtBackend:
        transport = params.get("openwrt_transport") or ("rpcd" if params.get("api_url") else "uci")
        if transport == "rpcd":
            from ansible_collections.baremetal.lb.plugins.module_utils.openwrt_ubus import UbusClient

            client = UbusClient(
                params.get("api_url"),
                params.get("api_username"),
                params.get("api_password"),
                validate_certs=params.get("validate_certs", True),
                timeout=params.get("timeout") or 30,
                ca_path=params.get("ca_path"),
            )
            return cls(RpcdTransport(client), lease_file=params.get("lease_file"))
        restart = params.get("restart_command")
        if not restart and params.get("service"):
            restart = ["/etc/init.d/{}".format(params["service"]), "restart"]
        return cls(
            UciCliTransport(run_command, uci=params.get("uci_command") or "uci", restart_command=restart),
            lease_file=params.get("lease_file"),
        )

    # -- reading -----------------------------------------------------------------------------------------------
    def _snapshot(self) -> Json:
        """Everything the range depends on: ``{"dhcp", "network", "maindhcp", "netifd"}``."""
        try:
            dhcp = self.t.package("dhcp")
            network = self.t.package("network")
        except (ApiError, UciError) as exc:
            raise ReservationError(f"{exc}; the router was not changed") from exc
        if dhcp is None or network is None:
            raise ReservationError(
                "the router has no UCI package %s; the router was not changed" % ("dhcp" if dhcp is None else "network")
            )
        maindhcp = False
        for name, kind, opts in dhcp:
            if name == "odhcpd" and kind == "odhcpd":
                try:
                    maindhcp = int(first_value(opts.get("maindhcp", "0"))) > 0  # dnsmasq.init: [ "$x" -gt 0 ]
                except ValueError:
                    maindhcp = False
        netifd = {}
        for name, kind, opts in network:
            if kind == "interface":
                device, proto, subnet = netifd_subnet(opts)
                netifd[name] = {"device": device or name, "proto": proto, "subnet": subnet, "options": opts}
        return {"dhcp": dhcp, "network": network, "maindhcp": maindhcp, "netifd": netifd}

    def _computed(self, snap: Json) -> Json:
        """``{section: (Range per release, or the odhcpd Range)}`` for every ``dhcp`` section."""
        sections = [(name, opts) for name, kind, opts in snap["dhcp"] if kind == "dhcp"]
        out = {}
        if snap["maindhcp"]:
            for name, opts in sections:
                state = snap["netifd"].get(first_value(opts.get("interface")) or "")
                rng = odhcpd_range(name, opts, state and state["subnet"])
                out[name] = {"odhcpd": rng}
            return out
        per_release = dict((rel, dnsmasq_ranges(rel, sections, snap["netifd"])) for rel in RELEASES)
        for i, (name, _dummy) in enumerate(sections):
            out[name] = dict((rel, per_release[rel][i]) for rel in RELEASES)
        return out

    @staticmethod
    def _effective(results: Json) -> t.Any:
        """One answer from the per-release results, or a ReservationError-worthy text when they disagree."""
        values = list(results.values())
        first = values[0]
        for other in values[1:]:
            if (other.kind, other.start, other.end, other.netmask) != (
                first.kind,
                first.start,
                first.end,
                first.netmask,
            ):
                return None, "; ".join(f"OpenWrt {rel}: {_describe(r)}" for rel, r in sorted(results.items()))
        return first, None

    def _section_subnet(self, snap: Json, name: str, opts: Json, netmask: str | None) -> t.Any:
        iface = first_value(opts.get("interface"))
        state = snap["netifd"].get(iface or "")
        if not iface or not state or not state["subnet"]:
            return None, None
        addr = state["subnet"].split("/")[0]
        mask = netmask or first_value(opts.get("netmask")) or state["subnet"].split("/")[1]
        return ipaddress.ip_interface(f"{addr}/{mask}"), state

    def read(self, request: IPRange, scope_hint: str | None) -> ScopeState:
        if request.version != 4:
            raise ReservationError(
                f"range: {request} is IPv6; the openwrt backend manages the IPv4 range (start/limit) only "
                "(odhcpd's DHCPv6 is not supported yet); the router was not changed"
            )
        snap = self._snapshot()
        computed = self._computed(snap)
        dhcp_sections = [(name, opts) for name, kind, opts in snap["dhcp"] if kind == "dhcp"]
        subnets = {}
        for name, opts in dhcp_sections:
            results = computed[name]
            eff, dummy = self._effective(results)
            subnet, state = self._section_subnet(snap, name, opts, eff.netmask if eff else None)
            subnets[name] = subnet
        if scope_hint:
            if scope_hint not in subnets:
                raise ReservationError(
                    "scope: no dhcp section {!r} in /etc/config/dhcp (dhcp sections: {}); the router "
                    "was not changed".format(scope_hint, ", ".join(sorted(subnets)) or "none")
                )
            name = scope_hint
        else:
            holding = [n for n, net in subnets.items() if net is not None and request.first in net.network]
            if len(holding) != 1:
                raise ReservationError(
                    "{} dhcp section's interface holds {} (sections: {}); set scope; the router was not changed".format(
                        "no" if not holding else "more than one", request.first, ", ".join(sorted(subnets))
                    )
                )
            name = holding[0]
        opts = dict(dhcp_sections)[name]
        results = computed[name]
        eff, disagreement = self._effective(results)
        server = "odhcpd" if snap["maindhcp"] else "dnsmasq"
        subnet = subnets[name]
        if subnet is None:
            iface = first_value(opts.get("interface"))
            why = (
                f"has no 'interface' option, so {server} serves no DHCP for it"
                if not iface
                else f"uses interface {iface!r}, which has no static IPv4 address in /etc/config/network"
            )
            raise ReservationError(
                f"scope {name}: dhcp.{name} {why}; nothing to reserve there; the router was not changed"
            )
        if disagreement and not self._listing:
            raise ReservationError(
                f"scope {name}: OpenWrt releases compute this section's range differently ({disagreement}); set "
                "start/limit so that the router's address is outside the range; the router was not changed"
            )
        if eff is None:
            eff = results["24.10"]
        if eff.kind == "broken" and not self._listing:
            raise ReservationError(f"scope {name}: {eff.detail}; fix start/limit first; the router was not changed")
        ranges = (IPRange(eff.first, eff.last),) if eff.kind == "dynamic" else ()
        occupants = []
        for addr in self._router_addresses(snap, opts, subnet):
            occupants.append(
                Occupant(addr, "router address", "(network.{}.ipaddr)".format(first_value(opts["interface"])))
            )
        occupants += [
            Occupant(addr, "static mapping", "{} ({}, dhcp.{})".format(host.get("name", ""), host.get("mac", ""), sec))
            for addr, sec, host in self._host_records(snap, subnet.network)
        ]
        leases = self._lease_records(snap, subnet.network)
        occupants += [
            Occupant(rec["address"], "active lease", "{} ({})".format(rec["hostname"] or "*", rec["mac"]))
            for rec in leases or []
        ]
        marker_raw = opts.get(MARKER_OPTION)
        entries = self._parse_marker(name, marker_raw)
        scope = Scope(name, subnet.network, ranges, tuple(occupants))
        return ScopeState(
            scope,
            entries,
            {
                "section": name,
                "server": server,
                "snapshot": snap,
                "range": eff,
                "disagreement": disagreement,
                "leases": leases,
                "start": opts.get("start"),
                "limit": opts.get("limit"),
                "marker": marker_raw,
                "subnet": subnet,
                "options": opts,
                "lease_path": self._lease_path(snap),
            },
        )

    @staticmethod
    def _parse_marker(name: str, raw: t.Any) -> list[t.Any]:
        if raw is None:
            return []
        items = raw if isinstance(raw, list) else [raw]
        entries = []
        for item in items:
            try:
                value = json.loads(item)
            except ValueError:
                raise ReservationError(
                    f"dhcp.{name}.{MARKER_OPTION} holds a marker the module cannot read ({item[:80]!r}); fix it by "
                    "hand; the router was not changed"
                ) from None  # the message names the value that failed to parse; the parser's error adds nothing
            entries.extend(value if isinstance(value, list) else [value])  # a plain option of older versions
        return entries

    @staticmethod
    def _router_addresses(snap: Json, opts: Json, subnet: IPv4Interface) -> list[IPAddress]:
        state = snap["netifd"].get(first_value(opts.get("interface")) or "")
        raw = state["options"].get("ipaddr") if state else None
        items = raw if isinstance(raw, list) else ([raw] if raw else [])
        out = []
        for item in items:
            try:
                addr = ipaddress.ip_interface(item.split("/")[0]).ip
            except ValueError:
                continue
            if addr in subnet.network:
                out.append(addr)
        return out

    @staticmethod
    def _host_records(snap: Json, net: IPv4Network) -> list[t.Any]:
        """``(address, section, options)`` of every ``host`` section whose ``ip`` is inside ``net``."""
        found = []
        for name, kind, opts in snap["dhcp"]:
            if kind != "host" or not opts.get("ip"):
                continue
            try:
                addr = ipaddress.ip_address(first_value(opts["ip"]))
            except ValueError:
                continue
            if addr in net:
                host = dict((k, first_value(v)) for k, v in opts.items())
                found.append((addr, name, host))
        return found

    def _lease_records(self, snap: Json, net: IPv4Network) -> t.Any:
        """Active leases in ``net`` as ``{"address", "mac", "hostname", "expires"}``; None (and ``leases_unknown``
        set) when they cannot be read."""
        if snap["maindhcp"]:
            data, reason = self.t.odhcpd_leases()
            if data is None:
                self.leases_unknown = f"the active leases of odhcpd could not be read ({reason})"
                return None
            out = []
            for dev in (data.get("device") or {}).values():
                for lease in dev.get("leases") or []:
                    try:
                        addr = ipaddress.ip_address(lease.get("address", ""))
                    except ValueError:
                        continue
                    if addr in net:
                        valid = lease.get("valid")
                        expires = None if valid in (None, 4294967295, -1) else int(self.now()) + int(valid)
                        out.append(
                            {
                                "address": addr,
                                "mac": _mac(lease.get("mac", "")),
                                "hostname": lease.get("hostname") or None,
                                "expires": expires,
                            }
                        )
            return out
        path = self._lease_path(snap)
        text, reason = self.t.read_file(path)
        if reason:
            self.leases_unknown = f"the active leases could not be read ({reason})"
            return None
        out = []
        for line in (text or "").splitlines():
            fields = line.split()
            if len(fields) < 4:
                continue
            try:
                expiry, addr = int(fields[0]), ipaddress.ip_address(fields[2])
            except ValueError:
                continue
            if addr in net and (expiry == 0 or expiry > self.now()):
                out.append(
                    {
                        "address": addr,
                        "mac": fields[1],
                        "hostname": fields[3] if fields[3] != "*" else None,
                        "expires": expiry or None,
                    }
                )
        return out

    def _lease_path(self, snap: Json) -> str:
        if self.lease_file:
            return self.lease_file
        for _name, kind, opts in snap["dhcp"]:
            if kind == "dnsmasq" and opts.get("leasefile"):
                return str(first_value(opts["leasefile"]))
        return DEFAULT_LEASE_FILE

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------
    def scopes(self) -> list[t.Any]:
        """Every ``dhcp`` section with an interface address: ``[{"request", "hint", "names"}]``."""
        self._listing = True
        snap = self._snapshot()
        computed = self._computed(snap)
        found = []
        for name, kind, opts in snap["dhcp"]:
            if kind != "dhcp":
                continue
            eff, dummy = self._effective(computed[name])
            subnet, state = self._section_subnet(snap, name, opts, eff.netmask if eff else None)
            if subnet is None:
                continue
            net = subnet.network
            found.append(
                {"request": IPRange(net.network_address, net.network_address), "hint": name, "names": [name, str(net)]}
            )
        return found

    def details(self, state: ScopeState) -> Json:
        raw = state.raw
        net = raw["subnet"].network
        statics = [
            {"address": str(addr), "mac": host.get("mac") or None, "hostname": host.get("name") or None}
            for addr, dummy, host in self._host_records(raw["snapshot"], net)
        ]
        leases = None if raw["leases"] is None else [dict(rec, address=str(rec["address"])) for rec in raw["leases"]]
        eff = raw["range"]
        return {
            "interface": first_value(raw["options"].get("interface")),
            "enabled": eff.kind in ("dynamic", "static") and not raw["disagreement"],
            "static_mappings": statics,
            "leases": leases,
        }

    # -- writing ---------------------------------------------------------------------------------------------
    def prepare(
        self, state: ScopeState, plan: Plan, entries_after: list[MarkerEntry], request: IPRange, action: str
    ) -> Json:
        raw = state.raw
        rng = plan.ranges_after[0]
        net = raw["subnet"].network
        start = int(rng.first) - int(net.network_address)
        limit = rng.size
        opts = dict(raw["options"], start=str(start), limit=str(limit))
        snap = raw["snapshot"]
        if raw["server"] == "odhcpd":
            state_if = snap["netifd"].get(first_value(opts.get("interface")))
            results = {"odhcpd": odhcpd_range(raw["section"], opts, state_if and state_if["subnet"])}
        else:
            sections = [(n, opts if n == raw["section"] else o) for n, k, o in snap["dhcp"] if k == "dhcp"]
            results = {}
            for rel in RELEASES:
                results[rel] = [
                    r for r in dnsmasq_ranges(rel, sections, snap["netifd"]) if r.section == raw["section"]
                ][0]
        for rel, res in sorted(results.items()):
            if res.kind != "dynamic" or (res.first, res.last) != (rng.first, rng.last):
                raise ReservationError(
                    "scope {}: start={} limit={} would give {} on {}, not {}; the router was not changed".format(
                        raw["section"], start, limit, _describe(res), "OpenWrt " + rel if rel in RELEASES else rel, rng
                    )
                )
        marker = [json.dumps(e, separators=(",", ":"), sort_keys=True) for e in entries_after] or None
        return {"start": str(start), "limit": str(limit), MARKER_OPTION: marker}

    def validate(self, state: ScopeState, candidate: Json) -> None:
        try:
            if isinstance(self.t, RpcdTransport):
                missing = self.t.missing_grants(state.raw["server"], state.raw["lease_path"])
                if missing:
                    raise ReservationError(
                        "the rpcd login {!r} lacks these ACL grants: {}; install the ACL file of "
                        "docs/router.md 'OpenWrt: prepare your router'; the router was not changed".format(
                            self.t.client.username, "; ".join(missing)
                        )
                    )
            pending = self.t.changes("dhcp")
        except (ApiError, UciError) as exc:
            raise ReservationError(f"{exc}; the router was not changed") from exc
        if pending:
            raise ReservationError(
                "UCI package dhcp has uncommitted changes ({}); commit or revert them first; the "
                "router was not changed".format("; ".join(pending))
            )

    def apply(self, state: ScopeState, candidate: Json) -> None:
        section = state.raw["section"]
        try:
            self.t.stage("dhcp", section, candidate)
            self.t.commit("dhcp")
        except (ApiError, UciError) as exc:
            try:
                self.t.revert("dhcp")
            except (ApiError, UciError) as rb:
                if self.t.where == "rpcd" and getattr(exc, "status", None) == 6:
                    # rpcd refused the commit itself (uci.c 1330: a LuCI "apply with rollback" is pending), so
                    # /etc/config/dhcp was not written; the staged values live only in this login's session
                    # directory, which rpcd deletes with the session (uci.c 1730-1740).
                    raise ApplyError(
                        f"{exc}: rpcd refuses commits while a LuCI change is waiting to be applied or rolled "
                        "back; /etc/config/dhcp was not written (the staged values stay in this rpcd "
                        "session only and expire with it); finish the LuCI apply and run again",
                        restored=True,
                    ) from rb
                raise ApplyError(
                    f"{exc}; reverting the staged changes failed too ({rb}): check dhcp.{section} by hand",
                    restored=False,
                ) from rb
            raise ApplyError(
                f"{exc}; the staged changes were reverted, the router is as it was", restored=True
            ) from exc
        rc, detail = self._restart(state)
        if rc != 0:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError(
                    "restarting {} failed ({}), and restoring the previous values failed too ({}): "
                    "check dhcp.{} by hand".format(state.raw["server"], detail, rb, section),
                    restored=False,
                ) from rb
            server = state.raw["server"]
            raise ApplyError(
                f"restarting {server} failed (exit {rc}: {detail}); the previous start/limit were committed back and "
                f"{server} restarted, the router is as it was",
                restored=True,
            )

    def _restart(self, state: ScopeState) -> tuple[int, str]:
        try:
            return self.t.restart(state.raw["server"])
        except (ApiError, UciError) as exc:
            return 1, str(exc)

    def rollback(self, state: ScopeState) -> None:
        raw = state.raw
        self.t.stage(
            "dhcp", raw["section"], {"start": raw["start"], "limit": raw["limit"], MARKER_OPTION: raw["marker"]}
        )
        self.t.commit("dhcp")
        rc, detail = self._restart(state)
        if rc != 0:
            raise ReservationError("restarting {} failed: {}".format(raw["server"], detail))

    def verify(self, state: ScopeState, plan: Plan) -> None:
        section = state.raw["section"]
        computed = self._computed(self._snapshot())
        if section not in computed:
            raise ReservationError(f"dhcp.{section} is gone after the commit")
        eff, disagreement = self._effective(computed[section])
        want = plan.ranges_after[0] if plan.ranges_after else None
        got = (eff.first, eff.last) if eff is not None and eff.kind == "dynamic" else None
        if disagreement or want is None or got != (want.first, want.last):
            raise ReservationError(f"dhcp.{section} reads back as {disagreement or _describe(eff)}, expected {want}")

    def ui_range(self, rng: IPRange) -> str:
        return f"{rng.first} - {rng.last}"


def _describe(rng: Range) -> str:
    if rng.kind == "dynamic":
        return f"{rng.start}-{rng.end}"
    return f"{rng.kind} ({rng.detail})"


def _mac(text: str) -> str:
    text = text.lower()
    if len(text) == 12 and ":" not in text:
        return ":".join(text[i : i + 2] for i in range(0, 12, 2))
    return text
