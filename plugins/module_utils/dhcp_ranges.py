# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Range math for DHCP reservations: pure functions, no I/O (shared by every router backend).

Vocabulary:

* a **scope** is what a router calls a DHCP server on one subnet (pfSense "DHCP server on LAN", a Kea
  ``subnet4`` entry, a group of dnsmasq ``dhcp-range`` lines on one subnet);
* its **dynamic ranges** are the pools addresses are handed out from;
* **occupants** are addresses something else already uses: static mappings/reservations, active leases,
  the router/gateway addresses;
* a **replacement** is what ``present`` did to one dynamic range: ``from`` one range ``to`` zero, one or
  two pieces. The list of replacements is the module's *marker*: ``absent`` reverses exactly those, and
  nothing else (never widen what a person configured); bands can be given back in any order
  (:func:`plan_release`).

Errors: :class:`RangeError` for bad input (from ``ip_ranges``), :class:`Conflict` when the request clashes
with the scope; both messages name the address and the object.
"""

from __future__ import annotations

import ipaddress
import typing as t

# Ranges (IPRange) and their parsing live in ip_ranges, the collection's one parser. A CIDR counts as every
# address in it (parse_range's default, strict=False): what dhcp_reservation documents for ``range``.
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange, RangeError, parse_range

if t.TYPE_CHECKING:
    from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPAddress

    IPNetwork = t.Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
    # One marker entry as stored: {"range": "first-last", "replaced": [{"from": "...", "to": ["...", ...]}]}
    MarkerEntry = t.Dict[str, t.Any]

MARKER_OWNER = "baremetal.lb.dhcp_reservation"


class Conflict(Exception):
    """The requested reservation clashes with the scope (message names the address and the object)."""


class Occupant(t.NamedTuple):
    """An address something already uses: ``kind`` is e.g. ``static mapping``, ``active lease``, ``gateway``."""

    address: IPAddress
    kind: str
    label: str

    def describe(self) -> str:
        return f"{self.kind} {self.label}" if self.label else self.kind


class Scope(t.NamedTuple):
    """One DHCP scope as the range math sees it (ranges and occupants are tuples)."""

    name: str
    subnet: IPNetwork
    ranges: tuple[IPRange, ...]
    occupants: tuple[Occupant, ...]


class Replacement(t.NamedTuple):
    """What ``present`` did to one dynamic range: ``source`` became ``pieces`` (0, 1 or 2 ranges)."""

    source: IPRange
    pieces: tuple[IPRange, ...]


class Plan(t.NamedTuple):
    """What to do to a scope's dynamic ranges; ``replacements`` is empty when nothing changes."""

    ranges_before: tuple[IPRange, ...]
    ranges_after: tuple[IPRange, ...]
    replacements: tuple[Replacement, ...]
    commands: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.replacements)


def fmt_ranges(ranges: t.Sequence[IPRange]) -> str:
    return ", ".join(str(r) for r in ranges) if ranges else "(none)"


def _special_addresses(subnet: IPNetwork) -> list[Occupant]:
    out: list[Occupant] = []
    if subnet.version == 4:
        if subnet.prefixlen <= 30:
            out.append(Occupant(subnet.network_address, "network address", f"of {subnet}"))
            out.append(Occupant(subnet.broadcast_address, "broadcast address", f"of {subnet}"))
    elif subnet.prefixlen <= 126:
        out.append(Occupant(subnet.network_address, "subnet-router anycast address", f"of {subnet}"))
    return out


# Occupants that *are* an address of the scope (message: "is the gateway ..."); the others *hold* one.
_IS_KINDS = ("network address", "broadcast address", "subnet-router anycast address", "gateway", "router address")


