# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend interface for DHCP reservations and the one driver every backend goes through.

    read scope -> compute (pure, ``dhcp_ranges``) -> validate -> [check mode stops here] -> apply -> verify

A backend implements:

* ``read(request, scope_hint) -> ScopeState`` — the scope holding the request (or named by ``scope_hint``),
  its dynamic ranges, its occupants (static mappings, active leases, gateways) and the module's marker
  entries (``[{"range", "replaced": [{"from", "to"}]}]``);
* ``prepare(state, plan, entries_after, request, action) -> candidate`` — the new configuration, built, nothing
  written (``action``: ``present``/``absent``);
* ``validate(state, candidate)`` — the router's own check (``config-test``, ``dnsmasq --test``, the API's
  validation); must not change the router;
* ``apply(state, candidate)`` — make it live; on failure put the router back as it was and raise
  :class:`ApplyError` saying whether that worked;
* ``verify(state, plan)`` — read back and raise if the live ranges are not ``plan.ranges_after`` (the driver
  then calls ``rollback``);
* ``rollback(state)`` — restore what ``read`` saw;
* ``ui_range(rng)`` — a range the way the router's UI shows it (diff output);
* attribute ``max_ranges`` — dynamic ranges one scope can hold (None: no limit);
* attribute ``marker_keeps_taken_only`` (optional, default False) — the marker keeps only what each reservation
  took, and ``read`` derives ``replaced`` from the live ranges (OPNsense): a release undoes newer bands by
  :func:`dhcp_ranges.rejoin`;
* attribute ``leases_unknown`` — set by ``read`` to a reason when active leases could not be read
  (``present`` then refuses unless ``accept_active_leases``).

