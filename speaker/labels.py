"""Kubernetes label selectors, evaluated in pure Python.

The speaker needs them for pool ``serviceAllocation`` selectors and advertisement
``nodeSelectors``; keeping them here (no client types) lets ipam and election use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector that the API server would reject; the message names the field."""


_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True)
class Selector:
    """A ``metav1.LabelSelector``: all requirements must hold. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def from_dict(cls, raw: Any, where: str = "selector") -> Selector:
        """Build from the API's ``{matchLabels, matchExpressions}``; ``where`` prefixes error messages."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise SelectorError(f"{where}: must be an object with matchLabels/matchExpressions, got {raw!r}")
        reqs: list[Requirement] = []
        match_labels = raw.get("matchLabels") or {}
        if not isinstance(match_labels, Mapping):
            raise SelectorError(f"{where}.matchLabels: must be a map of strings, got {match_labels!r}")
        for key, value in sorted(match_labels.items()):
            reqs.append(Requirement(str(key), "In", frozenset([str(value)])))
        for i, expr in enumerate(raw.get("matchExpressions") or []):
            path = f"{where}.matchExpressions[{i}]"
            if not isinstance(expr, Mapping) or "key" not in expr:
                raise SelectorError(f"{path}: needs key and operator, got {expr!r}")
            op = expr.get("operator")
            if op not in _OPERATORS:
                raise SelectorError(f"{path}.operator: {op!r} is not one of {', '.join(_OPERATORS)}")
            values = expr.get("values") or []
            if op in ("In", "NotIn") and not values:
                raise SelectorError(f"{path}.values: must be non-empty for operator {op}")
            if op in ("Exists", "DoesNotExist") and values:
                raise SelectorError(f"{path}.values: must be empty for operator {op}")
            reqs.append(Requirement(str(expr["key"]), op, frozenset(str(v) for v in values)))
        return cls(tuple(reqs))


def any_matches(selectors: tuple[Selector, ...], labels: Mapping[str, str] | None) -> bool:
    """MetalLB's rule for selector lists: an empty list matches all, otherwise any one must match."""
    return not selectors or any(s.matches(labels) for s in selectors)
