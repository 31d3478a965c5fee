"""Reaching the cluster: the standard ways, in the standard order; and the lean request path.

``--kubeconfig`` / ``kubeconfig:`` in the speaker config, then ``$KUBECONFIG``, then in-cluster
service-account credentials, then ``~/.kube/config``. Each speaker gets its own
``ApiClient`` (never the library's global default), so tests can run several in one process.

The speaker works on plain API dicts, so for the requests it makes by the thousand (lists and watches, a
Service's status, Events) it does not go through the client's generated API classes: :func:`request` sends
JSON over the ``ApiClient``'s own connection pool with its credentials (TLS, token, refresh hook, proxy)
and raises the client's ``ApiException`` as they do. Importing ``CoreV1Api`` alone built ~240 pydantic
models (1-3 s of a cold start, 20 MiB of RSS), and each call through it cost more CPU than the HTTP
exchange itself (docs/design/0019-speaker-cpu-and-memory.md).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.connectionpool import HTTPConnectionPool

log = logging.getLogger(__name__)

# (connect, read) seconds for ordinary requests; watches set their own read timeout.
REQUEST_TIMEOUT = (5.0, 30.0)


class KubeAccessError(RuntimeError):
    """No usable credentials; the message says which sources were tried (never their contents)."""


def make_api_client(
    kubeconfig: str | None = None, *, context: str | None = None, pool_size: int = 8
) -> client.ApiClient:
    tried: list[str] = []
    candidates: list[str] = []
    if kubeconfig:
        candidates.append(kubeconfig)
    elif os.environ.get("KUBECONFIG"):
        candidates.extend(p for p in os.environ["KUBECONFIG"].split(os.pathsep) if p)
    for path in candidates:
        if not Path(path).is_file():
            tried.append(f"{path} (no such file)")
            if kubeconfig:
                raise KubeAccessError(f"kubeconfig: {path}: no such file")
            continue
        return _from_kubeconfig(path, context, pool_size)
    cfg = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]  # untyped in kubernetes
        cfg.connection_pool_maxsize = pool_size
        return client.ApiClient(cfg)
    except ConfigException:
        tried.append("in-cluster service account (not running in a pod)")
    home = Path.home() / ".kube" / "config"
    if home.is_file():
        return _from_kubeconfig(str(home), context, pool_size)
    tried.append(f"{home} (no such file)")
    raise KubeAccessError("no Kubernetes credentials found; tried: " + "; ".join(tried))


def _from_kubeconfig(path: str, context: str | None, pool_size: int) -> client.ApiClient:
    cfg = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]  # untyped in kubernetes
            config_file=path, context=context, client_configuration=cfg, persist_config=False
        )
    except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
        # The library's messages can quote file content; keep only the path and the exception type.
        raise KubeAccessError(f"kubeconfig: {path}: cannot be used ({type(exc).__name__}: {_safe(exc)})") from None
    cfg.connection_pool_maxsize = pool_size
    return client.ApiClient(cfg)


def _safe(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 and "token" not in text.lower() else "see the kubeconfig's structure"


def read_json(response: Any) -> Any:
    """Decode a ``_preload_content=False`` response: the speaker works on plain API dicts (camelCase)."""
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()


Timeout = tuple[float, float]


def request(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    body: Any = None,
    content_type: str = "application/json",
    timeout: Timeout = REQUEST_TIMEOUT,
) -> Any:
    """One API request; returns the unread ``urllib3`` response (``read_json`` it, or ``release_conn``).

    Raises ``ApiException`` (``.status``, ``.reason``, ``.body``) for a non-2xx answer, like the generated
    client with ``_preload_content=False``; transport errors are urllib3's, as there. Uses only what every
    client version in ``pyproject.toml``'s range has: ``rest_client.pool_manager``, ``auth_settings()``.
    """
    cfg = api.configuration
    headers = dict(api.default_headers)
    headers["Accept"] = "application/json"
    headers.update(_auth_headers(cfg))
    if api.cookie:
        headers["Cookie"] = api.cookie
    data = None
    if body is not None:
        headers["Content-Type"] = content_type
        data = json.dumps(body, separators=(",", ":")).encode()
    target = path + ("?" + urlencode(query) if query else "")
    manager = api.rest_client.pool_manager
    http_timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
    direct = _direct_pool(manager, cfg.host)
    if direct is not None:
        pool, prefix = direct
        resp = pool.urlopen(
            method, prefix + target, body=data, headers=headers, preload_content=False, timeout=http_timeout
        )
    else:  # through a proxy: the manager's own logic (absolute-form URLs, tunnels, SOCKS)
        resp = manager.request(
            method, cfg.host + target, body=data, headers=headers, preload_content=False, timeout=http_timeout
        )
    if resp.status == 401:
        with _AUTH_LOCK:
            _AUTH.pop(cfg, None)  # refused: ask the credentials again on the next request, whatever their age
    if not 200 <= resp.status <= 299:
        try:
            body = resp.read()  # the Status object: why
        finally:
            resp.release_conn()
        # Built field by field: ApiException(http_resp=...) differs across the client versions we accept (30-37).
        error = ApiException(status=resp.status, reason=resp.reason)
        error.body, error.headers = body.decode("utf-8", "replace"), resp.headers
        raise error
    return resp


#: PoolManager → (host URL, its connection pool, the host URL's path prefix). Choosing the pool for every request
#: (parsing the URL, normalising a pool key) cost about a tenth of each status write; the host rarely changes.
_POOLS: weakref.WeakKeyDictionary[urllib3.PoolManager, tuple[str, HTTPConnectionPool, str]] = (
    weakref.WeakKeyDictionary()
)
_POOLS_LOCK = threading.Lock()


def _direct_pool(manager: urllib3.PoolManager, host: str) -> tuple[HTTPConnectionPool, str] | None:
    """The connection pool ``manager`` would use for ``host``, and the path prefix of ``host`` (a kubeconfig's server
    may be ``https://rancher/k8s/clusters/c-1``); None behind a proxy, where the manager must build each request."""
    if type(manager) is not urllib3.PoolManager:  # ProxyManager, SOCKSProxyManager
        return None
    with _POOLS_LOCK:
        cached = _POOLS.get(manager)
        # A pool the manager closed (``clear()``, evicted) has ``pool`` None: ask the manager again.
        if cached is not None and cached[0] == host and cached[1].pool is not None:
            return cached[1], cached[2]
        pool = manager.connection_from_url(host)
        prefix = urllib3.util.parse_url(host).path or ""
        _POOLS[manager] = (host, pool, prefix.rstrip("/"))
        return pool, prefix.rstrip("/")


#: How long the credentials' headers are reused. ``auth_settings()`` runs the kubeconfig's refresh hook, which for a
#: plain token sets every connection field again (the host setter reads the proxy variables of the whole
#: environment): ~3 % of the speaker's CPU when it ran for each of 10,000 status writes. Exec and OIDC tokens are
#: refreshed 5 minutes before they expire (kubernetes.config.kube_config's EXPIRY_SKEW_PREVENTION_DELAY), in-cluster
#: tokens are re-read once a minute: a second's reuse never sends an expired token. A 401 forgets them at once.
AUTH_MAX_AGE = 1.0
_AUTH: weakref.WeakKeyDictionary[client.Configuration, tuple[float, dict[str, str]]] = weakref.WeakKeyDictionary()
_AUTH_LOCK = threading.Lock()
_clock = time.monotonic


def _auth_headers(cfg: client.Configuration) -> dict[str, str]:
    now = _clock()
    with _AUTH_LOCK:
        cached = _AUTH.get(cfg)
    if cached is not None and now - cached[0] < AUTH_MAX_AGE:
        return cached[1]
    headers: dict[str, str] = {}
    settings: Mapping[str, Any] = cfg.auth_settings()  # runs the refresh hook of exec / OIDC credentials
    for auth in settings.values():
        if auth["in"] == "header" and auth["value"]:
            headers[auth["key"]] = auth["value"]
    with _AUTH_LOCK:
        _AUTH[cfg] = (now, headers)
    return headers


def api_path(*segments: str) -> str:
    """``api_path("api/v1/namespaces", ns, "services", name, "status")``, each segment after the first quoted."""
    return "/" + "/".join(quote(s, safe="/" if i == 0 else "") for i, s in enumerate(segments))


def lister(resource_path: str, **fixed: str) -> Callable[[client.ApiClient], Callable[..., Any]]:
    """A ``ResourceKind.lister`` for a collection path (``/api/v1/services``); ``fixed``: e.g. ``fieldSelector``.

    The bound function takes the generated client's list keywords, which is what the informer passes."""

    def bind(api: client.ApiClient) -> Callable[..., Any]:
        def list_or_watch(
            *,
            watch: bool = False,
            resource_version: str | None = None,
            allow_watch_bookmarks: bool = False,
            timeout_seconds: int | None = None,
            _preload_content: bool = False,
            _request_timeout: Timeout = REQUEST_TIMEOUT,
        ) -> Any:
            if _preload_content:
                raise ValueError("lister: responses are returned unread (_preload_content=False)")
            query = dict(fixed)
            if watch:
                query["watch"] = "true"
            if resource_version is not None:
                query["resourceVersion"] = resource_version
            if allow_watch_bookmarks:
                query["allowWatchBookmarks"] = "true"
            if timeout_seconds is not None:
                query["timeoutSeconds"] = str(timeout_seconds)
            return request(api, "GET", resource_path, query=query, timeout=_request_timeout)

        return list_or_watch

    return bind
