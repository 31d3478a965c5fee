"""speaker.metrics: the exposition types every family; the endpoint's token check; a bad token file is named."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client import CollectorRegistry

from speaker.config import ConfigError
from speaker.daemon import _read_token
from speaker.layer2.metrics import Layer2Metrics
from speaker.metrics import MetricsEndpoint, exposition


def test_metallb_layer2_counters_are_typed_counters_under_metallb_names() -> None:
    registry = CollectorRegistry()
    l2 = Layer2Metrics()
    l2.inc(l2.requests, "198.51.100.240", 3)
    registry.register(l2)
    text = exposition(registry).decode()
    assert "# TYPE metallb_layer2_requests_received counter\n" in text
    assert 'metallb_layer2_requests_received{ip="198.51.100.240"} 3.0\n' in text
    assert "untyped" not in text


@pytest.fixture
def endpoint() -> Iterator[MetricsEndpoint]:
    ep = MetricsEndpoint(("127.0.0.1", 0), status=lambda: {"node": "n1"}, ready=lambda: False,
                         bearer_token="s3cr3t", registry=CollectorRegistry())
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in ep.servers]
    for t in threads:
        t.start()
    yield ep
    ep.close()


def _get(url: str, token: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_metrics_wants_the_token_status_and_probes_do_not(endpoint: MetricsEndpoint) -> None:
    base = f"http://127.0.0.1:{endpoint.port}"
    assert _get(f"{base}/metrics") == 401
    assert _get(f"{base}/metrics", "wrong") == 401
    assert _get(f"{base}/metrics", "s3cr3t") == 200
    assert _get(f"{base}/status") == 200  # loopback client
    assert _get(f"{base}/healthz") == 200
    assert _get(f"{base}/readyz") == 503


def test_a_bad_token_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics_bearer_token_file: .*missing.*cannot read"):
        _read_token(str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match=r"metrics_bearer_token_file: .*empty: the file is empty"):
        _read_token(str(tmp_path / "empty"))
    (tmp_path / "t").write_text("tok\n")
    assert _read_token(str(tmp_path / "t")) == "tok"
