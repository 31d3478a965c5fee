"""The address allocator: which Service holds which addresses. Pure: no I/O, no Kubernetes types.

Semantics follow MetalLB's ``internal/allocator`` and ``controller/service.go`` (see
``docs/design/0002-allocation.md`` for the rules, and where and why we differ). In short:

- A Service keeps what it holds (``current_ips`` from its status, or what this allocator gave it)
  while those addresses are still valid for it. Stability is the point: an address never moves
  because of event order, a restart, or an unrelated pool edit.
- Otherwise: requested IPs → exactly those; requested pool → the lowest free address(es) there;
  else the pools reserved for the Service by ``serviceAllocation`` (by priority), then the
  unreserved ``autoAssign`` pools (by name).
- Sharing needs the same non-empty sharing key, the same backend key and disjoint ports.
- Nothing walks a range address by address: free space is kept as intervals
  (:mod:`speaker.ipam.freelist`), ownership as a sorted interval index.

User mistakes are answered with :class:`AllocationError` values, never exceptions.
"""

from __future__ import annotations

import ipaddress
import operator
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from speaker.ipam.freelist import FreeList
from speaker.ipam.pool import Pool, ServiceAllocation
from speaker.ipam.ranges import is_buggy_ip
from speaker.ipam.request import (
    FAMILY_POLICIES,
    PREFER_DUAL_STACK,
    REQUIRE_DUAL_STACK,
    SINGLE_STACK,
    AllocationError,
    Assignment,
    IPAddress,
    PoolStats,
    ServiceRequest,
)
from speaker.labels import any_matches

__all__ = [
    "Allocator",
    "AllocationError",
    "Assignment",
    "PoolStats",
    "ServiceRequest",
    "order_for_restore",
    "pool_matches_service",
]

_INF = float("inf")


def _fam(version: int) -> str:
    return f"IPv{version}"


def _join(items: Iterable[object]) -> str:
    return ", ".join(str(i) for i in items)


def pool_matches_service(allocation: ServiceAllocation | None, request: ServiceRequest) -> bool:
    """Whether a pool's ``serviceAllocation`` lets this Service use it (MetalLB's isPoolCompatibleWithService).

    Namespace criterion: the Service's namespace is listed in ``namespaces`` or its labels match
    one of ``namespaceSelectors`` (MetalLB folds both into one namespace set). Service criterion:
    one of ``serviceSelectors`` matches the Service's labels. An empty criterion does not restrict.
    """
    if allocation is None:
        return True
    if allocation.namespaces or allocation.namespace_selectors:
        in_list = request.namespace in allocation.namespaces
        by_selector = bool(allocation.namespace_selectors) and any_matches(
            allocation.namespace_selectors, request.namespace_label_map
        )
        if not (in_list or by_selector):
            return False
    return any_matches(allocation.service_selectors, request.label_map)


def _pool_rank(pool: Pool) -> tuple[float, str]:
    """Sort key among reserved pools: priority ascending, priority 0 ("unset") last, then name."""
    priority = pool.allocation.priority if pool.allocation else 0
    return (priority if priority > 0 else _INF, pool.name)


def order_for_restore(requests: Iterable[ServiceRequest]) -> list[ServiceRequest]:
    """The order in which to replay Services after a restart so the result does not depend on event order.

    Services that already hold addresses come first, so no newcomer can take an address that
    a not-yet-replayed Service holds; among them the older Service (then the smaller key) wins
    a conflict. Then Services asking for specific IPs, then for a specific pool, then the rest,
    so an automatic choice never takes an address someone asked for by name.
    """

    def rank(r: ServiceRequest) -> tuple[int, str, str]:
        if r.current_ips:
            group = 0
        elif r.requested_ips:
            group = 1
        elif r.pool:
            group = 2
        else:
            group = 3
        return (group, r.created, r.key)

    return sorted(requests, key=rank)


@dataclass
class _PoolState:
    pool: Pool
    free: dict[int, FreeList]
    used: dict[int, int] = field(default_factory=lambda: {4: 0, 6: 0})


