"""The ``metallb.io`` objects turned into one frozen configuration.

``build_config`` is pure: API dicts (camelCase JSON, as the API server returns them) in, a
:class:`ClusterConfig` of frozen dataclasses out; no I/O and no Kubernetes client types, so it is
tested with plain dicts and fuzzed with hypothesis.

It follows MetalLB's config parser (``internal/config/config.go``) and the validating webhooks that
call it, with one deliberate difference: **isolation instead of all-or-nothing**. MetalLB rejects the
whole configuration when one object is wrong, so a typo in a new pool stops every change until it is
fixed. Here a bad object is left out, with a :class:`ObjectError` naming the object, the field and the
value, and everything else is used. Where two objects conflict, the older one (``creationTimestamp``,
then name) wins: it may already have Services on it, and keeping it means no address moves.

Every error is reported, never raised: ``build_config`` does not raise for any JSON-shaped input.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, TypeVar

from speaker.config.durations import parse_duration
from speaker.ipam.pool import Pool, ServiceAllocation
from speaker.ipam.ranges import IPAddress, IPRange, RangeError, parse_range
from speaker.labels import Selector, SelectorError

POOL = "IPAddressPool"
L2ADV = "L2Advertisement"
BGPADV = "BGPAdvertisement"
PEER = "BGPPeer"
COMMUNITY = "Community"
BFD_PROFILE = "BFDProfile"
#: The metallb.io kinds ``build_config`` reads, by their ``kind`` (what a manifest's documents say; the watched
#: resources and their versions are ``speaker.kube.kinds.METALLB_VERSIONS``).
KINDS = (POOL, L2ADV, BGPADV, PEER, COMMUNITY, BFD_PROFILE)

#: What a refused FRR-only feature says: MetalLB's native BGP mode refuses the same fields
#: (internal/config/validation.go ``DiscardFRROnly``); here they are refused one by one, by name.
NATIVE_UNSUPPORTED = "not supported by the native BGP speaker"

ASN_MAX = 2**32 - 1
DEFAULT_PEER_PORT = 179
DEFAULT_HOLD_TIME = 90  # seconds; what MetalLB's BGP sessions use when neither timer is set
BASIC_AUTH = "kubernetes.io/basic-auth"

_EMPTY: Mapping[str, Any] = MappingProxyType({})
T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectError:
    """Why one object (or one object's use of another) was left out: a record, never raised (the speaker's own
    config file has the exception, ``speaker.config.node.ConfigError``).

    ``str()`` is the line a person reads in ``journalctl`` or ``kubectl describe``:
    ``IPAddressPool lan: spec.addresses[1]: '10.1.1.250-10.1.1.240' ends before it starts``.
    """

    kind: str
    name: str
    field: str
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"{self.kind} {self.name}: {self.field}: {self.message}"
        return f"{self.kind} {self.name}: {self.message}"


class Secret:
    """A password that never shows up in a repr, a log line or an error message.

    The value is read with :meth:`reveal` at the one place that needs it (the TCP-MD5 socket
    option); everything else — dataclass reprs, config diffs in logs — prints ``'***'``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True, order=True)
class BGPCommunity:
    """A standard community (two 16-bit halves, ``64512:100``) or a large one (three 32-bit parts)."""

    values: tuple[int, ...]

    @property
    def large(self) -> bool:
        return len(self.values) == 3

    def __str__(self) -> str:
        text = ":".join(str(v) for v in self.values)
        return f"large:{text}" if self.large else text


@dataclass(frozen=True)
class L2Advertisement:
    """``L2Advertisement``: answer ARP/NDP for addresses of the selected pools.

    ``selected_pools`` is resolved here, against the pools that were accepted and their labels, so
    the announcer never sees pool labels. ``ip_address_pools`` keeps the names as written, including
    names of pools that do not exist (yet); MetalLB allows that and so do we.
    """

    name: str
    ip_address_pools: tuple[str, ...] = ()
    ip_address_pool_selectors: tuple[Selector, ...] = ()
    node_selectors: tuple[Selector, ...] = ()
    interfaces: tuple[str, ...] = ()  # empty: every interface
    selected_pools: frozenset[str] = frozenset()
    service_selectors: tuple[Selector, ...] = ()  # empty: every Service (MetalLB 0.16)

    def applies_to(self, pool: str) -> bool:
        return pool in self.selected_pools

    def selects_service(self, labels: Mapping[str, str] | None) -> bool:
        """MetalLB 0.16 ``serviceSelectors``: none means every Service, else any one must match."""
        return not self.service_selectors or any(s.matches(labels) for s in self.service_selectors)


@dataclass(frozen=True)
class BGPAdvertisement:
    """``BGPAdvertisement``: advertise addresses of the selected pools to (some) peers.

    ``local_pref`` is ``None`` when unset (MetalLB then sends none). ``communities`` are resolved
    values, aliases already replaced. Empty ``peers`` means every peer.
    """

    name: str
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int | None = None
    communities: tuple[BGPCommunity, ...] = ()
    ip_address_pools: tuple[str, ...] = ()
    ip_address_pool_selectors: tuple[Selector, ...] = ()
    node_selectors: tuple[Selector, ...] = ()
    peers: tuple[str, ...] = ()
    selected_pools: frozenset[str] = frozenset()
    service_selectors: tuple[Selector, ...] = ()  # empty: every Service (MetalLB 0.16)

    def applies_to(self, pool: str) -> bool:
        return pool in self.selected_pools

    def selects_service(self, labels: Mapping[str, str] | None) -> bool:
        """MetalLB 0.16 ``serviceSelectors``: none means every Service, else any one must match."""
        return not self.service_selectors or any(s.matches(labels) for s in self.service_selectors)


