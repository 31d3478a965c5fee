"""A threaded JSON HTTP server on 127.0.0.1 for the contract fakes: routes, a request log, fault injection."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Handler = Callable[[str, dict[str, str], Any], tuple[int, Any]]


class FakeServer:
    """Subclasses implement ``authorized(headers) -> bool``, ``unauthorized() -> (status, body)`` and
    ``route(method, path, query, body) -> (status, body)``. ``fail(method, path, status, body, times=1)`` makes the
    next matching request(s) answer ``status``/``body`` without touching state; ``log`` records
    ``(method, full path, headers)`` of every request."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.faults: list[list[Any]] = []
        self.lock = threading.Lock()
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else ~40 ms per answer on keep-alive connections (LAB-NOTES)

            def log_message(self, *a: Any) -> None:
                pass

            def _go(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}  # HTTP header names are case-insensitive
                with fake.lock:
                    fake.log.append((self.command, self.path, headers))
                    if not fake.authorized(headers):
                        status, body = fake.unauthorized()
                    else:
                        status, body = fake._fault(self.command, url.path)
                        if status is None:
                            try:
                                payload = json.loads(raw) if raw.strip() else None
                            except ValueError:
                                payload = None
                            status, body = fake.route(self.command, url.path, query, payload)
                out = fake.encode(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _go

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def fail(self, method: str, path: str, status: int, body: Any, times: int = 1) -> None:
        self.faults.append([method, path, status, body, times])

    def _fault(self, method: str, path: str) -> tuple[Any, Any]:
        for fault in self.faults:
            if fault[0] == method and fault[1] == path and fault[4] > 0:
                fault[4] -= 1
                return fault[2], fault[3]
        return None, None

    def encode(self, body: Any) -> bytes:
        """The response body's bytes (a fake whose real server encodes differently overrides this)."""
        return json.dumps(body).encode()

    # subclasses
    def authorized(self, headers: dict[str, str]) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def unauthorized(self) -> tuple[int, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:  # pragma: no cover
        raise NotImplementedError