Check mode is honoured here and only here.
"""

from __future__ import annotations

import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import (
    Conflict,
    Plan,
    Scope,
    check_request,
    find_marker,
    merge_marker,
    plan_present,
    plan_release,
)
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange, RangeError, parse_range

if t.TYPE_CHECKING:
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import MarkerEntry


class ReservationError(Exception):
    """Anything the user must act on; the message says what happened to the router."""


class ApplyError(ReservationError):
    """Applying failed; ``restored`` says whether the router was put back as it was."""

    def __init__(self, message: str, restored: bool) -> None:
        super().__init__(message)
        self.restored = restored


class ScopeState(t.NamedTuple):
    """What ``read`` saw: a ``dhcp_ranges.Scope``, the marker entries, and backend data (opaque here)."""

    scope: Scope
    entries: list[MarkerEntry]
    raw: t.Any  # the backend's own: only that backend reads it


class Backend(t.Protocol):
    """What :func:`run` needs of a backend (the module docstring says what each method does). Optional
    attributes, read with ``getattr``: ``max_ranges`` (int or None) and ``leases_unknown`` (a reason or None)."""

    name: str

    def read(self, request: IPRange, scope_hint: str | None) -> ScopeState: ...

    def prepare(
        self, state: ScopeState, plan: Plan, entries_after: list[MarkerEntry], request: IPRange, action: str
    ) -> t.Any: ...

    def validate(self, state: ScopeState, candidate: t.Any) -> None: ...

    def apply(self, state: ScopeState, candidate: t.Any) -> None: ...

    def verify(self, state: ScopeState, plan: Plan) -> None: ...

    def rollback(self, state: ScopeState) -> None: ...

    def ui_range(self, rng: IPRange) -> str: ...

    # dhcp_scope_info's two read-only methods (module_utils/dhcp_scope_info.py says what they return)
    def scopes(self) -> list[dict[str, t.Any]]: ...

    def details(self, state: ScopeState) -> dict[str, t.Any]: ...


def _ui(backend: Backend, state: ScopeState, ranges: t.Sequence[IPRange]) -> str:
    scope = state.scope
    lines = [f"scope {scope.name} ({scope.subnet})"]
    for rng in ranges:
        lines.append(f"  dynamic range: {backend.ui_range(rng)}")
    if not ranges:
        lines.append("  dynamic range: (none)")
    return "\n".join(lines) + "\n"


def run(
    backend: Backend,
    range_text: str,
    state: str = "present",
    scope: str | None = None,
    accept_active_leases: bool = False,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Run one reservation; returns the result dict (``changed``, ``diff``, ``commands``, ``scope``,
    ``ranges_before``, ``ranges_after``, ``warnings``, ``msg``). Raises :class:`ReservationError`."""
    try:
        request = parse_range(range_text, "range")
    except RangeError as exc:
        raise ReservationError(str(exc)) from exc
    st = backend.read(request, scope)
    warnings: list[str] = []
    msg = ""
    entries_after = st.entries
    try:
        if state == "present":
            unknown = getattr(backend, "leases_unknown", None)
            if unknown and not accept_active_leases:
                raise ReservationError(
                    f"{unknown}; make them readable or set accept_active_leases: true; the router was not changed"
                )
            warnings = check_request(st.scope, request, accept_active_leases)
            plan = plan_present(st.scope, request, getattr(backend, "max_ranges", None))
            if plan.changed:
                entries_after = merge_marker(st.entries, request, plan)
                msg = "reserved {}: scope {} now hands out {}".format(
                    request,
                    st.scope.name,
                    ", ".join(str(r) for r in plan.ranges_after),
                )
            else:
                msg = f"{request} is already outside every dynamic range of scope {st.scope.name}"
        else:
            entry = find_marker(st.entries, request)
            if entry is None:
                plan = Plan(tuple(st.scope.ranges), tuple(st.scope.ranges), (), [])
                overlapping = [r for r in st.scope.ranges if r.overlaps(request)]
                msg = f"{request} was not reserved by this module in scope {st.scope.name}; nothing to give back"
                if not overlapping:
                    msg += " (the addresses are outside the dynamic ranges; not widening what a person configured)"
            else:
                plan, entries_after = plan_release(
                    st.scope,
                    request,
                    st.entries,
                    getattr(backend, "max_ranges", None),
                    by_rejoin=getattr(backend, "marker_keeps_taken_only", False),
                )
                msg = "gave back {}: scope {} now hands out {}".format(
                    request,
                    st.scope.name,
                    ", ".join(str(r) for r in plan.ranges_after),
                )
    except Conflict as exc:
        raise ReservationError(f"{exc}; the router was not changed") from exc

    changed = plan.changed or entries_after != st.entries
    result: dict[str, t.Any] = {
        "changed": changed,
        "msg": msg,
        "commands": list(plan.commands),
        "scope": {"name": st.scope.name, "subnet": str(st.scope.subnet), "backend": backend.name},
        "ranges_before": [str(r) for r in plan.ranges_before],
        "ranges_after": [str(r) for r in plan.ranges_after],
        "diff": {
            "before": _ui(backend, st, plan.ranges_before),
            "after": _ui(backend, st, plan.ranges_after),
            "before_header": f"{backend.name} scope {st.scope.name} (live)",
            "after_header": "{} scope {} ({} {})".format(
                backend.name, st.scope.name, "reserve" if state == "present" else "release", request
            ),
        },
        "warnings": warnings,
    }
    if not changed:
        return result

    candidate = backend.prepare(st, plan, entries_after, request, state)
    backend.validate(st, candidate)
    if check_mode:
        result["msg"] = "check mode: would have " + msg
        return result

    backend.apply(st, candidate)
    try:
        backend.verify(st, plan)
    except ReservationError as exc:
        try:
            backend.rollback(st)
        except Exception as rb_exc:  # report both; the router state is unknown
            raise ApplyError(
                f"{exc}; rolling back failed too ({rb_exc}): check scope {st.scope.name} by hand",
                restored=False,
            ) from rb_exc
        raise ApplyError(f"{exc}; the router was put back as it was", restored=True) from exc
    return result
