"""The interfaces Layer 2 never answers on: MetalLB's ``metallb-excludel2`` ConfigMap. Pure (no I/O).

MetalLB's speaker reads the key ``excludel2.yaml`` of the ConfigMap ``metallb-excludel2`` in its namespace (mounted
as ``/etc/metallb/excludel2.yaml``: metallb/metallb ``speaker/main.go`` line 67, ``excludeL2ConfigPath``), a YAML
document whose ``announcedInterfacesToExclude`` is a list of regular expressions (``speaker/main.go`` line 331, the
``controllerConfig`` field). ``parseAnnouncedInterfacesToExclude`` (``speaker/main.go`` line 587) joins them as
``(a)|(b)|…`` and an interface whose name the result matches *anywhere* (Go's ``MatchString``, unanchored) gets no
ARP/NDP responder (``internal/layer2/announcer.go`` line 76) — so it is never answered on, also when an
L2Advertisement names it. The list MetalLB ships is ``config/native/exclude-l2-config.yaml`` line 8
(``DEFAULT_PATTERNS`` here).

The differences, on purpose (docs/speaker.md): the speaker watches the ConfigMap, so an edit applies within a
second (MetalLB reads the file once, at start-up); with no ConfigMap at all MetalLB's shipped list applies (MetalLB's
pod cannot start without it: the volume is not optional); a bad list is refused whole with an error naming the key
and the pattern, and the last good list stays in force (MetalLB's speaker exits). Patterns are Python regular
expressions, which read the forms these lists use (``^``, ``$``, ``.*``, classes, alternation) as Go's RE2 does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

CONFIGMAP = "metallb-excludel2"
DATA_KEY = "excludel2.yaml"
FIELD = "announcedInterfacesToExclude"
#: MetalLB's shipped list (config/native/exclude-l2-config.yaml line 8, metallb/metallb@7938d3f).
DEFAULT_PATTERNS: tuple[str, ...] = (
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo$",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    "^nodelocaldns.*",
    "^lxc.*",
)
DEFAULT_SOURCE = f"built-in default (MetalLB's shipped list; no ConfigMap {CONFIGMAP})"


class ExclusionError(ValueError):
    """The ConfigMap cannot be used; the message names the object, the key and the bad value."""


@dataclass(frozen=True)
class InterfaceExclusion:
    """Regular expressions; an interface whose name one of them matches (anywhere) is never answered on."""

    patterns: tuple[str, ...] = ()
    source: str = "none"
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def match(self, name: str) -> str | None:
        """The first pattern that excludes interface ``name``, or None."""
        for pattern, rx in zip(self.patterns, self._compiled, strict=True):
            if rx.search(name):
                return pattern
        return None

    def as_status(self) -> dict[str, Any]:
        return {"source": self.source, "patterns": list(self.patterns)}


NONE = InterfaceExclusion()


def exclusion(patterns: Iterable[Any], source: str, *, where: str = "") -> InterfaceExclusion:
    """Compile a list of patterns; raise ``ExclusionError`` naming the entry (``where``: the field, for the
    message) if one is not a string or not a valid regular expression. All or nothing."""
    out: list[str] = []
    compiled: list[re.Pattern[str]] = []
    for i, p in enumerate(patterns):
        if not isinstance(p, str):
            raise ExclusionError(f"{where}[{i}]: {p!r} is not a string (a regular expression for interface names)")
        try:
            compiled.append(re.compile(p))
        except re.error as exc:
            raise ExclusionError(f"{where}[{i}]: {p!r} is not a valid regular expression: {exc}") from None
        out.append(p)
    return InterfaceExclusion(tuple(out), source, tuple(compiled))


DEFAULT = exclusion(DEFAULT_PATTERNS, DEFAULT_SOURCE, where="default")


def from_configmap(obj: Mapping[str, Any] | None, namespace: str) -> InterfaceExclusion:
    """The ConfigMap (as the API returns it) → the exclusion in force. None (no such ConfigMap): MetalLB's shipped
    list. No ``excludel2.yaml`` key, an empty document or an empty list: nothing excluded (as MetalLB, which then
    finds no file or no patterns). Raises ``ExclusionError`` for anything MetalLB's speaker refuses to start with:
    YAML that does not parse, a document that is not a mapping, a list that is not a list of strings, a pattern
    that does not compile.

    The field name is matched as Go's ``encoding/json`` matches it (MetalLB decodes with ``sigs.k8s.io/yaml``, YAML
    → JSON → a struct field tagged only for YAML): the exact name first, else case-insensitively. Other keys are
    ignored, as there.
    """
    if obj is None:
        return DEFAULT
    where = f"ConfigMap {namespace}/{CONFIGMAP}"
    data = obj.get("data") or {}
    if not isinstance(data, Mapping) or DATA_KEY not in data:
        return InterfaceExclusion(source=f"{where} (no {DATA_KEY} key: nothing excluded)")
    text = data[DATA_KEY]
    try:
        doc = yaml.safe_load(text) if isinstance(text, str) else text
    except yaml.YAMLError as exc:
        raise ExclusionError(f"{where}: data.{DATA_KEY}: not valid YAML: {exc}") from None
    if doc is None:
        return InterfaceExclusion(source=where)
    if not isinstance(doc, Mapping):
        raise ExclusionError(f"{where}: data.{DATA_KEY}: {_show(doc)} is not a mapping with {FIELD}")
    key = FIELD if FIELD in doc else next((k for k in doc if isinstance(k, str) and k.lower() == FIELD.lower()), None)
    value = doc.get(key) if key is not None else None
    if value is None:
        return InterfaceExclusion(source=where)
    if not isinstance(value, list):
        raise ExclusionError(f"{where}: data.{DATA_KEY}: {key}: {_show(value)} is not a list of regular expressions")
    return exclusion(value, where, where=f"{where}: data.{DATA_KEY}: {key}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
