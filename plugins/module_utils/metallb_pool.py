# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic behind ``baremetal.lb.address_pool``: one MetalLB pool as IPAddressPool + its advertisement.

The flow, each step a function that a unit test can call on its own:

1. ``build_desired(params)`` -- pure: validate every option (field and value named in the error) and build the
   IPAddressPool plus the L2Advertisement or BGPAdvertisement a person would write by hand.
2. ``Cluster`` reads what exists (CRDs, namespace, the objects, the other pools of the namespace);
   ``find_overlap`` refuses a pool that shares addresses with another one.
3. ``plan(...)`` -- pure: compare only the fields this module manages (server defaults filled in from the CRD
   schema, status and metadata ignored) and list the steps, each with a readable command line.
4. ``apply(...)`` -- the one place that honours check mode: run the steps in order (CRDs, namespace, pool,
   advertisement, stale advertisement); if a step fails, undo the object steps already done, newest first,
   and say so in the error.

Addresses are parsed by ``ip_ranges`` (the collection's one parser, strict like ``speaker/ipam/ranges.py``);
tests/unit/plugins/test_address_pool_ranges.py checks the two agree on a table of inputs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
import typing as t
from collections import namedtuple

from ansible_collections.baremetal.lb.plugins.module_utils.crds.metallb import CRDS
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import RangeError, parse_range
from ansible_collections.baremetal.lb.plugins.module_utils.k8s_auth import (
    K8S_AUTH_ARG_SPEC,
    K8sAuthError,
    get_client,
)

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange

    Json = t.Dict[str, t.Any]

GROUP = "metallb.io"
VERSION = "v1beta1"
API_VERSION = GROUP + "/" + VERSION
POOL = "IPAddressPool"
L2ADV = "L2Advertisement"
BGPADV = "BGPAdvertisement"
PLURALS = {POOL: "ipaddresspools", L2ADV: "l2advertisements", BGPADV: "bgpadvertisements"}
ADV_KIND = {"layer2": L2ADV, "bgp": BGPADV}
MANAGED_BY = ("app.kubernetes.io/managed-by", "baremetal-lb")

#: The spec fields this module owns per kind: compared for idempotence, replaced on update. Other spec fields
#: someone added by hand are kept; status and metadata are never compared.
MANAGED_FIELDS = {
    POOL: ("addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"),
    L2ADV: ("ipAddressPools", "ipAddressPoolSelectors", "interfaces", "nodeSelectors"),
    BGPADV: (
        "ipAddressPools",
        "ipAddressPoolSelectors",
        "aggregationLength",
        "aggregationLengthV6",
        "localPref",
        "communities",
        "peers",
        "nodeSelectors",
    ),
}

CRD_WAIT_SECONDS = 30.0
REQUEST_TIMEOUT = 30

_SELECTOR_ARG = dict(type="list", elements="dict")

ADDRESS_POOL_ARG_SPEC = copy.deepcopy(K8S_AUTH_ARG_SPEC)
ADDRESS_POOL_ARG_SPEC.update(
    name=dict(type="str", required=True),
    namespace=dict(type="str", default="metallb-system"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    addresses=dict(type="list", elements="str"),
    mode=dict(type="str", default="layer2", choices=["layer2", "bgp"]),
    auto_assign=dict(type="bool", default=True),
    avoid_buggy_ips=dict(type="bool", default=False),
    service_allocation=dict(
        type="dict",
        options=dict(
            priority=dict(type="int"),
            namespaces=dict(type="list", elements="str"),
            namespace_selectors=copy.deepcopy(_SELECTOR_ARG),
            service_selectors=copy.deepcopy(_SELECTOR_ARG),
        ),
    ),
    l2=dict(
        type="dict",
        options=dict(
            interfaces=dict(type="list", elements="str"),
            node_selectors=copy.deepcopy(_SELECTOR_ARG),
        ),
    ),
    bgp=dict(
        type="dict",
        options=dict(
            aggregation_length=dict(type="int"),
            aggregation_length_v6=dict(type="int"),
            local_pref=dict(type="int"),
            communities=dict(type="list", elements="str"),
            peers=dict(type="list", elements="str"),
            node_selectors=copy.deepcopy(_SELECTOR_ARG),
        ),
    ),
    install_crds=dict(type="bool", default=True),
)


class AddressPoolError(Exception):
    """A refusal or failure with a message a person can act on (``main()`` turns it into ``fail_json``).

    ``changed`` is true when something stayed changed in the cluster (CRDs or the namespace were created
    before the failure, or a rollback could not finish).
    """

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


# ------------------------------------------------------------------------------------------------------------
# Address ranges: parsed by ip_ranges with strict=True (a CIDR with host bits set is refused, as the speaker
# does); what a pool may hold -- no zone ids, no reserved addresses, no overlaps -- is decided here.

# Addresses no Service can use (the speaker refuses pools that include them: speaker/config/cluster.py).
_RESERVED = tuple(
    (parse_range(net, strict=True), what)
    for net, what in (
        ("0.0.0.0/8", "'this network'"),
        ("127.0.0.0/8", "loopback"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("ff00::/8", "multicast"),
    )
)


def parse_addresses(addresses: t.Any, field: str = "addresses") -> list[tuple[str, str, IPRange]]:
    """Validate a pool's address list: ``[(field, text, IPRange), ...]`` or :class:`AddressPoolError`."""
    if not addresses:
        raise AddressPoolError(
            f"{field}: empty; a pool needs at least one address range (e.g. 10.1.1.240-10.1.1.250 or 10.1.1.240/29)"
        )
    entries: list[tuple[str, str, IPRange]] = []
    for i, text in enumerate(addresses):
        at = f"{field}[{i}]"
        if isinstance(text, str) and "%" in text:
            raise AddressPoolError(f"{at}: {text!r}: zone ids (%...) are not allowed in pool addresses")
        try:
            rng = parse_range(text, strict=True)
        except RangeError as exc:
            raise AddressPoolError(f"{at}: {exc}") from exc
        shown = text.strip()
        for reserved, what in _RESERVED:
            if rng.overlaps(reserved):
                raise AddressPoolError(
                    f"{at}: {shown} includes {what} addresses ({reserved.compact()}), which no Service can use"
                )
        for prev_at, prev_text, prev in entries:
            if rng.overlaps(prev):
                raise AddressPoolError(
                    f"{at}: {shown} overlaps {prev_at} ({prev_text}) at {(rng.intersection(prev) or rng).compact()}"
                )
        entries.append((at, shown, rng))
    return entries


# ------------------------------------------------------------------------------------------------------------
# Options -> desired objects (pure)

_IFNAME_BAD = re.compile(r"[\s/:]")
_COMMUNITY_NUMBER = re.compile(r"^[0-9]+$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1


def _fail(field: str, message: str) -> t.Any:
    raise AddressPoolError(f"{field}: {message}")


def _check_name(field: str, value: str) -> None:
    if not value or len(value) > 253 or not _DNS1123.match(value):
        _fail(field, f"{value!r} is not a valid Kubernetes object name (lowercase letters, digits, '-' and '.')")


def _check_int(field: str, value: int | None, lo: int, hi: int) -> None:
    if value is not None and not lo <= value <= hi:
        _fail(field, f"{value!r} is out of range ({lo} to {hi})")


def _check_strings(field: str, values: list[str] | None, what: str) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(values or []):
        if not isinstance(item, str) or not item.strip():
            _fail(f"{field}[{i}]", f"{item!r} must be a non-empty string")
        if item in seen:
            _fail(f"{field}[{i}]", f"duplicate {what} {item!r} (also at [{seen[item]}])")
        seen[item] = i


def _check_selectors(field: str, selectors: t.Any) -> None:
    """Label selectors as Kubernetes writes them: ``{matchLabels: {...}, matchExpressions: [...]}``."""
    for i, sel in enumerate(selectors or []):
        at = f"{field}[{i}]"
        if not isinstance(sel, dict):
            _fail(at, f"{sel!r} is not a label selector (matchLabels/matchExpressions)")
        unknown = sorted(set(sel) - {"matchLabels", "matchExpressions"})
        if unknown:
            _fail(at, f"unknown key {unknown[0]!r} (a label selector has matchLabels and matchExpressions)")
        labels = sel.get("matchLabels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            _fail(at + ".matchLabels", f"{labels!r} must be a map of strings")
        exprs = sel.get("matchExpressions") or []
        if not isinstance(exprs, list):
            _fail(at + ".matchExpressions", f"{exprs!r} must be a list")
        for j, expr in enumerate(exprs):
            where = f"{at}.matchExpressions[{j}]"
            if not isinstance(expr, dict) or not isinstance(expr.get("key"), str):
                _fail(where, f"{expr!r} must be an object with key, operator and values")
            if expr.get("operator") not in _SELECTOR_OPERATORS:
                _fail(
                    where + ".operator",
                    "{!r} is not one of {}".format(expr.get("operator"), ", ".join(_SELECTOR_OPERATORS)),
                )
            values = expr.get("values") or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                _fail(where + ".values", f"{values!r} must be a list of strings")
            if expr["operator"] in ("In", "NotIn") and not values:
                _fail(where + ".values", "must not be empty for operator {}".format(expr["operator"]))
            if expr["operator"] in ("Exists", "DoesNotExist") and values:
                _fail(where + ".values", "must be empty for operator {}".format(expr["operator"]))


def _check_community(field: str, text: str) -> None:
    """``AA:NN``, ``large:A:B:C`` or the name of an alias in a Community object (MetalLB's rules)."""
    parts = text.split(":")
    if len(parts) == 2:
        bits, numbers = 16, parts
    elif len(parts) == 4:
        if parts[0] != "large":
            _fail(field, f"{text!r}: a large community is written large:A:B:C")
        bits, numbers = 32, parts[1:]
    else:
        if ":" in text or not text.strip() or any(c.isspace() for c in text):
            _fail(field, f"{text!r} is neither a community (AA:NN or large:A:B:C) nor a Community alias name")
        return  # an alias defined in a Community object
    for part in numbers:
        if not _COMMUNITY_NUMBER.match(part) or int(part) >= 2**bits:
            _fail(field, f"{text!r}: {part!r} is not a {bits}-bit number")


def _set(spec: Json, key: str, value: t.Any) -> None:
    if value is not None and value != [] and value != {}:
        spec[key] = value


Desired = namedtuple("Desired", "pool advertisement entries")


def build_desired(params: Json) -> Desired:
    """Validate the module options and build the objects (``Desired``); raises :class:`AddressPoolError`.

    For ``state: absent`` only the name and namespace are checked; the objects are still built when the
    addresses are given, but nothing else is required.
    """
    name, namespace = params["name"], params.get("namespace") or "metallb-system"
    _check_name("name", name)
    _check_name("namespace", namespace)
    if params.get("state", "present") == "absent":
        return Desired(None, None, ())
    mode = params.get("mode") or "layer2"
    entries = parse_addresses(params.get("addresses"))

    spec = {
        "addresses": [text for _at, text, _rng in entries],
        "autoAssign": bool(params.get("auto_assign", True)),
        "avoidBuggyIPs": bool(params.get("avoid_buggy_ips", False)),
    }
    alloc = params.get("service_allocation")
    if alloc:
        _check_int("service_allocation.priority", alloc.get("priority"), 0, INT32_MAX)
        _check_strings("service_allocation.namespaces", alloc.get("namespaces"), "namespace")
        _check_selectors("service_allocation.namespace_selectors", alloc.get("namespace_selectors"))
        _check_selectors("service_allocation.service_selectors", alloc.get("service_selectors"))
        sa: Json = {}
        _set(sa, "priority", alloc.get("priority"))
        _set(sa, "namespaces", alloc.get("namespaces"))
        _set(sa, "namespaceSelectors", alloc.get("namespace_selectors"))
        _set(sa, "serviceSelectors", alloc.get("service_selectors"))
        _set(spec, "serviceAllocation", sa)
    labels = {MANAGED_BY[0]: MANAGED_BY[1]}
    pool = {
        "apiVersion": API_VERSION,
        "kind": POOL,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": spec,
    }

    l2, bgp = params.get("l2"), params.get("bgp")
    adv_spec = {"ipAddressPools": [name]}
    if mode == "layer2":
        if bgp:
            _fail("bgp", f"{bgp!r} is set but mode is layer2 (set mode: bgp, or remove bgp)")
        l2 = l2 or {}
        _check_strings("l2.interfaces", l2.get("interfaces"), "interface")
        for i, ifname in enumerate(l2.get("interfaces") or []):
            if len(ifname.encode()) > 15 or _IFNAME_BAD.search(ifname) or ifname in (".", ".."):
                _fail(f"l2.interfaces[{i}]", f"{ifname!r} is not a valid Linux interface name")
        _check_selectors("l2.node_selectors", l2.get("node_selectors"))
        _set(adv_spec, "interfaces", l2.get("interfaces"))
        _set(adv_spec, "nodeSelectors", l2.get("node_selectors"))
    else:
        if l2:
            _fail("l2", f"{l2!r} is set but mode is bgp (set mode: layer2, or remove l2)")
        bgp = bgp or {}
        _check_int("bgp.aggregation_length", bgp.get("aggregation_length"), 1, 32)
        _check_int("bgp.aggregation_length_v6", bgp.get("aggregation_length_v6"), 1, 128)
        _check_int("bgp.local_pref", bgp.get("local_pref"), 0, UINT32_MAX)
        _check_strings("bgp.communities", bgp.get("communities"), "community")
        for i, text in enumerate(bgp.get("communities") or []):
            _check_community(f"bgp.communities[{i}]", text)
        _check_strings("bgp.peers", bgp.get("peers"), "peer")
        _check_selectors("bgp.node_selectors", bgp.get("node_selectors"))
        # MetalLB's validateBGPAdvPerPool: the aggregate must not reach outside any of the pool's ranges.
        for at, text, rng in entries:
            v4 = rng.version == 4
            key = "aggregation_length" if v4 else "aggregation_length_v6"
            length = bgp.get(key)
            length = (32 if v4 else 128) if length is None else length
            shortest = min(net.prefixlen for net in rng.networks())
            if length < shortest:
                _fail(
                    "bgp." + key,
                    f"{int(length)}: a /{int(length)} aggregate reaches outside {at} ({text}), whose largest block is "
                    f"a /{shortest}",
                )
        _set(adv_spec, "aggregationLength", bgp.get("aggregation_length"))
        _set(adv_spec, "aggregationLengthV6", bgp.get("aggregation_length_v6"))
        _set(adv_spec, "localPref", bgp.get("local_pref"))
        _set(adv_spec, "communities", bgp.get("communities"))
        _set(adv_spec, "peers", bgp.get("peers"))
        _set(adv_spec, "nodeSelectors", bgp.get("node_selectors"))
    adv = {
        "apiVersion": API_VERSION,
        "kind": ADV_KIND[mode],
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": adv_spec,
    }
    return Desired(pool, adv, tuple(entries))


# ------------------------------------------------------------------------------------------------------------
# Comparing and planning (pure)


def _crd_for(kind: str) -> Json:
    for crd in CRDS:
        if crd["spec"]["names"]["kind"] == kind:
            found: Json = crd
            return found
    raise KeyError(kind)


def _schema_defaults(kind: str) -> Json:
    """Top-level ``spec`` defaults of ``kind`` from the CRD schema (what the API server fills in)."""
    for version in _crd_for(kind)["spec"]["versions"]:
        if version["name"] == VERSION:
            props = version["schema"]["openAPIV3Schema"]["properties"]["spec"].get("properties", {})
            return dict((k, v["default"]) for k, v in props.items() if "default" in v)
    return {}


def _prune(value: t.Any) -> t.Any:
    """Drop ``None``, empty lists and empty maps, recursively: "unset" and "empty" mean the same here."""
    if isinstance(value, dict):
        pruned = {}
        for k, v in value.items():
            v = _prune(v)
            if v is not None:
                pruned[k] = v
        return pruned or None
    if isinstance(value, list):
        items = [_prune(v) for v in value]
        return items or None
    return value


def managed_view(obj: Json | None) -> Json | None:
    """The managed spec fields of ``obj`` with server defaults filled in: what idempotence compares."""
    if not obj:
        return None
    kind = obj["kind"]
    spec = obj.get("spec") or {}
    defaults = _schema_defaults(kind)
    out = {}
    for key in MANAGED_FIELDS[kind]:
        value = _prune(spec.get(key))
        if value is None:
            value = defaults.get(key)
        if value is not None:
            out[key] = value
    return out


def display(obj: Json | None) -> Json | None:
    """The spec a person would write (managed fields, no server defaults unless set): for diff/results."""
    if not obj:
        return None
    spec = obj.get("spec") or {}
    return dict((k, _prune(spec[k])) for k in MANAGED_FIELDS[obj["kind"]] if _prune(spec.get(k)) is not None)


def ref(obj: Json) -> str:
    return "{} {}/{}".format(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])


def _short(value: t.Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(unset)"
    return json.dumps(value, sort_keys=True)


def _summary(obj: Json) -> str:
    spec = obj["spec"]
    if obj["kind"] == POOL:
        text = " ".join(spec["addresses"])
        if spec.get("autoAssign") is False:
            text += " autoAssign=false"
        if spec.get("avoidBuggyIPs"):
            text += " avoidBuggyIPs=true"
        return text
    text = "for pool " + ",".join(spec["ipAddressPools"])
    if spec.get("interfaces"):
        text += " on " + ",".join(spec["interfaces"])
    if spec.get("peers"):
        text += " to peers " + ",".join(spec["peers"])
    return text


def _changes(current: Json, desired: Json) -> list[str]:
    before, after = managed_view(current) or {}, managed_view(desired) or {}
    return [
        f"{k} {_short(before.get(k))} -> {_short(after.get(k))}"
        for k in MANAGED_FIELDS[desired["kind"]]
        if before.get(k) != after.get(k)
    ]


Step = namedtuple("Step", "verb obj previous command")
# verb: install-crd | update-crd | create-namespace | create | update | delete; obj: the object to write (or
# delete); previous: the live object before the step (update/delete), for rollback.

# ------------------------------------------------------------------------------------------------------------
# CRD upgrades. Each shipped CRD carries the release whose schema it is (annotation SCHEMA_VERSION, set in
# speaker/crds/*.yaml); on create and update the module adds SCHEMA_HASH, a digest of the spec it wrote. A CRD in
# the cluster is updated when it is ours (label part-of=baremetal-lb), its hash differs from the shipped spec's
# (an older schema, or one written before hashes existed), and its schema version is not newer than ours (an older
# collection never downgrades what a newer one wrote). CRDs are never deleted; CRDs of another installer (MetalLB's
# own, without our label) are never touched.

PART_OF = ("app.kubernetes.io/part-of", "baremetal-lb")
SCHEMA_VERSION = "baremetal-lb/schema-version"
SCHEMA_HASH = "baremetal-lb/schema-hash"


def schema_hash(crd: Json) -> str:
    """A short digest of a CRD's ``spec`` as shipped (key order and whitespace do not matter)."""
    text = json.dumps(crd["spec"], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def version_key(text: t.Any) -> t.Any:
    """``"0.10.1"`` -> ``(0, 10, 1)``; a non-numeric part (``post1``, ``rc2``) counts by its leading digits."""
    parts = []
    for piece in re.split(r"[.+-]", str(text or "")):
        digits = re.match(r"\d*", piece).group(0)  # type: ignore[union-attr]  # \d* always matches
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def shipped_crd(crd: Json) -> Json:
    """The CRD as the module writes it: the shipped object plus the hash of its spec."""
    obj = copy.deepcopy(crd)
    obj["metadata"].setdefault("annotations", {})[SCHEMA_HASH] = schema_hash(crd)
    return obj


def _contains(live: t.Any, shipped: t.Any) -> t.Any:
    """Whether every field of ``shipped`` is in ``live`` with the same value (``live`` may hold more: what the API
    server filled in as defaults)."""
    if isinstance(shipped, dict):
        return isinstance(live, dict) and all(k in live and _contains(live[k], v) for k, v in shipped.items())
    if isinstance(shipped, list):
        return (
            isinstance(live, list) and len(live) == len(shipped) and all(_contains(a, b) for a, b in zip(live, shipped))
        )
    return live == shipped


def crd_upgrade(shipped: t.Any, live: t.Any) -> t.Any:
    """Compare a CRD in the cluster with the shipped one, pure: ``("update", obj, command)`` with the object to PUT,
    ``("newer", None, warning)`` when the cluster's is newer, or ``None`` (current, or not ours).

    Current means: the same schema version and, when the module wrote it, the same hash; a CRD of the same version
    applied by other means (``kubectl apply -f speaker/crds/``) is current when its spec holds the shipped spec."""
    meta = live.get("metadata") or {}
    if (meta.get("labels") or {}).get(PART_OF[0]) != PART_OF[1]:
        return None
    annotations = meta.get("annotations") or {}
    ours = shipped["metadata"]["annotations"][SCHEMA_VERSION]
    theirs = annotations.get(SCHEMA_VERSION)
    name = shipped["metadata"]["name"]
    if annotations.get(SCHEMA_HASH) == schema_hash(shipped):
        return None
    if theirs is not None and version_key(theirs) > version_key(ours):
        return (
            "newer",
            None,
            f"CustomResourceDefinition {name} has schema {theirs}, newer than this collection's {ours}: left as it "
            "is (upgrade the collection)",
        )
    if (
        theirs is not None
        and version_key(theirs) == version_key(ours)
        and SCHEMA_HASH not in annotations
        and _contains(live.get("spec") or {}, shipped["spec"])
    ):
        return None
    obj = shipped_crd(shipped)
    new_meta = copy.deepcopy(meta)
    new_meta.pop("managedFields", None)
    new_meta["labels"] = dict(meta.get("labels") or {}, **(obj["metadata"].get("labels") or {}))
    new_meta["annotations"] = dict(annotations, **obj["metadata"]["annotations"])
    obj["metadata"] = new_meta
    return (
        "update",
        obj,
        "update CustomResourceDefinition {}: schema {} -> {}".format(name, theirs or "unversioned", ours),
    )


def _clean_for_create(obj: Json) -> Json:
    """A live object turned back into something ``create`` accepts (for recreating on rollback)."""
    meta = obj.get("metadata") or {}
    keep = dict((k, meta[k]) for k in ("name", "namespace", "labels", "annotations") if k in meta)
    return {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj["kind"],
        "metadata": keep,
        "spec": copy.deepcopy(obj.get("spec") or {}),
    }


def _merged_update(current: Json, desired: Json) -> Json:
    """``current`` with the managed spec fields replaced by ``desired``'s and our label added."""
    obj = copy.deepcopy(current)
    obj.pop("status", None)
    spec = dict((k, v) for k, v in (obj.get("spec") or {}).items() if k not in MANAGED_FIELDS[desired["kind"]])
    spec.update(copy.deepcopy(desired["spec"]))
    obj["spec"] = spec
    labels = obj.setdefault("metadata", {}).get("labels") or {}
    labels.update(desired["metadata"].get("labels") or {})
    obj["metadata"]["labels"] = labels
    return obj


def _selects_only(adv: Json, pool_name: str) -> bool:
    spec = adv.get("spec") or {}
    return (spec.get("ipAddressPools") or []) == [pool_name] and not spec.get("ipAddressPoolSelectors")


def plan(desired: Desired, live: Json, name: str, namespace: str, state: str) -> t.Any:
    """The steps from ``live`` to ``desired`` and the diff, pure.

    ``live``: ``{"missing_crds": [crd, ...], "outdated_crds": [(obj, live crd, command), ...],
    "crd_warnings": [text, ...], "namespace_exists": bool, POOL: obj|None, L2ADV: obj|None, BGPADV: obj|None}``.
    Returns ``(steps, diff, warnings)``.
    """
    steps, warnings = [], list(live.get("crd_warnings") or ())
    before, after = {}, {}
    for kind in (POOL, L2ADV, BGPADV):
        if live.get(kind):
            before[ref(live[kind])] = display(live[kind])
    if state == "absent":
        for kind in (L2ADV, BGPADV):
            adv = live.get(kind)
            if not adv:
                continue
            if _selects_only(adv, name):
                steps.append(Step("delete", adv, adv, f"delete {ref(adv)}"))
            else:
                warnings.append(f"{ref(adv)} is left in place: it also selects pools other than {name}")
                after[ref(adv)] = display(adv)
        if live.get(POOL):
            steps.append(Step("delete", live[POOL], live[POOL], f"delete {ref(live[POOL])}"))
        return steps, {"before": before, "after": after}, warnings

    for crd in live.get("missing_crds") or ():
        steps.append(
            Step(
                "install-crd",
                shipped_crd(crd),
                None,
                "install CustomResourceDefinition {}".format(crd["metadata"]["name"]),
            )
        )
    for obj, previous, command in live.get("outdated_crds") or ():
        steps.append(Step("update-crd", obj, previous, command))
    if not live.get("namespace_exists"):
        steps.append(Step("create-namespace", {"metadata": {"name": namespace}}, None, f"create Namespace {namespace}"))
    for obj in (desired.pool, desired.advertisement):
        current = live.get(obj["kind"])
        after[ref(obj)] = display(obj)
        if current is None:
            steps.append(Step("create", obj, None, f"create {ref(obj)} {_summary(obj)}"))
        elif managed_view(current) != managed_view(obj):
            steps.append(
                Step(
                    "update",
                    _merged_update(current, obj),
                    current,
                    "update {}: {}".format(ref(obj), "; ".join(_changes(current, obj))),
                )
            )
    other = BGPADV if desired.advertisement["kind"] == L2ADV else L2ADV
    stale = live.get(other)
    if stale is not None:
        if _selects_only(stale, name):
            steps.append(
                Step(
                    "delete",
                    stale,
                    stale,
                    "delete {} (pool {} is now announced by {})".format(
                        ref(stale), name, desired.advertisement["kind"]
                    ),
                )
            )
        else:
            after[ref(stale)] = display(stale)
    return steps, {"before": before, "after": after}, warnings


def find_overlap(
    entries: t.Sequence[tuple[str, str, IPRange]], name: str, namespace: str, other_pools: list[t.Any]
) -> str | None:
    """The first clash of this pool's ranges with another IPAddressPool's, as an error message, or ``None``."""
    for other in other_pools:
        other_name = (other.get("metadata") or {}).get("name")
        if other_name == name:
            continue
        for j, text in enumerate((other.get("spec") or {}).get("addresses") or []):
            try:
                theirs = parse_range(text, strict=True)
            except RangeError:
                continue  # the speaker refuses that entry anyway; it holds no addresses
            for at, mine_text, mine in entries:
                if mine.overlaps(theirs):
                    return (
                        f"{at} {mine_text} of IPAddressPool {namespace}/{name} overlaps IPAddressPool "
                        f"{namespace}/{other_name} spec.addresses[{j}] ({text.strip()}) at "
                        f"{(mine.intersection(theirs) or mine).compact()}: "
                        "two pools must not share addresses; nothing was changed"
                    )
    return None


# ------------------------------------------------------------------------------------------------------------
# The cluster (the only code that talks to the API)


def api_error_text(exc: Exception) -> str:
    """A short, secret-free description of a failed request: code, reason and the Status message."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    message = None
    if body:
        try:
            doc = json.loads(body)
            message = doc.get("message")
        except (ValueError, TypeError, AttributeError):
            message = None
    if status:
        return "{} {}{}".format(status, getattr(exc, "reason", "") or "", (": " + message) if message else "")
    return f"{type(exc).__name__}: {exc}"


class Cluster:
    """Thin wrapper over the official client: dicts in, dicts out, ``None`` for 404."""

    def __init__(self, api_client: t.Any) -> None:
        from kubernetes import client as k8s_client

        self.api_client = api_client
        self.custom = k8s_client.CustomObjectsApi(api_client)
        self.core = k8s_client.CoreV1Api(api_client)
        self.ext = k8s_client.ApiextensionsV1Api(api_client)

    @staticmethod
    def _json(response: t.Any) -> t.Any:
        return json.loads(response.data)

    def _call(self, fn: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        from kubernetes.client.exceptions import ApiException

        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            return fn(*args, **kwargs)
        except ApiException:
            raise
        except Exception as exc:  # urllib3 connection errors and the like
            raise ApiUnreachable(f"cannot reach the API server at {self.api_client.configuration.host}: {exc}") from exc

    def _maybe(self, fn: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._call(fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def crd(self, name: t.Any) -> t.Any:
        response = self._maybe(self.ext.read_custom_resource_definition, name, _preload_content=False)
        return None if response is None else self._json(response)

    def create_crd(self, crd: t.Any) -> t.Any:
        return self._json(self._call(self.ext.create_custom_resource_definition, crd, _preload_content=False))

    def replace_crd(self, crd: t.Any) -> t.Any:
        """PUT with the live resourceVersion in ``crd``: a concurrent change fails with 409, nothing is overwritten."""
        return self._json(
            self._call(
                self.ext.replace_custom_resource_definition, crd["metadata"]["name"], crd, _preload_content=False
            )
        )

    def wait_established(self, name: t.Any, timeout: t.Any = CRD_WAIT_SECONDS) -> t.Any:
        deadline = time.monotonic() + timeout
        while True:
            crd = self.crd(name) or {}
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return
            if time.monotonic() > deadline:
                raise AddressPoolError(
                    f"CustomResourceDefinition {name} was created but is not Established after {int(timeout)}s"
                )
            time.sleep(0.2)

    def namespace_exists(self, name: t.Any) -> t.Any:
        return self._maybe(self.core.read_namespace, name, _preload_content=False) is not None

    def create_namespace(self, name: t.Any) -> t.Any:
        self._call(
            self.core.create_namespace,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            _preload_content=False,
        )

    def nodes(self) -> t.Any:
        return list(self._json(self._call(self.core.list_node, _preload_content=False)).get("items") or [])

    def pods(self, label_selector: t.Any) -> t.Any:
        """Pods in every namespace matching ``label_selector``."""
        return list(
            self._json(
                self._call(self.core.list_pod_for_all_namespaces, label_selector=label_selector, _preload_content=False)
            ).get("items")
            or []
        )

    def config_map(self, namespace: t.Any, name: t.Any) -> t.Any:
        response = self._maybe(self.core.read_namespaced_config_map, name, namespace, _preload_content=False)
        return None if response is None else self._json(response)

    def replace_config_map(self, obj: t.Any) -> t.Any:
        meta = obj["metadata"]
        return self._json(
            self._call(
                self.core.replace_namespaced_config_map, meta["name"], meta["namespace"], obj, _preload_content=False
            )
        )

    def get(self, kind: t.Any, namespace: t.Any, name: t.Any) -> t.Any:
        return self._maybe(self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURALS[kind], name)

    def list(self, kind: t.Any, namespace: t.Any) -> t.Any:
        result = self._maybe(self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURALS[kind])
        return [] if result is None else list(result.get("items") or [])

    def create(self, obj: t.Any, retry_not_found: float = 0.0) -> t.Any:
        """Create ``obj``; with ``retry_not_found`` (seconds), a 404 is retried meanwhile: a real API server
        may not serve a resource for a moment after its CRD became Established."""
        from kubernetes.client.exceptions import ApiException

        meta = obj["metadata"]
        deadline = time.monotonic() + retry_not_found
        while True:
            try:
                return self._call(
                    self.custom.create_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    meta["namespace"],
                    PLURALS[obj["kind"]],
                    obj,
                )
            except ApiException as exc:
                if exc.status != 404 or time.monotonic() >= deadline:
                    raise
            time.sleep(0.25)

    def replace(self, obj: t.Any) -> t.Any:
        meta = obj["metadata"]
        return self._call(
            self.custom.replace_namespaced_custom_object,
            GROUP,
            VERSION,
            meta["namespace"],
            PLURALS[obj["kind"]],
            meta["name"],
            obj,
        )

    def delete(self, obj: t.Any) -> t.Any:
        meta = obj["metadata"]
        return self._maybe(
            self.custom.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            meta["namespace"],
            PLURALS[obj["kind"]],
            meta["name"],
        )


class ApiUnreachable(Exception):
    """The API server did not answer (connection refused, timeout, TLS)."""


def read_live(cluster: t.Any, name: t.Any, namespace: t.Any, install_crds: t.Any, state: t.Any) -> t.Any:
    """What exists now: see :func:`plan` for the shape; plus ``"other_pools"``."""
    missing, outdated, crd_warnings = [], [], []
    for crd in CRDS:
        current = cluster.crd(crd["metadata"]["name"])
        if current is None:
            missing.append(crd)
            continue
        upgrade = crd_upgrade(crd, current) if install_crds and state == "present" else None
        if upgrade and upgrade[0] == "update":
            outdated.append((upgrade[1], current, upgrade[2]))
        elif upgrade:
            crd_warnings.append(upgrade[2])
    missing_names = set(crd["spec"]["names"]["kind"] for crd in missing)
    if missing and state == "present" and not install_crds:
        raise AddressPoolError(
            "the metallb.io CRDs {} are not installed and install_crds is false: install them "
            "(set install_crds: true, or apply MetalLB's manifests) and run again".format(
                ", ".join(crd["metadata"]["name"] for crd in missing)
            )
        )
    live = {
        "missing_crds": missing,
        "outdated_crds": outdated,
        "crd_warnings": crd_warnings,
        "namespace_exists": cluster.namespace_exists(namespace),
        "other_pools": [],
    }
    for kind in (POOL, L2ADV, BGPADV):
        live[kind] = (
            None if kind in missing_names or not live["namespace_exists"] else cluster.get(kind, namespace, name)
        )
    if POOL not in missing_names and live["namespace_exists"] and state == "present":
        live["other_pools"] = cluster.list(POOL, namespace)
    return live


def apply(cluster: t.Any, steps: t.Any, check_mode: t.Any) -> t.Any:
    """Run ``steps`` in order (the one place that honours check mode).

    On a failed object step, undo the object steps done so far, newest first, and raise an error that says
    what failed and what was rolled back (or what could not be). CRDs and the namespace created (or CRDs updated)
    by this run stay: they hold nothing and a re-run needs them.
    """
    if check_mode:
        return {}
    from kubernetes.client.exceptions import ApiException

    done: list[tuple[Step, t.Any]] = []  # (step, result object)
    results = {}
    crds_installed = False
    for step in steps:
        try:
            if step.verb in ("install-crd", "update-crd"):
                (cluster.create_crd if step.verb == "install-crd" else cluster.replace_crd)(step.obj)
                cluster.wait_established(step.obj["metadata"]["name"])
                crds_installed = True
                continue
            if step.verb == "create-namespace":
                cluster.create_namespace(step.obj["metadata"]["name"])
                continue
            if step.verb == "create":
                result = cluster.create(step.obj, **({"retry_not_found": CRD_WAIT_SECONDS} if crds_installed else {}))
            elif step.verb == "update":
                result = cluster.replace(step.obj)
            else:
                result = cluster.delete(step.obj)
        except (ApiException, ApiUnreachable, AddressPoolError) as exc:
            reason = api_error_text(exc) if isinstance(exc, ApiException) else str(exc)
            message = f"{step.command} failed: {reason}"
            rollback, incomplete = _rollback(cluster, done)
            kept = [
                s.command
                for s in steps[: steps.index(step)]
                if s.verb in ("install-crd", "update-crd", "create-namespace")
            ]
            if kept:
                rollback += "; kept (harmless, needed by a re-run): " + ", ".join(kept)
            raise AddressPoolError(message + rollback, changed=bool(kept) or incomplete) from exc
        done.append((step, result))
        if step.verb != "delete":
            results[step.obj["kind"]] = result
    return results


def _rollback(cluster: t.Any, done: t.Any) -> t.Any:
    undo = [(s, r) for s, r in done if s.verb in ("create", "update", "delete")]
    if not undo:
        return "; no object had been written, so nothing was rolled back", False
    rolled, failed = [], []
    for step, result in reversed(undo):
        obj = step.obj
        try:
            if step.verb == "create":
                cluster.delete(obj)
                rolled.append(f"deleted {ref(obj)}, which this run had created")
            elif step.verb == "update":
                restore = _clean_for_create(step.previous)
                restore["metadata"] = copy.deepcopy(result["metadata"])
                restore["metadata"]["labels"] = copy.deepcopy((step.previous.get("metadata") or {}).get("labels"))
                if restore["metadata"]["labels"] is None:
                    restore["metadata"].pop("labels")
                cluster.replace(restore)
                rolled.append(f"restored the previous spec of {ref(obj)}")
            else:
                cluster.create(_clean_for_create(step.previous))
                rolled.append(f"recreated {ref(obj)}, which this run had deleted")
        except Exception as exc:  # noqa: BLE001 - report every rollback failure, keep undoing the rest
            failed.append(f"could not undo '{step.command}' ({api_error_text(exc)})")
    text = "; rolled back: " + ", ".join(rolled) if rolled else ""
    if failed:
        text += "; ROLLBACK INCOMPLETE: " + "; ".join(failed) + " -- fix the cluster by hand or run again"
    return text, bool(failed)


def _public(obj: t.Any) -> t.Any:
    if not obj:
        return {}
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj["kind"],
        "metadata": dict((k, meta[k]) for k in ("name", "namespace", "labels") if k in meta),
        "spec": copy.deepcopy(obj.get("spec") or {}),
    }


def run(params: t.Any, cluster: t.Any, check_mode: bool = False) -> t.Any:
    """The whole module run on already-validated Ansible params: the result dict, or :class:`AddressPoolError`."""
    name, namespace, state = params["name"], params.get("namespace") or "metallb-system", params.get("state", "present")
    desired = build_desired(params)
    live = read_live(cluster, name, namespace, params.get("install_crds", True), state)
    if state == "present":
        clash = find_overlap(desired.entries, name, namespace, live["other_pools"])
        if clash:
            raise AddressPoolError(clash)
    steps, diff, warnings = plan(desired, live, name, namespace, state)
    written = apply(cluster, steps, check_mode)
    result = {"changed": bool(steps), "commands": [s.command for s in steps], "diff": diff, "warnings": warnings}
    if state == "present":
        adv_kind = desired.advertisement["kind"]
        result["pool"] = _public(
            written.get(POOL)
            or (desired.pool if check_mode or live[POOL] is None else _merged_update(live[POOL], desired.pool))
        )
        result["advertisement"] = _public(
            written.get(adv_kind)
            or (
                desired.advertisement
                if check_mode or live[adv_kind] is None
                else _merged_update(live[adv_kind], desired.advertisement)
            )
        )
    else:
        result["pool"], result["advertisement"] = {}, {}
    return result


def run_module(module: AnsibleModule) -> t.Any:
    """Entry point for ``plugins/modules/address_pool.py``: run, then ``exit_json`` or ``fail_json``."""
    try:
        desired_ok = build_desired(module.params)  # refuse bad options before connecting at all
        del desired_ok
        api_client = get_client(module)
    except (AddressPoolError, K8sAuthError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    from kubernetes.client.exceptions import ApiException

    try:
        result = run(module.params, Cluster(api_client), check_mode=module.check_mode)
    except AddressPoolError as exc:
        module.fail_json(msg=str(exc), changed=exc.changed)
    except ApiUnreachable as exc:
        module.fail_json(msg=f"{exc}; nothing was changed", changed=False)
    except ApiException as exc:  # apply() handles its own errors: this is a read
        module.fail_json(msg=f"reading the cluster failed: {api_error_text(exc)}; nothing was changed", changed=False)
    finally:
        api_client.close()
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)
