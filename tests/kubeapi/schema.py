"""Structural-schema handling for custom resources: prune, default, validate.

This mirrors what apiextensions-apiserver does with a CRD's ``openAPIV3Schema`` on every
create/update, in that order: unknown fields are dropped (unless
``x-kubernetes-preserve-unknown-fields``), ``default``s are filled in where the parent
object exists, and the result is checked for ``type``, ``enum``, ``required``,
``pattern``, bounds and ``nullable``. Violations come back as field causes for a 422.
``metadata``, ``apiVersion`` and ``kind`` at the root are the server's business, not the
schema's. CEL (``x-kubernetes-validations``) is not evaluated.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

from .errors import cause

_ROOT_SKIP = ("apiVersion", "kind", "metadata")


def prune(value: Any, schema: dict[str, Any] | None, root: bool = False) -> Any:
    """Drop fields the schema does not know about (in place), like structural pruning."""
    if schema is None:
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
            "x-kubernetes-embedded-resource"
        )
        for key in list(value):
            if root and key in _ROOT_SKIP:
                continue
            sub = props.get(key) if props else None
            if sub is None and isinstance(addl, dict):
                sub = addl
            if value[key] is None and sub is not None and not sub.get("nullable"):
                del value[key]  # null in a non-nullable field is dropped (then defaulted)
            elif props and key in props:
                prune(value[key], props[key])
            elif isinstance(addl, dict):
                prune(value[key], addl)
            elif (
                addl is True
                or keep_unknown
                or schema.get("x-kubernetes-int-or-string")
                or props is None
                and addl is None
                and schema.get("type") != "object"
            ):
                continue
            else:
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune(item, schema["items"])
    return value


def apply_defaults(value: Any, schema: dict[str, Any] | None) -> Any:
    """Fill ``default``s (in place) for absent or null non-nullable properties."""
    if schema is None:
        return value
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if "default" in sub and (key not in value or (value[key] is None and not sub.get("nullable"))):
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_defaults(value[key], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key in value:
                apply_defaults(value[key], addl)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _type_name(value)
    return json.dumps(value)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_ok(value: Any, expected: str, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    actual = _type_name(value)
    if expected == "number":
        return actual in ("number", "integer")
    return actual == expected


def validate(value: Any, schema: dict[str, Any] | None, path: str = "", root: bool = False) -> list[dict[str, str]]:
    """Return field causes for every violation under ``path``."""
    errors: list[dict[str, str]] = []
    if schema is not None:
        _validate(value, schema, path, errors, root)
    return errors


def _validate(value: Any, schema: dict[str, Any], path: str, errs: list[dict[str, str]], root: bool = False) -> None:
    where = path or "<root>"
    if value is None:
        if schema.get("nullable"):
            return
        if schema.get("type") or schema.get("x-kubernetes-int-or-string"):
            t = schema.get("type") or "integer-or-string"
            errs.append(
                cause(
                    "FieldValueTypeInvalid",
                    where,
                    f'Invalid value: "null": {where} in body must be of type {t}: "null"',
                )
            )
        return
    expected = schema.get("type")
    if expected and not _type_ok(value, expected, schema):
        actual = _type_name(value)
        errs.append(
            cause(
                "FieldValueTypeInvalid",
                where,
                f'Invalid value: "{actual}": {where} in body must be of type {expected}: "{actual}"',
            )
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        errs.append(
            cause("FieldValueNotSupported", where, f"Unsupported value: {_show(value)}: supported values: {supported}")
        )
    if isinstance(value, str):
        if "pattern" in schema and not _regex(schema["pattern"]).search(value):
            errs.append(
                cause(
                    "FieldValueInvalid",
                    where,
                    f"Invalid value: {_show(value)}: {where} in body should match '{schema['pattern']}'",
                )
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(
                cause("FieldValueTooLong", where, f"Too long: may not be more than {schema['maxLength']} bytes")
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append(
                cause(
                    "FieldValueInvalid",
                    where,
                    f"Invalid value: {_show(value)}: {where} in body should be at least {schema['minLength']} chars "
                    "long",
                )
            )
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            lo = schema["minimum"]
            if value < lo or (schema.get("exclusiveMinimum") and value == lo):
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        where,
                        f"Invalid value: {value}: {where} in body should be greater than or equal to {lo}",
                    )
                )
        if "maximum" in schema:
            hi = schema["maximum"]
            if value > hi or (schema.get("exclusiveMaximum") and value == hi):
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        where,
                        f"Invalid value: {value}: {where} in body should be less than or equal to {hi}",
                    )
                )
    elif isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(
                cause(
                    "FieldValueTooMany", where, f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append(
                cause(
                    "FieldValueInvalid",
                    where,
                    f"Invalid value: {len(value)}: {where} in body should have at least {schema['minItems']} items",
                )
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _validate(item, items, f"{path}[{i}]", errs)
    elif isinstance(value, dict):
        for req in schema.get("required") or ():
            if req not in value:
                errs.append(cause("FieldValueRequired", f"{path}.{req}" if path else req, "Required value"))
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for key, sub in value.items():
            if root and key in _ROOT_SKIP:
                continue
            child = f"{path}.{key}" if path else key
            if key in props:
                _validate(sub, props[key], child, errs)
            elif isinstance(addl, dict):
                _validate(sub, addl, child, errs)
