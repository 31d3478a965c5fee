"""``labelSelector`` / ``fieldSelector`` query strings, parsed once per request.

The grammar is apimachinery's ``labels.Parse``: comma-separated requirements, each one of
``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists) or ``!k``.
Field selectors only take ``=``, ``==`` and ``!=`` and only on fields the resource
supports; anything else is a 400 like the real server's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_KEY_RE = re.compile(r"^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match objects without the key, as upstream does.
        return not present or labels[self.key] not in self.values


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_label_selector(text: str | None) -> tuple[Requirement, ...]:
    """Parse a ``labelSelector``; an empty selector matches everything."""
    if not text or not text.strip():
        return ()
    reqs: list[Requirement] = []
    for part in _split_top_level(text):
        m = _EQ_RE.match(part)
        if m:
            key, op, value = m.groups()
            _check_key(key, text)
            reqs.append(Requirement(key, "!=" if op == "!=" else "=", frozenset([value])))
            continue
        m = _SET_RE.match(part)
        if not m:
            raise bad_request(f"unable to parse requirement: found '{part.strip()}', expected: identifier")
        bang, key, setop, values = m.groups()
        _check_key(key, text)
        if setop:
            if bang:
                raise bad_request(f"unable to parse requirement: unexpected '!' before set operator in {part!r}")
            vals = frozenset(v.strip() for v in values.split(",") if v.strip())
            if not vals:
                raise bad_request(f"unable to parse requirement: for '{setop}' operator, values set can't be empty")
            reqs.append(Requirement(key, setop, vals))
        else:
            reqs.append(Requirement(key, "!" if bang else "exists"))
    return tuple(reqs)


def _check_key(key: str, text: str) -> None:
    if not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {text!r}")


def labels_match(reqs: tuple[Requirement, ...], obj: Mapping[str, Any]) -> bool:
    if not reqs:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


FieldGetter = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str
    getter: FieldGetter

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (self.getter(obj) == self.value) != self.negate


def parse_field_selector(text: str | None, fields: Mapping[str, FieldGetter]) -> tuple[FieldRequirement, ...]:
    """Parse a ``fieldSelector`` against the fields one resource supports."""
    if not text or not text.strip():
        return ()
    reqs: list[FieldRequirement] = []
    for part in text.split(","):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.groups()
        getter = fields.get(field)
        if getter is None:
            raise bad_request(f'"{field}" is not a known field selector: only "{", ".join(sorted(fields))}"')
        reqs.append(FieldRequirement(field, op == "!=", value, getter))
    return tuple(reqs)


def fields_match(reqs: tuple[FieldRequirement, ...], obj: Mapping[str, Any]) -> bool:
    return all(r.matches(obj) for r in reqs)


def path_getter(*path: str) -> FieldGetter:
    """A getter for a dotted field; missing values compare as ``""`` (upstream does too)."""

    def get(obj: Mapping[str, Any]) -> str:
        cur: Any = obj
        for p in path:
            if not isinstance(cur, Mapping):
                return ""
            cur = cur.get(p)
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get
