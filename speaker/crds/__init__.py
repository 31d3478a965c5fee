"""The ``metallb.io`` CustomResourceDefinitions, shipped inside the package.

One place to read them from: the API emulator in the tests, the ``address_pool`` Ansible module and the
``pools`` role all call :func:`load_crds`, so the schema the tests run against is the schema users install.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import yaml

GROUP = "metallb.io"

#: File names in install order (pools first: everything else refers to them).
CRD_FILES: tuple[str, ...] = (
    "metallb.io_ipaddresspools.yaml",
    "metallb.io_l2advertisements.yaml",
    "metallb.io_bgpadvertisements.yaml",
    "metallb.io_communities.yaml",
    "metallb.io_bfdprofiles.yaml",
    "metallb.io_bgppeers.yaml",
    "metallb.io_servicel2statuses.yaml",
    "metallb.io_servicebgpstatuses.yaml",
)


def crd_text(filename: str) -> str:
    """The YAML text of one CRD file, as shipped (for tools that apply files verbatim)."""
    if filename not in CRD_FILES:
        raise KeyError(f"{filename!r} is not one of the shipped CRDs: {', '.join(CRD_FILES)}")
    return resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")


def load_crds() -> list[dict[str, Any]]:
    """Every CRD as a fresh dict (callers may mutate their copy), in :data:`CRD_FILES` order."""
    out: list[dict[str, Any]] = []
    for filename in CRD_FILES:
        doc = yaml.safe_load(crd_text(filename))
        # A JSON round trip proves the document is plain JSON data (what the API server accepts)
        # and hands each caller an independent copy.
        out.append(json.loads(json.dumps(doc)))
    return out


def crd_by_kind(kind: str) -> dict[str, Any]:
    """The CRD whose ``spec.names.kind`` is ``kind`` (e.g. ``"IPAddressPool"``)."""
    for crd in load_crds():
        if crd["spec"]["names"]["kind"] == kind:
            return crd
    raise KeyError(f"no metallb.io CRD for kind {kind!r}")


__all__ = ["CRD_FILES", "GROUP", "crd_by_kind", "crd_text", "load_crds"]