def check_request(scope: Scope, request: IPRange, accept_active_leases: bool = False) -> list[str]:
    """Raise :class:`Conflict` if ``request`` may not be reserved in ``scope``; return warnings (strings).

    Refuses: a different family, addresses outside the subnet, the network/broadcast address, a
    gateway/router address, a static mapping, an active lease (unless ``accept_active_leases``).
    """
    subnet = scope.subnet
    if request.version != subnet.version:
        raise Conflict(
            f"range {request} is IPv{request.version} but scope {scope.name} is IPv{subnet.version} ({subnet})"
        )
    for end in (request.first, request.last):
        if end not in subnet:
            raise Conflict(f"{end} (in range {request}) is outside scope {scope.name}'s subnet {subnet}")
    warnings = []
    for occ in _special_addresses(subnet) + list(scope.occupants):
        if not request.contains(occ.address):
            continue
        if occ.kind == "active lease" and accept_active_leases:
            warnings.append(
                f"{occ.address} in range {request} holds {occ.describe()} in scope {scope.name}; accepted "
                "(accept_active_leases), the client keeps it until the lease ends"
            )
            continue
        if occ.kind in _IS_KINDS:
            raise Conflict(f"{occ.address} in range {request} is the {occ.describe()} in scope {scope.name}")
        hint = ""
        if occ.kind == "active lease":
            hint = " (wait for it to end, release it, or set accept_active_leases: true)"
        raise Conflict(f"{occ.address} in range {request} holds {occ.describe()} in scope {scope.name}{hint}")
    return warnings


def plan_present(scope: Scope, request: IPRange, max_ranges: int | None = None) -> Plan:
    """Shrink/split the scope's dynamic ranges so none overlaps ``request``; everything else stays as is.

    ``max_ranges``: how many dynamic ranges the backend can hold (OpenWrt: 1); a split beyond it is refused.
    Refuses to leave the scope with no dynamic range at all.
    """
    before = tuple(scope.ranges)
    after: list[IPRange] = []
    replacements: list[Replacement] = []
    commands: list[str] = []
    for rng in before:
        if not rng.overlaps(request):
            after.append(rng)
            continue
        pieces = rng.subtract(request)
        after.extend(pieces)
        replacements.append(Replacement(rng, tuple(pieces)))
        if not pieces:
            commands.append(f"remove DHCP range {scope.name} {rng} (inside the reservation {request})")
        elif len(pieces) == 1:
            commands.append(f"shrink DHCP range {scope.name} {rng} -> {pieces[0]}")
        else:
            commands.append(f"split DHCP range {scope.name} {rng} -> {fmt_ranges(pieces)}")
    if replacements and not after:
        raise Conflict(
            f"reserving {request} would leave scope {scope.name} with no dynamic range (now {fmt_ranges(before)}); "
            "shrink it by hand or reserve less"
        )
    if max_ranges is not None and replacements and len(after) > max_ranges:
        raise Conflict(
            f"reserving {request} needs scope {scope.name}'s range {fmt_ranges(before)} split in two "
            f"({fmt_ranges(after)}), but this router holds at most "
            f"{max_ranges} dynamic range(s) per scope; reserve a band at either end of the range instead"
        )
    return Plan(before, tuple(after), tuple(replacements), commands)


def plan_absent(scope: Scope, request: IPRange, replacements: t.Sequence[Replacement]) -> Plan:
    """Undo ``replacements`` (the marker of ``request``): each piece set must still be there, exactly.

    Returns a :class:`Plan` (unchanged when ``replacements`` is empty). Raises :class:`Conflict` when the
    ranges were changed since the reservation (the module never guesses what to give back).
    """
    before = tuple(scope.ranges)
    current = list(before)
    commands: list[str] = []
    done: list[Replacement] = []
    for rep in replacements:
        missing = [p for p in rep.pieces if p not in current]
        if missing:
            raise Conflict(
                f"cannot give back {request} in scope {scope.name}: range {missing[0]} (left when {request} was "
                f"reserved from {rep.source}) is no longer a dynamic range (now {fmt_ranges(before)}); it was changed "
                "by hand or by a later reservation - release that first or fix the ranges by hand"
            )
        clash = [r for r in current if r not in rep.pieces and r.overlaps(rep.source)]
        if clash:
            raise Conflict(
                f"cannot give back {request} in scope {scope.name}: restoring {rep.source} would overlap dynamic range "
                f"{clash[0]}"
            )
        if rep.pieces:
            index = min(current.index(p) for p in rep.pieces)
        else:  # the whole range was taken: put it back where it sat in address order
            later = [
                i
                for i, r in enumerate(current)
                if r.version == rep.source.version and int(r.first) > int(rep.source.first)
            ]
            index = later[0] if later else len(current)
        current = [r for r in current if r not in rep.pieces]
        current.insert(min(index, len(current)), rep.source)
        done.append(rep)
        commands.append(
            f"restore DHCP range {scope.name} {fmt_ranges(rep.pieces)} -> {rep.source} (reservation {request} released)"
        )
    return Plan(before, tuple(current), tuple(done), commands)


