"""CRUD conformance: each test names the kube-apiserver behaviour it checks."""

from __future__ import annotations

import json
import urllib.request

from kubernetes import client

from .conftest import api_error, lb_service


def test_create_returns_201_with_server_fields(kube_api, core):
    """POST answers 201 Created with uid, creationTimestamp and a string resourceVersion."""
    _, status, _ = core.create_namespaced_config_map_with_http_info(
        "default", {"metadata": {"name": "a"}, "data": {"k": "v"}}
    )
    assert status == 201
    cm = core.read_namespaced_config_map("a", "default")
    assert cm.metadata.uid and cm.metadata.creation_timestamp
    assert cm.metadata.resource_version.isdigit()
    assert cm.metadata.namespace == "default"


def test_generate_name_appends_five_random_chars(core):
    """metadata.generateName: name = prefix + 5 chars from apimachinery's alphabet."""
    cm = core.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert cm.metadata.name.startswith("gen-") and len(cm.metadata.name) == 9
    assert set(cm.metadata.name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_already_exists_is_409_with_status_body(core):
    """A duplicate create is 409 AlreadyExists with details.name/kind (plural)."""
    core.create_namespaced_config_map("default", {"metadata": {"name": "dup"}})
    code, body = api_error(core.create_namespaced_config_map, "default", {"metadata": {"name": "dup"}})
    assert code == 409
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "dup" already exists'
    assert body["details"] == {"name": "dup", "kind": "configmaps"}


def test_get_missing_is_404_not_found(core, custom):
    """GET of a missing object is 404 NotFound; group resources are qualified in the message."""
    code, body = api_error(core.read_namespaced_service, "nope", "default")
    assert (code, body["reason"], body["message"]) == (404, "NotFound", 'services "nope" not found')
    code, body = api_error(
        custom.get_namespaced_custom_object, "metallb.io", "v1beta1", "default", "ipaddresspools", "nope"
    )
    assert body["message"] == 'ipaddresspools.metallb.io "nope" not found'
    assert body["details"]["group"] == "metallb.io"


def test_create_in_missing_namespace_is_404(core):
    """Creating in a namespace that does not exist: 404 namespaces "x" not found."""
    code, body = api_error(core.create_namespaced_config_map, "ghost", {"metadata": {"name": "a"}})
    assert code == 404 and body["message"] == 'namespaces "ghost" not found'


def test_default_namespaces_exist(core):
    """A cluster starts with default, kube-system, kube-public and kube-node-lease."""
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_invalid_name_is_422_with_causes(core):
    """Object names are validated (DNS-1035 label for Services) with field causes."""
    code, body = api_error(core.create_namespaced_service, "default", lb_service("Bad_Name"))
    assert code == 422 and body["reason"] == "Invalid"
    assert body["details"]["kind"] == "Service"
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_put_with_stale_resource_version_is_409_conflict(core):
    """PUT carrying an old metadata.resourceVersion fails with the optimistic-concurrency message."""
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    cm.data = {"a": "2"}
    core.replace_namespaced_config_map("c", "default", cm)  # cm still carries the old version
    cm.data = {"a": "3"}
    code, body = api_error(core.replace_namespaced_config_map, "c", "default", cm)
    assert code == 409 and body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_put_without_resource_version(core, custom):
    """Built-ins allow unconditional PUT; custom resources require metadata.resourceVersion (422)."""
    core.create_namespaced_config_map("default", {"metadata": {"name": "u"}, "data": {"a": "1"}})
    cm = core.replace_namespaced_config_map("u", "default", {"metadata": {"name": "u"}, "data": {"a": "2"}})
    assert cm.data == {"a": "2"}
    custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        "default",
        "ipaddresspools",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "p"},
            "spec": {"addresses": ["198.51.100.0/28"]},
        },
    )
    code, body = api_error(
        custom.replace_namespaced_custom_object,
        "metallb.io",
        "v1beta1",
        "default",
        "ipaddresspools",
        "p",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "p"},
            "spec": {"addresses": []},
        },
    )
    assert code == 422 and body["details"]["causes"][0]["field"] == "metadata.resourceVersion"


def test_noop_update_keeps_resource_version(core):
    """An update that changes nothing is not written: same resourceVersion, no watch event."""
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "n"}, "data": {"a": "1"}})
    again = core.replace_namespaced_config_map("n", "default", cm)
    assert again.metadata.resource_version == cm.metadata.resource_version
    patched = core.patch_namespaced_config_map("n", "default", {"data": {"a": "1"}})
    assert patched.metadata.resource_version == cm.metadata.resource_version