@dataclass
class _Hold:
    """One address in use: its pool, the keys every user agreed on, and each user's ports."""

    pool: str
    sharing_key: str
    backend_key: str
    users: dict[str, frozenset[tuple[str, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Alloc:
    request: ServiceRequest
    pool: str
    ips: tuple[IPAddress, ...]
    #: Given by :meth:`Allocator.assign` with no notes (not re-held by ``set_pools``): the same request again may
    #: keep it without checking it again (``_unchanged``).
    settled: bool = False


#: What the allocator reads from a request, but for ``current_ips`` (what the Service shows).
_ASKED = operator.attrgetter(*(f.name for f in fields(ServiceRequest) if f.name != "current_ips"))


def _unchanged(held: ServiceRequest, asked: ServiceRequest) -> bool:
    """Whether ``asked`` asks what ``held`` asked: only the Service's status may differ (our own write of it)."""
    return held is asked or _ASKED(held) == _ASKED(asked)


@dataclass
class _OwnerIndex:
    """Which pool owns which addresses of one family: sorted, disjoint intervals."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def owner(self, value: int) -> str | None:
        i = bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.ends[i]:
            return self.names[i]
        return None


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _subtract(a: int, b: int, claimed: _OwnerIndex) -> list[tuple[int, int]]:
    """The parts of ``[a, b]`` that no earlier pool claimed."""
    pieces = []
    i = bisect_right(claimed.ends, a - 1)  # first claimed interval ending at or after a
    while i < len(claimed.starts) and claimed.starts[i] <= b:
        if a < claimed.starts[i]:
            pieces.append((a, claimed.starts[i] - 1))
        a = max(a, claimed.ends[i] + 1)
        i += 1
    if a <= b:
        pieces.append((a, b))
    return pieces


def _build(pools: Iterable[Pool]) -> tuple[dict[str, _PoolState], dict[int, _OwnerIndex]]:
    """Index pools. Overlaps between pools (a config error MetalLB refuses) go to the first pool by name."""
    by_name: dict[str, Pool] = {}
    for pool in pools:
        if pool.name in by_name:
            raise ValueError(f"two pools named {pool.name!r}")
        by_name[pool.name] = pool
    owners = {4: _OwnerIndex(), 6: _OwnerIndex()}
    states: dict[str, _PoolState] = {}
    for name in sorted(by_name):
        pool = by_name[name]
        free: dict[int, FreeList] = {}
        for version in (4, 6):
            spans = [(r.first, r.last) for r in pool.ranges if r.version == version]
            if not spans:
                continue
            index = owners[version]
            owned: list[tuple[int, int]] = []
            for a, b in _merge(spans):
                owned.extend(_subtract(a, b, index))
            free[version] = FreeList(version, owned, pool.avoid_buggy_ips)
            if owned:
                rows = sorted(
                    list(zip(index.starts, index.ends, index.names, strict=True)) + [(a, b, name) for a, b in owned]
                )
                index.starts = [r[0] for r in rows]
                index.ends = [r[1] for r in rows]
                index.names = [r[2] for r in rows]
        states[name] = _PoolState(pool, free)
    return states, owners


class Allocator:
    """Tracks pools and which Services hold which addresses.

    Not thread-safe: one reconcile loop owns it. Restart-stable: rebuild it by calling
    :meth:`restore` (or :meth:`assign` in :func:`order_for_restore` order) with every Service's
    request, ``current_ips`` taken from its status.
    """

    def __init__(self, pools: Iterable[Pool] = ()) -> None:
        self._pools: dict[str, _PoolState]
        self._owners: dict[int, _OwnerIndex]
        self._pools, self._owners = _build(pools)
        self._holds: dict[IPAddress, _Hold] = {}
        self._allocs: dict[str, _Alloc] = {}
        self._by_sharing_key: dict[str, set[IPAddress]] = {}
        self._services_per_pool: dict[str, int] = {}  # kept with _allocs: read after every batch of changes
        #: why each Service listed by the last :meth:`set_pools` lost its addresses
        self.last_evictions: dict[str, str] = {}

    # ------------------------------------------------------------------ queries

    @property
    def pool_names(self) -> list[str]:
        return sorted(self._pools)

    def ips_of(self, key: str) -> tuple[IPAddress, ...]:
        alloc = self._allocs.get(key)
        return alloc.ips if alloc else ()

    def pool_of(self, key: str) -> str:
        """The pool the Service's addresses come from ("" if none): ``metallb.io/ip-allocated-from-pool``."""
        alloc = self._allocs.get(key)
        return alloc.pool if alloc else ""

    def holders(self, ip: str | IPAddress) -> tuple[str, ...]:
        """Keys of the Services holding ``ip``, sorted."""
        hold = self._holds.get(ipaddress.ip_address(ip))
        return tuple(sorted(hold.users)) if hold else ()

    def services_per_pool(self) -> dict[str, int]:
        """How many Services hold addresses from each pool (MetalLB's ``services_allocated_total``).

        Kept up to date as Services come and go rather than counted: the controller reads it after every batch
        of changes, and counting 10,000 assignments per batch was a third of the speaker's CPU at a cold start."""
        return {pool: n for pool, n in self._services_per_pool.items() if n}

    def assignments(self) -> dict[str, Assignment]:
        """Every current assignment, by Service key (a snapshot)."""
        return {k: Assignment(k, a.pool, a.ips) for k, a in sorted(self._allocs.items())}

    def pool_for_ip(self, ip: str | IPAddress) -> str:
        """The pool owning ``ip`` ("" if none, or if the pool avoids this buggy address)."""
        addr = ipaddress.ip_address(ip)
        owner = self._owners[addr.version].owner(int(addr))
        if owner is None:
            return ""
        if self._pools[owner].pool.avoid_buggy_ips and is_buggy_ip(int(addr), addr.version):
            return ""
        return owner

    def pool_stats(self, name: str) -> PoolStats:
        """Assigned and available addresses per family, by arithmetic (a /64 is as cheap as a /24).

        Counts distinct addresses (a shared address counts once), like MetalLB's PoolCounters.
        Values are exact Python ints: a /64 reports 2**64; clip when writing an int64 field.
        """
        state = self._pools.get(name)
        if state is None:
            raise KeyError(f"no pool named {name!r}")
        cap = {v: (fl.capacity if fl else 0) for v, fl in ((4, state.free.get(4)), (6, state.free.get(6)))}
        return PoolStats(state.used[4], cap[4] - state.used[4], state.used[6], cap[6] - state.used[6])

    # ------------------------------------------------------------------ changes

    def release(self, key: str) -> bool:
        """Free everything ``key`` holds (Service deleted or no longer a LoadBalancer). True if it held anything."""
        alloc = self._allocs.pop(key, None)
        if alloc is None:
            return False
        self._services_per_pool[alloc.pool] -= 1
        for ip in alloc.ips:
            hold = self._holds[ip]
            hold.users.pop(key, None)
            if hold.users:
                continue
            del self._holds[ip]
            if hold.sharing_key:
                keyed = self._by_sharing_key.get(hold.sharing_key)
                if keyed is not None:
                    keyed.discard(ip)
                    if not keyed:
                        del self._by_sharing_key[hold.sharing_key]
            state = self._pools.get(hold.pool)
            if state is not None:
                state.free[ip.version].give(int(ip))
                state.used[ip.version] -= 1
        return True

    def set_pools(self, pools: Iterable[Pool]) -> list[str]:
        """Replace the pools; return the keys of Services that lost their addresses (sorted).

        A held address stays with its Service as long as it is still valid for it under the
        new pools, whatever happened to the pool's name or other ranges. If it now falls in
        a *different* pool it stays too and is counted in that pool (MetalLB's SetPools does
        the same), unless that pool cannot serve the Service: its ``serviceAllocation``
        excludes the Service, the Service names another existing pool, or the pool avoids
        buggy IPs and the address ends in .0/.255. Such Services, and those whose addresses
        are in no pool any more, are released and listed; ``last_evictions`` says why. The
        controller then calls :meth:`assign` for them again (which may find a new address).
        """
        states, owners = _build(pools)
        previous = self._allocs
        self._pools, self._owners = states, owners
        self._holds, self._allocs, self._by_sharing_key, self._services_per_pool = {}, {}, {}, {}
        evictions: dict[str, str] = {}
        # Sharing compatibility does not depend on pools, so holders that were compatible stay so;
        # the order only matters for determinism.
        for key in sorted(previous, key=lambda k: (previous[k].request.created, k)):
            alloc = previous[key]
            reason, pool, _notes = self._validate(alloc.request, alloc.ips, held=True)
            if reason is not None:
                evictions[key] = reason
                continue
            self._hold(alloc.request, pool, alloc.ips)
        self.last_evictions = evictions
        return sorted(evictions)

    def restore(self, requests: Iterable[ServiceRequest]) -> dict[str, Assignment | AllocationError]:
        """Assign every request in :func:`order_for_restore` order; the result is independent of input order."""
        return {r.key: self.assign(r) for r in order_for_restore(requests)}

    def assign(self, request: ServiceRequest) -> Assignment | AllocationError:
        """Give ``request`` its addresses: keep valid held ones, else requested IPs, requested pool, or automatic.

        Idempotent. On :class:`AllocationError` the Service holds nothing afterwards (the
        controller clears its status), matching MetalLB's clearServiceState.

        A request that asks what the one that got the held addresses asked (only ``current_ips`` differ: typically
        the Service showing them now, after the status write) keeps them without checking them again: nothing it
        is checked against changed (pools change only through :meth:`set_pools`, which checks every holder, and
        another Service only takes an address compatibly with its holders). Not when a family it wants is
        missing: a freed address of that family may complete it. During a cold start every Service is decided
        once more when its own status write comes back; checking again cost a tenth of the controller's time.
        """
        r = request
        wanted, problem = _wanted_families(r)
        if problem is not None:
            return self._fail(r, problem)
        held = self._allocs.get(r.key)
        if held is not None and held.settled and len(held.ips) == len(wanted) and _unchanged(held.request, r):
            self._allocs[r.key] = _Alloc(r, held.pool, held.ips, settled=True)
            return Assignment(r.key, held.pool, held.ips)
        requested: list[IPAddress] = []
        for text in r.requested_ips:
            try:
                requested.append(ipaddress.ip_address(text.strip()))
            except ValueError:
                return self._fail(r, f"requested IP {text!r} is not an IP address")

        notes: list[str] = []
        tried: set[tuple[IPAddress, ...]] = set()
        for candidate in self._held_candidates(r):
            ips = _held_subset(candidate, wanted)
            if not ips or ips in tried:
                continue
            tried.add(ips)
            result = self._try_keep(r, ips, wanted, requested)
            if isinstance(result, Assignment):
                return result
            if not _is_user_move(result):
                notes.append(f"could not keep {_join(ips)}: {result}")

        self.release(r.key)
        if requested:
            return self._assign_requested(r, tuple(requested), wanted, notes)
        if r.pool:
            return self._assign_from_pool(r, wanted, notes)
        return self._assign_automatic(r, wanted, notes)

    # ------------------------------------------------------------------ internals

    def _fail(self, r: ServiceRequest, reason: str) -> AllocationError:
        self.release(r.key)
        return AllocationError(r.key, reason)

    def _held_candidates(self, r: ServiceRequest) -> Iterable[tuple[IPAddress, ...]]:
        """What the Service holds: this allocator's record first (idempotency), then its status."""
        alloc = self._allocs.get(r.key)
        if alloc is not None:
            yield alloc.ips
        parsed = []
        for text in r.current_ips:
            try:
                parsed.append(ipaddress.ip_address(text.strip()))
            except ValueError:
                continue  # garbage in status: ignore, allocate afresh
        if parsed:
            yield tuple(parsed)

    def _try_keep(
        self, r: ServiceRequest, ips: tuple[IPAddress, ...], wanted: tuple[int, ...], requested: list[IPAddress]
    ) -> Assignment | str:
        """Keep ``ips`` (completed to dual stack from the same pool if needed) or say why not."""
        if requested and set(ips) != set(requested):
            return _UserMove(f"the Service now requests {_join(requested)}")
        if r.pool and r.pool in self._pools:
            owner = self.pool_for_ip(ips[0])
            if owner and owner != r.pool:
                return _UserMove(f"the Service now requests pool {r.pool}")
        reason, pool, notes = self._validate(r, ips, held=True)
        if reason is not None:
            return reason
        have = {ip.version for ip in ips}
        missing = [f for f in wanted if f not in have]
        extra: list[IPAddress] = []
        if missing and not requested:
            state = self._pools[pool]
            for version in missing:
                ip = self._pick(state, version, r)
                if ip is not None:
                    extra.append(ip)
        if r.family_policy == REQUIRE_DUAL_STACK and len(ips) + len(extra) < 2:
            if requested:
                return _UserMove("RequireDualStack needs one IPv4 and one IPv6 requested address")
            return f"RequireDualStack needs an {_fam(missing[0])} address too and pool {pool} has none free"
        return self._commit(r, pool, ips + tuple(extra), notes)

    def _validate(
        self, r: ServiceRequest, ips: Sequence[IPAddress], *, held: bool
    ) -> tuple[str | None, str, list[str]]:
        """Can ``r`` hold exactly ``ips``? Returns ``(reason or None, pool, notes)``.

        ``held``: the addresses are ones the Service already holds; a requested pool that no longer
        exists then does not take them away (a renamed pool must not move addresses).
        """
        notes: list[str] = []
        owners = []
        for ip in ips:
            owner = self._owners[ip.version].owner(int(ip))
            if owner is None:
                return f"{ip} is not in any IPAddressPool", "", notes
            if self._pools[owner].pool.avoid_buggy_ips and is_buggy_ip(int(ip), ip.version):
                return f"{ip} ends in .0 or .255 and pool {owner} sets avoidBuggyIPs", "", notes
            owners.append(owner)
        if len(set(owners)) > 1:
            pairs = ", ".join(f"{ip} in {o}" for ip, o in zip(ips, owners, strict=True))
            return f"addresses of one Service must come from one pool ({pairs})", "", notes
        pool = owners[0]
        state = self._pools[pool]
        if not pool_matches_service(state.pool.allocation, r):
            reserved_for = _describe(state.pool.allocation)
            return f"pool {pool} is reserved by serviceAllocation for other Services ({reserved_for})", pool, notes
        if r.pool and r.pool != pool:
            if r.pool in self._pools:
                return f"{_join(ips)} is in pool {pool}, not in the requested pool {r.pool}", pool, notes
            if not held:
                return f"the requested pool {r.pool} does not exist", pool, notes
            notes.append(f"the requested pool {r.pool} does not exist; keeping {_join(ips)} from pool {pool}")
        for ip in ips:
            conflict = self._conflict(ip, r)
            if conflict is not None:
                return conflict, pool, notes
        return None, pool, notes

    def _conflict(self, ip: IPAddress, r: ServiceRequest) -> str | None:
        """Why ``r`` may not (also) hold ``ip``, or None. The Service's own use never conflicts."""
        hold = self._holds.get(ip)
        if hold is None:
            return None
        others = sorted(k for k in hold.users if k != r.key)
        if not others:
            return None
        who = _join(others)
        if not hold.sharing_key:
            return f"{ip} is already held by {who} (which does not allow sharing: no metallb.io/allow-shared-ip)"
        if not r.sharing_key:
            return f"{ip} is already held by {who} (this Service has no metallb.io/allow-shared-ip sharing key)"
        if hold.sharing_key != r.sharing_key:
            return (
                f"{ip} is already held by {who} (sharing key does not match: "
                f"{r.sharing_key!r} here, {hold.sharing_key!r} there)"
            )
        if hold.backend_key != r.backend_key:
            return (
                f"{ip} is already held by {who} (externalTrafficPolicy: Local Services share an address only "
                f"with the same pod selector: {_backend(r.backend_key)} here, {_backend(hold.backend_key)} there)"
            )
        for other in others:
            overlap = sorted(hold.users[other] & r.ports)
            if overlap:
                proto, port = overlap[0]
                return f"{ip} is already held by {other} (port {proto}/{port} is already used on it)"
        return None

    def _pick(self, state: _PoolState, version: int, r: ServiceRequest) -> IPAddress | None:
        """The address ``r`` should get in this pool and family: a compatible shared one first, else the lowest free."""
        if r.sharing_key:
            shared = [
                ip
                for ip in self._by_sharing_key.get(r.sharing_key, ())
                if ip.version == version and self._holds[ip].pool == state.pool.name and self._conflict(ip, r) is None
            ]
            if shared:
                return min(shared)
        free = state.free.get(version)
        if free is None:
            return None
        value = free.lowest()
        if value is None:
            return None
        return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)

    def _commit(self, r: ServiceRequest, pool: str, ips: Sequence[IPAddress], notes: Iterable[str]) -> Assignment:
        order = {f: i for i, f in enumerate(r.families)}
        ordered = tuple(sorted(ips, key=lambda ip: order.get(ip.version, 9)))
        noted = tuple(notes)
        self.release(r.key)
        self._hold(r, pool, ordered, settled=not noted)
        return Assignment(r.key, pool, ordered, noted)

    def _hold(self, r: ServiceRequest, pool: str, ips: tuple[IPAddress, ...], *, settled: bool = False) -> None:
        state = self._pools[pool]
        for ip in ips:
            hold = self._holds.get(ip)
            if hold is None:
                hold = _Hold(pool, r.sharing_key, r.backend_key)
                self._holds[ip] = hold
                state.free[ip.version].take(int(ip))
                state.used[ip.version] += 1
                if r.sharing_key:
                    self._by_sharing_key.setdefault(r.sharing_key, set()).add(ip)
            hold.users[r.key] = r.ports
        self._allocs[r.key] = _Alloc(r, pool, ips, settled)  # callers released r.key first (or start from empty)
        self._services_per_pool[pool] = self._services_per_pool.get(pool, 0) + 1

    def _assign_requested(
        self, r: ServiceRequest, requested: tuple[IPAddress, ...], wanted: tuple[int, ...], notes: list[str]
    ) -> Assignment | AllocationError:
        shape = _shape_problem(requested, wanted, r)
        if shape is not None:
            return self._fail(r, shape)
        reason, pool, more = self._validate(r, requested, held=False)
        if reason is not None:
            return self._fail(r, reason)
        return self._commit(r, pool, requested, notes + more)

    def _assign_from_pool(
        self, r: ServiceRequest, wanted: tuple[int, ...], notes: list[str]
    ) -> Assignment | AllocationError:
        state = self._pools.get(r.pool)
        if state is None:
            return self._fail(r, f"the requested pool {r.pool} does not exist")
        if not pool_matches_service(state.pool.allocation, r):
            reserved_for = _describe(state.pool.allocation)
            return self._fail(r, f"pool {r.pool} is reserved by serviceAllocation for other Services ({reserved_for})")
        families = state.pool.families
        if r.family_policy == REQUIRE_DUAL_STACK:
            for version in wanted:
                if version not in families:
                    return self._fail(r, f"RequireDualStack but pool {r.pool} has no {_fam(version)} range")
        elif len(wanted) == 1 and wanted[0] not in families:
            return self._fail(r, f"pool {r.pool} has no {_fam(wanted[0])} range")
        elif not any(v in families for v in wanted):
            return self._fail(r, f"pool {r.pool} has no {' or '.join(_fam(v) for v in wanted)} range")
        picked = self._best_in([state], wanted, r)
        if picked is None:
            return self._fail(r, _exhausted([state], wanted, r.family_policy))
        return self._commit(r, r.pool, picked[1], notes)

    def _assign_automatic(
        self, r: ServiceRequest, wanted: tuple[int, ...], notes: list[str]
    ) -> Assignment | AllocationError:
        reserved, unreserved, skipped = [], [], []
        for name in sorted(self._pools):
            state = self._pools[name]
            pool = state.pool
            if not pool.auto_assign:
                skipped.append(f"{name} (autoAssign: false)")
            elif not pool_matches_service(pool.allocation, r):
                skipped.append(f"{name} (serviceAllocation: {_describe(pool.allocation)})")
            elif pool.allocation is not None:
                reserved.append(state)
            else:
                unreserved.append(state)
        reserved.sort(key=lambda s: _pool_rank(s.pool))
        for group in (reserved, unreserved):
            picked = self._best_in(group, wanted, r)
            if picked is not None:
                pool_name, ips = picked
                return self._commit(r, pool_name, ips, notes)
        candidates = reserved + unreserved
        if not candidates:
            detail = f": {'; '.join(skipped)}" if skipped else " (no pools configured)"
            return self._fail(r, f"no IPAddressPool can be used automatically for {r.key}{detail}")
        return self._fail(r, _exhausted(candidates, wanted, r.family_policy))

    def _best_in(
        self, states: list[_PoolState], wanted: tuple[int, ...], r: ServiceRequest
    ) -> tuple[str, tuple[IPAddress, ...]] | None:
        """MetalLB's findBestPoolForService over pools already in preference order.

        One family: the first pool with a free address of it. Two families: the first pool with
        both; with PreferDualStack, failing that, the first pool with the primary family, then
        the first with the secondary one.
        """
        if len(wanted) == 1:
            for state in states:
                ip = self._pick(state, wanted[0], r)
                if ip is not None:
                    return state.pool.name, (ip,)
            return None
        first_primary = first_secondary = None
        for state in states:
            a = self._pick(state, wanted[0], r)
            b = self._pick(state, wanted[1], r)
            if a is not None and b is not None:
                return state.pool.name, (a, b)
            if first_primary is None and a is not None:
                first_primary = (state.pool.name, (a,))
            if first_secondary is None and b is not None:
                first_secondary = (state.pool.name, (b,))
        if r.family_policy == PREFER_DUAL_STACK:
            return first_primary or first_secondary
        return None


class _UserMove(str):
    """A reason to drop held addresses that is the user's own wish (not worth a note)."""


def _is_user_move(reason: object) -> bool:
    return isinstance(reason, _UserMove)


def _wanted_families(r: ServiceRequest) -> tuple[tuple[int, ...], str | None]:
    """The families to allocate, primary first, or a reason the request is malformed.

    SingleStack: the first of ``ipFamilies``. RequireDualStack: both, primary first.
    PreferDualStack: the families listed (the API server lists both only on a dual-stack
    cluster; MetalLB also goes by the listed families).
    """
    if r.family_policy not in FAMILY_POLICIES:
        return (), f"spec.ipFamilyPolicy {r.family_policy!r} is not one of {_join(FAMILY_POLICIES)}"
    fams = r.families
    if any(f not in (4, 6) for f in fams) or len(set(fams)) != len(fams):
        return (), f"spec.ipFamilies {list(fams)!r} must be IPv4 and/or IPv6, each once"
    primary = fams[0]
    if r.family_policy == SINGLE_STACK:
        return (primary,), None
    if r.family_policy == REQUIRE_DUAL_STACK:
        return (primary, 6 if primary == 4 else 4), None
    return fams, None


def _held_subset(ips: tuple[IPAddress, ...], wanted: tuple[int, ...]) -> tuple[IPAddress, ...]:
    """The held addresses still wanted: one per wanted family (a Service moved from dual to single
    stack keeps its primary-family address instead of getting a new one)."""
    out: list[IPAddress] = []
    seen: set[int] = set()
    for ip in ips:
        if ip.version in wanted and ip.version not in seen:
            seen.add(ip.version)
            out.append(ip)
    return tuple(out)


def _shape_problem(ips: tuple[IPAddress, ...], wanted: tuple[int, ...], r: ServiceRequest) -> str | None:
    versions = [ip.version for ip in ips]
    listed = _join(ips)
    if len(set(ips)) != len(ips):
        return f"requested IPs {listed} name the same address twice"
    if len(set(versions)) != len(versions):
        return f"requested IPs {listed} have two addresses of one family; give at most one IPv4 and one IPv6"
    for version in versions:
        if version not in wanted:
            return (
                f"requested IP(s) {listed} do not match the Service's families "
                f"({_join(_fam(v) for v in wanted)}, {r.family_policy})"
            )
    if r.family_policy == REQUIRE_DUAL_STACK and len(ips) != 2:
        return f"requested IP(s) {listed}: RequireDualStack needs one IPv4 and one IPv6 address"
    return None


def _describe(allocation: ServiceAllocation | None) -> str:
    if allocation is None:
        return "no restriction"
    parts = []
    if allocation.namespaces:
        parts.append(f"namespaces {_join(sorted(allocation.namespaces))}")
    if allocation.namespace_selectors:
        parts.append(f"{len(allocation.namespace_selectors)} namespaceSelectors")
    if allocation.service_selectors:
        parts.append(f"{len(allocation.service_selectors)} serviceSelectors")
    return "; ".join(parts) or "no restriction"


def _backend(key: str) -> str:
    return f"selector {key!r}" if key else "externalTrafficPolicy: Cluster"


def _exhausted(states: list[_PoolState], wanted: tuple[int, ...], policy: str) -> str:
    """'no available IPs in pool lan (IPv4: 11 of 11 in use)' — what ran out, where."""
    names = _join(s.pool.name for s in states)
    details = []
    for state in states:
        for version in wanted:
            free = state.free.get(version)
            if free is None:
                if policy == REQUIRE_DUAL_STACK:
                    details.append(f"{state.pool.name} has no {_fam(version)} range")
                continue
            details.append(f"{state.pool.name} {_fam(version)}: {state.used[version]} of {free.capacity} in use")
    noun = "pool" if len(states) == 1 else "pools"
    need = "IPs" if policy != REQUIRE_DUAL_STACK else "IPv4+IPv6 pair"
    return f"no available {need} in {noun} {names} ({'; '.join(details)})"