def rejoin(taken: t.Sequence[IPRange], ranges: t.Sequence[IPRange]) -> list[Replacement]:
    """Replacements that give ``taken`` back to ``ranges``: each taken range joined with a range ending right
    before it and one starting right after it. When nothing changed since the cut this is exactly the range it was
    cut from; it never adds an address that was not taken (for markers that keep only what was taken: OPNsense)."""
    out: list[Replacement] = []
    for took in taken:
        left = [r for r in ranges if r.version == took.version and int(r.last) + 1 == int(took.first)]
        right = [r for r in ranges if r.version == took.version and int(r.first) == int(took.last) + 1]
        source = IPRange(left[0].first if left else took.first, right[0].last if right else took.last)
        out.append(Replacement(source, tuple(left[:1] + right[:1])))
    return out


def taken_by(entry: MarkerEntry) -> list[IPRange]:
    """The addresses a marker entry's reservation took out of dynamic ranges (``from`` inside the band, merged)."""
    band = parse_range(entry.get("range", ""), "marker")
    took = []
    for item in entry.get("replaced", []):
        inside = parse_range(item.get("from", ""), "marker").intersection(band)
        if inside is not None:
            took.append(inside)
    merged: list[IPRange] = []
    for rng in sorted(took, key=_order):
        if merged and rng.version == merged[-1].version and int(rng.first) <= int(merged[-1].last) + 1:
            if int(rng.last) > int(merged[-1].last):
                merged[-1] = IPRange(merged[-1].first, rng.last)
        else:
            merged.append(rng)
    return merged


