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


# Where CI's time goes, per test file (setup + call + teardown of every test in it, module fixtures included), in
# every run's log beside --durations (pyproject): the long poles are seen in each CI log, not guessed.
_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.write_sep("=", f"time per test file (top 25 of {len(_FILE_SECONDS)}, {total:.0f} s in all)")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1])[:25]:
        terminalreporter.write_line(f"{seconds:8.1f}s {100 * seconds / total:5.1f}%  {path}")
