"""The lean request path (speaker.kube.client.request / lister) against the API emulator: what the speaker relies on
when it lists, watches and writes without the client's generated API classes.

Each test names what a user would notice if that part were wrong: requests refused for want of the token, a
rotated exec/OIDC token never picked up, a failed write that looks like success, a watch that never resumes.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from speaker.kube import client as kube_client
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
    with ApiServer(
        0, crd_dirs=[ROOT / "speaker" / "crds"], authz={"good": ADMIN}, namespaces=("default", "metallb-system")
    ) as api:
        yield api


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": 80, "protocol": "TCP"}],
            "allocateLoadBalancerNodePorts": False,
        },
    }


def test_requests_carry_the_token_and_a_refused_one_raises(server: ApiServer) -> None:
    listing = read_json(request(api_client(server.url, "good"), "GET", "/api/v1/services"))
    assert listing["kind"] == "ServiceList"
    with pytest.raises(ApiException) as refused:
        request(api_client(server.url, "bad"), "GET", "/api/v1/services")
    assert refused.value.status == 401


def test_a_rotated_token_is_fetched_through_the_refresh_hook(server: ApiServer) -> None:
    """exec / OIDC kubeconfigs refresh the token through the configuration's hook; the lean path must call it."""
    api = api_client(server.url, "stale")
    calls = []

    def refresh(cfg: client.Configuration) -> None:
        calls.append(1)
        cfg.api_key["authorization"] = "good"

    api.configuration.refresh_api_key_hook = refresh
    assert read_json(request(api, "GET", "/api/v1/namespaces"))["kind"] == "NamespaceList"  # "stale" would be 401
    assert calls


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rotating(api: client.ApiClient, tokens: list[str]) -> list[str]:
    """Make the configuration's refresh hook hand out ``tokens`` one per call; returns the ones handed out."""
    handed: list[str] = []

    def refresh(cfg: client.Configuration) -> None:
        handed.append(tokens[min(len(handed), len(tokens) - 1)])
        cfg.api_key["authorization"] = handed[-1]

    api.configuration.refresh_api_key_hook = refresh
    return handed


def test_the_credentials_are_asked_again_after_a_second(server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reused for at most ``AUTH_MAX_AGE`` (1 s): a rotated token is in use a second later at the latest."""
    clock = Clock()
    monkeypatch.setattr(kube_client, "_clock", clock)
    api = api_client(server.url, "unused")
    handed = rotating(api, ["good", "bad"])
    for _ in range(3):
        read_json(request(api, "GET", "/api/v1/namespaces"))
    assert handed == ["good"]
    clock.now += kube_client.AUTH_MAX_AGE
    with pytest.raises(ApiException) as refused:  # the hook's second token is the one sent now
        request(api, "GET", "/api/v1/namespaces")
    assert refused.value.status == 401 and handed == ["good", "bad"]


def test_a_refused_token_is_not_reused(server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 401 forgets the cached credentials: the next request asks the hook again, within the same second."""
    monkeypatch.setattr(kube_client, "_clock", Clock())
    api = api_client(server.url, "unused")
    handed = rotating(api, ["revoked", "good"])
    with pytest.raises(ApiException):
        request(api, "GET", "/api/v1/namespaces")
    assert read_json(request(api, "GET", "/api/v1/namespaces"))["kind"] == "NamespaceList"
    assert handed == ["revoked", "good"]


def test_a_failed_write_raises_with_the_status_and_the_servers_reason(server: ApiServer) -> None:
    api = api_client(server.url, "good")
    with pytest.raises(ApiException) as missing:
        request(
            api,
            "PATCH",
            api_path("api/v1/namespaces", "default", "services", "nope", "status"),
            body={"status": {}},
            content_type="application/merge-patch+json",
        )
    assert missing.value.status == 404
    assert '"reason":"NotFound"' in missing.value.body.replace(" ", "")


def test_a_merge_patch_of_the_status_subresource_lands(server: ApiServer) -> None:
    api = api_client(server.url, "good")
    request(api, "POST", api_path("api/v1/namespaces", "default", "services"), body=service("web")).release_conn()
    request(
        api,
        "PATCH",
        api_path("api/v1/namespaces", "default", "services", "web", "status"),
        body={"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}},
        content_type="application/merge-patch+json",
    ).release_conn()
    got = read_json(request(api, "GET", api_path("api/v1/namespaces", "default", "services", "web")))
    assert [i["ip"] for i in got["status"]["loadBalancer"]["ingress"]] == ["192.0.2.10"]


def test_a_field_selector_lists_only_that_object(server: ApiServer) -> None:
    """The memberlist Secret is watched by name so RBAC can limit the speaker to it."""
    api = api_client(server.url, "good")
    for name in ("memberlist", "other"):
        request(
            api,
            "POST",
            api_path("api/v1/namespaces", "metallb-system", "secrets"),
            body={"metadata": {"name": name}, "data": {}},
        ).release_conn()
    list_secrets = lister(
        api_path("api/v1/namespaces", "metallb-system", "secrets"), fieldSelector="metadata.name=memberlist"
    )(api)
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


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with an empty ServiceList and records its request line."""

    lines: list[str]

    def do_GET(self) -> None:
        self.lines.append(self.requestline)
        body = b'{"kind":"ServiceList","items":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A plain HTTP server on loopback: its URL and the request lines it received."""
    lines: list[str] = []
    handler = type("Handler", (_Recorder,), {"lines": lines})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", lines
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def test_a_server_url_with_a_path_keeps_its_path(recorder: tuple[str, list[str]]) -> None:
    """A kubeconfig's server may be a path on a proxy in front of the API (Rancher: ``.../k8s/clusters/c-1``);
    every request goes under it, the first and the ones after (the connection pool is chosen once)."""
    url, lines = recorder
    api = api_client(f"{url}/k8s/clusters/c-1", "good")
    for _ in range(2):
        read_json(request(api, "GET", "/api/v1/services", query={"limit": "1"}))
    assert lines == ["GET /k8s/clusters/c-1/api/v1/services?limit=1 HTTP/1.1"] * 2


def test_requests_go_through_the_configured_http_proxy(recorder: tuple[str, list[str]]) -> None:
    """With ``proxy-url`` the request goes to the proxy, naming the API server (absolute form); the API server's
    address (a documentation prefix) is never contacted directly."""
    url, lines = recorder
    api = api_client("http://192.0.2.1:6443", "good")
    api.configuration.proxy = url
    api = client.ApiClient(api.configuration)  # the REST client picks the proxy when it is built
    assert read_json(request(api, "GET", "/api/v1/services"))["kind"] == "ServiceList"
    assert lines == ["GET http://192.0.2.1:6443/api/v1/services HTTP/1.1"]


def test_requests_still_work_after_the_clients_connections_are_closed(server: ApiServer) -> None:
    """``ApiClient.close()`` empties the pool manager (``clear()``; urllib3 1.26 also closes each pool, as done
    here by hand); the next request gets a new pool from the manager instead of failing on the closed one."""
    api = api_client(server.url, "good")
    assert read_json(request(api, "GET", "/api/v1/namespaces"))["kind"] == "NamespaceList"
    manager = api.rest_client.pool_manager
    used = manager.connection_from_url(server.url)
    manager.clear()
    used.close()
    assert read_json(request(api, "GET", "/api/v1/namespaces"))["kind"] == "NamespaceList"
