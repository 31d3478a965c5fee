"""The API semantics, independent of HTTP: create/get/list/update/patch/delete and watch filters.

Everything that must be atomic (read-check-write with resourceVersion preconditions, name
uniqueness, allocation) runs under the store lock, so the emulator never has the
check-then-act races a real etcd transaction would prevent.
"""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import cause
from .patch import json_patch, merge_patch, strategic_merge_patch
from .resources import Registry, ResourceType, types_from_crd
from .selectors import FieldRequirement, Requirement, fields_match, labels_match
from .serviceaccounts import TokenIssuer
from .store import ADDED, DELETED, MODIFIED, Entry, Event, Store
from .strategies import now_rfc3339, strategy_for

SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
    "managedFields",
)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class WatchFilter:
    """Which events of the log a watch stream sees, and as what type.

    An object that stops matching the label/field selector is reported DELETED and one
    that starts matching ADDED — the watch cache does the same.
    """

    rt: ResourceType
    namespace: str | None
    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        return labels_match(self.labels, obj) and fields_match(self.fields, obj)

    def event_type(self, ev: Event) -> str | None:
        if ev.key != self.rt.key or (self.namespace is not None and ev.namespace != self.namespace):
            return None
        if not self.labels and not self.fields:
            return ev.type
        now = self.matches(ev.entry.obj)
        before = ev.old is not None and self.matches(ev.old)
        if ev.type == MODIFIED:
            if now and before:
                return MODIFIED
            if now:
                return ADDED
            return DELETED if before else None
        return ev.type if now else None


