"""router_api's HTTP client: one TLS context per connection, and certificates still checked.

ansible-core's ``open_url`` makes a new TLS context (loading the CA bundle) for every request; the client makes
one per connection and reuses it (bench/router_api_tls.py measures the difference). A real HTTPS server on
loopback with a self-signed certificate answers.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import ansible.module_utils.urls as ansible_urls
import pytest
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiClient, ApiError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "router.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "router.pem", tmp / "router.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_router(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def contexts_made(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    made: list[dict] = []
    real = ansible_urls.make_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        made.append(dict(kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(ansible_urls, "make_context", counting)
    return made


def test_one_tls_context_for_all_requests_of_a_client(https_router, contexts_made):
    url, cert = https_router
    client = ApiClient(url, "router", ca_path=str(cert))
    for i in range(5):
        assert client.request("GET", f"/api/{i}") == {"path": f"/api/{i}"}
    assert len(contexts_made) == 1 and contexts_made[0]["cafile"] == str(cert)


def test_the_certificate_is_still_checked(https_router, contexts_made):
    url, cert = https_router
    with pytest.raises(ApiError, match="CERTIFICATE_VERIFY_FAILED"):
        ApiClient(url, "router").request("GET", "/api")  # the system's CAs do not know the router's certificate
    assert ApiClient(url, "router", validate_certs=False).request("GET", "/x") == {"path": "/x"}
    assert ApiClient(url, "router", ca_path=str(cert)).request("GET", "/y") == {"path": "/y"}
