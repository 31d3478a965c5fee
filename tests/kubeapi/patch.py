"""The three PATCH flavours the API server accepts for JSON bodies.

* JSON merge patch (RFC 7386): maps merge, ``null`` deletes, lists are replaced.
* JSON patch (RFC 6902): delegated to ``jsonpatch``.
* Strategic merge patch: a merge patch whose lists may merge by a key (``patchMergeKey``
  in the Go types), plus the ``$patch`` / ``$deleteFromPrimitiveList`` /
  ``$setElementOrder`` / ``$retainKeys`` directives. Only built-in types accept it; the
  merge keys are listed per resource in :mod:`.resources` (``MergeKeys``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpatch

from .errors import ApiError, bad_request

# Path (dotted, ``[]`` for "each list item") → merge key; ``""`` marks a primitive list
# merged as a set (``patchStrategy:"merge"`` without a key, e.g. finalizers).
MergeKeys = Mapping[str, str]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: returns the patched value (``target`` may be modified in place).

    ``patch`` is a freshly decoded request body, so its values are used without copying."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def json_patch(target: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        return jsonpatch.apply_patch(target, ops, in_place=True)
    except jsonpatch.JsonPatchConflict as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, IndexError) as exc:
        raise ApiError(500, "InternalError", f"Internal error occurred: {exc}") from exc


def strategic_merge_patch(target: Any, patch: Any, merge_keys: MergeKeys) -> Any:
    """Apply a strategic merge patch; ``merge_keys`` maps list paths to their merge key."""
    if not isinstance(patch, dict):
        raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    return _smp_map(target if isinstance(target, dict) else {}, patch, "", merge_keys)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _smp_map(target: dict[str, Any], patch: dict[str, Any], path: str, keys: MergeKeys) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: (v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            current = target.get(field)
            if isinstance(current, list):
                target[field] = [v for v in current if v not in value]
            continue
        child = _child(path, key)
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            cur = target.get(key)
            merged = _smp_map(cur if isinstance(cur, dict) else {}, value, child, keys)
            if merged is None:
                target.pop(key, None)
            else:
                target[key] = merged
        elif isinstance(value, list) and child in keys:
            target[key] = _smp_list(target.get(key), value, child, keys)
        else:
            target[key] = value
    if isinstance(retain, list):
        for key in list(target):
            if key not in retain:
                del target[key]
    return target


def _smp_list(current: Any, patch: list[Any], path: str, keys: MergeKeys) -> list[Any]:
    current = list(current) if isinstance(current, list) else []
    key = keys[path]
    if not key:  # primitive list with merge strategy: union, keeping order
        for value in patch:
            if value not in current:
                current.append(value)
        return current
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"map: {item!r} does not contain declared merge key: {key}")
        index = next(
            (i for i, cur in enumerate(current) if isinstance(cur, dict) and cur.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del current[index]
            continue
        if index is None:
            current.append(_smp_map({}, item, path + "[]", keys))
        else:
            current[index] = _smp_map(current[index], item, path + "[]", keys)
    return current
