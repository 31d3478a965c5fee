"""FAKE pfSense with the REST API package v2 (pfSense-pkg-RESTAPI 2.x) — what dhcp_reservation and dhcp_scope_info use.

Modelled on the package's source (github:jaredhendrickson13/pfsense-api, commit 597d0e54; paths below are under
``pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/``) and pfSense's own (github:pfsense/pfsense, commit 9363ac5b).
Every error answer comes from ``tests/data/pfsense/errors.json`` (message, code and source line per response id);
tests/data/pfsense/README.md lists where each modelled shape comes from. What is modelled:

* **Answers**: ``{"code", "status", "response_id", "message", "data"}`` with ``'`` and ``"`` in the message turned into
  backticks (Core/Response.inc:121-141). An unknown URL is nginx's 404 page, not JSON (nginx.inc:25).
* **Authentication** (Core/Auth.inc:278-324): the methods in ``auth_methods`` are tried in order; ``BasicAuth`` is
  *requested* when an ``Authorization: Basic`` header is sent (Auth/BasicAuth.inc:41-43), ``KeyAuth`` only when the
  ``X-API-Key`` matches a key (Auth/KeyAuth.inc:29-40, the default ``is_requested`` is ``_authenticate``,
  Core/Auth.inc:188-190). Nothing requested, or a wrong password → 401 AUTH_AUTHENTICATION_FAILED; a disabled user
  → 401 (Core/Auth.inc:139). A fresh install allows ``["BasicAuth"]`` only (Models/RESTAPISettings.inc:165-172):
  that is this fake's default, with pfSense's default ``admin``/``pfsense`` login. **Authorization**: the user needs
  ``page-all`` or the endpoint's privilege ``api-v2-<url>-<method>`` (Core/Endpoint.inc:497-529, Core/Auth.inc:
  166-179) → else 403 AUTH_AUTHORIZATION_FAILED. ``read_only`` → 405 for anything but GET (Core/Endpoint.inc:728-735).
  Order: auth, then method (Core/Endpoint.inc:1040-1063). Login protection and the ACL are not modelled.
* **DHCP server** (Models/DHCPServer.inc): ``id`` is the interface id; PATCH merges (line 58) and is only *saved*
  (subsystem ``dhcpd`` dirty, line 57) until ``POST /services/dhcp_server/apply``. Field checks in the package's
  order (Core/Model.inc:1427-1521): ``range_from``/``range_to`` strings of at most 15 characters and IPv4 addresses
  (lines 72-91), then ``validate_range_from`` (network address, greater than ``range_to``, outside the subnet:
  314-343), ``validate_range_to`` (broadcast, outside: 353-374), then the overlap check (409; static mappings,
  additional pools' ends, virtual IPs: 262-272, 461-490).
* **Apply** (Models/DHCPServerApply.inc, Dispatchers/DHCPServerApplyDispatcher.inc:15-17): runs in the background
  unless the body says ``"async": false`` (Core/Endpoint.inc:308, 760-776; Core/Dispatcher.inc:217-257). A background
  apply here finishes only when the test calls :meth:`FakePfsense.finish_background` (on a router it finishes some
  seconds later: in both cases *after* the answer). The answer's ``applied`` is the status read before applying
  (the model reads it when built, DHCPServerApply.inc:35-37). pfSense's ``dhcp_apply_changes`` ignores a failed
  restart (pfSense services_dhcp.inc:536-560; the dispatcher clears ``dhcpd`` dirty regardless): whether the
  service then runs is :attr:`FakePfsense.dhcpd_starts` (a function of the applied servers) and shows only in
  ``GET /status/services``.
* **Services** (Models/Service.inc:20-58 over pfSense's ``get_services``, service-utils.inc:407-423): the DHCPv4
  entry is ``dhcpd`` (ISC) or ``kea-dhcp4`` (Kea) and is listed only while some DHCP server is enabled.
* **Firewall aliases** (Models/FirewallAlias.inc): ids are array positions; deleting one shifts the later ones down
  (docs/WORKING_WITH_OBJECT_IDS.md:5-11; Core/Model.inc:2376-2390 unset, then pfSense rewrites the array). ``name``
  required, unique, at most 31 characters, not editable (lines 29-36), a valid alias name (80-90, pfSense
  util.inc:1981-2019); ``type`` one of host/network/port (37-42); ``descr``, each ``address`` and each ``detail`` at
  most 1024 bytes (the StringField default, Fields/StringField.inc:253, 289-291; LengthValidator.inc:36-52 counts
  ``strlen``), any number of addresses and details (``many_maximum: 0``, lines 52 and 63); network addresses must be
  CIDRs, FQDNs or aliases (121-128); more details than addresses → 400, fewer → filled with ``Entry added <date>``
  (139-154). No reference check on delete (the TODO at line 28: the package deletes an alias a rule uses).
  ``DELETE /firewall/aliases?<query>`` deletes every match and needs a query (Core/Endpoint.inc:1203-1222,
  Core/Model.inc:2473-2500).
* **Read-only lists** for references and occupants: firewall rules, NAT port forwards / outbound / 1:1, static
  routes, OpenVPN servers and CSOs, virtual IPs, leases (Models/DHCPServerLease.inc:34-56), each GET answering the
  objects the test put in with ``id`` = position.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import time
from base64 import b64decode
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.http import FakeServer

ERRORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "pfsense" / "errors.json").read_text()
)
STATUS = {
    200: "ok",
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    500: "internal server error",
}  # Core/Response.inc:23-80
FIELD_MAX = 1024  # Fields/StringField.inc:253


class PfError(Exception):
    def __init__(self, response_id: str, **fmt: Any) -> None:
        super().__init__(response_id)
        self.response_id = response_id
        self.fmt = fmt


def answer(code: int, response_id: str, message: str, data: Any) -> tuple[int, Any]:
    message = message.replace('"', "`").replace("'", "`")  # Core/Response.inc:121
    return code, {"code": code, "status": STATUS[code], "response_id": response_id, "message": message, "data": data}


def ok(data: Any) -> tuple[int, Any]:
    return answer(200, "SUCCESS", "", data)


def error(response_id: str, **fmt: Any) -> tuple[int, Any]:
    spec = ERRORS[response_id]
    return answer(spec["code"], response_id, spec["message"].format(**fmt), [])


def privilege(method: str, path: str) -> str:
    """Core/Endpoint.inc:497-511: the URL without the leading ``/``, ``/`` and ``_`` as ``-``, then the method."""
    return path.strip("/").replace("/", "-").replace("_", "-") + "-" + method.lower()


def valid_alias_name(name: str) -> bool:
    """pfSense util.inc:1981-2019 (is_validaliasname): < 32 characters of a-z0-9_, not all digits or underscores,
    not ``port``/``pass`` (protocol and service names are not modelled)."""
    return len(name) < 32 and not re.search(r"(^_*$|^\d*$|[^a-z0-9_])", name, re.I) and name not in ("port", "pass")


def _ip(value: Any) -> ipaddress.IPv4Address | None:
    try:
        addr = ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return None
    return addr if addr.version == 4 else None


# (method, path) -> the handler name; what the package's Endpoints accept (request_method_options).
ENDPOINTS = {
    "/api/v2/services/dhcp_servers": ("GET",),  # ServicesDHCPServersEndpoint (GET, PUT: not modelled)
    "/api/v2/services/dhcp_server": ("GET", "PATCH"),
    "/api/v2/services/dhcp_server/apply": ("GET", "POST"),  # ServicesDHCPServerApplyEndpoint.inc:14
    "/api/v2/services/dhcp_server/backend": ("GET", "PATCH"),
    "/api/v2/interface": ("GET", "POST", "PATCH", "DELETE"),
    "/api/v2/status/dhcp_server/leases": ("GET", "DELETE"),
    "/api/v2/status/services": ("GET",),  # StatusServicesEndpoint
    "/api/v2/firewall/aliases": ("GET", "PUT", "DELETE"),  # FirewallAliasesEndpoint
    "/api/v2/firewall/alias": ("GET", "POST", "PATCH", "DELETE"),  # FirewallAliasEndpoint
    "/api/v2/firewall/apply": ("GET", "POST"),
    "/api/v2/firewall/virtual_ips": ("GET", "PUT", "DELETE"),
    "/api/v2/firewall/rules": ("GET", "PUT", "DELETE"),
    "/api/v2/firewall/nat/port_forwards": ("GET", "PUT", "DELETE"),
    "/api/v2/firewall/nat/outbound/mappings": ("GET", "PUT", "DELETE"),
    "/api/v2/firewall/nat/one_to_one/mappings": ("GET", "PUT", "DELETE"),
    "/api/v2/routing/static_routes": ("GET", "PUT", "DELETE"),
    "/api/v2/vpn/openvpn/servers": ("GET", "DELETE"),
    "/api/v2/vpn/openvpn/csos": ("GET", "PUT", "DELETE"),
}
LISTS = {
    "/api/v2/firewall/virtual_ips": "vips",
    "/api/v2/firewall/rules": "rules",
    "/api/v2/firewall/nat/port_forwards": "port_forwards",
    "/api/v2/firewall/nat/outbound/mappings": "outbound",
    "/api/v2/firewall/nat/one_to_one/mappings": "one_to_one",
    "/api/v2/routing/static_routes": "static_routes",
    "/api/v2/vpn/openvpn/servers": "openvpn_servers",
    "/api/v2/vpn/openvpn/csos": "openvpn_csos",
}


class FakePfsense(FakeServer):
    def __init__(
        self, *, auth_methods: tuple[str, ...] = ("BasicAuth",), read_only: bool = False, dhcp_backend: str = "isc"
    ) -> None:
        super().__init__()
        self.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # else ~40 ms per answer (LAB-NOTES.md)
        self.auth_methods = list(auth_methods)
        self.read_only = read_only
        self.dhcp_backend = dhcp_backend
        # pfSense's default login; an API key made under System > REST API > Keys belongs to a user.
        self.users: dict[str, dict[str, Any]] = {
            "admin": {"password": "pfsense", "disabled": False, "privileges": ["page-all"]}
        }
        self.keys: dict[str, str] = {"pf-secret-key": "admin"}
        self.interfaces = {
            "lan": {"id": "lan", "if": "em1", "descr": "LAN", "typev4": "static", "ipaddr": "10.1.1.1", "subnet": 24}
        }
        self.servers = {
            "lan": {
                "id": "lan",
                "enable": True,
                "range_from": "10.1.1.100",
                "range_to": "10.1.1.250",
                "gateway": "",
                "domain": "home.arpa",
                "pool": [],
                "staticmap": [
                    {
                        "id": 0,
                        "parent_id": "lan",
                        "mac": "00:11:22:33:44:55",
                        "ipaddr": "10.1.1.20",
                        "hostname": "nas",
                        "descr": "NAS",
                    }
                ],
            }
        }
        self.leases: list[dict[str, Any]] = []
        self.aliases: list[dict[str, Any]] = []
        self.lists: dict[str, list[dict[str, Any]]] = {name: [] for name in LISTS.values()}
        self.applied = copy.deepcopy(self.servers)  # what dhcpd runs with
        self.dirty = False  # subsystem dhcpd
        self.background: list[Callable[[], None]] = []  # applies started with async (the default)
        self.dhcpd_starts: Callable[[dict[str, Any]], bool] = lambda servers: True
        self.dhcpd_running = True
        self.filter_reloads = 0
        self.hooks: list[list[Any]] = []  # [method, path, fn]: fn() runs once, before that request is handled
        self._headers: dict[str, str] = {}

    # -- the transport: authentication happens in route(), where the method and path are known --------------

    def authorized(self, headers: dict[str, str]) -> bool:
        self._headers = headers  # called under the server lock right before route() for the same request
        return True

    def unauthorized(self) -> tuple[int, Any]:  # pragma: no cover - authorized() always lets route() decide
        return error("AUTH_AUTHENTICATION_FAILED")

    @property
    def vips(self) -> list[dict[str, Any]]:
        return self.lists["vips"]

    @property
    def rules(self) -> list[dict[str, Any]]:
        return self.lists["rules"]

    def _user(self) -> str | None:
        """Core/Auth.inc:278-314: the user the first *requested* auth method authenticates, else None (401)."""
        headers = self._headers
        for method in self.auth_methods:
            if method == "BasicAuth":
                auth = headers.get("authorization", "")
                if not auth.lower().startswith("basic "):
                    continue  # not requested (BasicAuth.inc:41-43)
                try:
                    user, _, password = b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    return None
                found = self.users.get(user)
                ok_ = found is not None and found["password"] == password and not found["disabled"]
                return user if ok_ else None  # requested, so it is the matched method either way
            if method == "KeyAuth":
                user = self.keys.get(headers.get("x-api-key", ""))
                if user is None:
                    continue  # KeyAuth is requested only when the key authenticates (Core/Auth.inc:188-190)
                return user if not self.users[user]["disabled"] else None
        return None

    def before(self, method: str, path: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` once, just before the next ``method path`` request is handled."""
        self.hooks.append([method, path, fn])

    def finish_background(self) -> None:
        """Let the applies started in the background finish (on pfSense: a few seconds after the answer)."""
        jobs, self.background = self.background, []
        for job in jobs:
            job()

    def _dhcp_apply(self) -> None:
        """DHCPServerApplyDispatcher._process: dhcp_apply_changes() (its result ignored), then clear dirty."""
        self.applied = copy.deepcopy(self.servers)
        self.dhcpd_running = bool(self.dhcpd_starts(self.applied))
        self.dirty = False

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        p = path.rstrip("/")
        for hook in list(self.hooks):
            if hook[0] == method and hook[1] == p:
                self.hooks.remove(hook)
                hook[2]()  # someone else changed pfSense just before this request (the GUI, another run)
        if p not in ENDPOINTS:
            return 404, "<html><head><title>404 Not Found</title></head><body>404 Not Found</body></html>"
        user = self._user()
        if user is None:
            return error("AUTH_AUTHENTICATION_FAILED")
        privs = self.users[user]["privileges"]
        if "page-all" not in privs and privilege(method, p) not in privs:
            return error("AUTH_AUTHORIZATION_FAILED")
        if method not in ENDPOINTS[p]:
            return error("ENDPOINT_METHOD_NOT_ALLOWED", url=p, method=method)
        if self.read_only and method != "GET":
            return error("ENDPOINT_METHOD_NOT_ALLOWED_IN_READ_ONLY_MODE", url=p, method=method)
        data = dict(query) if method in ("GET", "DELETE") else (body if isinstance(body, dict) else {})
        data = {k: _infer(v) for k, v in data.items()} if method in ("GET", "DELETE") else data
        run_async = True
        if "async" in data:
            if not isinstance(data["async"], bool):
                return error("ENDPOINT_ASYNC_FIELD_INVALID_TYPE")
            run_async = data.pop("async")
        try:
            return self.dispatch(method, p, data, run_async)
        except PfError as exc:
            return error(exc.response_id, **exc.fmt)

    def dispatch(self, method: str, p: str, data: dict[str, Any], run_async: bool) -> tuple[int, Any]:
        if p in LISTS and method == "GET":
            return ok(_query([dict(o, id=i) for i, o in enumerate(self.lists[LISTS[p]])], data))
        if p == "/api/v2/services/dhcp_servers":
            return ok(_query(list(self.servers.values()), data))
        if p == "/api/v2/services/dhcp_server":
            if method == "GET":
                return ok(self._server(data.get("id")))
            return self.patch_server(data)
        if p == "/api/v2/services/dhcp_server/apply":
            applied = not self.dirty
            if method == "POST":
                if run_async:
                    self.background.append(self._dhcp_apply)
                else:
                    self._dhcp_apply()
            return ok({"applied": applied})
        if p == "/api/v2/services/dhcp_server/backend" and method == "GET":
            return ok({"dhcpbackend": self.dhcp_backend})
        if p == "/api/v2/interface" and method == "GET":
            iface = self.interfaces.get(data.get("id", ""))
            if iface is None:
                raise PfError("MODEL_OBJECT_NOT_FOUND", id=data.get("id", ""))
            return ok(iface)
        if p == "/api/v2/status/dhcp_server/leases" and method == "GET":
            return ok(_query(self.leases, data))
        if p == "/api/v2/status/services" and method == "GET":
            return ok(_query(self.services(), data))
        if p == "/api/v2/firewall/aliases":
            return self.aliases_many(method, data)
        if p == "/api/v2/firewall/alias":
            return self.alias(method, data)
        if p == "/api/v2/firewall/apply" and method == "POST":
            self.filter_reloads += 1
            return ok({"applied": True})
        raise AssertionError(f"fake pfSense: {method} {p} is not modelled")  # pragma: no cover

    # -- DHCP server -------------------------------------------------------------------------------------------

    def services(self) -> list[dict[str, Any]]:
        out = [{"name": "unbound", "description": "DNS Resolver", "enabled": True, "status": True}]
        if any(s.get("enable") for s in self.servers.values()):  # service-utils.inc:407-423
            name, descr = (
                ("dhcpd", "ISC DHCP Server") if self.dhcp_backend == "isc" else ("kea-dhcp4", "Kea DHCP Server")
            )
            out.append({"name": name, "description": descr, "enabled": True, "status": self.dhcpd_running})
        out.append({"name": "ntpd", "description": "NTP clock sync", "enabled": True, "status": True})
        return [dict(s, id=i) for i, s in enumerate(out)]

    def _server(self, sid: Any) -> dict[str, Any]:
        if sid is None:
            raise PfError("MODEL_REQUIRES_ID")
        server = self.servers.get(str(sid))
        if server is None:
            raise PfError("MODEL_OBJECT_NOT_FOUND", id=sid)
        return server

    def patch_server(self, body: dict[str, Any]) -> tuple[int, Any]:
        server = self._server(body.get("id"))
        new = copy.deepcopy(server)
        new.update({k: v for k, v in body.items() if k not in ("id", "apply")})  # update_strategy merge
        for field in ("range_from", "range_to"):  # Field checks, in declaration order (DHCPServer.inc:72-91)
            value = new.get(field)
            if not isinstance(value, str):
                raise PfError("FIELD_INVALID_TYPE", field=field, type="string")
            if len(value.encode()) > 15:
                raise PfError("LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT", field=field, maximum=15)
            if value and _ip(value) is None:
                raise PfError("IP_ADDRESS_VALIDATOR_FAILED", field=field, value=value)
        iface = self.interfaces[server["id"]]
        net = ipaddress.ip_interface(f"{iface['ipaddr']}/{iface['subnet']}").network
        first, last = _ip(new["range_from"]), _ip(new["range_to"])
        if first is not None:  # validate_range_from (314-343)
            if first == net.network_address:
                raise PfError("DHCP_SERVER_RANGE_FROM_CANNOT_BE_NETWORK_ADDRESS")
            if last is not None and first > last:
                raise PfError("DHCP_SERVER_RANGE_FROM_CANNOT_BE_GREATER_THAN_RANGE_TO")
            if first not in net:
                raise PfError("DHCP_SERVER_RANGE_FROM_OUTSIDE_OF_SUBNET")
        if last is not None:  # validate_range_to (353-374)
            if last == net.broadcast_address:
                raise PfError("DHCP_SERVER_RANGE_FROM_CANNOT_BE_BROADCAST_ADDRESS")
            if last not in net:
                raise PfError("DHCP_SERVER_RANGE_TO_OUTSIDE_OF_SUBNET")
        if first is not None and last is not None:  # validate_extra -> get_range_overlap (461-490)

            def inside(value: Any) -> bool:
                addr = _ip(value)
                return addr is not None and first <= addr <= last

            for sm in new.get("staticmap") or []:
                if inside(sm.get("ipaddr")):
                    raise PfError(
                        "DHCP_SERVER_PRIMARY_POOL_OVERLAPS_EXISTING_OBJECT",
                        verbose_name="DHCP Server Static Mapping",
                        id=sm["id"],
                    )
            for pool in new.get("pool") or []:
                if inside(pool.get("range_from")) or inside(pool.get("range_to")):
                    raise PfError(
                        "DHCP_SERVER_PRIMARY_POOL_OVERLAPS_EXISTING_OBJECT",
                        verbose_name="DHCP Server Address Pool",
                        id=pool.get("id", 0),
                    )
            for i, vip in enumerate(self.vips):
                if inside(vip.get("subnet")):
                    raise PfError("DHCP_SERVER_PRIMARY_POOL_OVERLAPS_EXISTING_OBJECT", verbose_name="Virtual IP", id=i)
        server.clear()
        server.update(new)
        self.dirty = True  # Model::update marks the subsystem dirty; applied only on request (Core/Model.inc:2233-2262)
        if body.get("apply") is True:
            self._dhcp_apply()
        return ok(server)

    # -- firewall aliases --------------------------------------------------------------------------------------

    def _alias_view(self) -> list[dict[str, Any]]:
        return [dict(a, id=i) for i, a in enumerate(self.aliases)]

    def aliases_many(self, method: str, data: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET":
            return ok(_query(self._alias_view(), data))
        if method == "DELETE":
            if not data:
                raise PfError("MODEL_DELETE_MANY_REQUIRES_QUERY_PARAMS")
            gone = _query(self._alias_view(), data)
            names = {a["name"] for a in gone}
            self.aliases = [a for a in self.aliases if a["name"] not in names]
            return ok(gone)
        raise AssertionError("fake pfSense: PUT /firewall/aliases is not modelled")  # pragma: no cover

    def alias(self, method: str, data: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST":
            new = {
                "name": data.get("name"),
                "type": data.get("type"),
                "descr": data.get("descr", ""),
                "address": data.get("address", []),
                "detail": data.get("detail", []),
            }
            self.validate_alias(new, None)
            self.aliases.append(new)
            return ok(dict(new, id=len(self.aliases) - 1))
        if "id" not in data:
            raise PfError("MODEL_REQUIRES_ID")
        index = data["id"]
        if not isinstance(index, int) or not 0 <= index < len(self.aliases):
            raise PfError("MODEL_OBJECT_NOT_FOUND", id=index)
        if method == "GET":
            return ok(dict(self.aliases[index], id=index))
        if method == "PATCH":
            new = copy.deepcopy(self.aliases[index])
            new.update({k: v for k, v in data.items() if k != "id"})
            self.validate_alias(new, index)
            self.aliases[index] = new
            return ok(dict(new, id=index))
        gone = self.aliases.pop(index)  # DELETE: the later aliases move down one position
        return ok(dict(gone, id=index))

    def validate_alias(self, new: dict[str, Any], index: int | None) -> None:
        """Models/FirewallAlias.inc in the package's order: every field's own checks, then validate_<field>."""
        name = new.get("name")
        if not name:
            raise PfError("FIELD_IS_REQUIRED", field="name")
        if index is not None and name != self.aliases[index]["name"]:  # editable: false (Core/Field.inc:516-527),
            raise PfError(
                "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
                field="name",
                value=name,  # checked before unique
                current=self.aliases[index]["name"],
            )  # (Core/Field.inc:405-456)
        for i, other in enumerate(self.aliases):
            if other["name"] == name and i != index:
                raise PfError("FIELD_MUST_BE_UNIQUE", field="name", id=i)
        if len(name.encode()) > 31:
            raise PfError("LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT", field="name", maximum=31)
        if name.startswith("pkg_"):
            raise PfError("FILTER_NAME_VALIDATOR_CANNOT_START_WITH_PKG", field="name", value=name)
        if name.isdigit():
            raise PfError("FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL", field="name", value=name)
        if not new.get("type"):
            raise PfError("FIELD_IS_REQUIRED", field="type")
        if new["type"] not in ("host", "network", "port"):
            raise PfError("FIELD_INVALID_CHOICE", field="type", choices="host, network, port")
        if not isinstance(new.get("descr"), str):
            raise PfError("FIELD_INVALID_TYPE", field="descr", type="string")
        if len(new["descr"].encode()) > FIELD_MAX:
            raise PfError("LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT", field="descr", maximum=FIELD_MAX)
        for field in ("address", "detail"):
            if not isinstance(new.get(field), list):
                raise PfError("FIELD_INVALID_MANY_VALUE", field=field)
            for value in new[field]:
                if not isinstance(value, str):
                    raise PfError("FIELD_INVALID_TYPE", field=field, type="string")
                if len(value.encode()) > FIELD_MAX:
                    raise PfError("LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT", field=field, maximum=FIELD_MAX)
        if not valid_alias_name(name):
            raise PfError("INVALID_FIREWALL_ALIAS_NAME", name=name)
        for address in new["address"]:
            if (
                new["type"] == "network"
                and not _is_subnet(address)
                and not any(a["name"] == address and a["type"] != "port" for a in self.aliases)
            ):
                raise PfError("INVALID_NETWORK_ALIAS_ADDRESS", address=address)
        if new["detail"]:  # validate_detail runs once per detail value: with none it never runs (no fill)
            if len(new["detail"]) > len(new["address"]):
                raise PfError("TOO_MANY_ALIAS_DETAILS")
            while len(new["detail"]) < len(new["address"]):
                new["detail"].append("Entry added " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))


def plain_http(
    url: str, method: str, data: bytes | None, headers: dict[str, str], validate_certs: bool, timeout: int
) -> tuple[int, bytes]:
    """An ``opener`` for router_api.ApiClient: urllib over plain HTTP. ansible-core's open_url (the modules'
    transport, which the tests running a module through Ansible use) builds a new TLS context per call, ~0.16 s each
    here; the contract tests make hundreds of calls."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers, method=method), timeout=timeout
        ) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _is_subnet(value: str) -> bool:
    """pfSense's is_subnet: an address/prefix (an FQDN or an alias name is accepted too; not modelled here)."""
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _infer(value: str) -> Any:
    """URLContentHandler::infer_type (ContentHandlers/URLContentHandler.inc:46-67)."""
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if value.isdigit():
        return int(value)
    return value


def _query(objects: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """A GET/DELETE query: every given field equals (Core/Model.inc:2034-2063; ``limit``/``offset`` aside)."""
    params = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    return [o for o in objects if all(o.get(k) == v for k, v in params.items())]
