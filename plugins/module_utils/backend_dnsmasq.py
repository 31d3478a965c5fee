# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dnsmasq on a Linux router: the module runs on the router host and edits the ``dhcp-range`` lines in place.

Reads ``conf_file`` and everything it pulls in (``conf-file=``, ``conf-dir=``, plus ``config_dir``). Each
``dhcp-range`` it changes is replaced, in the file where a person wrote it, by a marker comment that keeps the
original line, followed by the remaining pieces::

    # baremetal-lb: reserved 198.51.100.240-198.51.100.250 (baremetal.lb.dhcp_reservation); was: dhcp-range=set:lan,198.51.100.100,198.51.100.250,12h
    dhcp-range=set:lan,198.51.100.100,198.51.100.239,12h

``absent`` puts the original line back only where such a marker is found (and only if the pieces below it are
still what the module wrote). Validation is ``dnsmasq --test`` on the whole configuration with the new files
in place (flattened into one temporary file); apply writes each file atomically (temp file + rename in the same
directory) and restarts dnsmasq (SIGHUP does not re-read ``dhcp-range``); on any failure the old files are put
back and dnsmasq restarted again.
"""  # noqa: E501 - the marker line in the example above is shown whole, as the file holds it

from __future__ import annotations

import contextlib
import fnmatch
import ipaddress
import json
import os
import re
import shutil
import stat
import tempfile
import time
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError,
    ReservationError,
    ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange, RangeError

if t.TYPE_CHECKING:
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import IPNetwork, MarkerEntry, Plan
    from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPAddress

    Json = t.Dict[str, t.Any]
    IPInterface = t.Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
    RunCommand = t.Callable[[t.List[str]], t.Tuple[int, str, str]]  # AnsibleModule.run_command's shape
    Group = t.Dict[str, t.Any]  # {"lines": [DhcpRangeLine], "names": {str}, "iface": str | None}

MARKER_RE = re.compile(
    r"^#\s*baremetal-lb: reserved (?P<range>\S+) \(baremetal\.lb\.dhcp_reservation\); "
    r"was: dhcp-range=(?P<orig>.*)$"
)
V6_MODES = ("ra-only", "slaac", "ra-names", "ra-stateless", "ra-advrouter", "off-link")
V4_NOT_DYNAMIC = ("static", "proxy")
DEFAULT_LEASE_FILE = "/var/lib/misc/dnsmasq.leases"
# dhcp-host fields that are neither addresses nor names (for dhcp_scope_info's records)
_MAC_RE = re.compile(r"^([0-9A-Fa-f*]{1,2}[:-]){5}[0-9A-Fa-f*]{1,2}$")
_LEASE_TIME_RE = re.compile(r"^[0-9]+[smhdw]?$")
DEFAULT_CONF_FILE = "/etc/dnsmasq.conf"
# Debian's dnsmasq.service passes ``-7 $CONFIG_DIR`` from this file (default /etc/dnsmasq.d with the .dpkg-* files
# left out), so that is where a Debian admin's dhcp-range lines live.
DEBIAN_DEFAULTS = "/etc/default/dnsmasq"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


class DhcpRangeLine:
    """One ``dhcp-range=`` value split into what comes before the addresses, the addresses, and after."""

    def __init__(self, value: str, path: str | None = None, index: int | None = None) -> None:
        self.value = value
        self.path = path
        self.index = index
        fields = [f.strip() for f in value.split(",")]
        i = 0
        self.prefix = []
        while i < len(fields) and not _is_ip(fields[i]):
            self.prefix.append(fields[i])
            i += 1
        if i >= len(fields):
            raise RangeError(f"dhcp-range={value}: no start address")
        start = fields[i]
        i += 1
        if i < len(fields) and _is_ip(fields[i]):
            end = fields[i]
            i += 1
        else:
            end = start
        self.suffix = fields[i:]
        self.range = IPRange.make(start, end, f"dhcp-range={value}")
        self.tags = [p.split(":", 1)[1] for p in self.prefix if p.startswith(("set:", "net:"))]
        self.interface = None
        self.netmask = None
        self.prefixlen = None
        self.dynamic = True
        for f in self.suffix:
            if f in V4_NOT_DYNAMIC or f.startswith("constructor:"):
                self.dynamic = False
            if self.range.version == 4 and _is_ip(f) and self.netmask is None:
                self.netmask = f
            if self.range.version == 6 and f.isdigit() and self.prefixlen is None:
                self.prefixlen = int(f)
        for p in self.prefix:
            if p.startswith("interface:"):
                self.interface = p.split(":", 1)[1]

    def with_range(self, rng: IPRange) -> str:
        parts = self.prefix + [str(rng.first), str(rng.last)] + self.suffix
        return ",".join(parts)


def _group_by_subnet(dynamic: list[DhcpRangeLine], ifaces: list[tuple[str, IPInterface]]) -> dict[IPNetwork, Group]:
    """The dynamic dhcp-range lines grouped into scopes: ``{subnet: {"lines", "names", "iface"}}`` (file order)."""
    groups: dict[IPNetwork, Group] = {}
    for line in dynamic:
        subnet, ifname = _subnet_of(line, ifaces)
        if subnet is None:
            raise ReservationError(
                f"cannot tell the subnet of dhcp-range={line.value} ({line.path} line {(line.index or 0) + 1}): no "
                f"interface address holds {line.range.first}; add a netmask to the line or run the task on the router"
            )
        group = groups.setdefault(subnet, {"lines": [], "names": set(), "iface": None})
        group["lines"].append(line)
        group["names"].update(line.tags)
        if line.interface:
            group["names"].add(line.interface)
        if ifname:
            group["iface"] = ifname
            group["names"].add(ifname)
    return groups


def _subnet_of(line: DhcpRangeLine, iface_addrs: list[tuple[str, IPInterface]]) -> tuple[IPNetwork | None, str | None]:
    """The subnet of a dhcp-range line: its netmask/prefix-len, else the interface address that holds it."""
    first = line.range.first
    if line.range.version == 4 and line.netmask:
        return ipaddress.ip_network(f"{first}/{line.netmask}", strict=False), None
    if line.range.version == 6 and line.prefixlen:
        return ipaddress.ip_network(f"{first}/{line.prefixlen}", strict=False), None
    for ifname, iface in iface_addrs:
        if first in iface.network:
            return iface.network, ifname
    if line.range.version == 6:
        return ipaddress.ip_network(f"{first}/64", strict=False), None
    return None, None


class DnsmasqBackend:
    name = "dnsmasq"
    max_ranges = None

    def __init__(
        self,
        conf_file: str,
        run_command: RunCommand,
        config_dir: str | None = None,
        lease_file: str | None = None,
        restart_command: list[str] | None = None,
        dnsmasq_binary: str = "dnsmasq",
        timeout: float = 30,
        now: t.Callable[[], float] | None = None,
    ) -> None:
        self.conf_file = conf_file
        self.config_dir = config_dir
        self.lease_file = lease_file
        self.restart_command = list(restart_command or ["systemctl", "restart", "dnsmasq"])
        self.dnsmasq_binary = dnsmasq_binary
        self.run_command = run_command
        self.timeout = timeout
        self.now = now or time.time
        self.leases_unknown: str | None = None
        # a conf-dir spec the service adds on its command line (Debian's CONFIG_DIR), read after conf_file
        self.service_conf_dir: str | None = None

    @classmethod
    def from_params(cls, params: Json, run_command: RunCommand) -> DnsmasqBackend:
        restart = params.get("restart_command") or ["systemctl", "restart", params.get("service") or "dnsmasq"]
        backend = cls(
            params.get("conf_file") or DEFAULT_CONF_FILE,
            run_command,
            config_dir=params.get("config_dir"),
            lease_file=params.get("lease_file"),
            restart_command=restart,
            dnsmasq_binary=params.get("dnsmasq_binary") or "dnsmasq",
            timeout=params.get("timeout") or 30,
        )
        if (
            not params.get("config_dir")
            and (params.get("conf_file") or DEFAULT_CONF_FILE) == DEFAULT_CONF_FILE
            and not params.get("restart_command")
            and (params.get("service") or "dnsmasq") == "dnsmasq"
        ):
            # The packaged service on Debian/Ubuntu: read what its unit reads.
            backend.service_conf_dir = _debian_conf_dir(DEBIAN_DEFAULTS)
        return backend

    # -- reading the configuration -------------------------------------------------------------------

    def _load(self) -> list[tuple[str, list[str]]]:
        """``[(path, [lines])]`` in the order dnsmasq reads them."""
        files = []
        seen = set()
        dirs = []

        def read(path: str) -> None:
            real = os.path.realpath(path)
            if real in seen:
                return
            seen.add(real)
            try:
                with open(path) as fh:
                    lines = fh.read().split("\n")
            except OSError as exc:
                raise ReservationError(f"cannot read dnsmasq configuration {path}: {exc}") from exc
            files.append((path, lines))
            for line in lines:
                key, value = _kv(line)
                if key == "conf-file" and value:
                    read(value)
                elif key == "conf-dir" and value:
                    dirs.append(value)

        if not os.path.exists(self.conf_file):
            raise ReservationError(f"dnsmasq configuration {self.conf_file} does not exist (set conf_file)")
        read(self.conf_file)
        if self.config_dir:
            dirs.append(self.config_dir + ",*.conf")
        elif self.service_conf_dir:
            dirs.append(self.service_conf_dir)
        for spec in dirs:
            for path in _conf_dir_files(spec):
                read(path)
        return files

    def _interfaces(self) -> list[tuple[str, IPInterface]]:
        rc, out, err = self.run_command(["ip", "-j", "addr", "show"])
        if rc != 0:
            return []
        try:
            data = json.loads(out)
        except ValueError:
            return []
        found = []
        for link in data:
            for a in link.get("addr_info", []):
                if a.get("family") in ("inet", "inet6") and a.get("scope") != "host":
                    try:
                        found.append(
                            (link.get("ifname"), ipaddress.ip_interface("{}/{}".format(a["local"], a["prefixlen"])))
                        )
                    except (KeyError, ValueError):
                        continue
        return found

    def read(self, request: IPRange, scope_hint: str | None) -> ScopeState:
        files = self._load()
        ifaces = self._interfaces()
        ranges = []
        statics = []
        routers = []
        markers = []
        lease_file = self.lease_file
        for path, lines in files:
            for index, line in enumerate(lines):
                m = MARKER_RE.match(line.strip())
                if m:
                    markers.append((path, index, m.group("range"), m.group("orig")))
                    continue
                key, value = _kv(line)
                if key == "dhcp-range":
                    ranges.append(_range_line(value, path, index))
                elif key == "dhcp-host":
                    fields = [f.strip() for f in value.split(",")]
                    label = ",".join(f for f in fields if not _is_ip(f))
                    for f in fields:
                        if _is_ip(f):
                            statics.append(
                                Occupant(
                                    ipaddress.ip_address(f.strip("[]")),
                                    "static mapping",
                                    f"dhcp-host={label} ({path} line {index + 1})",
                                )
                            )
                elif key == "dhcp-option":
                    fields = [f.strip() for f in value.split(",")]
                    names = [f for f in fields if not _is_ip(f)]
                    if names and names[-1] in ("3", "option:router"):
                        for f in fields:
                            if _is_ip(f):
                                routers.append(Occupant(ipaddress.ip_address(f), "gateway", f"(dhcp-option={value})"))
                elif key in ("dhcp-leasefile", "dhcp-lease-file") and not self.lease_file:
                    lease_file = value
        groups = _group_by_subnet([r for r in ranges if r.dynamic], ifaces)
        subnet = self._choose(groups, request, scope_hint)
        group = groups[subnet]
        name = sorted(group["names"])[0] if group["names"] else str(subnet)
        occupants = [o for o in statics + routers if o.address in subnet]
        for ifname, iface in ifaces:
            if iface.ip in subnet:
                occupants.append(Occupant(iface.ip, "router address", f"(dnsmasq's own address on {ifname})"))
        occupants += self._leases(lease_file or DEFAULT_LEASE_FILE, subnet)
        entries = _entries_from_markers(markers)
        scope = Scope(name, subnet, tuple(line.range for line in group["lines"]), tuple(occupants))
        raw = {
            "files": files,
            "lines": group["lines"],
            "markers": markers,
            "lease_file": lease_file or DEFAULT_LEASE_FILE,
            "iface": group["iface"],
        }
        return ScopeState(scope, entries, raw)

    def _choose(self, groups: dict[IPNetwork, Group], request: IPRange, hint: str | None) -> IPNetwork:
        if not groups:
            raise ReservationError(f"dnsmasq configuration {self.conf_file} has no dynamic dhcp-range")
        described = ", ".join("{} ({})".format(s, "/".join(sorted(g["names"])) or "-") for s, g in groups.items())
        if hint:
            picked = [s for s, g in groups.items() if hint in g["names"] or hint == str(s)]
            if len(picked) != 1:
                raise ReservationError(
                    "scope {!r}: {} dnsmasq scope matches (by tag, interface or subnet); scopes: {}".format(
                        hint, "no" if not picked else "more than one", described
                    )
                )
            return picked[0]
        holding = [s for s in groups if request.first in s]
        if len(holding) != 1:
            raise ReservationError(
                "{} dnsmasq scope holds {} (scopes: {}); set scope".format(
                    "no" if not holding else "more than one", request.first, described
                )
            )
        return holding[0]

    def _leases(self, path: str, subnet: IPNetwork) -> list[Occupant]:
        out = []
        for addr, fields, expiry, now in self._lease_records(path, subnet) or []:
            who = fields[3] if fields[3] != "*" else fields[1]
            left = "no expiry" if expiry == 0 else f"expires in {int(expiry - now)}s"
            out.append(Occupant(addr, "active lease", f"{who} ({fields[1]}, {left})"))
        return out

    def _lease_records(self, path: str, subnet: IPNetwork) -> list[tuple[IPAddress, list[str], int, float]] | None:
        """The subnet's active leases in the lease file as ``(address, fields, expiry, now)`` (``expiry`` 0: never);
        None, with ``leases_unknown`` set, when the file cannot be read."""
        self.leases_unknown = None
        if not os.path.exists(path):
            return []  # dnsmasq has not handed out anything yet
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            self.leases_unknown = f"cannot read the dnsmasq lease file {path} ({exc})"
            return None
        now = self.now()
        out = []
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[0] == "duid":
                continue
            try:
                expiry = int(fields[0])
                addr = ipaddress.ip_address(fields[2])
            except ValueError:
                continue
            if addr not in subnet or (expiry != 0 and expiry <= now):
                continue
            out.append((addr, fields, expiry, now))
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self) -> list[Json]:
        """Every scope (the dynamic dhcp-range lines grouped by subnet), in file order:
        ``[{"request", "hint", "names"}]`` (``read(request, hint)`` reads that one scope)."""
        ifaces = self._interfaces()
        ranges = []
        for path, lines in self._load():
            for index, line in enumerate(lines):
                key, value = _kv(line)
                if key == "dhcp-range":
                    ranges.append(_range_line(value, path, index))
        groups = _group_by_subnet([r for r in ranges if r.dynamic], ifaces)
        return [
            {
                "request": IPRange(subnet.network_address, subnet.network_address),
                "hint": str(subnet),
                "names": sorted(group["names"]) + [str(subnet)],
            }
            for subnet, group in groups.items()
        ]

    def details(self, state: ScopeState) -> Json:
        """What ``read`` does not keep apart, for dhcp_scope_info: the interface, the dhcp-host lines and the
        active leases as records (``leases`` None when the lease file cannot be read)."""
        subnet = state.scope.subnet
        statics = []
        for _path, lines in state.raw["files"]:
            for line in lines:
                key, value = _kv(line)
                if key != "dhcp-host":
                    continue
                fields = [f.strip() for f in value.split(",")]
                macs = [f for f in fields if _MAC_RE.match(f)]
                names = [
                    f
                    for f in fields
                    if f
                    and not _is_ip(f)
                    and not _MAC_RE.match(f)
                    and ":" not in f
                    and f not in ("ignore", "infinite")
                    and not _LEASE_TIME_RE.match(f)
                ]
                for f in fields:
                    if _is_ip(f) and ipaddress.ip_address(f.strip("[]")) in subnet:
                        statics.append(
                            {
                                "address": f.strip("[]"),
                                "mac": macs[0] if macs else None,
                                "hostname": names[0] if names else None,
                            }
                        )
        records = self._lease_records(state.raw["lease_file"], subnet)
        leases = None
        if records is not None:
            leases = [
                {
                    "address": str(addr),
                    "mac": fields[1] if addr.version == 4 else None,
                    "hostname": fields[3] if fields[3] != "*" else None,
                    "expires": expiry or None,
                }
                for addr, fields, expiry, now in records
            ]
        iface = state.raw.get("iface") or next((line.interface for line in state.raw["lines"] if line.interface), None)
        if iface is None:  # a range with a netmask: dnsmasq serves it on the interface holding an address there
            iface = next((name for name, addr in self._interfaces() if addr.ip in subnet), None)
        return {"interface": iface, "enabled": True, "static_mappings": statics, "leases": leases}

    # -- writing -----------------------------------------------------------------------------------

    def prepare(
        self, state: ScopeState, plan: Plan, entries_after: list[MarkerEntry], request: IPRange, action: str
    ) -> list[tuple[str, str, str]]:
        files = dict((p, list(lines)) for p, lines in state.raw["files"])
        if action == "present":
            # every replacement's source is a live line of this scope: marker + the pieces in its place
            for rep in plan.replacements:
                line = _line_for(state.raw["lines"], rep.source)
                new = [_marker_line(request, line.value)]
                new += [f"dhcp-range={line.with_range(p)}" for p in rep.pieces]
                files[line.path][line.index] = "\n".join(new)
        else:
            self._release(state, files, request)
        out = []
        for path, lines in state.raw["files"]:
            new_lines = []
            for line in files[path]:
                if line is None:
                    continue
                new_lines.extend(line.split("\n"))
            if new_lines != lines:
                out.append((path, "\n".join(lines), "\n".join(new_lines)))
        return out

    def _release(self, state: ScopeState, files: dict[str, list[str | None]], request: IPRange) -> None:
        """Rewrite, in ``files``, every block of marker lines that holds ``request``: the person's line, cut again by
        the other reservations of the block in the order they were made (none left: the line as it was written)."""
        band = str(request)
        found = False
        for path, lines in state.raw["files"]:
            blocks = [b for b in _marker_blocks(lines) if band in b[2]]
            for start, end, bands in reversed(blocks):
                found = True
                m = MARKER_RE.match(lines[start].strip())
                if m is None:  # pragma: no cover - a block starts at a marker
                    continue
                orig = m.group("orig")
                rendered = _render_block(orig, [b for b in bands if b != band])
                files[path][start:end] = ["\n".join(rendered)] + [None] * (end - start - 1)
        if not found:
            where = [f"{path} line {index + 1}" for path, index, rng, orig in state.raw["markers"] if rng == band]
            raise ReservationError(
                "cannot give back {}: the lines below its marker in {} are not the ones the module "
                "wrote (changed by hand?); the router was not changed".format(request, ", ".join(where))
            )

    def validate(self, state: ScopeState, candidate: list[tuple[str, str, str]]) -> None:
        changed = dict((path, new) for path, old, new in candidate)
        flat = []
        for path, lines in state.raw["files"]:
            text = changed.get(path, "\n".join(lines))
            flat.append(f"# from {path}")
            for line in text.split("\n"):
                key, dummy = _kv(line)
                if key in ("conf-file", "conf-dir"):
                    continue
                flat.append(line)
        tmpdir = tempfile.mkdtemp(prefix="baremetal-lb-dnsmasq-")
        try:
            test_file = os.path.join(tmpdir, "dnsmasq-candidate.conf")
            with open(test_file, "w") as fh:
                fh.write("\n".join(flat) + "\n")
            rc, out, err = self.run_command([self.dnsmasq_binary, "--test", f"--conf-file={test_file}"])
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if rc != 0:
            raise ReservationError(
                "dnsmasq --test rejected the new configuration: {}; the router was not changed".format(
                    (err or out).strip().replace(test_file, "<candidate>")
                )
            )

    def apply(self, state: ScopeState, candidate: list[tuple[str, str, str]]) -> None:
        written = []
        try:
            for path, old, new in candidate:
                _atomic_write(path, new)
                written.append((path, old))
        except OSError as exc:
            restored = self._put_back(written)
            raise ApplyError(
                "could not write {} ({}); {}".format(
                    exc.filename or "the dnsmasq configuration",
                    exc.strerror or exc,
                    "nothing was changed, the router is as it was"
                    if restored
                    else "putting the files back failed: check the dnsmasq configuration by hand",
                ),
                restored=restored,
            ) from exc
        rc, out, err = self._restart()
        if rc != 0:
            restored = self._put_back(written)
            rc2, out2, err2 = self._restart()
            ok = restored and rc2 == 0
            raise ApplyError(
                "restarting dnsmasq with the new configuration failed ({}: {}); {}".format(
                    " ".join(self.restart_command),
                    (err or out).strip(),
                    "the previous files were put back and dnsmasq restarted with them: the router is as it was"
                    if ok
                    else f"putting the previous configuration back failed too ({(err2 or out2).strip()}): check "
                    "dnsmasq by hand",
                ),
                restored=ok,
            )

    def _restart(self) -> tuple[int, str, str]:
        return self.run_command(list(self.restart_command))

    def _put_back(self, written: list[tuple[str, str]]) -> bool:
        ok = True
        for path, old in reversed(written):
            try:
                _atomic_write(path, old)
            except OSError:
                ok = False
        return ok

    def verify(self, state: ScopeState, plan: Plan) -> None:
        try:
            again = self.read(plan.ranges_after[0] if plan.ranges_after else plan.ranges_before[0], state.scope.name)
        except ReservationError as exc:
            raise ReservationError(f"reading the configuration back failed: {exc}") from exc
        if tuple(again.scope.ranges) != tuple(plan.ranges_after):
            raise ReservationError(
                f"the configuration read back holds {[str(r) for r in again.scope.ranges]}, expected "
                f"{[str(r) for r in plan.ranges_after]}"
            )

    def rollback(self, state: ScopeState) -> None:
        written = [(path, "\n".join(lines)) for path, lines in state.raw["files"]]
        if not self._put_back(written):
            raise ReservationError("could not write the previous configuration back")
        rc, out, err = self._restart()
        if rc != 0:
            raise ReservationError(f"restarting dnsmasq failed: {(err or out).strip()}")

    def ui_range(self, rng: IPRange) -> str:
        return f"dhcp-range={rng.first},{rng.last}"


def _kv(line: str) -> tuple[str | None, str]:
    """``(key, value)`` of a configuration line; ``(None, "")`` for a comment or a blank line."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None, ""
    key, sep, value = line.partition("=")
    return key.strip(), value.strip() if sep else ""


