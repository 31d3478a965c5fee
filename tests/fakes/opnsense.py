"""FAKE OPNsense core API: Kea DHCPv4 and Dnsmasq, modelled on opnsense/core and checked against recordings.

Ground truth: ``tests/data/opnsense/`` holds 51 answers recorded from OPNsense's own PHP API stack at opnsense/core
commit f95e81516ee0e2fb184f06bb7f858d3dd45da9cc (its README says how). ``tests/unit/plugins/test_opnsense_goldens.py``
replays every recorded request against this fake and compares the bytes. Line numbers below are at that commit
(paths under ``src/opnsense/mvc/app/`` unless they start with ``src/``).

How the real stack answers, and where this fake takes it from:

* **Items are models** (``models/OPNsense/Kea/KeaDhcpv4.xml``, ``models/OPNsense/Dnsmasq/Dnsmasq.xml``): every field
  of an item is always present, in model order. ``get*/{uuid}`` is ``BaseField::getNodes()``
  (``models/OPNsense/Base/FieldTypes/BaseField.php:731-748``): plain fields are strings; AsList fields are
  ``{value: {"value", "selected": 1}}`` dicts, ``{"": ...}`` when empty (``BaseSetField.php:82-93``); option and
  relation fields are ``{key: {"value": label, "selected": 0|1}}`` with a blank entry unless the field is required or
  multiple (``BaseListField.php:134-168``), ``[]`` when there is nothing to list (a PHP empty array). Golden:
  ``kea_getSubnet.json``, ``dnsmasq_get_range_with_mask.json``, ``dnsmasq_get_host_dns_only.json``.
* **Unknown uuid**: ``getBase`` returns ``[]`` with HTTP 200 (``controllers/OPNsense/Base/
  ApiMutableModelControllerBase.php:453-470``; golden ``kea_getSubnet_unknown_uuid.json``).
* **search*** is ``UIModelGrid::fetch`` (``library/OPNsense/Base/UIModelGrid.php:120-181``): ``uuid`` first, every
  field flattened with dotted names, values as stored (lists comma-joined, ``pools`` with its newlines), and
  ``%field`` right after a field whose description differs from its value (``:134-141``: ``%interface``,
  ``%domain_type``, ``%subnet``). Keys ``rows, rowCount, total, current``; ``rowCount`` -1 = all (``:69``).
* **set*/{uuid}** (``ApiMutableModelControllerBase.php:569-607``): a valid but unknown uuid *creates* the item
  (upsert, ``:575-588``); a non-uuid gives ``{"result": "failed"}`` (``:576-578``); validation messages are keyed
  ``<post key>.<field>`` and become a list when one field has several (``:279-315``). add* answers ``saved`` + a new
  uuid (``:482-512``), del* ``deleted`` or ``not found`` (``:523-556``).
* **Validators**: ``DescriptionField`` is ``preg_match('/^(.){1,255}$/')`` without ``/u`` - 255 *bytes*
  (``models/OPNsense/Base/FieldTypes/DescriptionField.php:60-69``), after TextField's "no newlines" check
  (``TextField.php:116-121``); ``KeaPoolsField`` checks syntax only, never the subnet (``models/OPNsense/Kea/
  FieldTypes/KeaPoolsField.php:49-64``; ``checkSubnet()`` is used by Kea v6 only); ``NetworkField``
  (``NetworkField.php:142-218``); the dnsmasq range rules (``models/OPNsense/Dnsmasq/Dnsmasq.php:174-339``); Kea
  reservations (``models/OPNsense/Kea/KeaDhcpv4.php:77-96``). Dnsmasq ``end_addr`` before ``start_addr`` is accepted
  (golden ``dnsmasq_set_range_end_before_start.json``).
* **Privileges**: a path the user's ACL does not open is HTTP 403 ``{"status": 403, "message": "Forbidden"}``
  (``controllers/OPNsense/Base/ApiControllerBase.php:306-315``; the patterns are the models' ``ACL/ACL.xml``).
* **Errors**: an unknown action is HTTP 404 ``{"errorMessage": "Endpoint not found"}`` (golden
  ``unknown_endpoint.json``); a bad key/secret is HTTP 401 ``{"status": 401, "message": "Authentication Failed"}``
  (golden ``auth_failed.json``).
* **Bytes**: ``json_encode`` escapes ``/`` and non-ASCII, no spaces (goldens; see :meth:`FakeOpnsense.encode`).

Not recorded (they answer from configd, Kea's socket or the lease file), so modelled from source only:

* ``service/reconfigure`` always answers ``{"status": "ok"}`` (``ApiMutableServiceControllerBase.php:186-227``);
  ``service/status`` answers ``running``/``stopped``/``disabled`` (``:234-261``). Kea regenerates
  ``kea-dhcp4.conf`` only when ``general.manual_config`` is off (``src/etc/inc/plugins.inc.d/kea.inc:179-182``):
  with it on, the fake's *applied* config does not change.
* ``kea/leases4/search``: records from ``src/opnsense/scripts/kea/get_kea_leases.py:145-160`` (``expire`` =
  cltt + valid-lft, Kea's ``state``), served by ``searchRecordsetBase`` (``controllers/OPNsense/Base/
  ApiControllerBase.php:85-183``) plus ``stats``/``interfaces`` (``controllers/OPNsense/Kea/Api/
  LeasesController.php:40-97``). ``dnsmasq/leases/search``: ``src/opnsense/scripts/dnsmasq/
  get_dnsmasq_leases.py:50-79`` and ``controllers/OPNsense/Dnsmasq/Api/LeasesController.php:39-128``.
* ``interfaces/overview/interfacesInfo``: ``controllers/OPNsense/Interfaces/Api/OverviewController.php:108-253``
  (only the row keys the module reads, ``identifier``/``description``/``ipv4``, are filled).
* ``kea/dhcpv4/get`` (``controllers/OPNsense/Kea/Api/Dhcpv4Controller.php:44-57``) and ``dnsmasq/settings/get``
  (``controllers/OPNsense/Dnsmasq/Api/SettingsController.php:76-83``): the general settings (the fake leaves the
  item arrays out of the latter).
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from tests.fakes.http import FakeServer

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)  # Core\Type::isUUID

NET_MSG = "Please specify a valid network segment or IP address."  # NetworkField.php:133-136
DESC_MSG = "Description should be a string between 1 and 255 characters."  # DescriptionField.php:51-54


class F:
    """One model field: ``kind`` is text, desc, bool, int, net, list, option, relation, pools or group."""

    def __init__(self, name: str, kind: str = "text", default: str = "", **opts: Any) -> None:
        self.name, self.kind, self.opts = name, kind, opts
        # a BooleanField without <Default> still reads "0" (goldens: ddns_override_no_update, nosync, local)
        self.default = default or ("0" if kind == "bool" else "")


def _opts(*keys: str) -> list[tuple[str, str]]:
    return [(k, k) for k in keys]


# KeaDhcpv4.xml:87-270 (subnet4), :272-384 (reservation); the option_data group is the same in both but v6_only
# and v4_dnr (subnet only).
def _option_data(subnet: bool) -> F:
    kids = [
        F("domain_name_servers", "list", check="ip4"),
        F("domain_search", "list"),
        F("routers", "list", check="ip4"),
        F("static_routes"),
        F("classless_static_route"),
        F("domain_name"),
        F("ntp_servers", "list", check="ip4"),
        F("time_servers", "list", check="ip4"),
        F("tftp_server_name"),
        F("boot_file_name"),
    ]
    if subnet:
        kids += [F("v6_only_preferred", "int"), F("v4_dnr")]
    return F("option_data", "group", children=kids)


SUBNET4 = [
    F("subnet_id", "autonumber"),
    F("subnet", "net", required=True, mask_required=True, family=4),
    F("valid_lifetime", "int"),
    F("next_server", "net", family=4),
    F("option_data_autocollect", "bool", "1"),
    _option_data(True),
    F("option", "relation", multiple=True, source="kea_options"),
    F("match-client-id", "bool", "1"),
    F(
        "allocator",
        "option",
        options=[("iterative", "Iterative"), ("random", "Random"), ("flq", "Free Lease Queue")],
        blank="Default",
    ),
    F("pools", "pools"),
    F("ddns_forward_zone"),
    F("ddns_reverse_zone"),
    F("ddns_qualifying_suffix"),
    F("ddns_dns_server", "net"),
    F("ddns_dns_port", "int"),
    F("ddns_domain_key_name"),
    F("ddns_domain_key_secret"),
    F(
        "ddns_domain_key_algorithm",
        "option",
        options=_opts("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"),
    ),
    F("ddns_override_no_update", "bool"),
    F("ddns_override_client_update", "bool"),
    F("ddns_update_on_renew", "bool"),
    F(
        "ddns_conflict_resolution_mode",
        "option",
        options=_opts("no-check-with-dhcid", "check-exists-with-dhcid", "no-check-without-dhcid"),
        blank="check-with-dhcid (default)",
    ),
    F("description", "desc"),
]
RESERVATION = [
    F("subnet", "relation", required=True, source="kea_subnets"),
    F("ip_address", "net", family=4),
    F("hw_address"),
    F("client_id"),
    F("hostname"),
    F("description", "desc"),
    F("next_server", "net", family=4),
    _option_data(False),
    F("option", "relation", multiple=True, source="kea_options"),
]
# Dnsmasq.xml:195-272
RANGE = [
    F("interface", "option", options="interfaces", blank="Any"),
    F("set_tag", "relation", source="dnsmasq_tags"),
    F("start_addr", "net", required=True, range_addr=True),
    F("end_addr", "net", range_addr=True),
    F("subnet_mask", "net", family=4, message="Please enter a valid IPv4 subnet mask like 255.255.255.0."),
    F("constructor", "option", options="interfaces"),
    F("mode", "option", options=_opts("static"), multiple=True),
    F("prefix_len", "int"),
    F("lease_time", "int"),
    F("domain_type", "option", "range", options=[("interface", "Interface"), ("range", "Range")], required=True),
    F("domain"),
    F("nosync", "bool"),
    F(
        "ra_mode",
        "option",
        options=_opts("ra-only", "slaac", "ra-names", "ra-stateless", "ra-advrouter", "off-link"),
        multiple=True,
    ),
    F("ra_priority", "option", options=[("high", "High"), ("low", "Low")], blank="Normal"),
    F("ra_mtu", "int"),
    F("ra_interval", "int"),
    F("ra_router_lifetime", "int"),
    F("description", "desc"),
]
# Dnsmasq.xml:105-147
HOST = [
    F("host"),
    F("domain"),
    F("local", "bool"),
    F("ip", "list"),
    F("cnames", "list"),
    F("client_id"),
    F("hwaddr", "list"),
    F("lease_time", "int"),
    F("ignore", "bool"),
    F("set_tag", "relation", source="dnsmasq_tags"),
    F("descr"),
    F("comments"),
    F("aliases", "list"),
]
TAG = [F("tag", "desc", required=True)]  # Dnsmasq.xml:184-194
# KeaDhcpv4.xml:6-85 (general, lexpire, ha) - what /api/kea/dhcpv4/get shows
KEA_GENERAL = [
    F("enabled", "bool", "0"),
    F("manual_config", "bool"),
    F("interfaces", "option", options="interfaces", multiple=True),
    F("service_sockets_max_retries", "int"),
    F("service_sockets_retry_wait_time", "int"),
    F("valid_lifetime", "int", "4000"),
    F("decline_probation_period", "int"),
    F("fwrules", "bool", "1"),
    F("dhcp_socket_type", "option", "raw", options=_opts("udp", "raw"), required=True),
    F(
        "compatibility",
        "option",
        options=_opts(
            "exclude-first-last-24",
            "ignore-dhcp-server-identifier",
            "ignore-rai-link-selection",
            "lenient-option-parsing",
        ),
        multiple=True,
    ),
]
KEA_LEXPIRE = [
    F(n, "int")
    for n in (
        "hold_reclaimed_time",
        "reclaim_timer_wait_time",
        "flush_reclaimed_timer_wait_time",
        "max_reclaim_time",
        "max_reclaim_leases",
        "unwarned_reclaim_cycles",
    )
]
KEA_HA = [F("enabled", "bool", "0"), F("this_server_name"), F("max_unacked_clients", "int", "2")]
# Dnsmasq.xml:6-104 (the scalars and the dhcp group) - what /api/dnsmasq/settings/get shows here
DNSMASQ_GENERAL = [
    F(n, "bool")
    for n in (
        "enable",
        "regdhcp",
        "regdhcpstatic",
        "dhcpfirst",
        "strict_order",
        "domain_needed",
        "no_private_reverse",
        "no_resolv",
        "log_queries",
        "no_hosts",
        "expand_hosts",
        "strictbind",
        "dnssec",
    )
] + [
    F("regdhcpdomain"),
    F("interface", "option", options="interfaces", multiple=True),
    F("port", "int"),
    F("dns_forward_max", "int"),
    F("cache_size", "int"),
    F("local_ttl", "int"),
    F("add_mac", "option", options=_opts("standard", "base64", "text")),
    F("add_subnet", "bool"),
    F("strip_subnet", "bool"),
    F(
        "dhcp",
        "group",
        children=[
            F("no_interface", "option", options="interfaces", multiple=True),
            F("fqdn", "bool", "1"),
            F("domain"),
            F("local", "bool", "1"),
            F("lease_max", "int"),
            F("authoritative", "bool"),
            F("default_fw_rules", "bool", "1"),
            F("reply_delay", "int"),
            F("enable_ra", "bool"),
            F("host_ping", "bool", "1"),
            F("nosync", "bool"),
            F("log_dhcp", "bool"),
            F("log_quiet", "bool"),
        ],
    ),
    F("no_ident", "bool", "1"),
]


def blank_item(schema: list[F]) -> dict[str, Any]:
    """A new item with the model defaults (``<Default>`` in the XML, empty otherwise)."""
    out: dict[str, Any] = {}
    for f in schema:
        out[f.name] = blank_item(f.opts["children"]) if f.kind == "group" else f.default
    return out


def _php_json(body: Any) -> bytes:
    """``json_encode($data, JSON_INVALID_UTF8_IGNORE)`` as ``Response::send()`` emits it: no spaces, ``\\/`` for
    ``/``, ``\\uXXXX`` for non-ASCII (goldens: ``kea_getSubnet.json`` has ``10.1.1.0\\/24``)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