def test_merge_json_and_strategic_patches(core):
    """PATCH: merge patch replaces lists, JSON patch applies ops, strategic merge merges ports by port."""
    core.create_namespaced_service(
        "default", lb_service("p", ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443}])
    )
    svc = core.patch_namespaced_service("p", "default", {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}})
    ports = {p.port: p for p in svc.spec.ports}
    assert set(ports) == {80, 443} and ports[80].target_port == 8080 and ports[443].target_port == 443
    svc = core.patch_namespaced_service(
        "p", "default", [{"op": "add", "path": "/metadata/labels", "value": {"app": "web"}}]
    )
    assert svc.metadata.labels == {"app": "web"}
    svc = core.patch_namespaced_service(
        "p", "default", {"metadata": {"labels": {"app": None, "x": "y"}}}, _content_type="application/merge-patch+json"
    )
    assert svc.metadata.labels == {"x": "y"}
    svc = core.patch_namespaced_service(
        "p",
        "default",
        {"spec": {"ports": [{"name": "only", "port": 8443}]}},
        _content_type="application/merge-patch+json",
    )
    assert [p.port for p in svc.spec.ports] == [8443]


def test_strategic_merge_directives(core):
    """$patch: delete removes a keyed list item; finalizers merge as a set."""
    core.create_namespaced_service(
        "default", lb_service("d", ports=[{"name": "a", "port": 1}, {"name": "b", "port": 2}])
    )
    svc = core.patch_namespaced_service("d", "default", {"spec": {"ports": [{"port": 1, "$patch": "delete"}]}})
    assert [p.port for p in svc.spec.ports] == [2]
    core.patch_namespaced_service("d", "default", {"metadata": {"finalizers": ["a/x"]}})
    svc = core.patch_namespaced_service("d", "default", {"metadata": {"finalizers": ["b/y"]}})
    assert svc.metadata.finalizers == ["a/x", "b/y"]


def test_strategic_merge_on_custom_resource_is_415(kube_client, custom):
    """Custom resources do not accept strategic merge patch: 415 UnsupportedMediaType."""
    custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        "default",
        "l2advertisements",
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": {"name": "l2"}},
    )
    code, body = api_error(
        custom.patch_namespaced_custom_object,
        "metallb.io",
        "v1beta1",
        "default",
        "l2advertisements",
        "l2",
        {"spec": {}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert code == 415 and body["reason"] == "UnsupportedMediaType"


def test_patch_with_resource_version_is_a_precondition(core):
    """A patch that carries metadata.resourceVersion fails with 409 unless it is current."""
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "pc"}})
    ok = core.patch_namespaced_config_map(
        "pc", "default", {"metadata": {"resourceVersion": cm.metadata.resource_version}, "data": {"a": "1"}}
    )
    code, body = api_error(
        core.patch_namespaced_config_map,
        "pc",
        "default",
        {"metadata": {"resourceVersion": cm.metadata.resource_version}, "data": {"a": "2"}},
    )
    assert code == 409 and body["reason"] == "Conflict"
    assert core.read_namespaced_config_map("pc", "default").data == ok.data == {"a": "1"}


def test_delete_returns_object_or_status(core):
    """DELETE: Services come back as the object, ConfigMaps as a Success Status."""
    core.create_namespaced_service("default", lb_service("del"))
    core.create_namespaced_config_map("default", {"metadata": {"name": "del"}})
    req = urllib.request.Request(
        f"{core.api_client.configuration.host}/api/v1/namespaces/default/services/del", method="DELETE"
    )
    body = json.loads(urllib.request.urlopen(req).read())
    assert body["kind"] == "Service" and body["metadata"]["name"] == "del"
    status = core.delete_namespaced_config_map("del", "default")
    status = status if isinstance(status, dict) else status.to_dict()
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "del"
    api_error(core.read_namespaced_service, "del", "default")


def test_delete_preconditions(core):
    """DeleteOptions.preconditions uid/resourceVersion mismatch is 409 Conflict."""
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "pre"}})
    code, body = api_error(
        core.delete_namespaced_config_map,
        "pre",
        "default",
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="other")),
    )
    assert code == 409 and "Precondition failed: UID in precondition" in body["message"]
    code, _ = api_error(
        core.delete_namespaced_config_map,
        "pre",
        "default",
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1")),
    )
    assert code == 409
    core.delete_namespaced_config_map(
        "pre",
        "default",
        body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=cm.metadata.uid, resource_version=cm.metadata.resource_version)
        ),
    )