def _norm_line(line: str) -> tuple[str | None, str]:
    key, value = _kv(line)
    return (key, value.replace(" ", "") if value else value)


def _range_line(value: str, path: str, index: int) -> DhcpRangeLine:
    """One ``dhcp-range`` line, or an error naming the file and line a person has to fix."""
    try:
        return DhcpRangeLine(value, path, index)
    except RangeError as exc:
        raise ReservationError(f"{path} line {index + 1}: {exc}") from exc


def _debian_conf_dir(path: str) -> str | None:
    """The ``CONFIG_DIR`` of Debian's /etc/default/dnsmasq (a shell assignment), or None."""
    try:
        with open(path) as fh:
            lines = fh.read().split("\n")
    except OSError:
        return None
    found = None
    for line in lines:
        line = line.strip()
        if line.startswith("CONFIG_DIR="):
            found = line[len("CONFIG_DIR=") :].strip().strip("\"'") or None
    return found


def _conf_dir_files(spec: str) -> list[str]:
    parts = [p.strip() for p in spec.split(",")]
    directory, rules = parts[0], parts[1:]
    if not os.path.isdir(directory):
        return []
    wanted = [r for r in rules if r.startswith("*")]
    excluded = [r for r in rules if not r.startswith("*")]
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if (
            not os.path.isfile(path)
            or name.startswith(".")
            or name.endswith("~")
            or (name.startswith("#") and name.endswith("#"))
        ):
            continue
        if wanted and not any(fnmatch.fnmatch(name, w) for w in wanted):
            continue
        if any(name.endswith(e) for e in excluded):
            continue
        out.append(path)
    return out


