# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for OpenWrt's ``/ubus`` JSON-RPC endpoint (uhttpd-mod-ubus in front of rpcd), so the module runs
on the controller and the router needs no Python.

The shapes it relies on (uhttpd ``ubus.c``, rpcd ``session.c``): a ``call`` is
``{"jsonrpc": "2.0", "id": n, "method": "call", "params": [session, object, function, {args}]}``; the answer is
``{"result": [status, {data}]}`` (status 0 = ok, 2 invalid argument, 4 not found, 6 permission denied, 8 not
supported) or, when uhttpd refused the call itself, ``{"error": {"code", "message"}}`` (-32002 "Access denied" both
for a missing ACL grant and for an expired session). Sessions come from ``session login`` with the null session
``000...0`` and expire after 300 s of inactivity by default, so on "Access denied" the client logs in once more and
retries before it reports the ACL as the cause.

The password and the session id are secrets: they never appear in messages (``scrub``).
"""

from __future__ import annotations

import fnmatch
import json
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiError, UrlOpener

if t.TYPE_CHECKING:
    from ansible_collections.baremetal.lb.plugins.module_utils.router_api import Opener

NULL_SESSION = "0" * 32
UBUS_STATUS = {
    0: "OK",
    1: "INVALID_COMMAND",
    2: "INVALID_ARGUMENT",
    3: "METHOD_NOT_FOUND",
    4: "NOT_FOUND",
    5: "NO_DATA",
    6: "PERMISSION_DENIED",
    7: "TIMEOUT",
    8: "NOT_SUPPORTED",
    9: "UNKNOWN_ERROR",
    10: "CONNECTION_FAILED",
}
ACCESS_DENIED = -32002


class UbusError(ApiError):
    """A refused or failed ubus call: ``status`` is the ubus status (0-10) or the JSON-RPC error code."""


class UbusClient:
    def __init__(
        self,
        url: str | None,
        username: str | None,
        password: str | None,
        validate_certs: bool = True,
        timeout: float = 30,
        ca_path: str | None = None,
        opener: Opener | None = None,
    ) -> None:
        if not url:
            raise ApiError(
                "openwrt: api_url is required for transport rpcd (the router's LuCI address, e.g. https://192.168.1.1)"
            )
        if not username or not password:
            raise ApiError(
                "openwrt: transport rpcd logs in to rpcd: set api_username and api_password (an rpcd "
                "login, see docs/router.md 'OpenWrt: prepare your router')"
            )
        base = url.rstrip("/")
        self.url = base if base.endswith("/ubus") else base + "/ubus"
        self.username = username
        self._password = password
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.ca_path = ca_path
        self.opener: Opener = opener or UrlOpener()
        self.session: str | None = None
        self.acls: dict[str, t.Any] = {}
        self._id = 0
        self.calls: list[str] = []  # "object.function" of every call, for messages and tests

    def scrub(self, text: object) -> str:
        text = str(text)
        for secret in (self._password, self.session):
            if secret:
                text = text.replace(secret, "********")
        return text

    def _post(self, payload: dict[str, t.Any]) -> t.Any:
        data = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            if self.ca_path:
                status, raw = self.opener(
                    self.url, "POST", data, headers, self.validate_certs, self.timeout, ca_path=self.ca_path
                )
            else:
                status, raw = self.opener(self.url, "POST", data, headers, self.validate_certs, self.timeout)
        except Exception as exc:
            raise UbusError(f"openwrt: POST {self.url} failed: {self.scrub(exc)}") from exc
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
        if status != 200:
            raise UbusError(
                f"openwrt: POST {self.url} answered HTTP {status} (is uhttpd-mod-ubus installed? LuCI brings it): "
                f"{self.scrub(text.strip()[:200])}",
                status=status,
            )
        try:
            return json.loads(text)
        except ValueError:
            raise UbusError(
                f"openwrt: {self.url} did not answer JSON-RPC: {self.scrub(text[:200])}"
            ) from None  # the message names the value that failed to parse; the parser's error adds nothing

    def _raw_call(self, session: str | None, obj: str, method: str, args: dict[str, t.Any]) -> tuple[str, t.Any, t.Any]:
        self._id += 1
        self.calls.append(f"{obj}.{method}")
        answer = self._post(
            {"jsonrpc": "2.0", "id": self._id, "method": "call", "params": [session, obj, method, args]}
        )
        if not isinstance(answer, dict):
            raise UbusError(f"openwrt: {obj}.{method}: unexpected answer {self.scrub(answer)}")
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {}
            return ("error", err.get("code"), err.get("message"))
        result = answer.get("result")
        if not isinstance(result, list) or not result or not isinstance(result[0], int):
            raise UbusError(f"openwrt: {obj}.{method}: unexpected answer {self.scrub(answer)}")
        return ("result", result[0], result[1] if len(result) > 1 else None)

    def login(self) -> dict[str, t.Any]:
        kind, status, data = self._raw_call(
            NULL_SESSION, "session", "login", {"username": self.username, "password": self._password}
        )
        if kind == "error":
            raise UbusError(
                f"openwrt: session login refused by uhttpd ({status} {data}); is rpcd running?", status=status
            )
        if status == 6:
            raise UbusError(
                f"openwrt: rpcd refused the login of {self.username!r} (wrong api_username/api_password, or no "
                "'config login' section for it in /etc/config/rpcd)",
                status=status,
            )
        if status != 0 or not isinstance(data, dict) or not data.get("ubus_rpc_session"):
            raise UbusError(
                f"openwrt: session login failed (ubus status {UBUS_STATUS.get(status, status)})", status=status
            )
        self.session = str(data["ubus_rpc_session"])
        acls = data.get("acls")
        self.acls = acls if isinstance(acls, dict) else {}
        return data

    def granted(self, scope: str, obj: str, func: str) -> bool:
        """Whether the login's ACLs (``session login``'s ``acls``) allow ``obj``/``func`` in ``scope``: rpcd matches
        the granted object and function as fnmatch patterns (rpcd session.c 140-150)."""
        if self.session is None:
            self.login()
        for pattern, funcs in (self.acls.get(scope) or {}).items():
            if fnmatch.fnmatchcase(obj, pattern) and any(fnmatch.fnmatchcase(func, f) for f in funcs or []):
                return True
        return False

    def call(self, obj: str, method: str, args: dict[str, t.Any] | None = None, missing_ok: bool = False) -> t.Any:
        """``object.method(args)`` → the reply table, a dict (``{}`` when the call replied nothing).

        ``missing_ok``: status 4 NOT_FOUND returns None instead of raising.
        """
        if self.session is None:
            self.login()
        args = dict(args or {})
        kind, status, data = self._raw_call(self.session, obj, method, args)
        if kind == "error" and status == ACCESS_DENIED:
            self.login()  # the session may have expired (timeout 300 s); a fresh one tells ACL from expiry
            kind, status, data = self._raw_call(self.session, obj, method, args)
        if kind == "error":
            hint = ""
            if status == ACCESS_DENIED:
                hint = (
                    f"; the rpcd login {self.username!r} lacks the ACL grant ubus {obj}: [{method}] (install the ACL "
                    "file from docs/router.md 'OpenWrt: prepare your router')"
                )
            raise UbusError(f"openwrt: {obj}.{method} refused: {data} ({status}){hint}", status=status)
        if status == 4 and missing_ok:
            return None
        if status != 0:
            what = UBUS_STATUS.get(status, str(status))
            hint = ""
            if status == 6:
                hint = f" (the rpcd login {self.username!r} lacks an ACL grant for this; see docs/router.md)"
            raise UbusError(
                f"openwrt: {obj}.{method} {self.scrub(json.dumps(args, sort_keys=True))} answered {what}{hint}",
                status=status,
            )
        return data if isinstance(data, dict) else {}