def test_finalizers_delay_deletion(core):
    """An object with finalizers gets deletionTimestamp; it disappears when the last one is removed."""
    core.create_namespaced_config_map("default", {"metadata": {"name": "f", "finalizers": ["example.com/a"]}})
    core.delete_namespaced_config_map("f", "default")
    cm = core.read_namespaced_config_map("f", "default")
    assert cm.metadata.deletion_timestamp is not None
    code, body = api_error(
        core.patch_namespaced_config_map,
        "f",
        "default",
        {"metadata": {"finalizers": ["example.com/a", "example.com/b"]}},
        _content_type="application/merge-patch+json",
    )
    assert code == 422
    core.patch_namespaced_config_map(
        "f", "default", {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    api_error(core.read_namespaced_config_map, "f", "default")


def test_list_label_selectors(core):
    """labelSelector supports =, ==, !=, in, notin, exists and !key."""
    for name, labels in {
        "a": {"tier": "web", "env": "prod"},
        "b": {"tier": "db", "env": "dev"},
        "c": {"tier": "web"},
    }.items():
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        return sorted(
            i.metadata.name for i in core.list_namespaced_config_map("default", label_selector=selector).items
        )

    assert names("tier=web") == ["a", "c"]
    assert names("tier==web,env=prod") == ["a"]
    assert names("env!=prod") == ["b", "c"]
    assert names("env in (dev, prod)") == ["a", "b"]
    assert names("env notin (prod)") == ["b", "c"]
    assert names("env") == ["a", "b"]
    assert names("!env") == ["c"]
    code, body = api_error(core.list_namespaced_config_map, "default", label_selector="a in b")
    assert code == 400


def test_list_field_selectors_and_all_namespaces(core):
    """fieldSelector metadata.name/namespace; spec.nodeName on pods; list across namespaces."""
    core.create_namespace({"metadata": {"name": "other"}})
    for ns in ("default", "other"):
        core.create_namespaced_service(ns, lb_service("web"))
    items = core.list_service_for_all_namespaces(field_selector="metadata.namespace=other").items
    assert [(s.metadata.namespace, s.metadata.name) for s in items] == [("other", "web")]
    assert len(core.list_service_for_all_namespaces(field_selector="metadata.name=web").items) == 2
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}
    core.create_namespaced_pod("default", pod)
    assert len(core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1").items) == 1
    assert len(core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n2").items) == 0
    code, _ = api_error(core.list_namespaced_service, "default", field_selector="spec.bogus=1")
    assert code == 400


def test_list_resource_version_and_pagination(core):
    """A list carries the current resourceVersion; limit/continue pages through it."""
    for i in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"cm{i}"}})
    first = core.list_namespaced_config_map("default", limit=2)
    assert [c.metadata.name for c in first.items] == ["cm0", "cm1"]
    assert first.metadata.remaining_item_count == 3 and first.metadata._continue
    rest = core.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["cm2", "cm3", "cm4"]
    assert rest.metadata._continue is None
    newest = max(int(c.metadata.resource_version) for c in first.items + rest.items)
    assert int(first.metadata.resource_version) >= newest


def test_deleting_namespace_removes_its_objects(core):
    """Deleting a namespace takes its objects with it (done at once here; Terminating upstream)."""
    core.create_namespace({"metadata": {"name": "gone"}})
    core.create_namespaced_config_map("gone", {"metadata": {"name": "x"}})
    core.delete_namespace("gone")
    api_error(core.read_namespace, "gone")
    assert core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=gone").items == []


def test_other_builtin_groups(kube_client):
    """discovery.k8s.io EndpointSlices, events.k8s.io Events, coordination Leases, SA tokens."""
    disc = client.DiscoveryV1Api(kube_client)
    es = disc.create_namespaced_endpoint_slice(
        "default",
        {
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["192.0.2.10"], "nodeName": "n1"}],
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    )
    assert es.address_type == "IPv4"
    code, body = api_error(
        disc.create_namespaced_endpoint_slice, "default", {"metadata": {"name": "bad"}, "addressType": "IPX"}
    )
    assert code == 422 and body["details"]["causes"][0]["field"] == "addressType"
    ev = client.EventsV1Api(kube_client).create_namespaced_event(
        "default",
        {
            "metadata": {"generateName": "web."},
            "eventTime": "2026-11-24T00:00:00.000000Z",
            "reason": "IPAllocated",
            "action": "Allocate",
            "type": "Normal",
            "reportingController": "x",
            "reportingInstance": "y",
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
        },
    )
    assert ev.metadata.name.startswith("web.")
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_event(
        "default", {"metadata": {"name": "e1"}, "reason": "X", "involvedObject": {"kind": "Service", "name": "web"}}
    )
    assert len(core.list_namespaced_event("default", field_selector="involvedObject.name=web").items) == 1
    core.create_namespaced_service_account("default", {"metadata": {"name": "sa"}})
    tok = core.create_namespaced_service_account_token("sa", "default", {"spec": {"audiences": ["a"]}})
    assert tok.status.token
