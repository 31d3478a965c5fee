"""The shipped metallb.io CRDs: loadable, structural, and the same API surface as MetalLB's.

An API server refuses a non-structural schema and silently prunes fields it does not know, so these
checks are what keep "existing MetalLB manifests apply unchanged" true without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from speaker.crds import CRD_FILES, GROUP, crd_by_kind, crd_text, load_crds

CRD_DIR = Path(__file__).resolve().parents[2] / "speaker" / "crds"

# kind -> (plural, served versions, storage version): MetalLB's names, fixed by DESIGN.md.
EXPECTED = {
    "IPAddressPool": ("ipaddresspools", {"v1beta1"}, "v1beta1"),
    "L2Advertisement": ("l2advertisements", {"v1beta1"}, "v1beta1"),
    "BGPAdvertisement": ("bgpadvertisements", {"v1beta1"}, "v1beta1"),
    "Community": ("communities", {"v1beta1"}, "v1beta1"),
    "BFDProfile": ("bfdprofiles", {"v1beta1"}, "v1beta1"),  # installed so MetalLB BFD manifests apply; refused in use
    "BGPPeer": ("bgppeers", {"v1beta1", "v1beta2"}, "v1beta2"),
    "ServiceL2Status": ("servicel2statuses", {"v1beta1"}, "v1beta1"),
    "ServiceBGPStatus": ("servicebgpstatuses", {"v1beta1"}, "v1beta1"),
}

_TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def _crd_ids() -> list[str]:
    return [c["spec"]["names"]["kind"] for c in load_crds()]


CRDS = load_crds()


def _versions() -> Iterator[tuple[str, dict[str, Any]]]:
    for crd in CRDS:
        for version in crd["spec"]["versions"]:
            yield f"{crd['spec']['names']['kind']}/{version['name']}", version


VERSIONS = list(_versions())


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (``.spec.addresses[]``), depth first."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def test_every_shipped_file_is_loaded() -> None:
    on_disk = {p.name for p in CRD_DIR.glob("*.yaml")}
    assert on_disk == set(CRD_FILES)
    assert sorted(_crd_ids()) == sorted(EXPECTED)


@pytest.mark.parametrize("filename", CRD_FILES)
def test_file_is_one_crd_document(filename: str) -> None:
    docs = list(yaml.safe_load_all(crd_text(filename)))
    assert len(docs) == 1
    doc = docs[0]
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["kind"] == "CustomResourceDefinition"
    assert filename == f"{GROUP}_{doc['spec']['names']['plural']}.yaml"
    # what the address_pool module compares to decide whether a cluster's copy is older (docs/upgrade.md)
    assert doc["metadata"]["annotations"]["baremetal-lb/schema-version"], filename


@pytest.mark.parametrize("crd", CRDS, ids=_crd_ids())
def test_names_scope_and_versions_match_metallb(crd: dict[str, Any]) -> None:
    names = crd["spec"]["names"]
    plural, served, storage = EXPECTED[names["kind"]]
    assert crd["spec"]["group"] == GROUP
    assert names["plural"] == plural
    assert names["singular"] == names["kind"].lower()
    assert names["listKind"] == names["kind"] + "List"
    assert crd["metadata"]["name"] == f"{plural}.{GROUP}"
    assert crd["spec"]["scope"] == "Namespaced"
    versions = crd["spec"]["versions"]
    assert {v["name"] for v in versions if v["served"]} == served
    storages = [v["name"] for v in versions if v["storage"]]
    assert storages == [storage], "exactly one storage version"
    for v in versions:
        assert v["subresources"] == {"status": {}}


def test_load_crds_returns_independent_copies() -> None:
    a = load_crds()
    a[0]["spec"]["group"] = "mutated"
    assert load_crds()[0]["spec"]["group"] == GROUP
    assert crd_by_kind("BGPPeer")["metadata"]["name"] == "bgppeers.metallb.io"
    with pytest.raises(KeyError):
        crd_by_kind("AddressPool")


@pytest.mark.parametrize(("where", "version"), VERSIONS, ids=[w for w, _ in VERSIONS])
def test_schema_is_structural(where: str, version: dict[str, Any]) -> None:
    root = version["schema"]["openAPIV3Schema"]
    assert root["type"] == "object"
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert root["properties"]["metadata"] == {"type": "object"}, "metadata must not be restricted"
    for path, node in _walk(root, ""):
        assert node.get("type") in _TYPES, f"{where} {path}: every node needs a type"
        assert "$ref" not in node and "x-kubernetes-preserve-unknown-fields" not in node, f"{where} {path}"
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{where} {path}: array without items"
        if node["type"] == "object" and path not in ("", ".metadata", ".status", ".spec"):
            assert ("properties" in node) != ("additionalProperties" in node), (
                f"{where} {path}: an object needs exactly one of properties/additionalProperties"
            )
        for req in node.get("required", []):
            assert req in node.get("properties", {}), f"{where} {path}: required {req!r} is not a property"
        for key in ("enum", "minimum", "maximum", "minItems"):
            if key in node:
                assert node["type"] in (
                    ("string",) if key == "enum" else ("array",) if key == "minItems" else ("integer", "number")
                )


def _value_fits(value: Any, node: dict[str, Any]) -> bool:
    kind = node["type"]
    ok = {
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]
    if ok and "enum" in node:
        ok = value in node["enum"]
    if ok and "minimum" in node:
        ok = value >= node["minimum"]
    if ok and "maximum" in node:
        ok = value <= node["maximum"]
    return ok


@pytest.mark.parametrize(("where", "version"), VERSIONS, ids=[w for w, _ in VERSIONS])
def test_defaults_fit_their_own_schema(where: str, version: dict[str, Any]) -> None:
    for path, node in _walk(version["schema"]["openAPIV3Schema"], ""):
        if "default" in node:
            assert _value_fits(node["default"], node), f"{where} {path}: default {node['default']!r}"


def _resolve(root: dict[str, Any], json_path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = root
    for part in json_path.lstrip(".").split("."):
        if node is None:
            return None
        node = (node.get("properties") or {}).get(part)
    return node


@pytest.mark.parametrize(("where", "version"), VERSIONS, ids=[w for w, _ in VERSIONS])
def test_printer_columns_point_at_fields(where: str, version: dict[str, Any]) -> None:
    root = version["schema"]["openAPIV3Schema"]
    for column in version.get("additionalPrinterColumns", []):
        assert column["type"] in ("string", "boolean", "integer", "number", "date"), column
        assert _resolve(root, column["jsonPath"]) is not None, f"{where}: {column['jsonPath']} is not in the schema"


def _spec(kind: str, version: str | None = None) -> dict[str, Any]:
    crd = crd_by_kind(kind)
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    chosen = versions[version] if version else next(v for v in versions.values() if v["storage"])
    return chosen["schema"]["openAPIV3Schema"]["properties"]["spec"]


def test_metallb_defaults_and_validation() -> None:
    pool = _spec("IPAddressPool")
    assert pool["required"] == ["addresses"]
    assert pool["properties"]["autoAssign"]["default"] is True
    assert pool["properties"]["avoidBuggyIPs"]["default"] is False
    adv = _spec("BGPAdvertisement")["properties"]
    assert adv["aggregationLength"]["default"] == 32 and adv["aggregationLength"]["minimum"] == 1
    assert adv["aggregationLengthV6"]["default"] == 128
    peer = _spec("BGPPeer")
    assert peer["required"] == ["myASN"]
    assert peer["properties"]["peerPort"] == {
        **peer["properties"]["peerPort"],
        "default": 179,
        "minimum": 1,
        "maximum": 16384,
    }
    assert peer["properties"]["dynamicASN"]["enum"] == ["internal", "external"]
    for asn in ("myASN", "peerASN"):
        assert (peer["properties"][asn]["minimum"], peer["properties"][asn]["maximum"]) == (0, 4294967295)
    old = _spec("BGPPeer", "v1beta1")
    assert old["required"] == ["myASN", "peerASN", "peerAddress"]
    assert set(old["properties"]) <= set(peer["properties"]), "conversion None needs v1beta1 ⊆ v1beta2"


def test_pool_status_and_printer_columns() -> None:
    crd = crd_by_kind("IPAddressPool")
    version = crd["spec"]["versions"][0]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert set(status) == {"assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6"}
    assert all(s["type"] == "integer" for s in status.values())
    cols = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert cols == [
        ("Auto Assign", ".spec.autoAssign"),
        ("Avoid Buggy IPs", ".spec.avoidBuggyIPs"),
        ("Addresses", ".spec.addresses"),
    ]