class FakeOpnsense(FakeServer):
    """The seed's OPNsense: LAN 10.1.1.0/24 on vtnet1, gateway 10.1.1.1, and the recorded setup state
    (tests/data/opnsense/README.md "The scenario"): a Kea subnet with one reservation, two dnsmasq ranges on lan
    (one without a subnet mask) and two dnsmasq hosts (one DHCP, one DNS-only); Kea and Dnsmasq enabled on lan and
    running. ``setup=False``: an empty config with both services off, as the recording started.

    Test knobs: ``kea_leases`` / ``dnsmasq_leases`` (lease records as Kea's ``lease4-get-all`` and the dnsmasq lease
    file give them), ``interfaces``, ``fail_start`` (``{"kea"|"dnsmasq": n}``: the daemon does not come up after
    the next n reconfigures), ``applied`` (what the daemons run with after the last effective reconfigure)."""

    def __init__(self, key: str = "opn-key", secret: str = "opn-secret", setup: bool = True) -> None:
        super().__init__()
        self.key, self.secret = key, secret
        self.hostname = "OPNsense"
        # config.xml <interfaces> (golden config-after-setup.xml): key -> (descr, device, ipv4 cidr)
        self.interfaces: dict[str, dict[str, Any]] = {
            "lan": {"descr": "LAN", "if": "vtnet1", "ipv4": ["10.1.1.1/24"]},
            "wan": {"descr": "WAN", "if": "vtnet0", "ipv4": []},
        }
        self.kea = {
            "general": blank_item(KEA_GENERAL),
            "lexpire": blank_item(KEA_LEXPIRE),
            "ha": blank_item(KEA_HA),
            "subnet4": {},
            "reservation": {},
            "option": {},
        }
        self.dnsmasq = {"general": blank_item(DNSMASQ_GENERAL), "dhcp_ranges": {}, "hosts": {}, "dhcp_tags": {}}
        self.kea_leases: list[dict[str, Any]] = []
        self.dnsmasq_leases: list[dict[str, Any]] = []
        self.fail_start: dict[str, int] = {}
        self.running = {"kea": True, "dnsmasq": True}
        self.applied: dict[str, Any] = {}
        # the API user's privileges as ACL patterns (None: all, like root); ApiControllerBase.php:306-315 answers a
        # path no pattern opens with HTTP 403 {"status": 403, "message": "Forbidden"}
        self.privileges: list[str] | None = None
        if setup:
            self.setup()
            self.enable()  # a router that serves DHCP (the recording left both off: no configd, see its README)
        self.apply("kea")
        self.apply("dnsmasq")

    # -- the recorded setup (requests.jsonl, steps 1-6), plus the services enabled as on a working router --------
    def setup(self) -> None:
        c0a1, f001 = "5a6b0c1d-0000-4000-8000-00000000c0a1", "5a6b0c1d-0000-4000-8000-00000000f001"
        self.upsert(
            "kea",
            "subnet4",
            c0a1,
            SUBNET4,
            {
                "subnet": "10.1.1.0/24",
                "pools": "10.1.1.100-10.1.1.250",
                "description": "LAN",
                "option_data_autocollect": "0",
                "option_data": {"routers": "10.1.1.1", "domain_name_servers": "10.1.1.1"},
            },
        )
        self.upsert(
            "kea",
            "reservation",
            f001,
            RESERVATION,
            {
                "subnet": c0a1,
                "ip_address": "10.1.1.20",
                "hw_address": "00:11:22:33:44:55",
                "hostname": "nas",
                "description": "NAS",
            },
        )
        d = "5a6b0c1d-0000-4000-8000-00000000d00"
        self.upsert(
            "dnsmasq",
            "dhcp_ranges",
            d + "1",
            RANGE,
            {
                "interface": "lan",
                "start_addr": "10.1.1.100",
                "end_addr": "10.1.1.250",
                "subnet_mask": "255.255.255.0",
                "lease_time": "86400",
                "description": "LAN pool",
            },
        )
        self.upsert(
            "dnsmasq",
            "dhcp_ranges",
            d + "2",
            RANGE,
            {"interface": "lan", "start_addr": "10.1.1.10", "end_addr": "10.1.1.19", "description": "LAN pool 2"},
        )
        e = "5a6b0c1d-0000-4000-8000-00000000e00"
        self.upsert(
            "dnsmasq",
            "hosts",
            e + "1",
            HOST,
            {"host": "nas", "ip": "10.1.1.20", "hwaddr": "00:11:22:33:44:55", "descr": "NAS"},
        )
        self.upsert(
            "dnsmasq",
            "hosts",
            e + "2",
            HOST,
            {"host": "printer", "domain": "internal", "ip": "10.1.1.30", "descr": "DNS only"},
        )

    def enable(self, kea: bool = True, dnsmasq: bool = True) -> None:
        """Turn the services on (the recording left them off, see the README), and apply."""
        self.kea["general"]["enabled"] = "1" if kea else "0"
        self.kea["general"]["interfaces"] = "lan" if kea else ""
        self.dnsmasq["general"]["enable"] = "1" if dnsmasq else "0"
        self.apply("kea")
        self.apply("dnsmasq")

    def upsert(self, svc: str, kind: str, uid: str, schema: list[F], values: dict[str, Any]) -> None:
        store = self.kea if svc == "kea" else self.dnsmasq
        item = store[kind].get(uid) or self._new(store, kind, schema)
        self._set_nodes(item, schema, values)
        store[kind][uid] = item

    def _new(self, store: dict[str, Any], kind: str, schema: list[F]) -> dict[str, Any]:
        item = blank_item(schema)
        if kind == "subnet4":  # AutoNumberField: the next free number
            item["subnet_id"] = str(max([int(s["subnet_id"] or 0) for s in store[kind].values()] + [0]) + 1)
        return item

    def snapshot(self) -> Any:
        return copy.deepcopy((self.kea, self.dnsmasq, self.applied, self.running))

    def restore(self, snap: Any) -> None:
        self.kea, self.dnsmasq, self.applied, self.running = copy.deepcopy(snap)

    # -- what the daemons run with ------------------------------------------------------------------------------
    def apply(self, svc: str) -> None:
        if svc == "kea":
            # kea.inc:179-182 - kea-dhcp4.conf is regenerated only without manual_config
            if self.kea["general"]["manual_config"] != "1" or "kea" not in self.applied:
                self.applied["kea"] = copy.deepcopy(self.kea["subnet4"])
        else:
            self.applied["dnsmasq"] = copy.deepcopy(self.dnsmasq["dhcp_ranges"])

    @property
    def applied_kea(self) -> dict[str, Any]:
        return self.applied["kea"]

    @property
    def applied_dnsmasq(self) -> dict[str, Any]:
        return self.applied["dnsmasq"]

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def authorized(self, headers: dict[str, str]) -> bool:
        token = base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        return headers.get("authorization") == f"Basic {token}"

    def unauthorized(self) -> tuple[int, Any]:
        return 401, {"status": 401, "message": "Authentication Failed"}  # golden auth_failed.json

    def encode(self, body: Any) -> bytes:
        return _php_json(body)

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.privileges is not None and not any(
            re.fullmatch(p.replace("*", ".*"), path.lstrip("/")) for p in self.privileges
        ):
            return 403, {"status": 403, "message": "Forbidden"}
        parts = path.strip("/").split("/")
        post = method == "POST"
        body = body if isinstance(body, dict) else {}
        if len(parts) >= 4 and parts[:3] == ["api", "kea", "dhcpv4"]:
            answer = self.kea_action(post, parts[3], parts[4] if len(parts) > 4 else None, body)
        elif path == "/api/kea/leases4/search":
            # configd's `kea list leases4` asks Kea's socket; with Kea down it prints nothing and the controller
            # answers no records (Kea/Api/LeasesController.php:49-50, `?? []`)
            up = self.running["kea"] and self.kea["general"]["enabled"] == "1"
            answer = self.lease_search(self.kea_lease_records() if up else [], kea=True)
        elif len(parts) == 4 and parts[:3] == ["api", "kea", "service"]:
            answer = self.service("kea", parts[3], post)
        elif len(parts) >= 4 and parts[:3] == ["api", "dnsmasq", "settings"]:
            answer = self.dnsmasq_action(post, parts[3], parts[4] if len(parts) > 4 else None, body)
        elif path == "/api/dnsmasq/leases/search":
            answer = self.lease_search(self.dnsmasq_lease_records(), kea=False)
        elif len(parts) == 4 and parts[:3] == ["api", "dnsmasq", "service"]:
            answer = self.service("dnsmasq", parts[3], post)
        elif path == "/api/interfaces/overview/interfacesInfo":
            answer = self.interfaces_info()
        else:
            answer = None
        if answer is None:
            return 404, {"errorMessage": "Endpoint not found"}  # golden unknown_endpoint.json
        return 200, answer

    # -- the generic model controller (ApiMutableModelControllerBase) -------------------------------------------
    def _store(self, svc: str, kind: str) -> dict[str, Any]:
        return (self.kea if svc == "kea" else self.dnsmasq)[kind]

    def get_base(self, svc: str, key: str, kind: str, schema: list[F], uid: str | None) -> Any:
        store = self._store(svc, kind)
        if uid is None:  # getBase without uuid: a new blank item (:462-467)
            return {key: self.get_nodes(self._new(self.kea if svc == "kea" else self.dnsmasq, kind, schema), schema)}
        if uid in store:
            return {key: self.get_nodes(store[uid], schema)}
        return []  # :469 - PHP's empty array, HTTP 200

    def search_base(self, svc: str, kind: str, schema: list[F], sort: str | None, body: dict[str, Any]) -> Any:
        items = list(self._store(svc, kind).items())
        if sort:  # natural, case-insensitive sort on the default field (UIModelGrid :71, ArrayField::sortedBy)
            items.sort(key=lambda kv: _natural(str(_flat_value(kv[1], sort))))
        rows = [self.search_row(uid, item, schema) for uid, item in items]
        count = int(body.get("rowCount", -1) or -1)
        current = int(body.get("current", 1) or 1)
        shown = rows if count == -1 else rows[count * (current - 1) : count * current]
        return {"rows": shown, "rowCount": len(shown), "total": len(rows), "current": current}

    def set_base(
        self,
        post: bool,
        svc: str,
        key: str,
        kind: str,
        schema: list[F],
        uid: str | None,
        body: dict[str, Any],
        check: Callable[..., list[tuple[str, str]]],
    ) -> Any:
        if not post or key not in body or not uid:
            return {"result": "failed"}  # :571, :606
        store = self._store(svc, kind)
        if uid not in store and not UUID_RE.match(uid):
            return {"result": "failed"}  # :576-578 - upsert only with a valid uuid
        item = copy.deepcopy(store.get(uid) or self._new(self.kea if svc == "kea" else self.dnsmasq, kind, schema))
        self._set_nodes(item, schema, body[key] if isinstance(body[key], dict) else {})
        problems = self.validate(item, schema, key) + check(item, key)
        if problems:
            return {"result": "failed", "validations": _collect(problems)}
        store[uid] = item
        return {"result": "saved"}

    def add_base(
        self,
        post: bool,
        svc: str,
        key: str,
        kind: str,
        schema: list[F],
        body: dict[str, Any],
        check: Callable[..., list[tuple[str, str]]],
    ) -> Any:
        if not post or key not in body:
            return {"result": "failed"}  # :484-485
        item = self._new(self.kea if svc == "kea" else self.dnsmasq, kind, schema)
        self._set_nodes(item, schema, body[key] if isinstance(body[key], dict) else {})
        problems = self.validate(item, schema, key) + check(item, key)
        if problems:
            return {"result": "failed", "validations": _collect(problems)}
        uid = str(uuidlib.uuid4())
        self._store(svc, kind)[uid] = item
        return {"result": "saved", "uuid": uid}

    def del_base(self, post: bool, svc: str, kind: str, uid: str | None) -> Any:
        if not post:
            return {"result": "failed"}
        result = {"result": "failed"}
        for one in (uid or "").split(","):
            if one:
                result = {"result": "deleted" if self._store(svc, kind).pop(one, None) is not None else "not found"}
        return result

    # -- Kea ----------------------------------------------------------------------------------------------------
    def kea_action(self, post: bool, action: str, uid: str | None, body: dict[str, Any]) -> Any:
        if action == "get":
            ha = self.get_nodes(self.kea["ha"], KEA_HA)
            ha["%this_server_name"] = self.hostname  # Dhcpv4Controller.php:47-48
            return {
                "dhcpv4": {
                    "general": self.get_nodes(self.kea["general"], KEA_GENERAL),
                    "lexpire": self.get_nodes(self.kea["lexpire"], KEA_LEXPIRE),
                    "ha": ha,
                }
            }
        table = {
            "Subnet": ("subnet4", "subnet4", SUBNET4, "subnet"),
            "Reservation": ("reservation", "reservation", RESERVATION, "hw_address"),
        }
        for noun, (key, kind, schema, sort) in table.items():
            check = self.kea_reservation_check if kind == "reservation" else (lambda item, key: [])
            if action == "search" + noun:
                return self.search_base("kea", kind, schema, sort, body)
            if action == "get" + noun:
                return self.get_base("kea", key, kind, schema, uid)
            if action == "set" + noun:
                if kind == "subnet4" and isinstance(body.get(key), dict):
                    self.kea_autocollect(body)
                return self.set_base(post, "kea", key, kind, schema, uid, body, check)
            if action == "add" + noun:
                return self.add_base(post, "kea", key, kind, schema, body, check)
            if action == "del" + noun:
                return self.del_base(post, "kea", kind, uid)
        return None

    def kea_autocollect(self, body: dict[str, Any]) -> None:
        """KeaDhcpv4::setNodes (KeaDhcpv4.php:45-69): with option_data_autocollect on, the router's own address in
        the subnet is written into routers, domain_name_servers and ntp_servers at every set."""
        for item in self.kea["subnet4"].values():
            if item["option_data_autocollect"] != "1":
                continue
            for iface in self.interfaces.values():
                hit = [
                    c.split("/")[0]
                    for c in iface["ipv4"]
                    if ipaddress.ip_address(c.split("/")[0]) in _network(item["subnet"])
                ]
                if hit:
                    for name in ("routers", "domain_name_servers", "ntp_servers"):
                        item["option_data"][name] = hit[0]
                    break

    def kea_reservation_check(self, item: dict[str, Any], key: str) -> list[tuple[str, str]]:
        """KeaDhcpv4::performValidation for reservations (KeaDhcpv4.php:77-96)."""
        out = []
        subnet = self.kea["subnet4"].get(item["subnet"], {}).get("subnet", "")
        try:
            inside = ipaddress.ip_address(item["ip_address"]) in ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            inside = False
        if not inside:
            out.append((key + ".ip_address", "Address not in specified subnet"))
        if item["client_id"] and item["hw_address"]:
            out.append((key + ".hw_address", "Either a client ID or a MAC address should be specified, but not both"))
        elif not item["client_id"] and not item["hw_address"]:
            out.append((key + ".hw_address", "Either a client ID or a MAC address should be specified."))
        return out

    def kea_lease_records(self) -> list[dict[str, Any]]:
        """get_kea_leases.py:145-160 over ``lease4-get-all`` leases (Kea's own keys)."""
        out = []
        for lease in self.kea_leases:
            out.append(
                {
                    "address": lease.get("ip-address"),
                    "prefix_len": lease.get("prefix-len", 128),
                    "type": lease.get("type", ""),
                    "hwaddr": lease.get("hw-address", ""),
                    "duid": lease.get("duid", ""),
                    "client_id": lease.get("client-id", ""),
                    "iaid": lease.get("iaid", ""),
                    "valid_lifetime": lease.get("valid-lft", 0),
                    "expire": lease.get("cltt", 0) + lease.get("valid-lft", 0),
                    "hostname": lease.get("hostname", ""),
                    "state": lease.get("state", 0),
                    "if": self._device_of(lease.get("ip-address")),
                    "if_descr": "",
                    "is_reserved": [],
                }
            )
        return out

    # -- Dnsmasq ------------------------------------------------------------------------------------------------
    def dnsmasq_action(self, post: bool, action: str, uid: str | None, body: dict[str, Any]) -> Any:
        if action == "get":
            general = self.get_nodes(self.dnsmasq["general"], DNSMASQ_GENERAL)
            general["dhcp"]["%domain"] = "internal"  # SettingsController.php:79-80 (system domain)
            return {"dnsmasq": general}
        # the router maps snake_case actions to the camelCase methods (golden dnsmasq_searchRange == search_range)
        action = re.sub(r"([a-z])([A-Z])", r"\1_\2", action).lower()
        table = {
            "range": ("range", "dhcp_ranges", RANGE, None, self.dnsmasq_range_check),
            "host": ("host", "hosts", HOST, None, lambda item, key: []),
            "tag": ("tag", "dhcp_tags", TAG, None, lambda item, key: []),
        }
        verb, _, noun = action.partition("_")
        if noun not in table:
            return None
        key, kind, schema, sort, check = table[noun]
        if verb == "search":
            return self.search_base("dnsmasq", kind, schema, sort, body)
        if verb == "get":
            return self.get_base("dnsmasq", key, kind, schema, uid)
        if verb == "set":
            return self.set_base(post, "dnsmasq", key, kind, schema, uid, body, check)
        if verb == "add":
            return self.add_base(post, "dnsmasq", key, kind, schema, body, check)
        if verb == "del":
            return self.del_base(post, "dnsmasq", kind, uid)
        return None

    @staticmethod
    def dnsmasq_range_check(item: dict[str, Any], key: str) -> list[tuple[str, str]]:
        """The range rules of Dnsmasq::performValidation (Dnsmasq.php:174-286) that touch addresses and masks."""
        out = []
        start_v6, end_v6 = ":" in item["start_addr"], ":" in item["end_addr"]
        static = "static" in item["mode"].split(",")
        if start_v6 != end_v6 and item["end_addr"]:
            out.append((key + ".end_addr", "Protocol family doesn't match."))  # :217-224
        if item["prefix_len"] and not start_v6:
            out.append((key + ".prefix_len", "Prefix length can only be used for IPv6."))  # :253-260
        if item["end_addr"] and static:
            out.append((key + ".end_addr", "Static only accepts a starting address."))  # :263-269
        elif not item["end_addr"] and not static and not start_v6:
            out.append((key + ".end_addr", "End address may only be left empty for static ipv4 ranges."))  # :270-276
        if item["subnet_mask"] and static:
            out.append((key + ".subnet_mask", "Static only accepts a starting address."))  # :279-286
        return out

    def dnsmasq_lease_records(self) -> list[dict[str, Any]]:
        """get_dnsmasq_leases.py:50-79 over lease-file lines given as dicts (expire, hwaddr, address, hostname,
        client_id)."""
        out = []
        for lease in self.dnsmasq_leases:
            rec = {
                "expire": int(lease.get("expire", 0)),
                "hwaddr": lease.get("hwaddr", ""),
                "iaid": "",
                "address": lease["address"],
                "hostname": lease.get("hostname", "*"),
                "client_id": lease.get("client_id", "*"),
            }
            device = self._device_of(lease["address"])
            if device:
                rec["if"] = device
            out.append(rec)
        return out

    # -- leases, services, interfaces ---------------------------------------------------------------------------
    def _device_of(self, address: str | None) -> str | None:
        for iface in self.interfaces.values():
            for cidr in iface["ipv4"]:
                if address and ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False):
                    return iface["if"]
        return None

    def lease_search(self, records: list[dict[str, Any]], kea: bool) -> Any:
        """LeasesController::searchAction (Kea :40-97, Dnsmasq :39-128) over searchRecordsetBase (GET: 9999 rows,
        sorted by address)."""
        by_device = {i["if"]: (k, i["descr"]) for k, i in self.interfaces.items()}
        stats = {"active": 0, "inactive": 0, "total": 0}
        interfaces: dict[str, str] = {}
        for rec in records:
            if kea:
                stats["total"] += 1
                stats["active" if rec["state"] == 0 else "inactive"] += 1
            rec["if_descr"], rec["if_name"] = "", ""
            if rec.get("if") in by_device:
                rec["if_name"], rec["if_descr"] = by_device[rec["if"]]
                interfaces[rec["if_name"]] = rec["if_descr"]
            rec["mac_info"] = ""
            if not kea:
                rec["is_reserved"] = []
        records = sorted(records, key=lambda r: _natural(str(r.get("address") or "")))
        out = {"total": len(records), "rowCount": len(records[:9999]), "current": 1, "rows": records[:9999]}
        if kea:
            out["stats"] = stats
        out["interfaces"] = interfaces
        return out

    def service(self, svc: str, action: str, post: bool) -> Any:
        enabled = self.kea["general"]["enabled"] == "1" if svc == "kea" else self.dnsmasq["general"]["enable"] == "1"
        if action == "reconfigure":
            if not post:
                return {"status": "failed"}
            self.apply(svc)
            fails = self.fail_start.get(svc, 0) > 0
            self.fail_start[svc] = max(0, self.fail_start.get(svc, 0) - 1)
            self.running[svc] = enabled and not fails
            return {"status": "ok"}  # ApiMutableServiceControllerBase.php:223 - whatever happened
        if action == "status":
            status = "running" if self.running[svc] and enabled else ("stopped" if enabled else "disabled")
            return {
                "status": status,
                "widget": {"caption_restart": "Restart", "caption_start": "Start", "caption_stop": "Stop"},
            }
        if action in ("start", "stop", "restart"):
            if post:
                self.running[svc] = action != "stop" and enabled
            return {"response": "OK" if post else []}
        return None

    def interfaces_info(self) -> Any:
        rows = [
            {
                "identifier": k,
                "description": i["descr"],
                "device": i["if"],
                "ipv4": [{"ipaddr": c} for c in i["ipv4"]],
                "ipv6": [],
            }
            for k, i in self.interfaces.items()
        ]
        return {"total": len(rows), "rowCount": len(rows), "current": 1, "rows": rows}

    # -- field rendering, setting and validation ----------------------------------------------------------------
    def _choices(self, f: F) -> list[tuple[str, str]]:
        source = f.opts.get("options") or f.opts.get("source")
        if source == "interfaces":
            return [(k, i["descr"]) for k, i in sorted(self.interfaces.items())]
        if source == "kea_subnets":
            return [(u, s["subnet"]) for u, s in self.kea["subnet4"].items()]
        if source == "kea_options":
            return [(u, o.get("description", "")) for u, o in self.kea["option"].items()]
        if source == "dnsmasq_tags":
            return [(u, t["tag"]) for u, t in self.dnsmasq["dhcp_tags"].items()]
        return list(source or [])

    def get_nodes(self, item: dict[str, Any], schema: list[F]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in schema:
            value = item[f.name]
            if f.kind == "group":
                out[f.name] = self.get_nodes(value, f.opts["children"])
            elif f.kind == "list":
                out[f.name] = {v: {"value": v, "selected": 1} for v in value.split(",")}  # BaseSetField.php:84-90
            elif f.kind in ("option", "relation"):
                picked = value.split(",")
                node: dict[str, Any] = {}
                if not f.opts.get("required") and not f.opts.get("multiple"):  # BaseListField.php:141-146
                    blank = f.opts.get("blank", "None")
                    node[""] = {"value": blank, "selected": 0 if value else 1}
                for k, label in self._choices(f):
                    node[k] = {"value": label, "selected": 1 if k in picked else 0}
                out[f.name] = node if node else []
            else:
                out[f.name] = value
        return out

    def _description(self, f: F, value: str) -> str:
        if f.kind in ("option", "relation") and value:
            labels = dict(self._choices(f))
            return ", ".join(labels.get(v, v) for v in value.split(","))  # BaseListField.php:176-184
        return value

    def search_row(self, uid: str, item: dict[str, Any], schema: list[F]) -> dict[str, Any]:
        row: dict[str, Any] = {"uuid": uid}

        def walk(node: dict[str, Any], fields: list[F], prefix: str) -> None:
            for f in fields:
                if f.kind == "group":
                    walk(node[f.name], f.opts["children"], prefix + f.name + ".")
                    continue
                row[prefix + f.name] = node[f.name]
                descr = self._description(f, node[f.name])
                if descr != node[f.name]:
                    row["%" + prefix + f.name] = descr  # UIModelGrid.php:136-141

        walk(item, schema, "")
        return row

    def _set_nodes(self, item: dict[str, Any], schema: list[F], values: dict[str, Any]) -> None:
        """BaseField::setNodes: keys the model does not know (``%domain_type`` from a search row) are ignored."""
        for f in schema:
            if f.name not in values:
                continue
            value = values[f.name]
            if f.kind == "group":
                if isinstance(value, dict):
                    self._set_nodes(item[f.name], f.opts["children"], value)
                continue
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            value = "" if value is None else str(value)
            if f.kind == "net":
                value = value.strip().lower()  # NetworkField::setValue (NetworkField.php:68-71)
            item[f.name] = value

    def validate(self, item: dict[str, Any], schema: list[F], prefix: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for f in schema:
            key, value = prefix + "." + f.name, item[f.name]
            if f.kind == "group":
                out += self.validate(value, f.opts["children"], key)
                continue
            if f.opts.get("required") and value == "":
                out.append((key, "A value is required."))  # BaseField::getValidators, Required
                continue
            if value == "":
                continue  # validators run only on a non-empty value (internalValue != null)
            if f.kind == "desc":
                if "\n" in value or "\r" in value:
                    out.append((key, "Text may not contain newlines."))  # TextField.php:120-122
                if not re.fullmatch(rb"(.){1,255}", value.encode()):  # DescriptionField.php:63 - bytes, no /u
                    out.append((key, DESC_MSG))
            elif f.kind == "pools":
                for line in value.split("\n"):  # KeaPoolsField.php:49-64
                    if not line:
                        continue
                    parts = line.split("-")
                    if len(parts) == 2 and _is_ip(parts[0].strip()) and _is_ip(parts[1].strip()):
                        continue
                    if len(parts) == 1 and _is_subnet(parts[0]):
                        continue
                    out.append((key, f'Entry "{line}" is not a valid range or subnet.'))
            elif f.kind in ("net", "list") and (f.kind == "net" or f.opts.get("check")):
                if not _valid_network(value, f):
                    out.append((key, f.opts.get("message", NET_MSG)))
            elif f.kind == "option":
                known = dict(self._choices(f))
                for v in value.split(","):
                    if v not in known:
                        out.append((key, f"Option [{v}] not in list."))  # BaseListField.php:105, :195-203
            elif f.kind == "relation" and f.opts.get("required"):
                if value not in dict(self._choices(f)):
                    out.append((key, "Related subnet not found."))  # KeaDhcpv4.xml:282
            elif f.kind in ("int", "autonumber") and not value.lstrip("-").isdigit():
                out.append((key, "Please specify a valid number."))  # IntegerField default message
        return out


def _collect(problems: list[tuple[str, str]]) -> dict[str, Any]:
    """ApiMutableModelControllerBase::validate (:297-312): one message is a string, several a list."""
    out: dict[str, Any] = {}
    for field, msg in problems:
        if field not in out:
            out[field] = msg
        elif not isinstance(out[field], list):
            out[field] = [out[field]] + ([msg] if msg != out[field] else [])
        elif msg not in out[field]:
            out[field].append(msg)
    return out


def _natural(text: str) -> list[Any]:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def _flat_value(item: dict[str, Any], dotted: str) -> Any:
    for step in dotted.split("."):
        item = item.get(step, "") if isinstance(item, dict) else ""
    return item


def _is_ip(text: str) -> bool:  # Util::isIpAddress = filter_var(FILTER_VALIDATE_IP)
    try:
        ipaddress.ip_address(text)
        return "%" not in text
    except ValueError:
        return False


def _is_subnet(text: str) -> bool:  # Util::isSubnet (library/OPNsense/Firewall/Util.php:100-117)
    parts = text.split("/")
    if len(parts) != 2 or not _is_ip(parts[0]) or not parts[1].isdigit():
        return False
    return int(parts[1]) <= (128 if ":" in parts[0] else 32)


def _network(cidr: str) -> Any:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return ipaddress.ip_network("0.0.0.0/32")


def _valid_network(value: str, f: F) -> bool:
    """NetworkField::isValidInput (NetworkField.php:142-200), comma-separated for AsList fields."""
    for one in value.split(",") if f.kind == "list" else [value]:
        if f.opts.get("range_addr") and one.startswith("::"):  # RangeAddressField.php:35-43
            one = "2000" + one
        if "/" in one:
            if f.opts.get("range_addr") or not f.opts.get("mask_required"):
                return False  # NetMaskAllowed N (subnet_mask, start/end, next_server, routers)
            addr, _, mask = one.partition("/")
            if not mask.isdigit() or int(mask) > (128 if ":" in addr else 32):
                return False
            one = addr
        elif f.opts.get("mask_required"):
            return False
        if not _is_ip(one):
            return False
        if f.opts.get("family") == 4 and ":" in one:
            return False
    return True
