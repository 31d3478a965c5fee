"""Shared fixtures: a Kubernetes API server emulator per test (see tests/kubeapi).

``kube_api`` is a started :class:`tests.kubeapi.ApiServer` with the project's CRDs from
``speaker/crds/`` registered; ``kubeconfig`` is a kubeconfig file for it and
``kube_client`` an official-client ``ApiClient`` configured for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.kubeapi import DEFAULT_TOKEN, ApiServer, api_client, write_kubeconfig

REPO = Path(__file__).resolve().parent.parent
PROJECT_CRDS = REPO / "speaker" / "crds"


# Hypothesis: no per-example deadline. Its default (200 ms) turns a loaded CI machine into a failed property
# ("DeadlineExceeded") although nothing is wrong; how fast the code is lives in bench/, not in tests. Explicit
# here, and the same in tests/unit/plugins/conftest.py (ansible-test units loads only that one).
settings.register_profile("baremetal-lb", deadline=None)
settings.load_profile("baremetal-lb")


@pytest.fixture
def kube_api() -> Iterator[ApiServer]:
    """A fresh emulator on a free port, with the metallb.io CRDs served."""
    crd_dirs = [PROJECT_CRDS] if any(PROJECT_CRDS.glob("*.yaml")) else []
    server = ApiServer(port=0, crd_dirs=crd_dirs).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(kube_api: ApiServer, tmp_path: Path) -> Path:
    """Path to a kubeconfig (plain http server, bearer token) for ``kube_api``."""
    return write_kubeconfig(tmp_path / "kubeconfig", kube_api.url, token=DEFAULT_TOKEN)


@pytest.fixture
def kube_client(kube_api: ApiServer) -> Iterator[object]:
    """A ``kubernetes.client.ApiClient`` talking to ``kube_api``."""
    client = api_client(kube_api.url)
    try:
        yield client
    finally:
        client.close()
