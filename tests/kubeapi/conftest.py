"""Helpers for the emulator's own conformance tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def api_error(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """Call ``fn`` expecting an ApiException; return its HTTP status and decoded Status body."""
    with pytest.raises(ApiException) as info:
        fn(*args, **kwargs)
    return info.value.status, json.loads(info.value.body)


@pytest.fixture
def core(kube_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_client)


@pytest.fixture
def custom(kube_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_client)


def lb_service(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}]}
    body.update(spec)
    return {"metadata": {"name": name}, "spec": body}