@dataclass(frozen=True)
class BGPPeer:
    """``BGPPeer`` (v1beta2). Timers are whole seconds, as they go on the wire (RFC 4271 OPEN).

    Exactly one of ``peer_asn``/``dynamic_asn`` and exactly one of ``address``/``interface`` is set.
    ``password`` is the resolved TCP-MD5 password (inline or from ``password_secret``), a
    :class:`Secret` so it never prints.
    """

    name: str
    my_asn: int
    peer_asn: int | None = None
    dynamic_asn: str | None = None  # "internal" | "external"
    address: IPAddress | None = None
    interface: str | None = None
    port: int = DEFAULT_PEER_PORT
    source_address: IPAddress | None = None
    router_id: ipaddress.IPv4Address | None = None
    hold_time: int = DEFAULT_HOLD_TIME
    keepalive_time: int = DEFAULT_HOLD_TIME // 3
    connect_time: int | None = None
    ebgp_multihop: bool = False
    password: Secret | None = None
    password_secret: str | None = None
    node_selectors: tuple[Selector, ...] = ()
    bfd_profile: str | None = None
    enable_graceful_restart: bool = False
    vrf: str | None = None
    disable_mp: bool = False
    dual_stack_address_family: bool = False


@dataclass(frozen=True)
class ClusterConfig:
    """Everything the speaker acts on, plus what was left out and why.

    ``pools`` and ``peers`` are keyed by object name; ``communities`` maps alias → value.
    Advertisements are in age order (oldest first), the order conflicts were decided in.
    """

    pools: Mapping[str, Pool]
    l2_advertisements: tuple[L2Advertisement, ...]
    bgp_advertisements: tuple[BGPAdvertisement, ...]
    peers: Mapping[str, BGPPeer]
    communities: Mapping[str, BGPCommunity]
    errors: tuple[ObjectError, ...]
    #: Accepted as MetalLB accepts it, but worth telling the user (a pool CIDR with host bits, masked).
    warnings: tuple[ObjectError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_for(self, kind: str, name: str) -> tuple[ObjectError, ...]:
        return tuple(e for e in self.errors if e.kind == kind and e.name == name)

    def l2_for_pool(self, pool: str) -> tuple[L2Advertisement, ...]:
        return tuple(a for a in self.l2_advertisements if a.applies_to(pool))

    def bgp_for_pool(self, pool: str) -> tuple[BGPAdvertisement, ...]:
        return tuple(a for a in self.bgp_advertisements if a.applies_to(pool))


# --------------------------------------------------------------------------------------------------
# Field readers: each raises _Invalid(field, message); the per-object loop turns that into a ObjectError
# --------------------------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message


def _show(value: Any) -> str:
    """A short, unambiguous rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise _Invalid(where, f"must be an object, got {_show(value)}")
    return value


def _bool(spec: Mapping[str, Any], key: str, default: bool, path: str = "spec") -> bool:
    value = spec.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _Invalid(f"{path}.{key}", f"must be true or false, got {_show(value)}")
    return value


def _int(spec: Mapping[str, Any], key: str, lo: int, hi: int, path: str = "spec") -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if not _is_int(value) or not lo <= value <= hi:
        raise _Invalid(f"{path}.{key}", f"must be an integer from {lo} to {hi}, got {_show(value)}")
    return int(value)


def _str(spec: Mapping[str, Any], key: str, path: str = "spec", *, secret: bool = False) -> str | None:
    """An optional string; ``""`` counts as unset, like Go's ``omitempty`` zero value."""
    value = spec.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        shown = "" if secret else f", got {_show(value)}"
        raise _Invalid(f"{path}.{key}", f"must be a string{shown}")
    return value


def _str_list(spec: Mapping[str, Any], key: str, what: str, path: str = "spec") -> tuple[str, ...]:
    """A list of strings without duplicates (MetalLB's ``validateDuplicate``)."""
    value = spec.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Invalid(f"{path}.{key}", f"must be a list of strings, got {_show(value)}")
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise _Invalid(f"{path}.{key}[{i}]", f"must be a non-empty string, got {_show(item)}")
        if item in seen:
            raise _Invalid(f"{path}.{key}[{i}]", f"duplicate {what} {item!r} (also at [{seen[item]}])")
        seen[item] = i
    return tuple(value)


# Kubernetes label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue).
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r} has an invalid prefix (must be a DNS subdomain)"
    if not _LABEL_NAME.match(name):
        return f"label key {key!r} is not a valid label name"
    return None


def _label_value_ok(value: str) -> bool:
    return value == "" or bool(_LABEL_NAME.match(value))


