"""HTTP front end: routing, watch streams, fault injection, authentication and authorization; :class:`ApiServer`.

A ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive: one thread per connection,
Nagle off, and each response written with a single ``send`` so the official client's
pooled connections see real-server-like latency. Watch streams are chunked
newline-delimited JSON fed from the store's event log.
"""

from __future__ import annotations

import collections
import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import discovery, errors, serviceaccounts
from .api import Api, WatchFilter
from .errors import ApiError
from .rbac import AUTHENTICATED, Rule, UserInfo, forbidden_message, rbac_decision
from .resources import Registry, ResourceType, builtin_types
from .selectors import FieldRequirement, parse_field_selector, parse_label_selector, path_getter
from .store import Store, dumps

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_HTTP_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class RequestInfo:
    """What a request is about, in RBAC terms (as the real server's RequestInfo)."""

    method: str
    path: str
    verb: str  # get list watch create update patch delete deletecollection, or "get" for discovery
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    token: str | None = None
    user_agent: str = ""
    is_resource: bool = False
    # A list/watch with an exact ``metadata.name`` field selector is, for authorization, a request for that name
    # (requestinfo.go: ``opts.FieldSelector.RequiresExactMatch("metadata.name")`` sets ``requestInfo.Name`` when it
    # is a valid path segment), so ``resourceNames`` rules match it. Kept apart from ``name``, which routes.
    selector_name: str = ""


@dataclass
class Fault:
    """An injected failure: requests matching every given field fail with ``code``."""

    code: int
    message: str | None = None
    verb: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None
    namespace: str | None = None
    group: str | None = None
    token: str | None = None
    times: int | None = None  # None: until removed
    hits: int = 0

    def matches(self, info: RequestInfo) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        for attr in ("verb", "resource", "name", "namespace", "group", "token"):
            want = getattr(self, attr)
            if want is not None and getattr(info, attr) != want:
                return False
        if self.subresource is not None and info.subresource != self.subresource:
            return False
        return info.is_resource


@dataclass
class Principal:
    """A static token's user and its own rules (``authz=``), checked before RBAC."""

    user: UserInfo
    rules: list[Rule] = field(default_factory=list)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], owner: ApiServer, sock: socket.socket | None = None) -> None:
        self.owner = owner
        super().__init__(addr, _Handler, bind_and_activate=sock is None)
        if sock is not None:  # an already listening socket, e.g. opened inside a network namespace
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()


