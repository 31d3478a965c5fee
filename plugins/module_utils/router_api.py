# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every router module (``ROUTER_API_ARG_SPEC``) and one small HTTP client.

Each option falls back to an environment variable (named in ``doc_fragments/router_api.py``), so users set
the router once with ``module_defaults: {group/baremetal.lb.router: ...}`` or the environment.
"""

from __future__ import annotations

import base64
import json
import typing as t
from copy import deepcopy

from ansible.module_utils.basic import env_fallback

ENV_PREFIX = "BAREMETAL_LB_ROUTER_"

if t.TYPE_CHECKING:
    import ssl

    # (url, method, body, headers, validate_certs, timeout[, ca_path=]) -> (HTTP status, body)
    Opener = t.Callable[..., t.Tuple[int, t.Union[bytes, str, None]]]

ROUTER_API_ARG_SPEC: dict[str, dict[str, t.Any]] = {
    "api_url": {"type": "str", "fallback": (env_fallback, [ENV_PREFIX + "API_URL"])},
    "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, [ENV_PREFIX + "API_KEY"])},
    "api_secret": {"type": "str", "no_log": True, "fallback": (env_fallback, [ENV_PREFIX + "API_SECRET"])},
    "api_username": {"type": "str", "fallback": (env_fallback, [ENV_PREFIX + "API_USERNAME"])},
    "api_password": {"type": "str", "no_log": True, "fallback": (env_fallback, [ENV_PREFIX + "API_PASSWORD"])},
    "ca_path": {"type": "path", "fallback": (env_fallback, [ENV_PREFIX + "CA_PATH"])},
    "validate_certs": {
        "type": "bool",
        "default": True,
        "aliases": ["verify_ssl"],
        "fallback": (env_fallback, [ENV_PREFIX + "VALIDATE_CERTS"]),
    },
    "timeout": {"type": "int", "default": 30, "fallback": (env_fallback, [ENV_PREFIX + "TIMEOUT"])},
}


def router_api_arg_spec(**extra: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    """``ROUTER_API_ARG_SPEC`` plus a module's own options (a fresh copy every call)."""
    spec = deepcopy(ROUTER_API_ARG_SPEC)
    spec.update(deepcopy(extra))
    return spec


class ApiError(Exception):
    """An HTTP/API failure; ``status`` is the HTTP status (None when the router was not reached)."""

    def __init__(self, message: str, status: int | None = None, body: t.Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class UrlOpener:
    """ansible-core's ``Request`` (what ``open_url`` uses): honours validate_certs, proxies and CA bundles like
    every module, with one TLS context per connection.

    ``open_url`` builds a new ``ssl.SSLContext`` for every request, loading the system's CA bundle each time:
    ~0.08-0.16 s a request here, 1-2.5 s of a pfSense/OPNsense run. The settings that shape the context
    (``validate_certs``, ``ca_path``) are fixed for one router connection, so the context is made on the first
    HTTPS request and reused for the rest (keyed by those settings, in case a caller changes them). ``ca_path`` is
    a PEM file of the CA (or the router's self-signed certificate) to trust, so a router with its own certificate
    is checked rather than not checked at all.
    """

    def __init__(self) -> None:
        self._contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}

    def context(self, validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
        key = (bool(validate_certs), ca_path)
        if key not in self._contexts:
            from ansible.module_utils.urls import make_context

            self._contexts[key] = t.cast("ssl.SSLContext", make_context(cafile=ca_path, validate_certs=validate_certs))
        return self._contexts[key]

    def __call__(
        self,
        url: str,
        method: str,
        data: bytes | None,
        headers: dict[str, str],
        validate_certs: bool,
        timeout: float,
        ca_path: str | None = None,
    ) -> tuple[int, bytes]:
        from urllib.error import HTTPError

        from ansible.module_utils.urls import Request

        context = self.context(validate_certs, ca_path) if url.lower().startswith("https:") else None
        try:
            resp = Request().open(
                method,
                url,
                data=data,
                headers=headers,
                validate_certs=validate_certs,
                timeout=timeout,
                follow_redirects="safe",
                ca_path=ca_path,
                context=context,
            )
            return t.cast(int, resp.getcode()), t.cast(bytes, resp.read())
        except HTTPError as exc:
            try:
                body = exc.read()
            except Exception:  # noqa: BLE001 - the error body is optional (a dead socket)  # pragma: no cover
                body = b""
            return exc.code, body


class ApiClient:
    """JSON over HTTP(S) to a router API. Secrets go in headers only, never in URLs or messages.

    ``auth``: ``("header", name, value)`` (pfSense's ``X-API-Key``), ``("basic", user, password)``
    (OPNsense key/secret, Kea Control Agent basic auth) or None. ``opener`` is a :class:`UrlOpener` (one TLS
    context for this client's requests) unless a caller passes another (unit tests do).
    """

    def __init__(
        self,
        base_url: str | None,
        what: str,
        auth: tuple[str, str, str] | None = None,
        validate_certs: bool = True,
        timeout: float = 30,
        opener: Opener | None = None,
        ca_path: str | None = None,
    ) -> None:
        if not base_url:
            raise ApiError(f"{what}: api_url is required (or set {ENV_PREFIX}API_URL)")
        self.base_url = base_url.rstrip("/")
        self.what = what
        self.headers = {"Accept": "application/json"}
        self._secrets: list[str] = []
        if auth and auth[0] == "header":
            self.headers[auth[1]] = auth[2]
            self._secrets.append(auth[2])
        elif auth and auth[0] == "basic":
            token = base64.b64encode((f"{auth[1]}:{auth[2]}").encode()).decode("ascii")
            self.headers["Authorization"] = "Basic " + token
            self._secrets += [auth[1], auth[2], token]
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.ca_path = ca_path
        self.opener: Opener = opener or UrlOpener()
        self.calls: list[str] = []  # (method, path) for the result's commands/debugging

    def scrub(self, text: object) -> str:
        text = str(text)
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "********")
        return text

    def request(self, method: str, path: str, body: t.Any = None, ok: t.Container[int] = (200, 201)) -> t.Any:
        url = self.base_url + path
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        self.calls.append(f"{method} {path}")
        try:
            if self.ca_path:
                status, raw = self.opener(
                    url, method, data, headers, self.validate_certs, self.timeout, ca_path=self.ca_path
                )
            else:
                status, raw = self.opener(url, method, data, headers, self.validate_certs, self.timeout)
        except Exception as exc:
            raise ApiError(f"{self.what}: {method} {url} failed: {self.scrub(exc)}") from exc
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
        try:
            payload = json.loads(text) if text.strip() else None
        except ValueError:
            payload = None
        if status not in ok:
            detail = _error_detail(payload) or text.strip()[:300]
            raise ApiError(
                f"{self.what}: {method} {path} answered HTTP {status}: {self.scrub(detail)}",
                status=status,
                body=payload,
            )
        if payload is None and text.strip():
            raise ApiError(f"{self.what}: {method} {path} did not answer JSON: {self.scrub(text[:200])}", status=status)
        return payload


def _error_detail(payload: t.Any) -> str | None:
    if isinstance(payload, dict):
        for key in ("message", "msg", "error", "errorMessage", "text"):
            if payload.get(key):
                return f"{payload[key]}"
        if payload.get("validations"):
            return "validation failed: {}".format(json.dumps(payload["validations"], sort_keys=True))
    if isinstance(payload, list) and payload and isinstance(payload[0], dict) and payload[0].get("text"):
        return str(payload[0]["text"])
    return None
