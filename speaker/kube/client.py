"""Reaching the cluster: the standard ways, in the standard order.

``--kubeconfig`` / ``kubeconfig:`` in the speaker config, then ``$KUBECONFIG``, then in-cluster
service-account credentials, then ``~/.kube/config``. Each speaker gets its own
``ApiClient`` (never the library's global default), so tests can run several in one process.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

log = logging.getLogger(__name__)

# (connect, read) seconds for ordinary requests; watches set their own read timeout.
REQUEST_TIMEOUT = (5.0, 30.0)


class KubeAccessError(RuntimeError):
    """No usable credentials; the message says which sources were tried (never their contents)."""


def make_api_client(kubeconfig: str | None = None, *, context: str | None = None, pool_size: int = 8) -> client.ApiClient:
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
        config.load_incluster_config(client_configuration=cfg)
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
        config.load_kube_config(config_file=path, context=context, client_configuration=cfg, persist_config=False)
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
