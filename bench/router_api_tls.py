"""Router API requests over HTTPS: ansible-core's ``open_url`` (a new TLS context per request) against the
collection's ``ApiClient`` (one context per connection), side by side, interleaved, on one loopback server.

A pfSense/OPNsense run makes 7-16 requests; before the change each paid for a fresh ``ssl.SSLContext`` with the CA
bundle loaded. Three settings: the router's own certificate as ``ca_path`` (docs/router.md's self-signed case);
``validate_certs: false``; and the system CAs (a router with a public certificate) -- for the last only the
context's cost is timed, since no public CA signed the loopback server's certificate.

Usage: python bench/router_api_tls.py [--requests 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.server
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.collection import collection_path  # noqa: E402

sys.path.insert(0, str(collection_path()))
from ansible.module_utils.urls import make_context, open_url  # noqa: E402
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiClient  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "unit" / "plugins" / "module_utils"))
from test_router_api_tls import Handler, self_signed  # noqa: E402


def old_way(url: str, n: int, **tls: object) -> float:
    start = time.perf_counter()
    for i in range(n):
        open_url(
            f"{url}/api/{i}",
            method="GET",
            headers={"Accept": "application/json"},
            timeout=10,
            follow_redirects="safe",
            **tls,
        ).read()
    return time.perf_counter() - start


def new_way(url: str, n: int, **tls: object) -> float:
    client = ApiClient(url, "bench", **tls)
    start = time.perf_counter()
    for i in range(n):
        client.request("GET", f"/api/{i}")
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"https://127.0.0.1:{server.server_address[1]}"
        cases = [
            ("ca_path (self-signed router)", {"ca_path": str(cert)}),
            ("validate_certs: false", {"validate_certs": False}),
        ]
        print(f"{args.requests} GETs per round, {args.rounds} rounds interleaved; ms per request, median of rounds")
        print(f"{'setting':32} {'open_url':>10} {'ApiClient':>10}")
        for label, tls in cases:
            old, new = [], []
            for _ in range(args.rounds):
                old.append(old_way(url, args.requests, **tls) / args.requests * 1000)
                new.append(new_way(url, args.requests, **tls) / args.requests * 1000)
            print(f"{label:32} {statistics.median(old):10.1f} {statistics.median(new):10.1f}")
        server.shutdown()
    times = []
    for _ in range(args.rounds * 5):
        start = time.perf_counter()
        make_context(validate_certs=True)
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"{'system CAs: one TLS context':32} {statistics.median(times):10.1f} ms (paid per request by open_url, "
        f"once per run by ApiClient)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
