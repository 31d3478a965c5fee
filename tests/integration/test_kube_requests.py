"""The lean request path (speaker.kube.client.request / lister) against the API emulator: what the speaker relies on
when it lists, watches and writes without the client's generated API classes.

Each test names what a user would notice if that part were wrong: requests refused for want of the token, a
rotated exec/OIDC token never picked up, a failed write that looks like success, a watch that never resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from speaker.kube.client import api_path, lister, read_json, request
from speaker.kube.informer import Change, Informer
from speaker.kube.kinds import SERVICES
from tests.kubeapi import ApiServer, api_client
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
ADMIN = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


@pytest.fixture
def server() -> Iterator[ApiServer]:
    """Tokens matter here: "good" may do anything, any other token is refused (401)."""
    with ApiServer(0, crd_dirs=[ROOT / "speaker" / "crds"], authz={"good": ADMIN},
                   namespaces=("default", "metallb-system")) as api:
        yield api


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}],
                     "allocateLoadBalancerNodePorts": False}}


def test_requests_carry_the_token_and_a_refused_one_raises(server: ApiServer) -> None:
    listing = read_json(request(api_client(server.url, "good"), "GET", "/api/v1/services"))
    assert listing["kind"] == "ServiceList"
    with pytest.raises(ApiException) as refused:
        request(api_client(server.url, "bad"), "GET", "/api/v1/services")
    assert refused.value.status == 401


def test_a_rotated_token_is_fetched_for_every_request(server: ApiServer) -> None:
    """exec / OIDC kubeconfigs refresh the token through the configuration's hook; the lean path must call it."""
    api = api_client(server.url, "stale")
    calls = []

    def refresh(cfg: client.Configuration) -> None:
        calls.append(1)
        cfg.api_key["authorization"] = "good"

    api.configuration.refresh_api_key_hook = refresh
    assert read_json(request(api, "GET", "/api/v1/namespaces"))["kind"] == "NamespaceList"  # "stale" would be 401
    assert calls


def test_a_failed_write_raises_with_the_status_and_the_servers_reason(server: ApiServer) -> None:
    api = api_client(server.url, "good")
    with pytest.raises(ApiException) as missing:
        request(api, "PATCH", api_path("api/v1/namespaces", "default", "services", "nope", "status"),
                body={"status": {}}, content_type="application/merge-patch+json")
    assert missing.value.status == 404
    assert '"reason":"NotFound"' in missing.value.body.replace(" ", "")


def test_a_merge_patch_of_the_status_subresource_lands(server: ApiServer) -> None:
    api = api_client(server.url, "good")
    request(api, "POST", api_path("api/v1/namespaces", "default", "services"), body=service("web")).release_conn()
    request(api, "PATCH", api_path("api/v1/namespaces", "default", "services", "web", "status"),
            body={"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}},
            content_type="application/merge-patch+json").release_conn()
    got = read_json(request(api, "GET", api_path("api/v1/namespaces", "default", "services", "web")))
    assert [i["ip"] for i in got["status"]["loadBalancer"]["ingress"]] == ["192.0.2.10"]


def test_a_field_selector_lists_only_that_object(server: ApiServer) -> None:
    """The memberlist Secret is watched by name so RBAC can limit the speaker to it."""
    api = api_client(server.url, "good")
    for name in ("memberlist", "other"):
        request(api, "POST", api_path("api/v1/namespaces", "metallb-system", "secrets"),
                body={"metadata": {"name": name}, "data": {}}).release_conn()
    list_secrets = lister(api_path("api/v1/namespaces", "metallb-system", "secrets"),
                          fieldSelector="metadata.name=memberlist")(api)
    assert [s["metadata"]["name"] for s in read_json(list_secrets())["items"]] == ["memberlist"]


def test_an_informer_lists_then_follows_the_watch_through_the_lean_path(server: ApiServer) -> None:
    api = api_client(server.url, "good")
    request(api, "POST", api_path("api/v1/namespaces", "default", "services"), body=service("before")).release_conn()
    seen: list[tuple[Change, str]] = []
    informer = Informer(SERVICES, api, sink=lambda kind, change, key: seen.append((change, key)))
    thread = threading.Thread(target=informer.run, daemon=True)
    thread.start()
    try:
        wait_for("the Services listed", lambda: informer.synced, timeout=30)
        assert (Change.ADDED, "default/before") in seen
        request(api, "POST", api_path("api/v1/namespaces", "default", "services"), body=service("after")).release_conn()
        wait_for("the watch's ADDED", lambda: (Change.ADDED, "default/after") in seen, timeout=30)
        assert informer.get("default/after")["metadata"]["name"] == "after"
    finally:
        informer.stop()
        thread.join(timeout=10)


def test_the_informer_gets_the_same_objects_as_the_generated_client(server: ApiServer) -> None:
    """Lists by path and by the generated class agree (same path, same JSON), so nothing else had to change."""
    api = api_client(server.url, "good")
    request(api, "POST", api_path("api/v1/namespaces", "default", "services"), body=service("web")).release_conn()
    by_class = read_json(client.CoreV1Api(api).list_service_for_all_namespaces(_preload_content=False))
    assert read_json(SERVICES.lister(api)())["items"] == by_class["items"]
