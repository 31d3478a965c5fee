"""Custom resources: CRD registration, structural schema defaulting/pruning/validation, scope, versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.kubeapi import ApiServer, api_client

from .conftest import api_error

TESTDATA = Path(__file__).parent / "testdata"
G, V = "example.com", "v1"


@pytest.fixture
def widgets():
    """A server with the test CRDs (widgets: namespaced, 2 versions; gadgets: cluster-scoped)."""
    with ApiServer(crd_dirs=[TESTDATA]) as server:
        api = api_client(server.url)
        yield client.CustomObjectsApi(api), client.ApiextensionsV1Api(api), server
        api.close()


def widget(obj_name: str, **spec) -> dict:
    return {"apiVersion": f"{G}/{V}", "kind": "Widget", "metadata": {"name": obj_name}, "spec": spec}


def test_metallb_pool_defaults(custom):
    """IPAddressPool spec.autoAssign defaults to true and avoidBuggyIPs to false (schema defaults)."""
    pool = custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        "default",
        "ipaddresspools",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lan"},
            "spec": {"addresses": ["198.51.100.240-198.51.100.250"]},
        },
    )
    assert pool["spec"]["autoAssign"] is True
    assert pool["spec"]["avoidBuggyIPs"] is False


def test_all_project_crds_are_served(kube_api, custom):
    """Every CRD in speaker/crds is served at its group/version with its scope."""
    for path in sorted(Path("speaker/crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in [v["name"] for v in spec["versions"] if v.get("served")]:
            rt = kube_api.registry.lookup(spec["group"], version, spec["names"]["plural"])
            assert rt is not None and rt.namespaced == (spec["scope"] == "Namespaced")
            custom.list_cluster_custom_object(spec["group"], version, spec["names"]["plural"])


def test_defaults_nested_and_prune_unknown(widgets):
    """Defaults fill absent fields (also inside a defaulted object); unknown fields are pruned
    unless x-kubernetes-preserve-unknown-fields; null in a defaulted field takes the default."""
    custom, _, _ = widgets
    w = custom.create_namespaced_custom_object(
        G,
        V,
        "default",
        "widgets",
        {**widget("w", size=3, color=None, bogus=1, extra={"anything": {"goes": 1}}), "topLevelJunk": True},
    )
    assert w["spec"] == {
        "size": 3,
        "color": "red",
        "enabled": True,
        "options": {"retries": 3},
        "extra": {"anything": {"goes": 1}},
    }
    assert "topLevelJunk" not in w


@pytest.mark.parametrize(
    "spec,field,reason",
    [
        ({"size": "3"}, "spec.size", "FieldValueTypeInvalid"),
        ({}, "spec.size", "FieldValueRequired"),
        ({"size": 3, "color": "pink"}, "spec.color", "FieldValueNotSupported"),
        ({"size": 0}, "spec.size", "FieldValueInvalid"),
        ({"size": 3, "name": "Caps"}, "spec.name", "FieldValueInvalid"),
        ({"size": 3, "tags": ["a", "b", "c", "d"]}, "spec.tags", "FieldValueTooMany"),
        ({"size": 3, "enabled": "yes"}, "spec.enabled", "FieldValueTypeInvalid"),
    ],
)
def test_schema_violations_are_422_with_causes(widgets, spec, field, reason):
    """Type, required, enum, minimum, pattern, maxItems violations: 422 Invalid naming the field."""
    custom, _, _ = widgets
    code, body = api_error(custom.create_namespaced_custom_object, G, V, "default", "widgets", widget("bad", **spec))
    assert code == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith('Widget.example.com "bad" is invalid: ')
    assert [(c["field"], c["reason"]) for c in body["details"]["causes"]] == [(field, reason)]


def test_schema_checked_on_update_and_patch(widgets):
    """Updates are validated too, and defaults re-applied to what the update removed."""
    custom, _, _ = widgets
    custom.create_namespaced_custom_object(G, V, "default", "widgets", widget("w", size=3, color="blue"))
    code, _ = api_error(
        custom.patch_namespaced_custom_object, G, V, "default", "widgets", "w", {"spec": {"size": 1000}}
    )
    assert code == 422
    w = custom.patch_namespaced_custom_object(G, V, "default", "widgets", "w", {"spec": {"color": None}})
    assert w["spec"]["color"] == "red"


def test_multiple_served_versions_share_storage(widgets):
    """An object is readable through every served version, with that apiVersion."""
    custom, _, _ = widgets
    custom.create_namespaced_custom_object(G, V, "default", "widgets", widget("w", size=3))
    old = custom.get_namespaced_custom_object(G, "v1beta1", "default", "widgets", "w")
    assert old["apiVersion"] == "example.com/v1beta1" and old["spec"]["size"] == 3
    listed = custom.list_namespaced_custom_object(G, "v1beta1", "default", "widgets")
    assert listed["apiVersion"] == "example.com/v1beta1" and listed["kind"] == "WidgetList"
    assert listed["items"][0]["apiVersion"] == "example.com/v1beta1"


def test_cluster_scoped_custom_resource(widgets):
    """scope: Cluster resources live outside namespaces."""
    custom, _, _ = widgets
    g = custom.create_cluster_custom_object(
        G, V, "gadgets", {"apiVersion": f"{G}/{V}", "kind": "Gadget", "metadata": {"name": "g1"}, "spec": {}}
    )
    assert "namespace" not in g["metadata"] and g["spec"]["level"] == 1
    g = custom.patch_cluster_custom_object(G, V, "gadgets", "g1", {"status": {"ok": True}})
    assert "status" in g  # no status subresource: status is an ordinary field
    custom.delete_cluster_custom_object(G, V, "gadgets", "g1")


def test_crd_created_through_the_api_is_served_and_deleting_it_unserves(widgets):
    """Creating a CRD registers the resource (Established); deleting it removes resource and objects."""
    custom, ext, server = widgets
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.org"},
        "spec": {
            "group": "example.org",
            "scope": "Namespaced",
            "names": {"kind": "Thing", "plural": "things"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    created = ext.create_custom_resource_definition(crd)
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions["Established"] == "True" and created.status.stored_versions == ["v1alpha1"]
    custom.create_namespaced_custom_object(
        "example.org",
        "v1alpha1",
        "default",
        "things",
        {"apiVersion": "example.org/v1alpha1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"x": 1}},
    )
    ext.delete_custom_resource_definition("things.example.org")
    code, _ = api_error(custom.list_namespaced_custom_object, "example.org", "v1alpha1", "default", "things")
    assert code == 404
    code, body = api_error(ext.create_custom_resource_definition, {**crd, "metadata": {"name": "wrong.name"}})
    assert code == 422 and body["details"]["causes"][0]["field"] == "metadata.name"


def test_crd_objects_listed(widgets):
    """CRDs loaded from crd_dirs are CustomResourceDefinition objects in the API, as after kubectl apply."""
    _, ext, _ = widgets
    names = {c.metadata.name for c in ext.list_custom_resource_definition().items}
    assert names == {"widgets.example.com", "gadgets.example.com"}