def _marker_line(band: object, value: str) -> str:
    return f"# baremetal-lb: reserved {band} (baremetal.lb.dhcp_reservation); was: dhcp-range={value}"


def _marker_blocks(lines: list[str]) -> list[tuple[int, int, list[str]]]:
    """``(start, end, bands)`` of each intact block of marker lines: a marker, then in its place the pieces of the
    line it replaced, each either that ``dhcp-range`` line or (cut again by a later reservation) a block of its own.
    ``bands`` in the order they were reserved. A marker whose lines below were changed starts no block."""
    blocks: list[tuple[int, int, list[str]]] = []
    i = 0
    while i < len(lines):
        found = _parse_block(lines, i) if MARKER_RE.match(lines[i].strip()) else None
        if found is None:
            i += 1
            continue
        end, bands = found
        blocks.append((i, end, bands))
        i = end
    return blocks


def _parse_block(lines: list[str], start: int) -> tuple[int, list[str]] | None:
    m = MARKER_RE.match(lines[start].strip())
    if m is None:
        return None
    try:
        orig = DhcpRangeLine(m.group("orig"))
        band = IPRange.make(*_split_range(m.group("range")))
    except (RangeError, ValueError):
        return None
    bands = [m.group("range")]
    pos = start + 1
    for piece in orig.range.subtract(band):
        expected = _norm_line(f"dhcp-range={orig.with_range(piece)}")
        if pos >= len(lines):
            return None
        sub = MARKER_RE.match(lines[pos].strip())
        if sub and _norm_line("dhcp-range={}".format(sub.group("orig"))) == expected:
            found = _parse_block(lines, pos)
            if found is None:
                return None
            pos, more = found
            bands += [b for b in more if b not in bands]
        elif _norm_line(lines[pos]) == expected:
            pos += 1
        else:
            return None
    return pos, bands