def _selector(raw: Any, where: str) -> Selector:
    """A ``metav1.LabelSelector``, shape-checked before :meth:`Selector.from_dict` sees it."""
    if raw is None:
        return Selector()  # a null list entry decodes to the zero selector in Go: matches everything
    if not isinstance(raw, Mapping):
        raise _Invalid(where, f"must be a label selector (matchLabels/matchExpressions), got {_show(raw)}")
    labels = raw.get("matchLabels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise _Invalid(f"{where}.matchLabels", f"must be a map of strings, got {_show(labels)}")
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise _Invalid(f"{where}.matchLabels", f"must be a map of strings, got {_show(key)}: {_show(value)}")
            problem = _label_key_problem(key)
            if problem:
                raise _Invalid(f"{where}.matchLabels", problem)
            if not _label_value_ok(value):
                raise _Invalid(f"{where}.matchLabels.{key}", f"{value!r} is not a valid label value")
    exprs = raw.get("matchExpressions")
    if exprs is not None:
        if not isinstance(exprs, list):
            raise _Invalid(f"{where}.matchExpressions", f"must be a list, got {_show(exprs)}")
        for i, expr in enumerate(exprs):
            at = f"{where}.matchExpressions[{i}]"
            if not isinstance(expr, Mapping):
                raise _Invalid(at, f"must be an object with key, operator and values, got {_show(expr)}")
            key = expr.get("key")
            if not isinstance(key, str):
                raise _Invalid(f"{at}.key", f"must be a string, got {_show(key)}")
            problem = _label_key_problem(key)
            if problem:
                raise _Invalid(f"{at}.key", problem)
            values = expr.get("values")
            if values is not None:
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise _Invalid(f"{at}.values", f"must be a list of strings, got {_show(values)}")
                for j, v in enumerate(values):
                    if not _label_value_ok(v):
                        raise _Invalid(f"{at}.values", f"{v!r} is not a valid label value")
                    if v in values[:j]:  # MetalLB's validateLabelSelectorMatchExpressions
                        raise _Invalid(f"{at}.values[{j}]", f"duplicate value {v!r} (also at [{values.index(v)}])")
            # Two identical expressions (values compared as sets, as MetalLB sorts them first) are refused too.
            shape = (key, expr.get("operator"), tuple(sorted(values or ())))
            for k, earlier in enumerate(exprs[:i]):
                if (
                    isinstance(earlier, Mapping)
                    and (earlier.get("key"), earlier.get("operator"), tuple(sorted(earlier.get("values") or ())))
                    == shape
                ):
                    raise _Invalid(at, f"duplicate of {where}.matchExpressions[{k}]")
    try:
        return Selector.from_dict(raw, where)
    except SelectorError as exc:
        field, _, message = str(exc).partition(": ")
        raise _Invalid(field, message) from None


def _selectors(spec: Mapping[str, Any], key: str, path: str = "spec") -> tuple[Selector, ...]:
    """A list of selectors; two equal selectors are refused, as MetalLB does."""
    value = spec.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Invalid(f"{path}.{key}", f"must be a list of label selectors, got {_show(value)}")
    out: list[Selector] = []
    for i, raw in enumerate(value):
        sel = _selector(raw, f"{path}.{key}[{i}]")
        if sel in out:
            raise _Invalid(f"{path}.{key}[{i}]", f"duplicate of {path}.{key}[{out.index(sel)}]")
        out.append(sel)
    return tuple(out)


def _ip(spec: Mapping[str, Any], key: str, path: str = "spec") -> IPAddress | None:
    text = _str(spec, key, path)
    if text is None:
        return None
    try:
        if "%" in text:  # Go's net.ParseIP refuses zone ids, and so does MetalLB
            raise ValueError
        return ipaddress.ip_address(text)
    except ValueError:
        raise _Invalid(f"{path}.{key}", f"{text!r} is not an IP address") from None


# Go's time.ParseDuration, which is what decodes a metav1.Duration.
def _duration(spec: Mapping[str, Any], key: str, path: str = "spec") -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _Invalid(f"{path}.{key}", str(exc)) from None


_COMMUNITY_NUMBER = re.compile(r"^[0-9]+$")


class CommunityError(ValueError):
    """A string that is not a BGP community. ``shape`` is False when it is not even community-shaped

    (not ``A:B`` nor ``large:A:B:C``), i.e. it can only have been meant as a Community alias.
    """

    def __init__(self, message: str, *, shape: bool) -> None:
        super().__init__(message)
        self.shape = shape


def parse_community(text: str) -> BGPCommunity:
    """MetalLB's ``community.New``: ``AA:NN`` (16-bit each) or ``large:A:B:C`` (32-bit each)."""
    parts = text.split(":")
    if len(parts) == 2:
        bits, numbers = 16, parts
    elif len(parts) == 4:
        if parts[0] != "large":
            raise CommunityError(f"{text!r}: a large community is written large:A:B:C", shape=True)
        bits, numbers = 32, parts[1:]
    else:
        raise CommunityError(f"{text!r} is not a community (AA:NN or large:A:B:C)", shape=False)
    values = []
    for part in numbers:
        if not _COMMUNITY_NUMBER.match(part) or int(part) >= 2**bits:
            raise CommunityError(f"{text!r}: {part!r} is not a {bits}-bit number", shape=True)
        values.append(int(part))
    return BGPCommunity(tuple(values))


# --------------------------------------------------------------------------------------------------
# Objects: identity and age
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Obj:
    index: int
    name: str
    created: str | None
    labels: Mapping[str, str]
    spec: Any

    @property
    def age_key(self) -> tuple[bool, str, str, int]:
        """Oldest first; objects without a creationTimestamp count as newest."""
        return (self.created is None, self.created or "", self.name, self.index)


class _Collector:
    """The errors of one ``build_config`` call, in the order they were found."""

    def __init__(self) -> None:
        self.errors: list[ObjectError] = []
        self.warnings: list[ObjectError] = []

    def warn(self, kind: str, name: str, field: str, message: str) -> None:
        self.warnings.append(ObjectError(kind, name, field, message))

    def add(self, kind: str, name: str, field: str, message: str) -> None:
        self.errors.append(ObjectError(kind, name, field, message))

    def objects(self, kind: str, items: Iterable[Any]) -> list[_Obj]:
        """The items that have a usable identity, oldest first; the rest become errors.

        A name that appears twice (two namespaces fed in, or a bad merge) keeps the older object.
        """
        good: list[_Obj] = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                self.add(kind, f"#{index}", "", f"must be an object, got {_show(item)}")
                continue
            meta = item.get("metadata")
            if not isinstance(meta, Mapping):
                self.add(kind, f"#{index}", "metadata", f"must be an object, got {_show(meta)}")
                continue
            name = meta.get("name")
            if not isinstance(name, str) or not name:
                self.add(kind, f"#{index}", "metadata.name", f"missing, got {_show(name)}")
                continue
            created = meta.get("creationTimestamp")
            labels = meta.get("labels")
            if labels is None:
                labels = _EMPTY
            if not isinstance(labels, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
            ):
                self.add(kind, name, "metadata.labels", f"must be a map of strings, got {_show(labels)}")
                continue
            good.append(_Obj(index, name, created if isinstance(created, str) else None, labels, item.get("spec")))
        good.sort(key=lambda o: o.age_key)
        unique: dict[str, _Obj] = {}
        for obj in good:
            if obj.name in unique:
                self.add(kind, obj.name, "metadata.name", f"another {kind} named {obj.name!r} is older and is used")
                continue
            unique[obj.name] = obj
        return list(unique.values())

    def parse(self, kind: str, obj: _Obj, parser: Callable[[_Obj], T]) -> T | None:
        """Run one object's parser; an ``_Invalid`` leaves the object out with its error."""
        try:
            return parser(obj)
        except _Invalid as bad:
            self.add(kind, obj.name, bad.field, bad.message)
            return None


# --------------------------------------------------------------------------------------------------
# IPAddressPool
# --------------------------------------------------------------------------------------------------

# Addresses that can never be a Service address: using them breaks the host or the LAN.
_RESERVED: tuple[tuple[IPRange, str], ...] = tuple(
    (parse_range(net), what)
    for net, what in (
        ("0.0.0.0/8", "'this network'"),
        ("127.0.0.0/8", "loopback"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("ff00::/8", "multicast"),
        ("fe80::/10", "link-local"),
    )
)


@dataclass(frozen=True)
class _PoolEntry:
    field: str  # spec.addresses[i]
    text: str
    range: IPRange


def _overlap(a: IPRange, b: IPRange) -> IPRange:
    return IPRange(a.version, max(a.first, b.first), min(a.last, b.last))


def _masked_cidr(text: Any) -> str | None:
    """The network of a CIDR written with host bits (``198.51.100.10/24`` → ``198.51.100.0/24``), else None.

    MetalLB parses pool CIDRs with Go's ``net.ParseCIDR``, which returns the masked network
    (internal/config/config.go ``ParseCIDR``), and its own BGP docs write ``198.51.100.10/24``. Refusing
    it would drop a pool MetalLB uses, and re-address its Services on migration.
    """
    if not isinstance(text, str) or "/" not in text or "-" in text:
        return None
    try:
        strict = ipaddress.ip_network(text.strip(), strict=True)
        del strict
        return None
    except ValueError:
        pass
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        return None


def _parse_pool(obj: _Obj) -> tuple[Pool, tuple[_PoolEntry, ...], tuple[tuple[str, str], ...]]:
    spec = _object(obj.spec, "spec")
    warnings: list[tuple[str, str]] = []
    addresses = spec.get("addresses")
    if addresses is None or addresses == []:
        raise _Invalid("spec.addresses", "empty; a pool needs at least one address range")
    if not isinstance(addresses, list):
        raise _Invalid("spec.addresses", f"must be a list of ranges, got {_show(addresses)}")
    entries: list[_PoolEntry] = []
    for i, text in enumerate(addresses):
        field = f"spec.addresses[{i}]"
        if isinstance(text, str) and "%" in text:
            raise _Invalid(field, f"{text!r}: zone ids (%...) are not allowed in pool addresses")
        masked = _masked_cidr(text)
        if masked is not None:
            warnings.append((field, f"{text.strip()!r} has host bits set; used as {masked}, as MetalLB does"))
            text = masked
        try:
            rng = parse_range(text)
        except RangeError as exc:
            raise _Invalid(field, str(exc)) from None
        shown = text.strip()
        for reserved, what in _RESERVED:
            if rng.overlaps(reserved):
                raise _Invalid(field, f"{shown} includes {what} addresses ({reserved}), which no Service can use")
        for prev in entries:
            if rng.overlaps(prev.range):
                raise _Invalid(field, f"{shown} overlaps {prev.field} ({prev.text}) at {_overlap(rng, prev.range)}")
        entries.append(_PoolEntry(field, shown, rng))

    allocation = None
    raw_alloc = spec.get("serviceAllocation")
    if raw_alloc is not None:
        alloc = _object(raw_alloc, "spec.serviceAllocation")
        where = "spec.serviceAllocation"
        priority = _int(alloc, "priority", 0, 2**31 - 1, where)
        allocation = ServiceAllocation(
            priority=priority or 0,
            namespaces=frozenset(_str_list(alloc, "namespaces", "namespace", where)),
            namespace_selectors=_selectors(alloc, "namespaceSelectors", where),
            service_selectors=_selectors(alloc, "serviceSelectors", where),
        )
    pool = Pool(
        name=obj.name,
        ranges=tuple(e.range for e in entries),
        auto_assign=_bool(spec, "autoAssign", True),
        avoid_buggy_ips=_bool(spec, "avoidBuggyIPs", False),
        allocation=allocation,
    )
    return pool, tuple(entries), tuple(warnings)


def _build_pools(
    c: _Collector, items: Iterable[Any], last_good: Mapping[str, Pool]
) -> tuple[dict[str, Pool], dict[str, tuple[_PoolEntry, ...]], dict[str, Mapping[str, str]]]:
    pools: dict[str, Pool] = {}
    entries: dict[str, tuple[_PoolEntry, ...]] = {}
    labels: dict[str, Mapping[str, str]] = {}
    # Pools already in use (accepted last time) come first: a newcomer never displaces them, even when
    # creationTimestamps (one-second resolution) cannot tell which came first.
    for obj in sorted(c.objects(POOL, items), key=lambda o: (o.name not in last_good, o.age_key)):
        parsed = c.parse(POOL, obj, _parse_pool)
        if parsed is not None:
            pool, mine, warnings = parsed
            clash = _first_clash(mine, entries)
            if clash is None:
                pools[obj.name], entries[obj.name], labels[obj.name] = pool, mine, obj.labels
                for field, message in warnings:
                    c.warn(POOL, obj.name, field, message)
                continue
            entry, other, theirs = clash
            c.add(
                POOL,
                obj.name,
                entry.field,
                f"{entry.text} overlaps {theirs.text} of IPAddressPool {other} ({theirs.field}) at "
                f"{_overlap(entry.range, theirs.range)}; {other} came first and keeps these addresses",
            )
        # The object is refused. If it was valid before, a bad edit must not take addresses away
        # from running Services: keep the previous definition (and let it keep blocking overlaps).
        previous = last_good.get(obj.name)
        if previous is not None:
            kept = tuple(_PoolEntry(f"previous spec.addresses[{i}]", str(r), r) for i, r in enumerate(previous.ranges))
            if _first_clash(kept, entries) is None:
                last = c.errors[-1]
                c.errors[-1] = replace(last, message=f"{last.message} (its previous valid definition stays in use)")
                pools[obj.name], entries[obj.name], labels[obj.name] = previous, kept, obj.labels
    return pools, entries, labels


def _first_clash(
    mine: tuple[_PoolEntry, ...], accepted: Mapping[str, tuple[_PoolEntry, ...]]
) -> tuple[_PoolEntry, str, _PoolEntry] | None:
    for entry in mine:
        for other, theirs in accepted.items():
            for their in theirs:
                if entry.range.overlaps(their.range):
                    return entry, other, their
    return None


# --------------------------------------------------------------------------------------------------
# Community aliases
# --------------------------------------------------------------------------------------------------


def _parse_aliases(obj: _Obj) -> dict[str, tuple[str, BGPCommunity]]:
    spec = _object(obj.spec, "spec")
    raw = spec.get("communities")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise _Invalid("spec.communities", f"must be a list of {{name, value}}, got {_show(raw)}")
    out: dict[str, tuple[str, BGPCommunity]] = {}
    for i, item in enumerate(raw):
        at = f"spec.communities[{i}]"
        item = _object(item, at)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _Invalid(f"{at}.name", f"must be a non-empty string, got {_show(name)}")
        if name in out:
            raise _Invalid(f"{at}.name", f"duplicate alias {name!r} (also at {out[name][0]})")
        value = item.get("value")
        if not isinstance(value, str):
            raise _Invalid(f"{at}.value", f"must be a string like 64512:100 or large:64512:1:2, got {_show(value)}")
        try:
            out[name] = (f"{at}.name", parse_community(value))
        except CommunityError as exc:
            raise _Invalid(f"{at}.value", str(exc)) from None
    return out


def _build_communities(c: _Collector, items: Iterable[Any]) -> dict[str, BGPCommunity]:
    aliases: dict[str, BGPCommunity] = {}
    owner: dict[str, str] = {}
    for obj in c.objects(COMMUNITY, items):
        parsed = c.parse(COMMUNITY, obj, _parse_aliases)
        if parsed is None:
            continue
        taken = [(field, name) for name, (field, _) in parsed.items() if name in aliases]
        if taken:
            field, name = taken[0]
            c.add(
                COMMUNITY,
                obj.name,
                field,
                f"alias {name!r} is already defined by Community {owner[name]}, which is older",
            )
            continue
        for name, (_, value) in parsed.items():
            aliases[name] = value
            owner[name] = obj.name
    return aliases


# --------------------------------------------------------------------------------------------------
# Advertisements
# --------------------------------------------------------------------------------------------------


def _pool_selection(spec: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[Selector, ...]]:
    return _str_list(spec, "ipAddressPools", "pool"), _selectors(spec, "ipAddressPoolSelectors")


def _select_pools(
    names: tuple[str, ...], selectors: tuple[Selector, ...], pool_labels: Mapping[str, Mapping[str, str]]
) -> frozenset[str]:
    """MetalLB's rule: no names and no selectors → every pool; otherwise named ∪ selected."""
    if not names and not selectors:
        return frozenset(pool_labels)
    chosen = {n for n in names if n in pool_labels}
    chosen.update(p for p, labels in pool_labels.items() if any(s.matches(labels) for s in selectors))
    return frozenset(chosen)


_IFNAME_BAD = re.compile(r"[\s/:]")


def _parse_l2(obj: _Obj, pool_labels: Mapping[str, Mapping[str, str]]) -> L2Advertisement:
    spec = _object(obj.spec, "spec")
    names, selectors = _pool_selection(spec)
    interfaces = _str_list(spec, "interfaces", "interface")
    for i, ifname in enumerate(interfaces):
        # Linux interface names: at most 15 bytes, no whitespace, '/' or ':'. A name that cannot
        # exist would silently announce nothing, so say so here.
        if len(ifname.encode()) > 15 or _IFNAME_BAD.search(ifname) or ifname in (".", ".."):
            raise _Invalid(f"spec.interfaces[{i}]", f"{ifname!r} is not a valid Linux interface name")
    return L2Advertisement(
        name=obj.name,
        ip_address_pools=names,
        ip_address_pool_selectors=selectors,
        node_selectors=_selectors(spec, "nodeSelectors"),
        interfaces=interfaces,
        selected_pools=_select_pools(names, selectors, pool_labels),
        service_selectors=_selectors(spec, "serviceSelectors"),
    )


def _parse_bgp_adv(
    obj: _Obj, pool_labels: Mapping[str, Mapping[str, str]], aliases: Mapping[str, BGPCommunity]
) -> BGPAdvertisement:
    spec = _object(obj.spec, "spec")
    names, selectors = _pool_selection(spec)
    agg4 = _int(spec, "aggregationLength", 1, 32)
    agg6 = _int(spec, "aggregationLengthV6", 1, 128)
    service_selectors = _selectors(spec, "serviceSelectors")
    # MetalLB 0.16: an advertisement that picks Services announces each one on its own; an aggregate
    # would announce other Services' addresses too (internal/config/config.go, bgpAdvertisementFromCR).
    if service_selectors and agg4 not in (None, 32):
        raise _Invalid(
            "spec.aggregationLength", f"{agg4}: serviceSelectors and aggregationLength are mutually exclusive"
        )
    if service_selectors and agg6 not in (None, 128):
        raise _Invalid(
            "spec.aggregationLengthV6", f"{agg6}: serviceSelectors and aggregationLengthV6 are mutually exclusive"
        )
    communities: list[BGPCommunity] = []
    for i, text in enumerate(_str_list(spec, "communities", "community")):
        value = aliases.get(text)
        if value is None:
            try:
                value = parse_community(text)
            except CommunityError as exc:
                if exc.shape:
                    raise _Invalid(f"spec.communities[{i}]", str(exc)) from None
                raise _Invalid(
                    f"spec.communities[{i}]",
                    f"{text!r} is neither a community (AA:NN or large:A:B:C) nor an alias defined in a Community "
                    "object",
                ) from None
        if value not in communities:
            communities.append(value)
    return BGPAdvertisement(
        name=obj.name,
        aggregation_length=32 if agg4 is None else agg4,
        aggregation_length_v6=128 if agg6 is None else agg6,
        local_pref=_int(spec, "localPref", 0, ASN_MAX),
        communities=tuple(communities),
        ip_address_pools=names,
        ip_address_pool_selectors=selectors,
        node_selectors=_selectors(spec, "nodeSelectors"),
        peers=_str_list(spec, "peers", "peer"),
        selected_pools=_select_pools(names, selectors, pool_labels),
        service_selectors=service_selectors,
    )


def _aggregation_problem(adv: BGPAdvertisement, pool: str, entries: tuple[_PoolEntry, ...]) -> tuple[str, str] | None:
    """MetalLB's ``validateBGPAdvPerPool``: the aggregate must not reach outside any pool range.

    For each address entry, the shortest prefix among the CIDRs that cover it must not be longer
    than the aggregation length, or the announced prefix would include addresses that are not ours.
    Returns (field, message) for the first entry that breaks the rule.
    """
    for entry in entries:
        v4 = entry.range.version == 4
        length = adv.aggregation_length if v4 else adv.aggregation_length_v6
        shortest = min(net.prefixlen for net in entry.range.networks())
        if length < shortest:
            field = "spec.aggregationLength" if v4 else "spec.aggregationLengthV6"
            return field, (
                f"{length}: a /{length} aggregate reaches outside IPAddressPool {pool} {entry.field} "
                f"({entry.text}), whose largest block is a /{shortest}; pool {pool} is not advertised by it"
            )
    return None


def _same_update(a: BGPAdvertisement, b: BGPAdvertisement, families: frozenset[int]) -> bool:
    """Whether two advertisements of one pool can produce the same BGP update (MetalLB's
    ``BGPAdvertisementsHaveCompatibleLocalPref``, inverted). Node sets are not known here, so two different
    non-empty node-selector lists are assumed disjoint; an empty list means every node.

    Aggregation lengths are compared for the families the pool has (MetalLB's ``isAggrLengthDifferent``):
    a /32 and a /24 advertisement of an IPv4-only pool never send the same prefix, whatever their V6 length.
    An advertisement with ``serviceSelectors`` is never in conflict: which Services it carries is not known here.
    """
    if a.service_selectors or b.service_selectors:
        return False
    differ = {4: a.aggregation_length != b.aggregation_length, 6: a.aggregation_length_v6 != b.aggregation_length_v6}
    if families and all(differ[f] for f in families):
        return False
    if a.peers and b.peers and not set(a.peers) & set(b.peers):
        return False
    return not (a.node_selectors and b.node_selectors and a.node_selectors != b.node_selectors)


def _build_bgp_advs(
    c: _Collector,
    items: Iterable[Any],
    pool_labels: Mapping[str, Mapping[str, str]],
    pool_entries: Mapping[str, tuple[_PoolEntry, ...]],
    aliases: Mapping[str, BGPCommunity],
) -> list[BGPAdvertisement]:
    out: list[BGPAdvertisement] = []
    for obj in c.objects(BGPADV, items):
        adv = c.parse(BGPADV, obj, lambda o: _parse_bgp_adv(o, pool_labels, aliases))
        if adv is None:
            continue
        # A conflict with one pool drops that pool from this advertisement, not the advertisement:
        # a new pool must not stop announcements that already work for the others.
        keep = set(adv.selected_pools)
        for pool in sorted(adv.selected_pools):
            problem = _aggregation_problem(adv, pool, pool_entries[pool])
            if problem:
                c.add(BGPADV, obj.name, *problem)
                keep.discard(pool)
                continue
            families = frozenset(e.range.version for e in pool_entries[pool])
            for older in out:
                if (
                    pool in older.selected_pools
                    and (older.local_pref or 0) != (adv.local_pref or 0)
                    and _same_update(adv, older, families)
                ):
                    c.add(
                        BGPADV,
                        obj.name,
                        "spec.localPref",
                        f"{adv.local_pref or 0} conflicts with localPref {older.local_pref or 0} of older "
                        f"BGPAdvertisement {older.name} for the same announcements of IPAddressPool {pool}; "
                        f"pool {pool} is not advertised by it",
                    )
                    keep.discard(pool)
                    break
        out.append(replace(adv, selected_pools=frozenset(keep)))
    return out


# --------------------------------------------------------------------------------------------------
# BGPPeer
# --------------------------------------------------------------------------------------------------


def _secret_password(name: str, secrets: Mapping[str, Any]) -> Secret:
    """The ``password`` key of a ``kubernetes.io/basic-auth`` Secret. Messages never include data."""
    field = "spec.passwordSecret.name"
    secret = secrets.get(name)
    if secret is None:
        raise _Invalid(field, f"Secret {name!r} not found")
    if not isinstance(secret, Mapping):
        raise _Invalid(field, f"Secret {name!r} is not an object")
    if secret.get("type") != BASIC_AUTH:
        raise _Invalid(field, f"Secret {name!r} has type {_show(secret.get('type'))}, expected {BASIC_AUTH!r}")
    data = secret.get("data")
    if isinstance(data, Mapping) and "password" in data:
        encoded = data["password"]
        try:
            if not isinstance(encoded, str):
                raise ValueError
            return Secret(base64.b64decode(encoded, validate=True).decode("utf-8"))
        except (ValueError, binascii.Error):
            raise _Invalid(field, f"Secret {name!r}: data.password is not base64-encoded UTF-8 text") from None
    string_data = secret.get("stringData")  # only on objects that did not come from the API server
    if isinstance(string_data, Mapping) and isinstance(string_data.get("password"), str):
        return Secret(string_data["password"])
    raise _Invalid(field, f"Secret {name!r} has no key 'password'")


def _timers(spec: Mapping[str, Any]) -> tuple[int, int]:
    """MetalLB's ``parseTimers`` (hold 0 or >= 3 s, keepalive <= hold, the missing one derived by a
    factor of 3), plus the 90 s / 30 s default its sessions use when neither is set. Fractions of a
    second are dropped, as on the wire (the OPEN message carries whole seconds).
    """
    hold_s = _duration(spec, "holdTime")
    keep_s = _duration(spec, "keepaliveTime")
    if hold_s is None and keep_s is None:
        return DEFAULT_HOLD_TIME, DEFAULT_HOLD_TIME // 3
    # Blame the field the user wrote: a hold time derived from keepaliveTime is keepaliveTime's fault.
    hold_field = "spec.holdTime" if hold_s is not None else "spec.keepaliveTime"
    if hold_s is None:
        assert keep_s is not None
        hold_s = keep_s * 3
    elif keep_s is None:
        keep_s = hold_s / 3
    shown = _show(spec.get(hold_field.removeprefix("spec.")))
    if 0 < hold_s < 3:  # MetalLB lets 0.5s round down to 0 (no keepalives at all); refuse that too
        raise _Invalid(hold_field, f"{shown} gives a hold time of {hold_s:g}s; it must be 0 or at least 3s")
    if hold_s > 65535:
        raise _Invalid(hold_field, f"{shown} gives a hold time of {hold_s:g}s; the most BGP allows is 65535s")
    if keep_s > hold_s:
        raise _Invalid(
            "spec.keepaliveTime", f"{_show(spec.get('keepaliveTime'))} is longer than holdTime ({hold_s:g}s)"
        )
    return int(hold_s), int(keep_s)


#: BGPPeer fields that need FRR: (field, what it is). MetalLB in native mode refuses each of them
#: (internal/config/validation.go ``DiscardFRROnly``); the native speaker here cannot do them either, and a
#: session silently without BFD, outside its VRF or with the wrong AS is worse than no session.
_FRR_ONLY: tuple[tuple[str, str], ...] = (
    ("bfdProfile", "BFD"),
    ("vrf", "VRFs"),
    ("interface", "BGP unnumbered (interface)"),
    ("localASN", "a per-peer local AS (localASN)"),
)


def _refuse_frr_only(spec: Mapping[str, Any], bfd_profiles: frozenset[str] | None) -> None:
    """``bfd_profiles``: the BFDProfiles that exist (None: not known), so a ``bfdProfile`` naming one is told
    apart from a typo — MetalLB with FRR refuses a missing profile (``internal/config/config.go`` line 307,
    "referencing non existing bfd profile"), its native mode any profile at all (``internal/config/validation.go``
    line 36)."""
    for key, what in _FRR_ONLY:
        value = spec.get(key)
        if value not in (None, "", 0):
            why = f"{_show(value)}: {what} is {NATIVE_UNSUPPORTED}"
            if key == "bfdProfile" and bfd_profiles is not None:
                why += (
                    f" (BFDProfile {value} exists, but nothing here can run it)"
                    if value in bfd_profiles
                    else f", and no BFDProfile {_show(value)} exists either"
                )
            raise _Invalid(f"spec.{key}", why)


def _parse_peer(obj: _Obj, secrets: Mapping[str, Any], bfd_profiles: frozenset[str] | None = None) -> BGPPeer:
    spec = _object(obj.spec, "spec")
    my_asn = _int(spec, "myASN", 0, ASN_MAX)
    if not my_asn:
        raise _Invalid("spec.myASN", f"missing: the local AS number (1-{ASN_MAX}) is required")
    peer_asn = _int(spec, "peerASN", 0, ASN_MAX) or None  # 0 is Go's "unset"
    dynamic = _str(spec, "dynamicASN")
    if dynamic is not None and dynamic not in ("internal", "external"):
        raise _Invalid("spec.dynamicASN", f"{dynamic!r} is not one of internal, external")
    if peer_asn is None and dynamic is None:
        raise _Invalid("spec.peerASN", "missing: set peerASN or dynamicASN")
    if peer_asn is not None and dynamic is not None:
        raise _Invalid("spec.dynamicASN", f"{dynamic!r} and peerASN ({peer_asn}) are mutually exclusive")
    multihop = _bool(spec, "ebgpMultiHop", False)
    if multihop and (peer_asn == my_asn or dynamic == "internal"):
        raise _Invalid(
            "spec.ebgpMultiHop", f"is for eBGP peers, but this is an iBGP session (AS {my_asn} on both ends)"
        )

    address = _ip(spec, "peerAddress")
    interface = _str(spec, "interface")
    if address is None and interface is None:
        raise _Invalid("spec.peerAddress", "missing: set peerAddress or interface")
    if address is not None and interface is not None:
        raise _Invalid("spec.interface", f"{interface!r} and peerAddress ({address}) are mutually exclusive")
    _refuse_frr_only(spec, bfd_profiles)

    # 16384 is the maximum of MetalLB's own CRD schema (config/crd/bases/metallb.io_bgppeers.yaml, peerPort).
    port = _int(spec, "peerPort", 0, 16384) or DEFAULT_PEER_PORT  # 0 (a v1beta1 zero value) → default
    router_id = _ip(spec, "routerID")
    if router_id is not None and router_id.version != 4:
        raise _Invalid("spec.routerID", f"{router_id} is not an IPv4 address (a BGP identifier is 32 bits)")
    hold, keepalive = _timers(spec)
    connect: int | None = None
    connect_s = _duration(spec, "connectTime")
    if connect_s is not None:
        if connect_s != int(connect_s) or not 1 <= connect_s <= 65535:
            raise _Invalid(
                "spec.connectTime", f"{_show(spec.get('connectTime'))} must be whole seconds from 1s to 65535s"
            )
        connect = int(connect_s)

    password = _str(spec, "password", secret=True)
    ref = _object(spec.get("passwordSecret"), "spec.passwordSecret")
    secret_name = _str(ref, "name", "spec.passwordSecret")
    if password is not None and secret_name is not None:
        raise _Invalid("spec.password", "password and passwordSecret are mutually exclusive")
    resolved = Secret(password) if password is not None else None
    if secret_name is not None:
        resolved = _secret_password(secret_name, secrets)

    return BGPPeer(
        name=obj.name,
        my_asn=my_asn,
        peer_asn=peer_asn,
        dynamic_asn=dynamic,
        address=address,
        interface=interface,
        port=port,
        source_address=_ip(spec, "sourceAddress"),
        router_id=router_id,
        hold_time=hold,
        keepalive_time=keepalive,
        connect_time=connect,
        ebgp_multihop=multihop,
        password=resolved,
        password_secret=secret_name,
        node_selectors=_selectors(spec, "nodeSelectors"),
        bfd_profile=_str(spec, "bfdProfile"),
        enable_graceful_restart=_bool(spec, "enableGracefulRestart", False),
        vrf=_str(spec, "vrf"),
        disable_mp=_bool(spec, "disableMP", False),
        dual_stack_address_family=_bool(spec, "dualStackAddressFamily", False),
    )


def _build_peers(
    c: _Collector, items: Iterable[Any], secrets: Mapping[str, Any], bfd_profiles: frozenset[str]
) -> dict[str, BGPPeer]:
    peers: dict[str, BGPPeer] = {}
    for obj in c.objects(PEER, items):
        peer = c.parse(PEER, obj, lambda o: _parse_peer(o, secrets, bfd_profiles))
        if peer is None:
            continue
        # Two peers identical but for their name are allowed, as in MetalLB: its duplicate check compares
        # whole parsed peers, name included (internal/config/config.go, peersFor), and names are unique.
        peers[obj.name] = peer
    return peers


# --------------------------------------------------------------------------------------------------
# The one function
# --------------------------------------------------------------------------------------------------


def build_config(
    pools: Iterable[Any] = (),
    l2_advertisements: Iterable[Any] = (),
    bgp_advertisements: Iterable[Any] = (),
    bgp_peers: Iterable[Any] = (),
    communities: Iterable[Any] = (),
    *,
    bfd_profiles: Iterable[Any] = (),
    secrets: Mapping[str, Any] = _EMPTY,
    last_good_pools: Mapping[str, Pool] = _EMPTY,
) -> ClusterConfig:
    """Turn the listed ``metallb.io`` objects into a :class:`ClusterConfig`. No side effects.

    ``bfd_profiles`` are ``BFDProfile`` objects: each is reported as not supported (the native speaker has no
    BFD). ``secrets`` maps Secret name → Secret object (as the API returns it, ``data`` base64) for
    ``BGPPeer.spec.passwordSecret``. ``last_good_pools`` is the previous config's ``pools``: a pool
    whose object is now refused but that was valid before keeps its previous definition (the error
    says so), so a typo in an edit never moves an address; pass nothing to get plain isolation.

    Inputs are only read, never modified. Never raises for bad input: each bad object is left out
    and described in ``errors``.
    """
    c = _Collector()
    pool_map, pool_entries, pool_labels = _build_pools(c, pools, last_good_pools)
    aliases = _build_communities(c, communities)
    l2 = [
        adv
        for obj in c.objects(L2ADV, l2_advertisements)
        if (adv := c.parse(L2ADV, obj, lambda o: _parse_l2(o, pool_labels))) is not None
    ]
    bgp = _build_bgp_advs(c, bgp_advertisements, pool_labels, pool_entries, aliases)
    profiles = c.objects(BFD_PROFILE, bfd_profiles)
    peers = _build_peers(
        c, bgp_peers, secrets if isinstance(secrets, Mapping) else _EMPTY, frozenset(obj.name for obj in profiles)
    )
    for obj in profiles:
        # The CRD is installed so MetalLB's manifests apply; using it is refused, by name.
        c.add(BFD_PROFILE, obj.name, "", f"BFD is {NATIVE_UNSUPPORTED}; BGPPeers naming this profile are refused")
    return ClusterConfig(
        pools=MappingProxyType(pool_map),
        l2_advertisements=tuple(l2),
        bgp_advertisements=tuple(bgp),
        peers=MappingProxyType(peers),
        communities=MappingProxyType(aliases),
        errors=tuple(c.errors),
        warnings=tuple(c.warnings),
    )


__all__ = [
    "BGPAdvertisement",
    "BGPCommunity",
    "BGPPeer",
    "ClusterConfig",
    "CommunityError",
    "ObjectError",
    "L2Advertisement",
    "Secret",
    "build_config",
    "parse_community",
]
