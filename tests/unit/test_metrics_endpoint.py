"""speaker.metrics: the exposition types every family; the endpoint's token check and HTTPS; bad files are named."""

from __future__ import annotations

import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from speaker.config.node import ConfigError, build_speaker_config
from speaker.daemon import _read_token
from speaker.layer2.metrics import Layer2Metrics
from speaker.metrics import MetricsEndpoint, exposition, tls_context
from tests.promserver import self_signed


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
    ep = MetricsEndpoint(
        ("127.0.0.1", 0),
        status=lambda: {"node": "n1"},
        ready=lambda: False,
        bearer_token="s3cr3t",
        registry=CollectorRegistry(),
    )
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


def test_https_with_the_token(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, ["127.0.0.1"])
    ep = MetricsEndpoint(
        ("127.0.0.1", 0),
        status=lambda: {},
        ready=lambda: True,
        bearer_token="s3cr3t",
        tls=tls_context(str(cert), str(key)),
        registry=CollectorRegistry(),
    )
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in ep.servers]
    for t in threads:
        t.start()
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        req = urllib.request.Request(f"https://127.0.0.1:{ep.port}/metrics", headers={"Authorization": "Bearer s3cr3t"})
        with urllib.request.urlopen(req, timeout=5, context=trust) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.URLError):  # a client that does not trust the certificate
            urllib.request.urlopen(req, timeout=5, context=ssl.create_default_context())
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP is not served there
            urllib.request.urlopen(f"http://127.0.0.1:{ep.port}/healthz", timeout=5)
        assert ep.urls == [f"https://127.0.0.1:{ep.port}/"]
    finally:
        ep.close()


def test_tls_settings_errors_name_the_fields(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics_tls_key_file: needed with metrics_tls_cert_file"):
        build_speaker_config({"metrics_tls_cert_file": "/etc/baremetal-lb/metrics.crt"})
    cert, _ = self_signed(tmp_path, ["127.0.0.1"])
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = self_signed(other, ["127.0.0.1"])
    with pytest.raises(ConfigError, match=r"metrics_tls_cert_file/metrics_tls_key_file: .*not a certificate and its"):
        tls_context(str(cert), str(wrong_key))
    with pytest.raises(ConfigError, match=r"metrics_tls_cert_file/metrics_tls_key_file: .*cannot read"):
        tls_context(str(tmp_path / "missing.crt"), str(wrong_key))


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _client_cert(directory: Path, name: str, ca: tuple[Path, Path] | None) -> tuple[Path, Path]:
    """A client certificate and key, signed by ``ca`` (cert, key) or self-signed when ``ca`` is None."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    if ca is None:
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
        )
        return cert, key
    csr = directory / f"{name}.csr"
    _openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={name}",
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "1",
    )
    return cert, key


@pytest.fixture
def mtls(tmp_path: Path) -> Iterator[tuple[MetricsEndpoint, Path, dict[str, tuple[Path, Path]]]]:
    """HTTPS /metrics wanting a client certificate from the "scrapers" CA (and the bearer token too)."""
    server_cert, server_key = self_signed(tmp_path, ["127.0.0.1"])
    ca = _client_cert(tmp_path, "scrapers-ca", None)
    clients = {
        "prometheus": _client_cert(tmp_path, "prometheus", ca),
        "rogue": _client_cert(tmp_path, "rogue", None),
    }  # self-signed: no CA of ours signed it
    ep = MetricsEndpoint(
        ("127.0.0.1", 0),
        status=lambda: {},
        ready=lambda: True,
        bearer_token="s3cr3t",
        tls=tls_context(str(server_cert), str(server_key), client_ca_file=str(ca[0])),
        registry=CollectorRegistry(),
    )
    for s in ep.servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        yield ep, server_cert, clients
    finally:
        ep.close()


def _scrape(port: int, server_cert: Path, client: tuple[Path, Path] | None) -> int | str:
    """Python's ssl as a scraper: the HTTP status, or the name of the error the handshake ended with."""
    ctx = ssl.create_default_context(cafile=str(server_cert))
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    req = urllib.request.Request(f"https://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer s3cr3t"})
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, ssl.SSLError) as exc:
        return type(getattr(exc, "reason", exc)).__name__


def test_client_certificates_a_scrape_without_one_from_the_ca_is_refused(mtls) -> None:
    ep, server_cert, clients = mtls
    assert _scrape(ep.port, server_cert, clients["prometheus"]) == 200
    assert _scrape(ep.port, server_cert, None) != 200  # TLS 1.3: the server's alert arrives on the first read
    assert _scrape(ep.port, server_cert, clients["rogue"]) != 200


def test_client_certificates_with_curl(mtls) -> None:
    """The same with curl, as an operator checks a scrape by hand (docs/metrics.md)."""
    ep, server_cert, clients = mtls

    def curl(*args: str) -> tuple[int, str]:
        r = subprocess.run(
            [
                "curl",
                "-sS",
                "--max-time",
                "5",
                "--cacert",
                str(server_cert),
                "-H",
                "Authorization: Bearer s3cr3t",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                *args,
                f"https://127.0.0.1:{ep.port}/metrics",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return r.returncode, r.stdout + r.stderr

    cert, key = clients["prometheus"]
    assert curl("--cert", str(cert), "--key", str(key)) == (0, "200")
    rc, out = curl()
    assert rc != 0 and not out.startswith("200"), out  # no certificate: no HTTP answer at all
    cert, key = clients["rogue"]
    rc, out = curl("--cert", str(cert), "--key", str(key))
    assert rc != 0 and not out.startswith("200"), out


def test_client_ca_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics_tls_client_ca_file: '/etc/ca.pem' needs metrics_tls_cert_file"):
        build_speaker_config({"metrics_tls_client_ca_file": "/etc/ca.pem"})
    cert, key = self_signed(tmp_path, ["127.0.0.1"])
    with pytest.raises(ConfigError, match=r"metrics_tls_client_ca_file: .*missing.pem: cannot read"):
        tls_context(str(cert), str(key), client_ca_file=str(tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"metrics_tls_client_ca_file: .*junk.pem: no CA certificate in it"):
        tls_context(str(cert), str(key), client_ca_file=str(tmp_path / "junk.pem"))