def plan_release(
    scope: Scope,
    request: IPRange,
    entries: t.Sequence[MarkerEntry] | None,
    max_ranges: int | None = None,
    by_rejoin: bool = False,
) -> tuple[Plan, list[MarkerEntry]]:
    """Give back ``request`` in any order: ``(Plan, marker entries after)``.

    The scope's ranges become what they would be had ``request`` never been reserved: the reservations made after
    it (later in ``entries``) are undone newest first -- each must still be as it left the ranges, else
    :class:`Conflict` -- then ``request``'s own, then the later ones are made again on what they find, so an
    address a later band holds stays out of DHCP and everything else ``request`` took comes back. The later
    entries are rewritten for the ranges they now cut. The result is one plan from the live ranges, in the shape
    :func:`plan_absent` gives (each restored range from the live pieces inside it), so every backend applies it
    as it applies a last-in first-out release. ``max_ranges`` as in :func:`plan_present`: a release that would need
    more ranges than the router holds is refused. ``by_rejoin``: the entries' ``replaced`` were derived from the live
    ranges, not kept from each cut (OPNsense keeps only what was taken), so each is undone by :func:`rejoin` of what
    it took against the ranges at that point. Pure; ``entries`` is not changed.
    """
    entries = list(entries or [])
    index = next((i for i, e in enumerate(entries) if _marker_range(e) == request), None)
    if index is None:
        return Plan(tuple(scope.ranges), tuple(scope.ranges), (), []), entries
    ranges = tuple(scope.ranges)
    for entry in reversed(entries[index:]):
        band = _band(entry, scope)
        try:
            undo = rejoin(taken_by(entry), ranges) if by_rejoin else marker_replacements(entry)
            ranges = plan_absent(scope._replace(ranges=ranges), band, undo).ranges_after
        except Conflict as exc:
            if band == request:
                raise
            raise Conflict(
                f"cannot give back {request} in scope {scope.name}: the reservations made after it are taken out and "
                f"made again, and {exc}"
            ) from exc
    entries_after = entries[:index]
    for entry in entries[index + 1 :]:
        band = _band(entry, scope)
        step = plan_present(scope._replace(ranges=ranges), band)
        ranges = step.ranges_after
        entries_after = merge_marker(entries_after, band, step)
    live = tuple(scope.ranges)
    net = [Replacement(rng, tuple(r for r in live if rng.covers(r))) for rng in ranges if rng not in live]
    plan = plan_absent(scope, request, net)
    if sorted(plan.ranges_after, key=_order) != sorted(ranges, key=_order):  # pragma: no cover - a bug here
        raise Conflict(
            f"internal: giving back {request} in scope {scope.name} gives {fmt_ranges(plan.ranges_after)}, expected "
            f"{fmt_ranges(ranges)}"
        )
    if max_ranges is not None and len(plan.ranges_after) > max_ranges:
        raise Conflict(
            (
                "giving back {} needs scope {}'s ranges to become {}, but this router holds at most {} dynamic "
                "range(s) per scope; give back the reservations made after it first ({})"
            ).format(
                request,
                scope.name,
                fmt_ranges(plan.ranges_after),
                max_ranges,
                ", ".join(str(_marker_range(e)) for e in entries[index + 1 :]),
            )
        )
    return plan, entries_after


def _order(rng: IPRange) -> tuple[int, int]:
    return (rng.version, int(rng.first))


def _marker_range(entry: MarkerEntry) -> IPRange | None:
    try:
        return parse_range(entry.get("range", ""), "marker")
    except RangeError:
        return None


def _band(entry: MarkerEntry, scope: Scope) -> IPRange:
    band = _marker_range(entry)
    if band is None:
        raise Conflict(f"scope {scope.name} holds a marker entry the module cannot read ({entry!r}); fix it by hand")
    return band


# Marker encoding shared by the backends that store JSON (Kea user-context, pfSense/OPNsense descriptions).


def marker_entry(request: IPRange, plan: Plan) -> MarkerEntry:
    return {
        "range": str(request),
        "replaced": [{"from": str(r.source), "to": [str(p) for p in r.pieces]} for r in plan.replacements],
    }


def marker_replacements(entry: MarkerEntry) -> list[Replacement]:
    """The :class:`Replacement` list of one marker entry (as written by :func:`marker_entry`)."""
    out: list[Replacement] = []
    for item in entry.get("replaced", []):
        out.append(
            Replacement(
                parse_range(item["from"], "marker"), tuple(parse_range(p, "marker") for p in item.get("to", []))
            )
        )
    return out


def find_marker(entries: t.Sequence[MarkerEntry] | None, request: IPRange) -> MarkerEntry | None:
    for entry in entries or []:
        try:
            if parse_range(entry.get("range", ""), "marker") == request:
                return entry
        except RangeError:
            continue
    return None


def merge_marker(entries: t.Sequence[MarkerEntry] | None, request: IPRange, plan: Plan) -> list[MarkerEntry]:
    """Marker entries after ``present`` applied ``plan`` for ``request`` (appends to an existing entry)."""
    merged = [dict(e) for e in (entries or [])]
    new = marker_entry(request, plan)
    for entry in merged:
        try:
            same = parse_range(entry.get("range", ""), "marker") == request
        except RangeError:
            same = False
        if same:
            entry["replaced"] = list(entry.get("replaced", [])) + new["replaced"]
            return merged
    merged.append(new)
    return merged