def _render_block(orig: str, bands: list[str]) -> list[str]:
    """The lines for the person's ``dhcp-range=orig`` cut by ``bands`` in order, as ``prepare`` writes them."""
    lines = [f"dhcp-range={orig}"]
    for band in bands:
        rng = IPRange.make(*_split_range(band))
        out = []
        for line in lines:
            key, value = _kv(line)
            if key == "dhcp-range" and DhcpRangeLine(value).range.overlaps(rng):
                current = DhcpRangeLine(value)
                out.append(_marker_line(band, value))
                out += [f"dhcp-range={current.with_range(p)}" for p in current.range.subtract(rng)]
            else:
                out.append(line)
        lines = out
    return lines


def _entries_from_markers(markers: list[tuple[str, int, str, str]]) -> list[MarkerEntry]:
    entries: list[MarkerEntry] = []
    by_range: dict[str, MarkerEntry] = {}
    for _path, _index, rng, orig in markers:
        try:
            original = DhcpRangeLine(orig)
            request = IPRange.make(*_split_range(rng))
        except (RangeError, ValueError):
            continue
        entry = by_range.get(rng)
        if entry is None:
            entry = {"range": rng, "replaced": []}
            by_range[rng] = entry
            entries.append(entry)
        entry["replaced"].append(
            {"from": str(original.range), "to": [str(p) for p in original.range.subtract(request)]}
        )
    return entries


def _split_range(text: str) -> tuple[str, str]:
    first, sep, last = text.partition("-")
    return (first, last) if sep else (text, text)


def _line_for(lines: list[DhcpRangeLine], rng: IPRange) -> DhcpRangeLine:
    for line in lines:
        if line.range == rng:
            return line
    raise ReservationError(f"internal: no dhcp-range line holds {rng}")


def _atomic_write(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=".baremetal-lb-", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        with contextlib.suppress(OSError):
            os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
