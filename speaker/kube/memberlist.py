"""The memberlist Secret through the API: watch that one Secret, create it when missing (allocator leader only).

Watched with ``fieldSelector=metadata.name=<name>`` so that RBAC can limit the speaker to that Secret: the API
server treats a list or watch with an exact ``metadata.name`` field selector as a request for that name, which a
rule's ``resourceNames`` matches (``staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``,
``RequiresExactMatch("metadata.name")``). Creating cannot be limited that way: on ``create`` the name is in the
body, not the URL, so a ``resourceNames`` rule never matches a create (Kubernetes' RBAC documentation says so).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from speaker.kube.client import api_path, lister, request
from speaker.kube.informer import ResourceKind
from speaker.liveness.memberkey import new_secret


def memberlist_kind(namespace: str, name: str) -> ResourceKind:
    """The one Secret, for an ``Informer`` (its cache holds it, or nothing)."""
    return ResourceKind(
        "memberlist", lister(api_path("api/v1/namespaces", namespace, "secrets"), fieldSelector=f"metadata.name={name}")
    )


def create_memberlist_secret(
    api: client.ApiClient, namespace: str, name: str, *, random_bytes: Callable[[int], bytes] = os.urandom
) -> bool:
    """Create the Secret with a fresh key; False when it already exists (another speaker, or MetalLB, was first).

    Raises ``ApiException`` for anything else (403 without the ``create`` right). The key is never logged.
    """
    try:
        request(
            api,
            "POST",
            api_path("api/v1/namespaces", namespace, "secrets"),
            body=new_secret(name, namespace, random_bytes),
        ).release_conn()
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    return True
