"""FAKE OPNsense core API (Kea DHCPv4 and dnsmasq) — only what dhcp_reservation uses.

Contract followed (opnsense/core 25.x MVC controllers and models): key/secret as HTTP basic auth;
``/api/kea/dhcpv4/searchSubnet`` → ``{"rows": [...], "rowCount", "total", "current"}``; ``getSubnet/{uuid}`` →
``{"subnet4": {...}}``; ``setSubnet/{uuid}`` with ``{"subnet4": {...}}`` → ``{"result": "saved"}`` or
``{"result": "failed", "validations": {"subnet4.pools": "..."}}`` (nothing saved); ``searchReservation``;
``/api/kea/leases4/search``; ``/api/kea/service/reconfigure`` → ``{"status": "ok"}``. dnsmasq:
``/api/dnsmasq/settings/search_range``, ``get_range/{uuid}``, ``set_range/{uuid}``, ``add_range``,
``del_range/{uuid}`` (``{"range": {...}}``), ``search_host``, ``/api/dnsmasq/leases/search``,
``/api/dnsmasq/service/reconfigure``. Saved changes only take effect ("applied") on reconfigure.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import uuid as uuidlib
from typing import Any

from tests.fakes.http import FakeServer


def rows(items: list[dict[str, Any]]) -> tuple[int, Any]:
    return 200, {"rows": items, "rowCount": len(items), "total": len(items), "current": 1}


class FakeOpnsense(FakeServer):
    def __init__(self, key: str = "opn-key", secret: str = "opn-secret") -> None:
        super().__init__()
        self.key, self.secret = key, secret
        self.subnets = {"5a6b-kea-lan": {"subnet": "10.1.1.0/24", "pools": "10.1.1.100-10.1.1.250",
                                         "description": "LAN", "option_data_autocollect": "0",
                                         "option_data": {"routers": "10.1.1.1", "domain_name_servers": "10.1.1.1"}}}
        self.reservations = {"r1": {"subnet": "10.1.1.0/24", "ip_address": "10.1.1.20", "hw_address":
                                    "00:11:22:33:44:55", "hostname": "nas", "description": "NAS"}}
        self.kea_leases: list[dict[str, Any]] = []
        self.ranges = {"d1": {"interface": "lan", "set_tag": "", "start_addr": "10.1.1.100", "end_addr": "10.1.1.250",
                              "subnet_mask": "255.255.255.0", "constructor": "", "mode": "", "prefix_len": "",
                              "lease_time": "86400", "domain": "", "description": "LAN pool"}}
        self.hosts = {"h1": {"host": "nas", "domain": "", "ip": "10.1.1.20", "hwaddr": "00:11:22:33:44:55",
                             "descr": "NAS"}}
        self.dnsmasq_leases: list[dict[str, Any]] = []
        self.applied_kea = copy.deepcopy(self.subnets)
        self.applied_dnsmasq = copy.deepcopy(self.ranges)

    def authorized(self, headers: dict[str, str]) -> bool:
        token = base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        return headers.get("authorization") == f"Basic {token}"

    def unauthorized(self) -> tuple[int, Any]:
        return 401, {"status": 401, "message": "Authentication Failed"}

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if path.startswith("/api/kea/dhcpv4/"):
            return self.kea(method, parts[3], parts[4] if len(parts) > 4 else None, body or {})
        if path == "/api/kea/leases4/search":
            return rows(self.kea_leases)
        if path == "/api/kea/service/reconfigure" and method == "POST":
            self.applied_kea = copy.deepcopy(self.subnets)
            return 200, {"status": "ok"}
        if path.startswith("/api/dnsmasq/settings/"):
            return self.dnsmasq(method, parts[3], parts[4] if len(parts) > 4 else None, body or {})
        if path == "/api/dnsmasq/leases/search":
            return rows(self.dnsmasq_leases)
        if path == "/api/dnsmasq/service/reconfigure" and method == "POST":
            self.applied_dnsmasq = copy.deepcopy(self.ranges)
            return 200, {"status": "ok"}
        return 404, {"errorMessage": "Endpoint not found", "errorTitle": "An error occurred"}

    # -- Kea --------------------------------------------------------------------------------------
    def kea(self, method: str, action: str, uuid: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        if action == "searchSubnet":
            return rows([{"uuid": u, "subnet": s["subnet"], "pools": s["pools"].replace("\n", ","),
                          "description": s["description"]} for u, s in self.subnets.items()])
        if action == "getSubnet" and uuid in self.subnets:
            return 200, {"subnet4": copy.deepcopy(self.subnets[uuid])}
        if action == "setSubnet" and method == "POST" and uuid in self.subnets:
            new = dict(self.subnets[uuid])
            new.update(body.get("subnet4", {}))
            problems = self.kea_validate(new)
            if problems:
                return 200, {"result": "failed", "validations": problems}
            self.subnets[uuid] = new
            return 200, {"result": "saved"}
        if action == "searchReservation":
            return rows([{"uuid": u, **r} for u, r in self.reservations.items()])
        return 404, {"errorMessage": "Endpoint not found", "errorTitle": "An error occurred"}

    @staticmethod
    def kea_validate(subnet: dict[str, Any]) -> dict[str, str]:
        net = ipaddress.ip_network(subnet["subnet"])
        problems = {}
        for line in subnet["pools"].splitlines():
            line = line.strip()
            try:
                if "/" in line:
                    ok = ipaddress.ip_network(line).subnet_of(net)
                else:
                    a, b = (ipaddress.ip_address(x.strip()) for x in line.split("-"))
                    ok = a in net and b in net and a <= b
            except ValueError:
                ok = False
            if not ok:
                problems["subnet4.pools"] = f"Invalid pool {line} for subnet {net}."
        if len(subnet.get("description", "")) > 255:
            problems["subnet4.description"] = "Description should be a string between 1 and 255 characters."
        return problems

    # -- dnsmasq ----------------------------------------------------------------------------------
    def dnsmasq(self, method: str, action: str, uuid: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        if action == "search_range":
            return rows([{"uuid": u, **r} for u, r in self.ranges.items()])
        if action == "get_range" and uuid in self.ranges:
            return 200, {"range": copy.deepcopy(self.ranges[uuid])}
        if action in ("set_range", "add_range") and method == "POST":
            if action == "set_range" and uuid not in self.ranges:
                return 200, {"result": "failed"}
            new = dict(self.ranges.get(uuid or "", {"interface": "", "set_tag": "", "constructor": "", "mode": "",
                                                    "prefix_len": "", "lease_time": "", "domain": "",
                                                    "subnet_mask": "", "description": ""}))
            new.update(body.get("range", {}))
            problems = {}
            try:
                a, b = ipaddress.ip_address(new["start_addr"]), ipaddress.ip_address(new["end_addr"])
                if a > b:
                    problems["range.end_addr"] = "End address must be greater than start address."
            except (KeyError, ValueError):
                problems["range.start_addr"] = "A valid IP address is required."
            if len(new.get("description", "")) > 255:
                problems["range.description"] = "Description should be a string between 1 and 255 characters."
            if problems:
                return 200, {"result": "failed", "validations": problems}
            if action == "add_range":
                uuid = str(uuidlib.uuid4())
            self.ranges[uuid] = new
            return 200, {"result": "saved", "uuid": uuid} if action == "add_range" else {"result": "saved"}
        if action == "del_range" and method == "POST":
            if self.ranges.pop(uuid or "", None) is None:
                return 200, {"result": "not found"}
            return 200, {"result": "deleted"}
        if action == "search_host":
            return rows([{"uuid": u, **h} for u, h in self.hosts.items()])
        return 404, {"errorMessage": "Endpoint not found", "errorTitle": "An error occurred"}
