"""Kubeconfig files pointing at an emulator, the way the speaker and kubectl consume them."""

from __future__ import annotations

from pathlib import Path

import yaml

DEFAULT_TOKEN = "emulator-admin-token"


def write_kubeconfig(
    path: str | Path, url: str, token: str = DEFAULT_TOKEN, namespace: str | None = None, name: str = "emulator"
) -> Path:
    """Write a kubeconfig with one cluster/user/context for ``url`` (plain http) and a bearer token."""
    context: dict[str, str] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }
    path = Path(path)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def api_client(url: str, token: str = DEFAULT_TOKEN):  # -> kubernetes.client.ApiClient
    """An official-client ``ApiClient`` for ``url`` without touching the global default config."""
    from kubernetes import client

    config = client.Configuration()
    config.host = url
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(config)
