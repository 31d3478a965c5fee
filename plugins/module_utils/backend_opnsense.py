# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OPNsense through its core API (key + secret as HTTP basic auth), Kea DHCPv4 or Dnsmasq.

What the real API answers (opnsense/core, checked against recorded answers in tests/data/opnsense/):

* **Kea** (``opnsense_dhcp: kea``, the default): ``/api/kea/dhcpv4/searchSubnet``, ``getSubnet/{uuid}``,
  ``setSubnet/{uuid}`` (``{"subnet4": {...}}``), ``searchReservation``, ``get`` (general settings),
  ``/api/kea/leases4/search``, ``/api/kea/service/reconfigure`` and ``status``. ``pools`` is text, one pool per line;
  ``option_data.routers`` is a list-style dict (``{"10.1.1.1": {"value": ..., "selected": 1}}``, ``{"": ...}`` when
  empty); a reservation's ``subnet`` is the subnet's uuid (``%subnet`` the CIDR). An unknown uuid reads as ``[]``.
* **Dnsmasq** (``opnsense_dhcp: dnsmasq``): ``/api/dnsmasq/settings/search_range``, ``set_range/{uuid}``,
  ``add_range``, ``del_range/{uuid}``, ``search_host``, ``search_tag``, ``get``, ``/api/dnsmasq/leases/search``,
  ``/api/dnsmasq/service/reconfigure`` and ``status``. Each range is its own object; a shrink edits it, a split adds
  one. A range's ``subnet_mask`` is optional: dnsmasq then takes the mask of the interface address on the range's
  network (dnsmasq(8) ``--dhcp-range``: "for directly connected networks ... the netmask is optional: dnsmasq will
  determine it from the interface configuration"; ``complete_context()`` in dnsmasq's ``src/dhcp.c`` matches the
  range's start or end against each interface address), so the module reads the interface addresses
  (``/api/interfaces/overview/interfacesInfo``) and does the same; it never assumes /24. ``set_tag`` is the uuid
  of a DHCP tag; the scope is named by the tag's name. A host entry is a DHCP reservation only with a MAC or a
  client id (OPNsense's own rule, ``models/OPNsense/Dnsmasq/Dnsmasq.php`` lines 63 and 95); without, it is a DNS
  override and does not occupy a DHCP address.
* **ISC DHCP** (``opnsense_dhcp: isc``): OPNsense has **no API** for the ISC DHCP server's ranges (its pages are
  legacy PHP forms), so the module refuses and says so.

Live leases: Kea keeps a ``state`` per lease - 0 default (assigned), 1 declined, 2 expired-reclaimed, 3 released
(Kea's ``src/lib/dhcpsrv/lease.cc``; ARM "lease_cmds": "0 for default, 1 for declined, 2 for expired-reclaimed, and
3 for the released state"). Only state 0 with an ``expire`` (cltt + valid-lft) in the future is a client holding
the address - the same rule OPNsense's lease page uses for "active" (``Kea/Api/LeasesController.php`` line 74). A
dnsmasq lease is live until its ``expire`` time; 0 means "never expires".

Applying: the API validates every ``set*`` itself (``{"result": "failed", "validations": {...}}``, nothing saved).
Saved changes go live with ``service/reconfigure``, which always answers ``{"status": "ok"}`` whether the daemon
came up or not (``ApiMutableServiceControllerBase::reconfigureAction``), so the module then asks
``service/status``: when the service is enabled and not ``running``, the previous values are saved back and
reconfigured, and the error says so. With Kea's "manual config" on, OPNsense never regenerates
``kea-dhcp4.conf`` from the model (``src/etc/inc/plugins.inc.d/kea.inc``, ``kea_configure_do``): a change would be
saved and verified but never served, so the module refuses.

The marker (what ``absent`` gives back) lives in the ``description`` of the Kea subnet / the dnsmasq ranges, after
the person's text: ``LAN [baremetal-lb 10.1.1.0 240-250 230-239]``. A description is a ``DescriptionField``: at most
255 **bytes** (``preg_match('/^(.){1,255}$/')`` without ``/u``), and the marker of 0.x (JSON, ~130 bytes per
reservation) overflowed it at the third reservation. The marker is now compact: a base address, then per reservation
the band as offsets from the base (in a /24 the offsets are the last octet), and only when the reservation took less
than the whole band out of the dynamic ranges, ``:`` and what it took. The ranges it was cut from are not stored:
giving back re-joins the taken addresses with the dynamic ranges that touch them, which restores exactly what was
cut when nothing else changed, and never adds an address the reservation did not take. Ten reservations in a /24
take ~90 bytes, in a /16 ~140. Dnsmasq spreads the entries over the scope's range objects (each has its own 255
bytes). The description is built before anything is written; if it cannot fit, the module refuses with the byte
counts and changes nothing. The JSON marker of earlier releases (``[baremetal-lb:[...]]``) is still read. Why a
description and not another store: it is the only free-text field of these objects, it travels with them (backups,
HA sync, config history), and a person sees it next to the pools in the UI; a separate object (a firewall alias, a
Kea option) needs more API privileges and can be deleted apart from the scope (docs/design/0012-opnsense-marker.md).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import time
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError,
    ReservationError,
    ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope, rejoin
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange, RangeError, parse_range
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiClient, ApiError

if t.TYPE_CHECKING:
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import IPNetwork, MarkerEntry, Plan
    from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPAddress
    from ansible_collections.baremetal.lb.plugins.module_utils.router_api import Opener

    Json = t.Dict[str, t.Any]
    IPInterface = t.Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

MARKER_RE = re.compile(r"\s*\[baremetal-lb(?P<sep>[: ])(?P<body>[^\n]*)\]\s*$")
DESCRIPTION_BYTES = 255  # DescriptionField: preg_match('/^(.){1,255}$/') without /u - bytes

ISC_MESSAGE = (
    "OPNsense offers no API for the ISC DHCP server's ranges (they are legacy PHP pages), so the module "
    "cannot change them safely. Move the scope to Kea or dnsmasq (Services > Kea DHCP / Dnsmasq) and use "
    "opnsense_dhcp: kea or dnsmasq, or shrink the ISC range by hand"
)


def make_opnsense_backend(params: Json, opener: Opener | None = None) -> OpnsenseKea | OpnsenseDnsmasq:
    kind = params.get("opnsense_dhcp") or "kea"
    if kind == "isc":
        raise ReservationError(ISC_MESSAGE + "; the router was not changed")
    if not params.get("api_key") or not params.get("api_secret"):
        raise ReservationError(
            "opnsense: api_key and api_secret are required (an OPNsense API key pair: System > "
            "Access > Users > the user > API keys)"
        )
    client = ApiClient(
        params.get("api_url"),
        "OPNsense API",
        auth=("basic", params["api_key"], params["api_secret"]),
        validate_certs=params.get("validate_certs", True),
        timeout=params.get("timeout", 30),
        opener=opener,
        ca_path=params.get("ca_path"),
    )
    return OpnsenseKea(client) if kind == "kea" else OpnsenseDnsmasq(client)


# -- the marker ---------------------------------------------------------------------------------------------------


def _offsets(rng: IPRange, base: IPAddress) -> str:
    a, b = int(rng.first) - int(base), int(rng.last) - int(base)
    return f"{a}" if a == b else f"{a}-{b}"


def _from_offsets(text: str, base: IPAddress) -> IPRange:
    first, dummy, last = text.partition("-")
    if not first.isdigit() or not (last or first).isdigit():
        raise ValueError(f"{text!r} is not an offset or a pair of offsets")
    cls = type(base)
    rng = IPRange(cls(int(base) + int(first)), cls(int(base) + int(last or first)))
    if int(rng.last) < int(rng.first):
        raise ValueError(f"{text!r} ends before it starts")
    return rng


def _merged(ranges: list[IPRange]) -> list[IPRange]:
    """Ranges sorted and joined where they touch or overlap."""
    out: list[IPRange] = []
    for rng in sorted(ranges, key=lambda r: int(r.first)):
        if out and int(rng.first) <= int(out[-1].last) + 1:
            if int(rng.last) > int(out[-1].last):
                out[-1] = IPRange(out[-1].first, rng.last)
        else:
            out.append(rng)
    return out


def taken(entry: Json) -> tuple[IPRange, list[IPRange]]:
    """``(band, [taken ranges])`` of a marker entry: the addresses the reservation took out of dynamic ranges
    (``source - pieces`` of each replacement, which is ``source`` inside the band)."""
    try:
        band = parse_range(entry.get("range", ""), "marker")
        took = []
        for item in entry.get("replaced", []):
            source = parse_range(item.get("from", ""), "marker")
            inside = source.intersection(band)
            if inside is not None:
                took.append(inside)
    except (RangeError, AttributeError, TypeError) as exc:
        raise ReservationError(
            f"the baremetal-lb marker entry {json.dumps(entry)} cannot be read ({exc}); fix the description by hand"
        ) from exc
    return band, _merged(took)


def encode_marker(entries: list[t.Any], base: IPAddress) -> str:
    """``[baremetal-lb BASE word word ...]`` for marker entries; '' when there are none.

    A word is one reservation as offsets from BASE: the band (``240-250``), and only when the reservation did not
    take the whole band out of the dynamic ranges (it reached past a range's end, or over a gap), ``:`` and the
    ranges it did take (``240-260:240-250``). The ranges it was cut from are not stored: giving back re-joins the
    taken addresses with the dynamic ranges that touch them (:func:`entries_for`). ``base`` is lowered to the
    smallest address mentioned, so every offset is >= 0 (OPNsense does not check that a Kea pool lies inside its
    subnet)."""
    if not entries:
        return ""
    parsed = [taken(entry) for entry in entries]
    low = min([int(base)] + [int(r.first) for band, took in parsed for r in [band] + took])
    base = type(base)(low)
    words = []
    for band, took in parsed:
        word = _offsets(band, base)
        if took != [band]:
            word += ":" + ",".join(_offsets(t, base) for t in took)
        words.append(word)
    return "[baremetal-lb {} {}]".format(base, " ".join(words))


def decode_marker(sep: str, body: str, where: str) -> list[t.Any]:
    """The marker's reservations: full entries (the JSON marker of earlier releases, ``[baremetal-lb:[...]]``) or
    ``{"range", "taken"}`` (this format; :func:`entries_for` turns them into entries)."""
    try:
        if sep == ":":
            entries = json.loads(body)
            if not isinstance(entries, list):
                raise ValueError("not a list")
            return entries
        words = body.split()
        base = ipaddress.ip_address(words[0])
        out = []
        for word in words[1:]:
            band_text, colon, took_text = word.partition(":")
            band = _from_offsets(band_text, base)
            took = [_from_offsets(t, base) for t in took_text.split(",") if t] if colon else [band]
            out.append({"range": str(band), "taken": [str(t) for t in took]})
        return out
    except (ValueError, IndexError) as exc:
        raise ReservationError(
            f"{where} holds a baremetal-lb marker the module cannot read ({exc}); fix it by hand"
        ) from exc


def entries_for(marks: list[Json], ranges: t.Sequence[IPRange]) -> list[MarkerEntry]:
    """Marker entries (``dhcp_ranges`` shape: ``{"range", "replaced": [{"from", "to"}]}``) for the scope's current
    dynamic ``ranges``: each taken range goes back joined with the ranges that touch it (``dhcp_ranges.rejoin``).
    Full entries (earlier releases) are returned as they are."""
    out: list[MarkerEntry] = []
    for mark in marks:
        if "taken" not in mark:
            out.append(mark)
            continue
        reps = rejoin([parse_range(text, "marker") for text in mark["taken"]], ranges)
        out.append(
            {
                "range": mark["range"],
                "replaced": [{"from": str(r.source), "to": [str(p) for p in r.pieces]} for r in reps],
            }
        )
    return out


def split_marker(description: str | None, where: str = "the description") -> tuple[str, list[Json]]:
    """``(person's description, marks)`` (see :func:`decode_marker`)."""
    description = description or ""
    m = MARKER_RE.search(description)
    if not m:
        return description, []
    return description[: m.start()], decode_marker(m.group("sep"), m.group("body"), f"{where} {description!r}")


def join_marker(text: str, entries: list[t.Any], base: IPAddress) -> str:
    marker = encode_marker(entries, base)
    if not marker:
        return text
    return f"{text} {marker}" if text else marker


def description_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _list_values(field: t.Any) -> t.Any:
    """A list field as ``get*`` gives it (``{"a": {"value", "selected"}}``, ``{"": ...}`` when empty) or as
    ``search*`` gives it (``"a,b"``) -> ``["a", "b"]``."""
    if isinstance(field, dict):
        return [k for k, v in field.items() if k and (not isinstance(v, dict) or v.get("selected", 1))]
    if isinstance(field, list):
        return [str(v) for v in field if v]
    return [v.strip() for v in str(field or "").split(",") if v.strip()]


# The privilege (System > Access > Users) that opens each API path (models/OPNsense/*/ACL/ACL.xml)
PRIVILEGES = (
    ("/api/kea/", "Services: DHCP: Kea(v4)"),
    ("/api/dnsmasq/", "Services: Dnsmasq DNS/DHCP: Settings"),
    ("/api/interfaces/overview/", "Status: Interfaces"),
)


def _forbidden_hint(exc: ApiError, path: str) -> str:
    if getattr(exc, "status", None) == 403:
        for prefix, privilege in PRIVILEGES:
            if path.startswith(prefix):
                return f"{exc} (give the API key's user the privilege '{privilege}')"
    return str(exc)


class _Opnsense:
    name = "opnsense"
    max_ranges = None
    marker_keeps_taken_only = True  # entries_for derives ``replaced`` from the live ranges
    SERVICE: str = ""
    LEASES: str = ""

    def __init__(self, client: ApiClient, now: t.Callable[[], float] | None = None) -> None:
        self.client = client
        self.now = now or time.time
        self.leases_unknown: str | None = None

    def call(self, method: str, path: str, body: t.Any = None) -> t.Any:
        try:
            return self.client.request(method, path, body)
        except ApiError as exc:
            raise ReservationError(_forbidden_hint(exc, path)) from exc

    def rows(self, path: str) -> list[Json]:
        answer = self.call("GET", path)
        if not isinstance(answer, dict) or not isinstance(answer.get("rows"), list):
            raise ReservationError(f"OPNsense {path} answered {json.dumps(answer)[:200]}, not a list of rows")
        rows: list[Json] = answer["rows"]
        return rows

    def saved(self, answer: Json, what: str) -> Json:
        if not isinstance(answer, dict) or answer.get("result") not in ("saved", "deleted"):
            detail = answer.get("validations") or answer if isinstance(answer, dict) else answer
            raise ApiError(f"OPNsense refused {what}: {json.dumps(detail, sort_keys=True)}")
        return answer

    def service_status(self) -> str | None:
        answer = self.client.request("GET", f"/api/{self.SERVICE}/service/status")
        status = answer.get("status") if isinstance(answer, dict) else None
        return None if status is None else str(status)

    def reconfigure(self) -> None:
        """``service/reconfigure``, then ``service/status``: reconfigure says ok whatever happened."""
        path = f"/api/{self.SERVICE}/service/reconfigure"
        answer = self.client.request("POST", path, {})
        if not isinstance(answer, dict) or str(answer.get("status", "")).lower() != "ok":
            raise ApiError(f"OPNsense {path} answered {json.dumps(answer)}")
        if self.service_enabled():
            status = self.service_status()
            if status != "running":
                raise ApiError(
                    "OPNsense reconfigured {} but the service is {}, not running (see Services > {} > Log File)".format(
                        self.SERVICE,
                        status or "in an unknown state",
                        "Kea DHCP" if self.SERVICE == "kea" else "Dnsmasq DNS & DHCP",
                    )
                )

    def service_enabled(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def leases(self, subnet: IPNetwork) -> t.Any:
        return [
            Occupant(
                addr,
                "active lease",
                "{} ({})".format(
                    row.get("hostname") if row.get("hostname") not in (None, "*") else "", row.get("hwaddr", "")
                ),
            )
            for addr, row in self.lease_records(subnet) or []
        ]

    def live(self, row: Json, now: float) -> bool:
        """Whether a lease row is a client holding its address now (see the module docstring)."""
        expire = row.get("expire")
        try:
            expire = float(expire) if expire not in (None, "") else 0
        except (TypeError, ValueError):
            expire = 0
        return expire == 0 or expire > now

    def lease_records(self, subnet: IPNetwork) -> t.Any:
        """The live leases inside ``subnet`` as ``(address, row)``; None, with ``leases_unknown`` set, when OPNsense
        did not list them (all of them)."""
        try:
            answer = self.client.request("GET", self.LEASES) or {}
            rows = answer.get("rows")
            if not isinstance(rows, list):
                raise ApiError(f"answered {json.dumps(answer)[:200]}")
            if int(answer.get("total", len(rows))) > len(rows):
                raise ApiError("listed {} of {} leases".format(len(rows), answer.get("total")))
        except (ApiError, TypeError, ValueError) as exc:
            self.leases_unknown = f"OPNsense did not list the leases ({exc})"
            return None
        out = []
        now = self.now()
        for row in rows:
            try:
                addr = ipaddress.ip_address(row.get("address", ""))
            except ValueError:
                continue
            if addr in subnet and self.live(row, now):
                out.append((addr, row))
        return out

    def lease_details(self, subnet: IPNetwork) -> list[Json] | None:
        """dhcp_scope_info's lease records (None when OPNsense did not list them)."""
        records = self.lease_records(subnet)
        if records is None:
            return None
        out = []
        for addr, row in records:
            expire = row.get("expire")
            with contextlib.suppress(TypeError, ValueError):  # not a time stamp: kept as OPNsense wrote it
                expire = int(float(expire)) if expire not in (None, "", 0, "0") else None
            hostname = row.get("hostname")
            out.append(
                {
                    "address": str(addr),
                    "mac": row.get("hwaddr") or None,
                    "hostname": hostname if hostname not in (None, "", "*") else None,  # dnsmasq writes * for none
                    "expires": expire,
                }
            )
        return out

    def ui_range(self, rng: IPRange) -> str:
        return f"{rng.first} - {rng.last}"


class OpnsenseKea(_Opnsense):
    BASE = "/api/kea/dhcpv4"
    SERVICE = "kea"
    LEASES = "/api/kea/leases4/search"

    def live(self, row: Json, now: float) -> bool:
        try:
            state = int(row.get("state", 0))
        except (TypeError, ValueError):
            state = -1
        if state != 0:  # declined, expired-reclaimed, released (or unknown): nobody holds the address
            return False
        try:
            return float(row.get("expire") or 0) > now
        except (TypeError, ValueError):
            return True  # an expiry the module cannot read: assume the client still holds it

    def lease_records(self, subnet: IPNetwork) -> t.Any:
        """Kea's leases come from its control socket through configd; when Kea is not running OPNsense answers an
        empty list (``Kea/Api/LeasesController.php``: ``json_decode(...) ?? []``), which must not read as "no
        client holds an address"."""
        try:
            status = self.service_status()
        except ApiError as exc:
            status = f"unknown ({exc})"
        if status != "running":
            self.leases_unknown = "OPNsense cannot list Kea's leases while Kea DHCP is %s" % (
                status or "in an unknown state"
            )
            return None
        return super().lease_records(subnet)

    def general(self) -> Json:
        answer = self.call("GET", self.BASE + "/get")
        general = ((answer or {}).get("dhcpv4") or {}).get("general") if isinstance(answer, dict) else None
        if not isinstance(general, dict):
            raise ReservationError(
                f"OPNsense {self.BASE}/get answered {json.dumps(answer)[:200]}, not the Kea DHCPv4 settings"
            )
        return general

    def service_enabled(self) -> bool:
        return str(self.general().get("enabled", "0")) == "1"

    def read(self, request: IPRange, scope_hint: str | None) -> ScopeState:
        if request.version != 4:
            raise ReservationError(
                f"range: {request} is IPv6; the opnsense backend manages Kea DHCPv4 subnets only (DHCPv6 is "
                "not supported yet); the router was not changed"
            )
        rows = self.rows(self.BASE + "/searchSubnet")
        picked = []
        for row in rows:
            net = ipaddress.ip_network(row["subnet"], strict=False)
            desc, dummy = split_marker(row.get("description"), "Kea subnet {}'s description".format(row["subnet"]))
            if scope_hint:
                if scope_hint in (row["uuid"], row["subnet"], desc.strip()) or scope_hint == str(net):
                    picked.append((row, net))
            elif request.first in net:
                picked.append((row, net))
        if len(picked) != 1:
            raise ReservationError(
                "{} OPNsense Kea subnet matches {} (subnets: {}){}".format(
                    "no" if not picked else "more than one",
                    scope_hint or request.first,
                    ", ".join(r["subnet"] for r in rows) or "(none)",
                    "" if scope_hint else "; set scope",
                )
            )
        row, net = picked[0]
        subnet = self.call("GET", "{}/getSubnet/{}".format(self.BASE, row["uuid"]))
        subnet = subnet.get("subnet4") if isinstance(subnet, dict) else None
        if not isinstance(subnet, dict):  # [] for an unknown uuid: deleted between the two calls
            raise ReservationError(
                "OPNsense Kea subnet {} ({}) vanished while reading it; run again".format(row["subnet"], row["uuid"])
            )
        lines = [line for line in str(subnet.get("pools", "")).split("\n") if line.strip()]
        ranges = []
        for line in lines:
            try:
                ranges.append(parse_range(line.replace(" ", ""), "OPNsense Kea subnet {} pool".format(row["subnet"])))
            except RangeError as exc:
                raise ReservationError(str(exc)) from exc
        occupants = []
        for a in _list_values((subnet.get("option_data") or {}).get("routers")):
            try:
                occupants.append(Occupant(ipaddress.ip_address(a), "gateway", "(option routers)"))
            except ValueError:
                raise ReservationError(
                    "OPNsense Kea subnet {}: option routers holds {!r}, not an address".format(row["subnet"], a)
                ) from None  # the message names the value that failed to parse; the parser's error adds nothing
        for res in self._reservations(row["uuid"], net):
            occupants.append(
                Occupant(
                    ipaddress.ip_address(res["ip_address"]),
                    "reservation",
                    "{} ({})".format(
                        res.get("hostname") or res.get("description") or "",
                        res.get("hw_address") or res.get("client_id") or "",
                    ),
                )
            )
        occupants += self.leases(net)
        desc, marks = split_marker(subnet.get("description"), "Kea subnet {}'s description".format(row["subnet"]))
        entries = entries_for(marks, ranges)
        name = desc.strip() or row["subnet"]
        scope = Scope(name, net, tuple(ranges), tuple(occupants))
        return ScopeState(
            scope,
            entries,
            {
                "uuid": row["uuid"],
                "subnet": subnet,
                "description": desc,
                "lines": dict((r, line) for r, line in zip(ranges, lines)),
            },
        )

    def _reservations(self, uuid: str, net: IPNetwork) -> list[t.Any]:
        """The reservations of subnet ``uuid`` (a reservation's ``subnet`` is the subnet's uuid; ``%subnet`` is its
        CIDR) with an address; any reservation whose address is inside ``net`` counts too."""
        out = []
        for res in self.rows(self.BASE + "/searchReservation"):
            try:
                addr = ipaddress.ip_address(res.get("ip_address") or "")
            except ValueError:
                continue
            if res.get("subnet") == uuid or addr in net:
                out.append(res)
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self) -> list[t.Any]:
        """Every Kea DHCPv4 subnet: ``[{"request", "hint", "names"}]`` (``read(request, hint)`` reads one)."""
        found = []
        for row in self.rows(self.BASE + "/searchSubnet"):
            net = ipaddress.ip_network(row["subnet"], strict=False)
            desc, dummy = split_marker(row.get("description"), "Kea subnet {}'s description".format(row["subnet"]))
            found.append(
                {
                    "request": IPRange(net.network_address, net.network_address),
                    "hint": row["uuid"],
                    "names": [n for n in (desc.strip(), row["subnet"], str(net), row["uuid"]) if n],
                }
            )
        return found

    def details(self, state: ScopeState) -> Json:
        """For dhcp_scope_info: the reservations and live leases as records (Kea subnets have no interface)."""
        net = state.scope.subnet
        statics = [
            {
                "address": res["ip_address"],
                "mac": res.get("hw_address") or None,
                "hostname": res.get("hostname") or None,
            }
            for res in self._reservations(state.raw["uuid"], net)
        ]
        return {
            "interface": None,
            "enabled": self.service_enabled(),
            "static_mappings": statics,
            "leases": self.lease_details(net),
        }

    def prepare(
        self, state: ScopeState, plan: Plan, entries_after: list[MarkerEntry], request: IPRange, action: str
    ) -> Json:
        lines = state.raw["lines"]
        description = join_marker(state.raw["description"], entries_after, state.scope.subnet.network_address)
        size = description_bytes(description)
        if size > DESCRIPTION_BYTES:
            raise ReservationError(
                f"scope {state.scope.name}: the subnet description with the reservation marker would be {size} bytes, "
                f"OPNsense allows {DESCRIPTION_BYTES} ({description!r}); shorten the subnet's description or release a "
                "reservation first; the router was not changed"
            )
        return {
            "pools": "\n".join(lines.get(r) or f"{r.first}-{r.last}" for r in plan.ranges_after),
            "description": description,
        }

    def validate(self, state: ScopeState, candidate: Json) -> None:
        """setSubnet validates and refuses without saving; what it cannot see is Kea's manual config."""
        if str(self.general().get("manual_config", "0")) == "1":
            raise ReservationError(
                "OPNsense Kea DHCPv4 has 'Manual config' on (Services > Kea DHCP > Kea DHCPv4 > Settings): OPNsense "
                "then never writes kea-dhcp4.conf from its subnets, so a changed pool would be saved but never served. "
                "Change the pools in your kea-dhcp4.conf by hand, or turn manual config off; the router was not "
                "changed"
            )

    def _set(self, uuid: str, values: Json) -> None:
        self.saved(
            self.client.request("POST", f"{self.BASE}/setSubnet/{uuid}", {"subnet4": values}), "the subnet change"
        )

    def apply(self, state: ScopeState, candidate: Json) -> None:
        uuid = state.raw["uuid"]
        try:
            self._set(uuid, candidate)
        except ApiError as exc:
            raise ApplyError(f"{exc}; nothing was saved, the router is as it was", restored=True) from exc
        try:
            self.reconfigure()
        except (ApiError, ReservationError) as exc:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError(
                    f"{exc}, and restoring the previous subnet failed too ({rb}): check it by hand",
                    restored=False,
                ) from rb
            raise ApplyError(
                f"{exc}; the previous pools were saved back and applied, the router is as it was", restored=True
            ) from exc

    def rollback(self, state: ScopeState) -> None:
        old = state.raw["subnet"]
        self._set(state.raw["uuid"], {"pools": old.get("pools", ""), "description": old.get("description", "")})
        self.reconfigure()

    def verify(self, state: ScopeState, plan: Plan) -> None:
        subnet = self.call("GET", "{}/getSubnet/{}".format(self.BASE, state.raw["uuid"]))
        subnet = subnet.get("subnet4") if isinstance(subnet, dict) else {}
        got = [parse_range(x.replace(" ", "")) for x in str((subnet or {}).get("pools", "")).split("\n") if x.strip()]
        if tuple(got) != tuple(plan.ranges_after):
            raise ReservationError(
                f"OPNsense reports pools {[str(r) for r in got]} after the change, expected "
                f"{[str(r) for r in plan.ranges_after]}"
            )


class OpnsenseDnsmasq(_Opnsense):
    BASE = "/api/dnsmasq/settings"
    SERVICE = "dnsmasq"
    LEASES = "/api/dnsmasq/leases/search"

    def service_enabled(self) -> bool:
        answer = self.call("GET", self.BASE + "/get")
        settings = (answer or {}).get("dnsmasq") if isinstance(answer, dict) else None
        if not isinstance(settings, dict):
            raise ReservationError(
                f"OPNsense {self.BASE}/get answered {json.dumps(answer)[:200]}, not the Dnsmasq settings"
            )
        return str(settings.get("enable", "0")) == "1"

    def _interface_addresses(self) -> list[t.Any]:
        """``[(interface key, ip_interface)]``: the router's own addresses (``interfacesInfo``)."""
        if getattr(self, "_ifaddrs", None) is None:
            out = []
            for row in self.rows("/api/interfaces/overview/interfacesInfo"):
                for proto in ("ipv4", "ipv6"):
                    for addr in row.get(proto) or []:
                        try:
                            out.append((row.get("identifier") or "", ipaddress.ip_interface(addr["ipaddr"])))
                        except (ValueError, KeyError, TypeError):
                            continue
            self._ifaddrs = out
        return self._ifaddrs

    def _interface_networks(self) -> list[t.Any]:
        return [(key, addr.network) for key, addr in self._interface_addresses()]

    def _router_addresses(self, net: IPNetwork) -> list[Occupant]:
        """The router's own addresses in ``net`` (dnsmasq hands them out as the gateway and never leases them);
        none when the API user may not read the interfaces (docs: the 'Status: Interfaces' privilege)."""
        try:
            found = self._interface_addresses()
        except ReservationError:
            return []
        return [Occupant(addr.ip, "router address", f"(interface {key})") for key, addr in found if addr.ip in net]

    def _subnet(self, row: Json, rng: IPRange) -> IPNetwork:
        """The range's network as dnsmasq works it out: ``subnet_mask`` if set (IPv4), ``prefix_len`` (IPv6,
        default 64 as OPNsense's template writes it), else the mask of the interface address whose network holds the
        range's start or end (dnsmasq ``complete_context()``), the range's own interface first."""
        if rng.version == 6:
            return ipaddress.ip_network("{}/{}".format(rng.first, row.get("prefix_len") or 64), strict=False)
        if row.get("subnet_mask"):
            try:
                return ipaddress.ip_network("{}/{}".format(rng.first, row["subnet_mask"]), strict=False)
            except ValueError:
                raise ReservationError(
                    "OPNsense dnsmasq range {} ({}): subnet_mask {!r} is not a netmask".format(
                        rng, row.get("uuid"), row["subnet_mask"]
                    )
                ) from None  # the message names the value that failed to parse; the parser's error adds nothing
        try:
            nets = self._interface_networks()
        except ReservationError as exc:
            raise ReservationError(
                f"OPNsense dnsmasq range {rng} has no subnet_mask, and the interface addresses that "
                f"would tell its network could not be read ({exc}); give the API user the 'Status: "
                "Interfaces' privilege or set the range's subnet mask"
            ) from exc
        iface = row.get("interface") or ""
        for want_iface in ([iface] if iface else []) + [None]:
            for key, net in nets:
                if (
                    net.version == 4
                    and (want_iface is None or key == want_iface)
                    and (rng.first in net or rng.last in net)
                ):
                    return t.cast("IPNetwork", net)
        raise ReservationError(
            "OPNsense dnsmasq range {} ({}) has no subnet_mask and no interface address is on its "
            "network, so dnsmasq would have to guess the mask; set the range's subnet mask".format(
                rng, row.get("description") or row.get("uuid")
            )
        )

    def _tags(self) -> Json:
        if getattr(self, "_tag_names", None) is None:
            try:
                self._tag_names = dict(
                    (t["uuid"], t.get("tag") or t["uuid"]) for t in self.rows(self.BASE + "/search_tag")
                )
            except ReservationError:
                self._tag_names = {}
        return self._tag_names

    def _groups(self) -> dict[tuple[IPNetwork, str, str], list[tuple[IPRange, Json]]]:
        """The dynamic ranges grouped into scopes: ``{(subnet, interface, tag uuid): [(IPRange, row)]}``. Static
        (``mode: static``) and constructor (IPv6 template) ranges hand out nothing dynamically and are skipped."""
        groups: dict[tuple[IPNetwork, str, str], list[tuple[IPRange, Json]]] = {}
        for row in self.rows(self.BASE + "/search_range"):
            modes = [m for m in str(row.get("mode") or "").split(",") if m]
            if not row.get("start_addr") or not row.get("end_addr") or row.get("constructor") or "static" in modes:
                continue
            try:
                rng = IPRange.make(
                    row["start_addr"], row["end_addr"], "OPNsense dnsmasq range {}".format(row.get("uuid"))
                )
            except RangeError as exc:
                raise ReservationError(str(exc)) from exc
            net = self._subnet(row, rng)
            key = (net, row.get("interface") or "", row.get("set_tag") or "")
            groups.setdefault(key, []).append((rng, row))
        return groups

    def _names(self, key: tuple[IPNetwork, str, str]) -> list[str]:
        net, iface, tag = key
        tag_name = self._tags().get(tag, tag) if tag else ""
        return [n for n in (iface, tag_name, tag, str(net)) if n]

    def read(self, request: IPRange, scope_hint: str | None) -> ScopeState:
        groups = self._groups()
        picked = []
        for key in groups:
            if scope_hint:
                if scope_hint in self._names(key):
                    picked.append(key)
            elif request.first in key[0]:
                picked.append(key)
        if len(picked) != 1:
            raise ReservationError(
                "{} OPNsense dnsmasq scope matches {} (scopes: {})".format(
                    "no" if not picked else "more than one",
                    scope_hint or request.first,
                    ", ".join("/".join(self._names(k)) for k in groups) or "(none)",
                )
            )
        key = picked[0]
        net, iface, tag = key
        members = sorted(groups[key], key=lambda m: int(m[0].first))
        occupants = []
        for addr, host in self._hosts(net):
            occupants.append(
                Occupant(
                    addr,
                    "static mapping",
                    "{} ({})".format(
                        host.get("host") or host.get("descr") or "", host.get("hwaddr") or host.get("client_id") or ""
                    ),
                )
            )
        occupants += self._router_addresses(net)
        occupants += self.leases(net)
        marks = []
        for rng, row in members:
            for mark in split_marker(row.get("description"), f"dnsmasq range {rng}'s description")[1]:
                if mark not in marks:
                    marks.append(mark)
        entries = entries_for(marks, [r for r, dummy in members])
        names = self._names(key)
        scope = Scope(names[0], net, tuple(r for r, dummy in members), tuple(occupants))
        return ScopeState(scope, entries, {"members": members, "interface": iface or None, "key": key})

    def _hosts(self, net: IPNetwork) -> list[t.Any]:
        """``(address, host row)`` for every DHCP host entry (one with a MAC or a client id) inside ``net``; host
        entries without either are DNS overrides (Dnsmasq.php lines 63, 95) and hold no DHCP address."""
        out = []
        for host in self.rows(self.BASE + "/search_host"):
            if not _list_values(host.get("hwaddr")) and not str(host.get("client_id") or "").strip():
                continue
            for a in _list_values(host.get("ip")):
                try:
                    addr = ipaddress.ip_address(a)
                except ValueError:
                    continue  # a partial IPv6 address ("::5") of a constructor range
                if addr in net:
                    out.append((addr, host))
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self) -> list[t.Any]:
        """Every scope (ranges grouped by subnet, interface and tag): ``[{"request", "hint", "names"}]``. The hint
        is what ``read`` matches for exactly this scope: the interface, the tag or the subnet."""
        groups = self._groups()
        found = []
        for key in groups:
            net = key[0]
            names = self._names(key)
            hint = next((n for n in names if len([k for k in groups if n in self._names(k)]) == 1), None)
            if hint is None:
                raise ReservationError(
                    "OPNsense dnsmasq scopes {} cannot be told apart by interface, tag or subnet".format(
                        ", ".join("/".join(self._names(k)) for k in groups)
                    )
                )
            found.append({"request": IPRange(net.network_address, net.network_address), "hint": hint, "names": names})
        return found

    def details(self, state: ScopeState) -> Json:
        """For dhcp_scope_info: the interface, the DHCP host entries and the live leases as records."""
        net = state.scope.subnet
        statics = [
            {
                "address": str(addr),
                "mac": ",".join(_list_values(host.get("hwaddr"))) or None,
                "hostname": host.get("host") or None,
            }
            for addr, host in self._hosts(net)
        ]
        return {
            "interface": state.raw["interface"],
            "enabled": self.service_enabled(),
            "static_mappings": statics,
            "leases": self.lease_details(net),
        }

    def prepare(
        self, state: ScopeState, plan: Plan, entries_after: list[MarkerEntry], request: IPRange, action: str
    ) -> list[t.Any]:
        """A list of operations: ("set", uuid, fields) / ("add", None, fields) / ("del", uuid, None).

        Ranges are cut and restored as the plan says (a split edits the range and adds one for the second piece; a
        give-back edits the first piece back and deletes the others); then the marker entries are spread over the
        scope's ranges in address order, each range's description holding as many as fit in 255 bytes."""
        base = state.scope.subnet.network_address
        by_range = dict((rng, row) for rng, row in state.raw["members"])
        final = dict(
            (row["uuid"], [rng, row, row]) for rng, row in state.raw["members"]
        )  # uuid -> [range, row, template]
        added = []
        deleted = []
        for rep in plan.replacements:
            olds = [rep.source] if action == "present" else list(rep.pieces)
            news = list(rep.pieces) if action == "present" else [rep.source]
            # a range taken whole comes back as a new range of the scope, shaped like its first one
            template = by_range[olds[0]] if olds else state.raw["members"][0][1]
            for i, old in enumerate(olds):
                uuid = by_range[old]["uuid"]
                if i < len(news):
                    final[uuid][0] = news[i]
                else:
                    deleted.append(uuid)
                    del final[uuid]
            for new in news[len(olds) :]:
                added.append([new, None, template])
        slots = sorted(
            [(rng, uuid) for uuid, (rng, row, t) in final.items()]
            + [(new, f"+{i}") for i, (new, row, t) in enumerate(added)],
            key=lambda s: int(s[0].first),
        )
        texts = {}
        for rng, slot in slots:
            template = final[slot][2] if slot in final else added[int(slot[1:])][2]
            texts[slot] = split_marker(template.get("description"), f"dnsmasq range {rng}'s description")[0]
        shares = dict((slot, []) for rng, slot in slots)
        pending = list(entries_after)
        for _rng, slot in slots:
            while pending:
                trial = join_marker(texts[slot], shares[slot] + [pending[0]], base)
                if description_bytes(trial) > DESCRIPTION_BYTES:
                    break
                shares[slot].append(pending.pop(0))
        if pending:
            raise ReservationError(
                f"scope {state.scope.name}: the reservation marker ({len(entries_after)} entries) does not fit in the "
                f"{DESCRIPTION_BYTES}-byte descriptions of its {len(slots)} dnsmasq range(s); shorten their "
                "descriptions or release a reservation first; the router was not changed"
            )
        ops: list[tuple[str, str | None, Json | None]] = []
        for rng, slot in slots:
            description = join_marker(texts[slot], shares[slot], base)
            if slot in final:
                old = final[slot][1]
                if (str(rng.first), str(rng.last), description) != (
                    old["start_addr"],
                    old["end_addr"],
                    old.get("description", ""),
                ):
                    ops.append(
                        (
                            "set",
                            slot,
                            {"start_addr": str(rng.first), "end_addr": str(rng.last), "description": description},
                        )
                    )
            else:
                template = added[int(slot[1:])][2]
                fields = dict((k, v) for k, v in template.items() if k != "uuid" and not k.startswith("%"))
                fields.update({"start_addr": str(rng.first), "end_addr": str(rng.last), "description": description})
                ops.append(("add", None, fields))
        ops += [("del", uuid, None) for uuid in deleted]
        return ops

    def validate(self, state: ScopeState, candidate: list[t.Any]) -> None:
        return None

    def _do(self, op: t.Any) -> Json:
        kind, uuid, fields = op
        if kind == "set":
            return self.saved(
                self.client.request("POST", f"{self.BASE}/set_range/{uuid}", {"range": fields}),
                "the range change",
            )
        if kind == "add":
            return self.saved(self.client.request("POST", self.BASE + "/add_range", {"range": fields}), "the new range")
        return self.saved(self.client.request("POST", f"{self.BASE}/del_range/{uuid}", {}), "deleting the range")

    def apply(self, state: ScopeState, candidate: list[t.Any]) -> None:
        self.done = []
        try:
            for op in candidate:
                answer = self._do(op)
                self.done.append((op, answer))
            self.reconfigure()
        except (ApiError, ReservationError) as exc:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError(
                    f"{exc}, and restoring the previous ranges failed too ({rb}): check them by hand",
                    restored=False,
                ) from rb
            raise ApplyError(
                f"{exc}; the previous ranges were restored, the router is as it was", restored=True
            ) from exc

    def rollback(self, state: ScopeState) -> None:
        """Undo what ``apply`` did, newest first. A deleted range comes back under its own uuid (``set_range`` on an
        unknown uuid creates the item)."""
        originals = dict((row["uuid"], row) for dummy, row in state.raw["members"])
        for (kind, uuid, _fields), answer in reversed(getattr(self, "done", [])):
            if kind == "add":
                self._do(("del", answer.get("uuid"), None))
            else:
                row = originals[uuid]
                self._do(("set", uuid, dict((k, v) for k, v in row.items() if k != "uuid" and not k.startswith("%"))))
        self.done = []
        self.reconfigure()

    def verify(self, state: ScopeState, plan: Plan) -> None:
        got = sorted((rng for rng, row in self._groups().get(state.raw["key"], [])), key=lambda r: int(r.first))
        if tuple(got) != tuple(plan.ranges_after):
            raise ReservationError(
                f"OPNsense reports ranges {[str(r) for r in got]} after the change, expected "
                f"{[str(r) for r in plan.ranges_after]}"
            )