class Api:
    """Resource operations over a :class:`Store` and a :class:`Registry`."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.tokens = TokenIssuer()  # service-account token signing key and the CA token Secrets carry
        for rt in registry.all():
            rt.strategy = strategy_for(rt)

    # ------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        entry = self.store.get(rt.key, namespace, name)
        if entry is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return entry

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: tuple[Requirement, ...] = (),
        fields: tuple[FieldRequirement, ...] = (),
        limit: int = 0,
        continue_token: str | None = None,
    ) -> tuple[list[Entry], int, str | None, int | None]:
        """Matching entries sorted by namespace/name, the list's resourceVersion, continue, remaining."""
        with self.store.lock:
            rv = self.store.rv
            entries = list(self.store.iter(rt.key, namespace))
        if labels or fields:
            entries = [e for e in entries if labels_match(labels, e.obj) and fields_match(fields, e.obj)]

        def sort_key(e: Entry) -> tuple[str, str]:
            meta = e.obj["metadata"]
            return (meta.get("namespace", ""), meta["name"])

        entries.sort(key=sort_key)
        if continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                start = tuple(token["start"])
                rv = int(token["rv"])
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request(f"continue key is not valid: {exc}") from exc
            entries = [e for e in entries if sort_key(e) > start]
        next_token, remaining = None, None
        if limit and len(entries) > limit:
            last = sort_key(entries[limit - 1])
            remaining = len(entries) - limit
            entries = entries[:limit]
            next_token = base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": list(last)}).encode()).decode()
        return entries, rv, next_token, remaining

    # ------------------------------------------------------------------ create
    def create(self, rt: ResourceType, namespace: str, obj: Any, version: str | None = None) -> Entry:
        meta = self._check_body(rt, namespace, obj, version)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice(_NAME_CHARS) for _ in range(5))
        for f in SYSTEM_META + ("resourceVersion",):
            meta.pop(f, None)
        with self.store.lock:
            if rt.namespaced and self.store.get(("", "namespaces"), "", namespace) is None:
                raise errors.not_found("namespaces", "", namespace)
            name = meta.get("name") or ""
            if name and self.store.get(rt.key, namespace if rt.namespaced else "", name) is not None:
                raise errors.already_exists(rt.plural, rt.group, name)
            rt.strategy.prepare_create(obj, self)
            if not rt.is_custom:
                normalize_builtin(obj)
            self._raise_invalid(rt, obj, self._validate_meta(rt, obj) + rt.strategy.validate(obj, None, self))
            rt.strategy.allocate(obj, None, self)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rt.is_custom or rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
                meta["generation"] = 1
            entry = self.store.commit(rt.key, meta.get("namespace", ""), name, ADDED, obj, None)
            rt.strategy.after_commit(ADDED, obj, None, self)
            return entry

    def _check_body(self, rt: ResourceType, namespace: str, obj: Any, version: str | None) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise errors.bad_request(f"Object '{rt.kind}' is invalid: the body must be a JSON object")
        api_version = rt.api_version(version)
        if obj.get("kind") and obj["kind"] != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({obj['kind']}) does not match the expected kind ({rt.kind})"
            )
        if obj.get("apiVersion") and obj["apiVersion"] != api_version:
            raise errors.bad_request(
                f"the API version in the data ({obj['apiVersion']}) does not match the expected API version "
                f"({api_version})"
            )
        obj["apiVersion"] = api_version
        obj["kind"] = rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("json: cannot unmarshal into Go struct field of type v1.ObjectMeta")
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is None:
                meta.pop(field, None)
            elif not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise errors.bad_request(
                    f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{field} of type string"
                )
        if "finalizers" in meta and not (
            isinstance(meta["finalizers"], list) and all(isinstance(f, str) for f in meta["finalizers"])
        ):
            raise errors.bad_request(
                "json: cannot unmarshal into Go struct field ObjectMeta.metadata.finalizers of type string"
            )
        return meta

    def _validate_meta(self, rt: ResourceType, obj: dict[str, Any]) -> list[dict[str, str]]:
        meta = obj["metadata"]
        errs: list[dict[str, str]] = []
        name = meta.get("name")
        if not name:
            errs.append(
                cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")
            )
        else:
            pattern, message, maxlen = rt.strategy.name_rule
            if rt.is_custom:
                pattern, message, maxlen = _SUBDOMAIN, message, 253
            if len(name) > maxlen:
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        "metadata.name",
                        f'Invalid value: "{name}": must be no more than {maxlen} characters',
                    )
                )
            elif not pattern.match(name):
                errs.append(cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {message}'))
        for key, value in (meta.get("labels") or {}).items():
            if not _valid_qualified_key(key):
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        "metadata.labels",
                        f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
                        f"'-', '_' or '.', and must start and end with an alphanumeric character",
                    )
                )
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        "metadata.labels",
                        f'Invalid value: "{value}": a valid label must be an empty string or consist of '
                        f"alphanumeric characters, '-', '_' or '.', and must start and end with an "
                        f"alphanumeric character",
                    )
                )
        for key in meta.get("annotations") or {}:
            if not _valid_qualified_key(key):
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        "metadata.annotations",
                        f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
                        f"'-', '_' or '.', and must start and end with an alphanumeric character",
                    )
                )
        return errs

    @staticmethod
    def _raise_invalid(rt: ResourceType, obj: dict[str, Any], causes: list[dict[str, str]]) -> None:
        if causes:
            raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)

    # ------------------------------------------------------------------ update / patch
    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        obj: Any,
        subresource: str | None = None,
        version: str | None = None,
    ) -> tuple[Entry, bool]:
        """PUT. Returns the entry and whether it was created (AllowCreateOnUpdate)."""
        ns = namespace if rt.namespaced else ""
        meta = self._check_body(rt, namespace, obj, version)
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            rv = meta.get("resourceVersion")
            if cur is None:
                if rt.create_on_update and subresource is None and not rv:
                    return self.create(rt, namespace, obj, version), True
                raise errors.not_found(rt.plural, rt.group, name)
            if not rv:
                if not rt.unconditional_update:
                    raise errors.invalid(
                        rt.kind,
                        rt.group,
                        name,
                        [
                            cause(
                                "FieldValueInvalid",
                                "metadata.resourceVersion",
                                "Invalid value: 0x0: must be specified for an update",
                            )
                        ],
                    )
            elif rv != cur.obj["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            return self._apply_update(rt, cur, obj, subresource), False

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        subresource: str | None = None,
        version: str | None = None,
    ) -> Entry:
        ns = namespace if rt.namespaced else ""
        ctype = content_type.split(";")[0].strip().lower()
        accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
        if rt.merge_keys is not None:
            accepted.append(STRATEGIC_PATCH)
        if ctype not in accepted or ctype == APPLY_PATCH:
            raise errors.unsupported_media_type(accepted)
        try:
            patch = json.loads(body or b"null")
        except ValueError as exc:
            raise errors.bad_request(f"error decoding patch: {exc}") from exc
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            if cur is None:
                raise errors.not_found(rt.plural, rt.group, name)
            base = json.loads(cur.raw)
            if ctype == MERGE_PATCH:
                patched = merge_patch(base, patch)
            elif ctype == JSON_PATCH:
                patched = json_patch(base, patch)
            else:
                assert rt.merge_keys is not None
                patched = strategic_merge_patch(base, patch, rt.merge_keys)
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise errors.bad_request("the patch produced an object without metadata")
            rv = patched["metadata"].get("resourceVersion")
            if rv is not None and rv != cur.obj["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            patched["metadata"]["name"] = name
            if rt.namespaced:
                patched["metadata"]["namespace"] = namespace
            self._check_body(rt, namespace, patched, version)
            return self._apply_update(rt, cur, patched, subresource)

    def _apply_update(self, rt: ResourceType, cur: Entry, new: dict[str, Any], subresource: str | None) -> Entry:
        """Shared tail of PUT and PATCH (store lock held): strategy, validation, no-op check, commit."""
        old = cur.obj
        fresh = json.loads(cur.raw)  # a private deep copy of ``old`` (faster than copy.deepcopy)
        ometa, meta = old["metadata"], new["metadata"]
        for f in SYSTEM_META:
            meta.pop(f, None)
            if f in ometa and f != "managedFields":
                meta[f] = fresh["metadata"][f]
        meta["resourceVersion"] = ometa["resourceVersion"]
        if subresource == "status":
            if rt.is_custom:
                # apiextensions statusStrategy: the old object with only the new status.
                status = new.get("status")
                api_version = new["apiVersion"]
                new = fresh
                new["apiVersion"] = api_version
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
            else:
                # core status strategies reset spec only: metadata changes are kept.
                for k in set(old) | set(new):
                    if k not in ("metadata", "status", "apiVersion", "kind"):
                        if k in old:
                            new[k] = fresh[k]
                        else:
                            new.pop(k, None)
            rt.strategy.prepare_status_update(new, old, self)
        else:
            if "status" in rt.subresources:
                if "status" in old:
                    new["status"] = fresh["status"]
                else:
                    new.pop("status", None)
            rt.strategy.prepare_update(new, old, self)
        meta = new["metadata"]
        if not rt.is_custom:
            normalize_builtin(new)
        causes = self._validate_meta(rt, new) + rt.strategy.validate(new, old, self)
        if ometa.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(ometa.get("finalizers") or [])
            if added:
                causes.append(
                    cause(
                        "FieldValueForbidden",
                        "metadata.finalizers",
                        f"Forbidden: no new finalizers can be added if the object is being deleted, "
                        f"found new finalizers {sorted(added)!r}",
                    )
                )
        self._raise_invalid(rt, new, causes)
        if "generation" in ometa and _spec_changed(old, new):
            meta["generation"] = ometa["generation"] + 1
        if meta.get("finalizers") == []:
            del meta["finalizers"]
        if new == old:
            return cur  # no-op updates do not bump resourceVersion (etcd3 store short-circuit)
        rt.strategy.allocate(new, old, self)
        ns = ometa.get("namespace", "")
        if ometa.get("deletionTimestamp") and not meta.get("finalizers"):
            entry = self.store.commit(rt.key, ns, ometa["name"], DELETED, new, old)
            rt.strategy.release(new, self)
            rt.strategy.after_commit(DELETED, new, old, self)
            return entry
        entry = self.store.commit(rt.key, ns, ometa["name"], MODIFIED, new, old)
        rt.strategy.after_commit(MODIFIED, new, old, self)
        return entry

    # ------------------------------------------------------------------ delete
    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: dict[str, Any] | None = None
    ) -> tuple[Entry, bool]:
        """Returns the final (or deletion-pending) entry and whether it is gone."""
        ns = namespace if rt.namespaced else ""
        pre = (options or {}).get("preconditions") or {}
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            if cur is None:
                raise errors.not_found(rt.plural, rt.group, name)
            meta = cur.obj["metadata"]
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{meta['resourceVersion']}",
                )
            new = dict(cur.obj)
            new["metadata"] = nmeta = dict(meta)
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return cur, False
                nmeta["deletionTimestamp"] = now_rfc3339()
                nmeta["deletionGracePeriodSeconds"] = 0
                if "generation" in nmeta:
                    nmeta["generation"] += 1
                return self.store.commit(rt.key, ns, name, MODIFIED, new, cur.obj), False
            return self._remove(rt, ns, name, new, cur.obj), True

    def _remove(self, rt: ResourceType, ns: str, name: str, new: dict[str, Any], old: dict[str, Any]) -> Entry:
        entry = self.store.commit(rt.key, ns, name, DELETED, new, old)
        rt.strategy.release(new, self)
        rt.strategy.after_commit(DELETED, new, old, self)
        return entry

    def delete_namespace_contents(self, namespace: str) -> None:
        """The namespace controller's job, done at once (finalizers are not waited for)."""
        for rt in self.registry.all():
            if rt.namespaced:
                for entry in list(self.store.iter(rt.key, namespace)):
                    obj = dict(entry.obj)
                    obj["metadata"] = dict(entry.obj["metadata"])
                    self._remove(rt, namespace, obj["metadata"]["name"], obj, entry.obj)

    # ------------------------------------------------------------------ CRDs
    def register_crd(self, crd: dict[str, Any]) -> ResourceType:
        rt = types_from_crd(crd)
        rt.strategy = strategy_for(rt)
        self.registry.add(rt)
        return rt

    def unregister_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"])
        rt = self.registry.by_key(key)
        if rt is None:
            return
        for entry in list(self.store.iter(key, None)):
            obj = dict(entry.obj)
            obj["metadata"] = dict(entry.obj["metadata"])
            self.store.commit(
                key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], DELETED, obj, entry.obj
            )
        self.registry.remove(key)
        self.store.drop_resource(key)

    def ensure_namespaces(self, names: Iterable[str]) -> None:
        ns_rt = self.registry.by_key(("", "namespaces"))
        assert ns_rt is not None
        for name in names:
            if self.store.get(ns_rt.key, "", name) is None:
                self.create(ns_rt, "", {"metadata": {"name": name}})


def _omit_empty(value: Any, keep: frozenset[str] = frozenset()) -> None:
    """Drop ``null`` and ``[]`` members the way Go's ``omitempty`` encoding of built-in types does.

    Built-in objects are decoded into Go structs and re-encoded, so an empty list or a null
    never survives a round trip (nearly every slice field is ``omitempty``); empty structs
    such as ``status.loadBalancer: {}`` do, which is why empty maps are left alone.
    """
    if isinstance(value, dict):
        for k, v in list(value.items()):
            if v is None or (v == [] and k not in keep):
                del value[k]
            elif isinstance(v, (dict, list)):
                _omit_empty(v)
    else:
        for v in value:
            if isinstance(v, (dict, list)):
                _omit_empty(v)


def normalize_builtin(obj: dict[str, Any]) -> None:
    keep = frozenset({"endpoints"}) if obj.get("kind") == "EndpointSlice" else frozenset()
    _omit_empty(obj, keep)
    meta = obj.get("metadata") or {}
    for f in ("labels", "annotations"):
        if f in meta and not meta[f]:
            del meta[f]


def _valid_qualified_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = (set(old) | set(new)) - {"metadata", "status", "apiVersion", "kind"}
    return any(old.get(k) != new.get(k) for k in keys)