class _Headers(dict):  # type: ignore[type-arg]
    """Request headers with case-insensitive ``get`` (keys are stored lower-cased)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # `format`: the stdlib's signature
        pass

    def handle_one_request(self) -> None:
        """A lean replacement for the stdlib's parser (which builds an ``email`` message per
        request and was the largest cost per request)."""
        try:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            self.raw_requestline = line
            parts = line.decode("latin-1").split()
            self._info = None
            if len(parts) != 3 or len(line) > 65536:
                self.close_connection = True
                self._send(400, dumps(errors.bad_request("malformed request line").status()))
                return
            self.command, self.path, self.request_version = parts
            headers = _Headers()
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                key, _, value = h.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            self.headers = headers  # type: ignore[assignment]
            conn = headers.get("connection", "").lower()
            self.close_connection = conn == "close" or (self.request_version == "HTTP/1.0" and conn != "keep-alive")
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self._send(405, dumps(errors.method_not_allowed().status()))
                return
            method()
            self.wfile.flush()
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True

    def setup(self) -> None:
        super().setup()
        self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        self.server.owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---------------------------------------------------------------- plumbing
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _account(self, code: int) -> None:
        """Count the request once, *before* answering, so a client that got its answer sees it counted."""
        if self._info is not None:
            self.server.owner._record(self._info, code)
            self._info = None

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self._account(code)
        head = (
            f"HTTP/1.1 {code} {_HTTP_REASONS.get(code, 'Unknown')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Cache-Control: no-cache, private\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode() + b"\r\n" + body)
        self._code = code

    def _send_error(self, exc: ApiError) -> None:
        self._send(exc.code, dumps(exc.status()))

    # ---------------------------------------------------------------- dispatch
    def _dispatch(self, method: str) -> None:
        owner = self.server.owner
        self._code = 0
        self._info: RequestInfo | None = None
        body = self._read_body()
        if owner._paused == "refuse":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            info = self._info = self._request_info(method, url.path, params)
            if owner._paused == "unavailable":
                raise errors.service_unavailable()
            owner._check_fault(info)
            owner._authorize(info)
            self._route(info, params, body)
        except ApiError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug in the emulator: answer like the real server would
            import traceback

            traceback.print_exc()
            self._send_error(errors.internal(repr(exc)))

    def _request_info(self, method: str, path: str, params: Mapping[str, str]) -> RequestInfo:
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        ua = self.headers.get("User-Agent", "")
        parts = [p for p in path.split("/") if p]
        base = dict(method=method, path=path, token=token, user_agent=ua)
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return RequestInfo(verb=method.lower() if method != "GET" else "get", **base)
        if not rest:
            return RequestInfo(verb="get", group=group, version=version, **base)
        watch = params.get("watch") in ("true", "1")
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = ""
        registry = self.server.owner.registry
        if len(rest) >= 3 and rest[0] == "namespaces":
            rt = registry.lookup(group, version, rest[2])
            if rt is not None and rt.namespaced:  # /namespaces/{ns}/{plural}[/{name}[/{sub}]]
                namespace, rest = rest[1], rest[2:]
        if not namespace and not group and rest[0] == "namespaces" and len(rest) >= 2:
            namespace = rest[1]  # a Namespace object itself: RBAC sees its name as the namespace
        resource = rest[0] if rest else ""
        name = rest[1] if len(rest) > 1 else ""
        sub = "/".join(rest[2:])
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        if not name:
            if method == "GET":
                verb = "watch" if watch else "list"
            elif method == "DELETE":
                verb = "deletecollection"
        elif watch and method == "GET":
            verb = "watch"
        selector_name = ""
        if verb in ("list", "watch"):
            for term in (params.get("fieldSelector") or "").split(","):
                field, op, value = term.partition("==") if "==" in term else term.partition("=")
                if field.strip() == "metadata.name" and op and not field.endswith("!") and value:
                    selector_name = value if value not in (".", "..") and not any(c in value for c in "/%") else ""
        return RequestInfo(
            verb=verb,
            group=group,
            version=version,
            resource=resource,
            subresource=sub,
            namespace=namespace,
            name=name,
            is_resource=True,
            selector_name=selector_name,
            **base,
        )

    def _route(self, info: RequestInfo, params: Mapping[str, str], body: bytes) -> None:
        owner = self.server.owner
        registry = owner.registry
        path = info.path.rstrip("/") or "/"
        if not info.is_resource:
            doc = self._non_resource(path, info)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            self._send(200, dumps(doc))
            return
        rt = registry.lookup(info.group, info.version, info.resource)
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if info.subresource and info.subresource not in rt.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        api = owner.api
        ns = info.namespace if rt.namespaced else ""
        if rt.key == ("", "namespaces"):
            ns = ""
        version = info.version
        accept = self.headers.get("Accept", "")
        want_table = "as=Table" in accept
        verb = info.verb

        if verb in ("list", "watch") and not info.name:
            labels = parse_label_selector(params.get("labelSelector"))
            fields = parse_field_selector(params.get("fieldSelector"), rt.field_getters)
            scope = info.namespace if rt.namespaced and info.namespace else None
            if verb == "watch":
                self._watch(rt, version, WatchFilter(rt, scope, labels, fields), params)
                return
            limit = int(params.get("limit") or 0)
            entries, rv, token, remaining = api.list(rt, scope, labels, fields, limit, params.get("continue"))
            if want_table:
                doc = discovery.table(
                    rt,
                    version,
                    [_as_version(e.obj, rt, version) for e in entries],
                    str(rv),
                    params.get("includeObject", "Metadata"),
                    token,
                )
                self._send(200, dumps(doc), "application/json;as=Table;v=v1;g=meta.k8s.io")
                return
            meta = {"resourceVersion": str(rv)}
            if token:
                meta["continue"] = token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
            items = b",".join(_raw(e, rt, version) for e in entries)
            head = dumps({"kind": rt.list_kind, "apiVersion": rt.api_version(version), "metadata": meta})
            self._send(200, head[:-1] + b',"items":[' + items + b"]}")
            return
        if verb == "deletecollection":
            labels = parse_label_selector(params.get("labelSelector"))
            fields = parse_field_selector(params.get("fieldSelector"), rt.field_getters)
            scope = info.namespace if rt.namespaced and info.namespace else None
            entries, rv, _, _ = api.list(rt, scope, labels, fields)
            for e in entries:
                try:
                    api.delete(rt, e.obj["metadata"].get("namespace", ""), e.obj["metadata"]["name"])
                except ApiError as exc:
                    if exc.code != 404:
                        raise
            head = dumps(
                {
                    "kind": rt.list_kind,
                    "apiVersion": rt.api_version(version),
                    "metadata": {"resourceVersion": str(api.store.rv)},
                }
            )
            self._send(200, head[:-1] + b',"items":[]}')
            return
        if verb == "create" and not info.name:
            entry = api.create(rt, ns, _json(body), version)
            self._send(201, _raw(entry, rt, version))
            return
        if not info.name:
            raise errors.method_not_allowed()
        if verb == "create" and info.subresource == "token":
            sa = api.get(rt, ns, info.name)
            doc = rt.strategy.token(sa.obj, _json(body) or {}, api)
            self._send(201, dumps(doc))
            return
        if verb == "get" or (verb == "watch" and info.name):
            if verb == "watch":  # legacy /watch/.../name form
                req = FieldRequirement("metadata.name", False, info.name, path_getter("metadata", "name"))
                self._watch(rt, version, WatchFilter(rt, ns if rt.namespaced else None, (), (req,)), params)
                return
            entry = api.get(rt, ns, info.name)
            if want_table:
                doc = discovery.table(
                    rt,
                    version,
                    [_as_version(entry.obj, rt, version)],
                    entry.obj["metadata"]["resourceVersion"],
                    params.get("includeObject", "Metadata"),
                )
                self._send(200, dumps(doc), "application/json;as=Table;v=v1;g=meta.k8s.io")
                return
            self._send(200, _raw(entry, rt, version))
            return
        sub = info.subresource or None
        if verb == "update":
            entry, created = api.update(rt, ns, info.name, _json(body), sub, version)
            self._send(201 if created else 200, _raw(entry, rt, version))
            return
        if verb == "patch":
            entry = api.patch(rt, ns, info.name, body, self.headers.get("Content-Type", ""), sub, version)
            self._send(200, _raw(entry, rt, version))
            return
        if verb == "delete":
            options = _json(body) if body.strip() else {}
            entry, gone = api.delete(rt, ns, info.name, options if isinstance(options, dict) else {})
            if gone and not rt.delete_returns_object:
                doc = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": info.name,
                        "group": rt.group,
                        "kind": rt.plural,
                        "uid": entry.obj["metadata"].get("uid"),
                    },
                }
                if not rt.group:
                    del doc["details"]["group"]
                self._send(200, dumps(doc))
            else:
                self._send(200, _raw(entry, rt, version))
            return
        raise errors.method_not_allowed()

    def _non_resource(self, path: str, info: RequestInfo) -> dict[str, Any] | None:
        owner = self.server.owner
        registry = owner.registry
        parts = [p for p in path.split("/") if p]
        if info.method != "GET":
            return None
        if path == "/version":
            return discovery.SERVER_VERSION
        if path in ("/healthz", "/readyz", "/livez"):
            return None if owner._paused else {"status": "ok"}
        if path == "/api":
            return discovery.api_versions(f"127.0.0.1:{owner.port}")
        if path == "/apis":
            return discovery.api_group_list(registry)
        if len(parts) == 2 and parts[0] == "api":
            return discovery.api_resource_list(registry, "", parts[1])
        if len(parts) == 2 and parts[0] == "apis":
            return discovery.api_group(registry, parts[1])
        if len(parts) == 3 and parts[0] == "apis":
            return discovery.api_resource_list(registry, parts[1], parts[2])
        return None

    # ---------------------------------------------------------------- watch
    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def _watch(self, rt: ResourceType, version: str, flt: WatchFilter, params: Mapping[str, str]) -> None:
        owner = self.server.owner
        store = owner.store
        timeout = float(params.get("timeoutSeconds") or owner.default_watch_timeout)
        deadline = time.monotonic() + timeout
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        send_initial = params.get("sendInitialEvents") in ("true", "1")
        rv_param = params.get("resourceVersion") or ""
        epoch = store.watch_epoch
        initial = []
        with store.lock:
            if not rv_param or rv_param == "0" or send_initial:
                initial = [e for e in store.iter(rt.key, flt.namespace) if flt.matches(e.obj)]
                cursor = store.rv
            else:
                try:
                    cursor = int(rv_param)
                except ValueError as exc:
                    raise errors.bad_request(f'invalid resource version "{rv_param}"') from exc
        self._account(200)
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        self._code = 200
        owner._watch_started(self)
        try:
            if initial:
                self._chunk(b"".join(_event_line("ADDED", _raw(e, rt, version)) for e in initial))
            if send_initial and bookmarks:
                self._chunk(_bookmark(rt, version, cursor, initial_end=True))
            self._stream(rt, version, flt, cursor, deadline, bookmarks, epoch)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            owner._watch_ended(self)

    def _stream(
        self,
        rt: ResourceType,
        version: str,
        flt: WatchFilter,
        cursor: int,
        deadline: float,
        bookmarks: bool,
        epoch: int,
    ) -> None:
        owner = self.server.owner
        store = owner.store
        interval = owner.bookmark_interval
        cond = store.cond_for(rt.key)
        next_bookmark = time.monotonic() + interval
        next_check = time.monotonic() + 1.0
        while True:
            with store.lock:
                while True:
                    if store.closed or store.watch_epoch != epoch or owner._paused:
                        abrupt = owner._abrupt_close or store.closed or owner._paused == "refuse"
                        if abrupt:
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        self._chunk(b"")
                        return
                    events = store.events_after(cursor)
                    if events is None:
                        break
                    if events:
                        break
                    now = time.monotonic()
                    wait = min(deadline - now, (next_bookmark - now) if bookmarks else 1.0, next_check - now)
                    if wait <= 0:
                        break
                    cond.wait(wait)
            if events is None:
                status = errors.gone(f"too old resource version: {cursor} ({store.oldest})").status()
                self._chunk(b'{"type":"ERROR","object":' + dumps(status) + b"}\n")
                self._chunk(b"")
                return
            if events:
                out = []
                for ev in events:
                    t = flt.event_type(ev)
                    if t is not None:
                        out.append(_event_line(t, _raw(ev.entry, rt, version)))
                cursor = events[-1].rv
                if out:
                    self._chunk(b"".join(out))
            now = time.monotonic()
            if now >= deadline:
                if bookmarks:
                    self._chunk(_bookmark(rt, version, cursor))
                self._chunk(b"")
                return
            if bookmarks and now >= next_bookmark:
                self._chunk(_bookmark(rt, version, cursor))
                next_bookmark = now + interval
            if now >= next_check:
                next_check = now + 1.0
                if self._client_gone():
                    self.close_connection = True
                    return


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise errors.bad_request(f"error decoding request body: {exc}") from exc


def _as_version(obj: dict[str, Any], rt: ResourceType, version: str) -> dict[str, Any]:
    want = rt.api_version(version)
    if obj.get("apiVersion") == want:
        return obj
    out = dict(obj)
    out["apiVersion"] = want
    return out


def _raw(entry: Any, rt: ResourceType, version: str) -> bytes:
    if entry.obj.get("apiVersion") == rt.api_version(version):
        return entry.raw
    return dumps(_as_version(entry.obj, rt, version))


def _event_line(type_: str, raw: bytes) -> bytes:
    return b'{"type":"' + type_.encode() + b'","object":' + raw + b"}\n"


def _bookmark(rt: ResourceType, version: str, rv: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj = {"kind": rt.kind, "apiVersion": rt.api_version(version), "metadata": meta}
    return _event_line("BOOKMARK", dumps(obj))


class ApiServer:
    """A Kubernetes API server emulator over real HTTP, for the official client and kubectl.

    ``ApiServer(port=0, crd_dirs=[...], history=100_000).start()`` serves on
    ``server.url``; use it as a context manager or call :meth:`stop`.

    Authentication and authorization are off unless asked for (every request is then allowed):

    * ``authz`` maps static bearer tokens to a user and rules of their own (``{token: [rule, ...]}``
      or ``{token: {"user": ..., "groups": [...], "rules": [...]}}``);
    * ``rbac=True`` also authorizes every user (static or service account) by the Roles, ClusterRoles
      and bindings stored in the server, as ``--authorization-mode=RBAC`` does.

    With either on, service-account tokens (from token Secrets or TokenRequests, see
    :mod:`.serviceaccounts`) authenticate, other unknown tokens get 401, and a denied request gets
    403 with upstream's message. ``ca_pem`` is the CA that token Secrets carry as ``ca.crt``.
    """

    def __init__(
        self,
        port: int = 0,
        crd_dirs: Iterable[str | Path] = (),
        history: int = 100_000,
        *,
        host: str = "127.0.0.1",
        bookmark_interval: float = 1.0,
        default_watch_timeout: float = 1800.0,
        authz: Mapping[str, Any] | None = None,
        rbac: bool = False,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
        node_port_range: tuple[int, int] = (30000, 32767),
        ca_pem: bytes | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.store = Store(history)
        self.registry = Registry()
        for rt in builtin_types():
            self.registry.add(rt)
        self.api = Api(self.store, self.registry)
        if ca_pem is not None:
            self.api.tokens.ca_pem = ca_pem
        self.resource("", "services").strategy.set_node_port_range(*node_port_range)
        self.api.ensure_namespaces(namespaces)
        for d in crd_dirs:
            self.load_crds(d)
        self.principals: dict[str, Principal] | None = None
        self.rbac = rbac
        if authz is not None:
            self.set_authz(authz)
        self.request_counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.request_log: collections.deque[tuple[str, str, str, str, str, str, int]] = collections.deque(
            maxlen=100_000
        )
        self.request_hook: Callable[[RequestInfo], int | ApiError | None] | None = None
        self._faults: list[Fault] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._watches: set[_Handler] = set()
        self._watch_lock = threading.Lock()
        self._paused: str | None = None
        self._abrupt_close = False
        self._log_lock = threading.Lock()
        self._extra: list[tuple[_HTTPServer, threading.Thread]] = []

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> ApiServer:
        """Start serving in a daemon thread (idempotent); returns ``self``."""
        if self._httpd is None:
            self._serve()
        return self

    def _serve(self) -> None:
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=f"kubeapi:{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_listener(self, sock: socket.socket) -> str:
        """Also serve on an already listening socket (``tests.netlab.Host.listen()`` opens one inside a
        network namespace, so speakers in node namespaces reach the API at their own 127.0.0.1).
        Returns the URL as seen from that namespace; closed by ``stop()``."""
        httpd = _HTTPServer(sock.getsockname()[:2], self, sock=sock)
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"kubeapi-extra:{httpd.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._extra.append((httpd, thread))
        host, port = httpd.server_address[:2]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    def stop(self) -> None:
        """Stop serving; open watch streams and keep-alive connections are cut at once."""
        with self.store.lock:
            self.store.closed = True
            self.store.wake_all()
        self._shutdown_listener()
        for httpd, thread in self._extra:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)
        self._extra.clear()

    def _shutdown_listener(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- setup helpers
    def load_crds(self, directory: str | Path) -> list[str]:
        """Create every CRD found in ``*.yaml``/``*.yml``/``*.json`` files of ``directory``."""
        created = []
        crd_rt = self.registry.by_key(("apiextensions.k8s.io", "customresourcedefinitions"))
        assert crd_rt is not None
        for path in sorted(Path(directory).glob("*")):
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            for doc in yaml.load_all(path.read_text(), Loader=_YAML_LOADER):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    self.api.create(crd_rt, "", doc, "v1")
                    created.append(doc["metadata"]["name"])
        return created

    def resource(self, group: str, plural: str) -> ResourceType:
        rt = self.registry.by_key((group, plural))
        if rt is None:
            raise KeyError(f"{plural}.{group} is not served")
        return rt

    # ---------------------------------------------------------------- fault injection
    def pause(self, mode: str = "refuse") -> None:
        """Make the API "go away": ``refuse`` closes the listener (connection refused) and cuts
        every connection; ``unavailable`` answers 503 to everything and ends watches."""
        if mode not in ("refuse", "unavailable"):
            raise ValueError(f"unknown pause mode {mode!r}")
        with self.store.lock:
            self._paused = mode
            self.store.wake_all()
        if mode == "refuse":
            self._shutdown_listener()

    def resume(self) -> None:
        """Undo :meth:`pause`; the server listens again on the same port."""
        mode, self._paused = self._paused, None
        if mode == "refuse" and not self.store.closed:
            self._serve()

    def close_watches(self, abrupt: bool = False) -> int:
        """End every open watch stream (cleanly, or ``abrupt``: the socket is cut mid-stream).

        Returns how many streams were open."""
        with self._watch_lock:
            n = len(self._watches)
        with self.store.lock:
            self._abrupt_close = abrupt
            self.store.watch_epoch += 1
            self.store.wake_all()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._watch_lock:
                if not self._watches:
                    break
            time.sleep(0.005)
        self._abrupt_close = False
        return n

    def compact(self, *, including_current: bool = False) -> None:
        """Drop the event history: resuming a watch from an older version gets 410 Expired."""
        self.store.compact(including_current=including_current)

    @property
    def open_watches(self) -> int:
        with self._watch_lock:
            return len(self._watches)

    def fail(
        self,
        code: int = 500,
        *,
        verb: str | None = None,
        resource: str | None = None,
        subresource: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        group: str | None = None,
        token: str | None = None,
        times: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Fail matching resource requests with ``code`` (``times`` times, or until removed)."""
        fault = Fault(code, message, verb, resource, subresource, name, namespace, group, token, times)
        with self._log_lock:
            self._faults.append(fault)
        return fault

    def remove_fault(self, fault: Fault) -> None:
        with self._log_lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear_faults(self) -> None:
        with self._log_lock:
            self._faults.clear()

    def _check_fault(self, info: RequestInfo) -> None:
        if self.request_hook is not None:
            result = self.request_hook(info)
            if isinstance(result, ApiError):
                raise result
            if isinstance(result, int):
                raise errors.from_code(result)
        if not self._faults:
            return
        with self._log_lock:
            for fault in self._faults:
                if fault.matches(info):
                    fault.hits += 1
                    raise errors.from_code(fault.code, fault.message)

    # ---------------------------------------------------------------- request accounting
    def _record(self, info: RequestInfo, code: int) -> None:
        key = (info.verb, info.resource, info.subresource)
        with self._log_lock:
            self.request_counts[key] += 1
            self.request_log.append(
                (info.verb, info.group, info.resource, info.subresource, info.namespace, info.name, code)
            )

    def count_requests(
        self, verb: str | None = None, resource: str | None = None, subresource: str | None = None
    ) -> int:
        """Requests seen so far matching the given verb/resource/subresource ("" = none)."""
        with self._log_lock:
            return sum(
                n
                for (v, r, s), n in self.request_counts.items()
                if (verb is None or v == verb)
                and (resource is None or r == resource)
                and (subresource is None or s == subresource)
            )

    def reset_counts(self) -> None:
        with self._log_lock:
            self.request_counts.clear()
            self.request_log.clear()

    def _watch_started(self, handler: _Handler) -> None:
        with self._watch_lock:
            self._watches.add(handler)

    def _watch_ended(self, handler: _Handler) -> None:
        with self._watch_lock:
            self._watches.discard(handler)

    # ---------------------------------------------------------------- authentication, authorization
    def set_authz(self, authz: Mapping[str, Any] | None, *, rbac: bool | None = None) -> None:
        """Static tokens: ``{token: [rules]}`` or ``{token: {"user": name, "groups": [...], "rules": [...]}}``
        (``None``: none). ``rbac``, when given, turns authorization from the stored RBAC objects on or off."""
        if rbac is not None:
            self.rbac = rbac
        if authz is None:
            self.principals = None
            return
        principals = {}
        for token, spec in authz.items():
            if isinstance(spec, Mapping):
                name, rules = spec.get("user", f"token:{token[:6]}"), spec.get("rules", [])
                groups = tuple(spec.get("groups", ())) + (AUTHENTICATED,)
            else:
                name, rules, groups = f"token:{token[:6]}", spec, (AUTHENTICATED,)
            principals[token] = Principal(UserInfo(name, "", groups), [Rule.parse(r) for r in rules])
        self.principals = principals

    def authenticate(self, token: str | None) -> tuple[UserInfo, list[Rule]] | None:
        """The user behind a bearer token and its static rules, or None (401)."""
        if not token:
            return None
        principal = (self.principals or {}).get(token)
        if principal is not None:
            return principal.user, principal.rules
        user = serviceaccounts.authenticate(self.api, token)
        return (user, []) if user is not None else None

    def _authorize(self, info: RequestInfo) -> None:
        if self.principals is None and not self.rbac:
            return
        who = self.authenticate(info.token)
        if who is None:
            raise errors.unauthorized()
        user, rules = who
        if not info.is_resource or not info.resource:
            return  # discovery is open to authenticated users (system:discovery)
        if any(rule.allows(info) for rule in rules):
            return
        reason = ""
        if self.rbac:
            allowed, reason = rbac_decision(self.store, user, info)
            if allowed:
                return
        res = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        raise errors.forbidden(res, info.group, info.name, forbidden_message(user, info, reason))
