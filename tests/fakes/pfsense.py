"""FAKE pfSense with the REST API package v2 (pfrest/pfSense-pkg-RESTAPI 2.x) — only what dhcp_reservation uses.

Contract followed (from the package's models and endpoints): ``X-API-Key`` header auth; every answer is
``{"code", "status", "response_id", "message", "data"}``; ``GET /api/v2/services/dhcp_server?id=lan`` and
``/api/v2/services/dhcp_servers``; ``PATCH /api/v2/services/dhcp_server`` with ``id``, ``range_from``,
``range_to`` validated like ``DHCPServer.inc`` (network/broadcast address, inside the interface subnet, from <= to,
no static mapping inside: 409 ``DHCP_SERVER_PRIMARY_POOL_OVERLAPS_EXISTING_OBJECT``); changes are pending until
``POST /api/v2/services/dhcp_server/apply``; ``GET /api/v2/interface?id=``; ``GET /api/v2/status/dhcp_server/leases``;
firewall aliases (``/api/v2/firewall/alias``, ``/api/v2/firewall/aliases``, ``/api/v2/firewall/apply``).
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from tests.fakes.http import FakeServer


def ok(data: Any) -> tuple[int, Any]:
    return 200, {"code": 200, "status": "ok", "response_id": "SUCCESS", "message": "", "data": data}


def err(code: int, response_id: str, message: str) -> tuple[int, Any]:
    status = {400: "bad request", 401: "unauthorized", 404: "not found", 409: "conflict", 500: "server error"}[code]
    return code, {"code": code, "status": status, "response_id": response_id, "message": message, "data": []}


class FakePfsense(FakeServer):
    def __init__(self, api_key: str = "pf-secret-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.interfaces = {"lan": {"id": "lan", "if": "em1", "descr": "LAN", "typev4": "static",
                                   "ipaddr": "10.1.1.1", "subnet": 24}}
        self.servers = {"lan": {"id": "lan", "enable": True, "range_from": "10.1.1.100", "range_to": "10.1.1.250",
                                "gateway": "", "domain": "home.arpa", "pool": [],
                                "staticmap": [{"id": 0, "parent_id": "lan", "mac": "00:11:22:33:44:55",
                                               "ipaddr": "10.1.1.20", "hostname": "nas", "descr": "NAS"}]}}
        self.leases: list[dict[str, Any]] = []
        self.aliases: list[dict[str, Any]] = []
        self.applied = copy.deepcopy(self.servers)  # what dhcpd runs with
        self.dirty = False

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("x-api-key") == self.api_key

    def unauthorized(self) -> tuple[int, Any]:
        return err(401, "AUTH_AUTHENTICATION_FAILED", "Authentication failed.")

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        p = path.rstrip("/")
        if p == "/api/v2/services/dhcp_servers" and method == "GET":
            return ok(list(self.servers.values()))
        if p == "/api/v2/services/dhcp_server":
            if method == "GET":
                server = self.servers.get(query.get("id", ""))
                return ok(server) if server else err(404, "MODEL_OBJECT_NOT_FOUND", "Object with ID does not exist.")
            if method == "PATCH":
                return self.patch_server(body or {})
        if p == "/api/v2/services/dhcp_server/apply" and method == "POST":
            self.applied = copy.deepcopy(self.servers)
            self.dirty = False
            return ok({"applied": True})
        if p == "/api/v2/interface" and method == "GET":
            iface = self.interfaces.get(query.get("id", ""))
            return ok(iface) if iface else err(404, "MODEL_OBJECT_NOT_FOUND", "Object with ID does not exist.")
        if p == "/api/v2/status/dhcp_server/leases" and method == "GET":
            return ok(self.leases)
        if p == "/api/v2/firewall/aliases" and method == "GET":
            return ok([a for a in self.aliases if all(str(a.get(k)) == v for k, v in query.items())])
        if p == "/api/v2/firewall/alias":
            return self.alias(method, query, body or {})
        if p == "/api/v2/firewall/apply" and method == "POST":
            return ok({"applied": True})
        return err(404, "ENDPOINT_NOT_FOUND", f"Endpoint {path} not found")

    def patch_server(self, body: dict[str, Any]) -> tuple[int, Any]:
        server = self.servers.get(body.get("id", ""))
        if server is None:
            return err(404, "MODEL_OBJECT_NOT_FOUND", "Object with ID does not exist.")
        iface = self.interfaces[server["id"]]
        net = ipaddress.ip_interface(f"{iface['ipaddr']}/{iface['subnet']}").network
        new = dict(server)
        new.update({k: v for k, v in body.items() if k != "id"})
        try:
            first, last = ipaddress.ip_address(new["range_from"]), ipaddress.ip_address(new["range_to"])
        except ValueError:
            return err(400, "FIELD_INVALID_IP", "Field `range_from`/`range_to` must be an IPv4 address.")
        if first == net.network_address:
            return err(400, "DHCP_SERVER_RANGE_FROM_CANNOT_BE_NETWORK_ADDRESS",
                       "DHCP server `range_from` cannot be the interface subnet's network address.")
        if last == net.broadcast_address:
            return err(400, "DHCP_SERVER_RANGE_FROM_CANNOT_BE_BROADCAST_ADDRESS",
                       "DHCP server `range_to` cannot be the interface subnet's broadcast address.")
        if first > last:
            return err(400, "DHCP_SERVER_RANGE_FROM_CANNOT_BE_GREATER_THAN_RANGE_TO",
                       "DHCP server `range_from` cannot be greater than `range_to`.")
        if first not in net or last not in net:
            return err(400, "DHCP_SERVER_RANGE_FROM_OUTSIDE_OF_SUBNET",
                       "DHCP server `range_from` must lie within the interface's subnet.")
        for sm in server["staticmap"]:
            if first <= ipaddress.ip_address(sm["ipaddr"]) <= last:
                return err(409, "DHCP_SERVER_PRIMARY_POOL_OVERLAPS_EXISTING_OBJECT",
                           "This DHCP server's primary address pool overlaps with DHCP Server Static Mapping object "
                           f"with ID `{sm['id']}`. Adjust your `range_from` and `range_to` values.")
        server.update(new)
        self.dirty = True
        return ok(server)

    def alias(self, method: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST":
            name = body.get("name", "")
            if not name or len(name) > 31 or not all(c.isalnum() or c == "_" for c in name):
                return err(400, "INVALID_FIREWALL_ALIAS_NAME", f"Invalid firewall alias name '{name}'.")
            if any(a["name"] == name for a in self.aliases):
                return err(400, "FIELD_MUST_BE_UNIQUE", "Field `name` must be unique.")
            if body.get("type") not in ("host", "network", "port"):
                return err(400, "FIELD_INVALID_CHOICE", "Field `type` must be one of [host, network, port].")
            for a in body.get("address", []):
                try:
                    ipaddress.ip_network(a)
                except ValueError:
                    return err(400, "INVALID_NETWORK_ALIAS_ADDRESS",
                               f"Network alias 'address' value '{a}' is not a valid CIDR, FQDN, or alias.")
            alias = {"id": max([a["id"] for a in self.aliases], default=-1) + 1, **body}
            self.aliases.append(alias)
            return ok(alias)
        if method == "PATCH":
            for a in self.aliases:
                if a["id"] == body.get("id"):
                    a.update({k: v for k, v in body.items() if k not in ("id", "name")})
                    return ok(a)
            return err(404, "MODEL_OBJECT_NOT_FOUND", "Object with ID does not exist.")
        if method == "DELETE":
            for a in list(self.aliases):
                if str(a["id"]) == query.get("id"):
                    self.aliases.remove(a)
                    return ok(a)
            return err(404, "MODEL_OBJECT_NOT_FOUND", "Object with ID does not exist.")
        return err(404, "ENDPOINT_NOT_FOUND", "Method not allowed")
