"""Prometheus metrics, under MetalLB's names where MetalLB has one (dashboards keep working), and the HTTP
endpoint that serves them (with ``/status``, ``/healthz``, ``/readyz``). docs/metrics.md lists every metric."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import ssl
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from speaker.config.node import ConfigError

log = logging.getLogger(__name__)

# No `X_created` gauge beside every counter: MetalLB's Go client has none, and they double the series count.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

K8S_UPDATES = Counter("metallb_k8s_client_updates_total", "Kubernetes object updates written (status writes)")
K8S_UPDATE_ERRORS = Counter("metallb_k8s_client_update_errors_total", "Kubernetes object update failures")
CONFIG_LOADED = Gauge("metallb_k8s_client_config_loaded_bool", "1 if the pool configuration was loaded at least once")
CONFIG_STALE = Gauge(
    "metallb_k8s_client_config_stale_bool", "1 while the API is unreachable and the last state is used"
)
ADDRESSES_IN_USE = Gauge("metallb_allocator_addresses_in_use_total", "Addresses assigned from the pool", ["pool"])
ADDRESSES_TOTAL = Gauge("metallb_allocator_addresses_total", "Usable addresses in the pool", ["pool"])
# MetalLB's per-family and per-Service series (internal/allocator/stats.go), same names, help and labels.
IPV4_ADDRESSES_IN_USE = Gauge(
    "metallb_allocator_ipv4_addresses_in_use_total", "Number of IPV4 addresses in use, per pool", ["pool"]
)
IPV4_ADDRESSES_TOTAL = Gauge(
    "metallb_allocator_ipv4_addresses_total", "Number of usable IPV4 addresses, per pool", ["pool"]
)
IPV6_ADDRESSES_IN_USE = Gauge(
    "metallb_allocator_ipv6_addresses_in_use_total", "Number of IPV6 addresses in use, per pool", ["pool"]
)
IPV6_ADDRESSES_TOTAL = Gauge(
    "metallb_allocator_ipv6_addresses_total", "Number of usable IPV6 addresses, per pool", ["pool"]
)
SERVICES_ALLOCATED = Gauge(
    "metallb_allocator_services_allocated_total", "Number of services allocated, per pool", ["pool"]
)
LEADER = Gauge("baremetal_lb_allocator_leader", "1 while this speaker holds the allocator lease")
EVENTS_DROPPED = Counter("baremetal_lb_events_dropped_total", "Events not sent because the event queue was full")
ALLOCATION_FAILURES = Counter("baremetal_lb_allocation_failures_total", "Services that could not get an address")


class Announced:
    """``metallb_speaker_announced{ip,node,protocol,service}``: 1 per address this node announces, per protocol —
    MetalLB's gauge (speaker/main.go ``announcing``), same name and labels, for Layer 2 and BGP.

    One family must carry both protocols (two collectors yielding the same name would write it twice, and
    Prometheus refuses a second ``# TYPE`` line), so the rows are read at scrape time from whoever knows them: the
    Layer 2 announcer (``Layer2Metrics.announced``), the BGP controller (``BGPController.announced``). The daemon
    connects them with :meth:`set_source`; a protocol that is off has no source and no series.
    """

    NAME = "metallb_speaker_announced"
    HELP = (
        "Services being announced from this node. This is desired state, it does not guarantee that the routing "
        "protocols have converged."
    )
    LABELS = ("ip", "node", "protocol", "service")

    def __init__(self) -> None:
        self._sources: dict[str, Callable[[], Iterable[tuple[str, str, str]]]] = {}

    def set_source(self, protocol: str, rows: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
        """``rows()``: (ip, node, service) of every address announced over ``protocol`` now."""
        self._sources[protocol] = rows

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(self.NAME, self.HELP, labels=list(self.LABELS))
        for protocol, rows in sorted(self._sources.items()):
            for ip, node, service in sorted(rows()):
                g.add_metric([ip, node, protocol, service], 1)
        yield g

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=list(self.LABELS))]


ANNOUNCED = Announced()
REGISTRY.register(ANNOUNCED)

LEASE_FALLBACK = Gauge(
    "baremetal_lb_membership_lease_fallback", "1 while Layer 2 liveness comes from Leases (no heartbeat key known yet)"
)
UNANNOUNCED = Gauge(
    "baremetal_lb_address_unannounced",
    "1 for each Service address that no node announces (reason: NoEligibleNode, NoLiveSpeaker)",
    ["service", "ip", "protocol", "reason"],
)
_unannounced: dict[str, set[tuple[str, str, str]]] = {}  # protocol → the (service, ip, reason) series served


def set_unannounced(protocol: str, rows: Iterable[tuple[str, str, str]]) -> None:
    """Serve exactly ``rows`` ((service, ip, reason)) for ``protocol``: a resolved gap's series goes away, so
    ``BaremetalLBAddressNotAnnounced`` resolves. One caller per protocol (its controller's thread)."""
    new = set(rows)
    for service, ip, reason in _unannounced.get(protocol, set()) - new:
        UNANNOUNCED.remove(service, ip, protocol, reason)
    for service, ip, reason in new:
        UNANNOUNCED.labels(service, ip, protocol, reason).set(1)
    _unannounced[protocol] = new


# MetalLB's Go client serves these Layer 2 counters without the `_total` suffix (metallb internal/layer2
# metrics.go). prometheus_client's text exposition appends `_total` to the `# HELP`/`# TYPE` name of every counter
# family (exposition.py generate_latest: "if mtype == 'counter': mname = mname + '_total'"), so
# speaker.layer2.metrics yields them as *unknown* families with MetalLB's sample names, which the text format
# writes as `untyped`. `exposition()` restores the `counter` type line, so Prometheus types them as MetalLB's do.
UNSUFFIXED_COUNTERS = (
    "metallb_layer2_requests_received",
    "metallb_layer2_responses_sent",
    "metallb_layer2_gratuitous_sent",
)


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The Prometheus text format (0.0.4) of ``registry``, every family typed (see UNSUFFIXED_COUNTERS)."""
    text = generate_latest(registry)
    for name in UNSUFFIXED_COUNTERS:
        text = text.replace(f"# TYPE {name} untyped\n".encode(), f"# TYPE {name} counter\n".encode())
    return text


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _url(server: ThreadingHTTPServer) -> str:
    """The base URL a server answers on (an IPv6 host in brackets)."""
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host  # typeshed allows bytes for AF_UNIX; these are IP
    scheme = "https" if isinstance(server, _TLSServer) else "http"
    return f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}/"


class MetricsEndpoint:
    """The speaker's HTTP endpoint: ``/metrics`` for Prometheus, ``/status`` for ``baremetal-lb status``.

    ``listen`` (``metrics_listen``) may be a node address or ``0.0.0.0`` so a Prometheus off the node can scrape;
    ``/status`` (every Service, pool and peer this speaker knows) is answered only to clients on loopback, so
    opening ``/metrics`` to the LAN does not open the status API. When ``listen`` is a specific non-loopback
    address a second listener on ``127.0.0.1`` (same port) serves ``/status`` there, so ``baremetal-lb status``
    keeps working at its default URL. ``bearer_token``: ``/metrics`` then wants ``Authorization: Bearer <token>``
    (Prometheus's ``authorization: {credentials_file: …}``); the health probes and loopback ``/status`` do not.
    ``tls``: an ``ssl.SSLContext`` for the ``listen`` socket (HTTPS, optionally wanting a client certificate:
    :func:`tls_context`); the loopback listener stays plain HTTP.
    Constructing it binds the sockets (errors surface at start-up); ``servers`` are served by the owner's threads.
    """

    def __init__(
        self,
        listen: tuple[str, int],
        *,
        status: Callable[[], dict[str, Any]],
        ready: Callable[[], bool],
        bearer_token: str | None = None,
        tls: ssl.SSLContext | None = None,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        host, port = listen
        handler = self._handler(status=status, ready=ready, token=bearer_token, registry=registry)
        main = _TLSServer((host, port), handler, tls) if tls is not None else ThreadingHTTPServer((host, port), handler)
        main.daemon_threads = True
        self.port: int = main.server_address[1]
        self.servers = [main]
        if not _is_loopback(host) and not ipaddress.ip_address(host).is_unspecified:
            local = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
            local.daemon_threads = True
            self.servers.append(local)
        self.urls = [_url(s) for s in self.servers]

    def close(self) -> None:
        for s in self.servers:
            s.shutdown()
            s.server_close()

    @staticmethod
    def _handler(
        *,
        status: Callable[[], dict[str, Any]],
        ready: Callable[[], bool],
        token: str | None,
        registry: CollectorRegistry,
    ) -> type[BaseHTTPRequestHandler]:
        expected = f"Bearer {token}".encode() if token else None

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a client that stalls (or never finishes a TLS handshake) frees its thread

            def setup(self) -> None:
                super().setup()
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()  # here, in the request's thread, not in the accepting one

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    got = (self.headers.get("Authorization") or "").encode()
                    if expected is not None and not hmac.compare_digest(got, expected):
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Bearer realm="baremetal-lb metrics"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body, ctype = exposition(registry), CONTENT_TYPE_LATEST
                elif path == "/status":
                    if not _is_loopback(self.client_address[0]):
                        self.send_error(403, "/status is served on loopback only (baremetal-lb status on the node)")
                        return
                    body, ctype = json.dumps(status(), indent=2).encode(), "application/json"
                elif path in ("/healthz", "/readyz"):
                    ok = ready() if path == "/readyz" else True
                    self.send_response(200 if ok else 503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def tls_context(cert_file: str, key_file: str, *, client_ca_file: str | None = None) -> ssl.SSLContext:
    """A server context for ``metrics_tls_cert_file`` / ``metrics_tls_key_file`` (TLS 1.2 or later); a file that
    cannot be read or a key that does not match its certificate is a ConfigError naming the setting.

    ``client_ca_file`` (``metrics_tls_client_ca_file``): mutual TLS, as Prometheus's ``tls_config: {cert_file,
    key_file}`` scrapes. A client without a certificate signed by one of these CAs fails the handshake, before any
    HTTP is read — every path of this listener then wants one (``/healthz`` too; the loopback listener stays
    plain HTTP, so ``baremetal-lb status`` and the role's readiness probe do not)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_ca_file:
        try:
            ctx.load_verify_locations(cafile=client_ca_file)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"metrics_tls_client_ca_file: {client_ca_file}: no CA certificate in it ({exc.reason})"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"metrics_tls_client_ca_file: {client_ca_file}: cannot read: {exc.strerror or exc}"
            ) from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:  # before OSError: SSLError is one
        raise ConfigError(
            f"metrics_tls_cert_file/metrics_tls_key_file: {cert_file}, {key_file}: not a certificate "
            f"and its key ({exc.reason})"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"metrics_tls_cert_file/metrics_tls_key_file: {cert_file}, {key_file}: cannot read: {exc.strerror or exc}"
        ) from None
    return ctx


class _TLSServer(ThreadingHTTPServer):
    """HTTPS: the accepted socket is wrapped without a handshake; the request thread does it (Handler.setup), so a
    client that connects and stays silent cannot hold up the accepting thread."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        return self._ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a scrape refused in the handshake (no client certificate, or one no configured CA signed) lands here
        log.debug("metrics endpoint: request from %s failed", client_address, exc_info=True)
