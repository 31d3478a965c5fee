# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pfSense through the REST API package v2 (pfrest/pfSense-pkg-RESTAPI, ``/api/v2``).

The scope is a DHCP server (``id`` = interface id, e.g. ``lan``). Its primary range is ``range_from``/``range_to``;
additional address pools (``pool``) are read so the request is checked against them but are never edited. The
primary range is one range, so a reservation that would split it is refused (reserve at either end). Virtual IPs
in the subnet count as occupied (pfSense itself refuses a range holding one, ``Models/DHCPServer.inc``).

**Authentication.** Key auth (``api_key``, the ``X-API-Key`` header) or Basic auth (``api_username`` +
``api_password``, the local user database), chosen from which credentials are given. The package enables only
Basic auth on a fresh install (``auth_methods`` defaults to ``['BasicAuth']``, ``Models/RESTAPISettings.inc``), so a
key gets 401 until Key auth is enabled; the 401/403 messages say what to change.

**Marker storage.** One firewall alias ``blb_dhcp_<scope>`` (type ``network``) holds the reserved addresses as CIDRs
(usable in rules). The module's record of each reservation (``{"range", "replaced"}``) is the alias *detail* of
each of that reservation's CIDRs, not the alias description. Why: every string field of the package is capped at
1024 bytes (``Fields/StringField.inc``), and v1 kept every record in the one ``descr``, which overflowed after about
nine reservations. A detail is one per address, so the storage grows with the address list (``many_maximum: 0``,
no cap, ``Models/FirewallAlias.inc``) and one record (~100 bytes) never comes near its own 1024-byte cap. One alias
per reservation would also fit, but then a rule would need one alias per band. Addresses whose detail is not the
module's (added by a person) are kept as they are; the alias is deleted only when nothing is left in it and nothing
references it (firewall/NAT rules, other aliases, static routes, OpenVPN - the places pfSense's own GUI checks
before deleting an alias; the REST API does not check, ``Models/FirewallAlias.inc``). A v1 alias (records in
``descr``) is read and rewritten in this form on the next change.

**Aliases by name.** Alias ids are array positions that shift when an earlier alias is deleted
(docs/WORKING_WITH_OBJECT_IDS.md of the package). The id is looked up by name right before each write; a PATCH
also carries the name, which pfSense refuses to change (``editable: false``), so a shifted id fails instead of
overwriting another alias; a delete goes to ``DELETE /firewall/aliases?name=...``.

**Transaction.** The range PATCH is validated by pfSense itself (a 4xx leaves the config untouched); then the alias
is written; then ``POST .../dhcp_server/apply`` with ``"async": false`` (the package runs applies in the background
unless told otherwise, so an answer would otherwise come before dhcpd/Kea restarted) and ``/firewall/apply``
likewise. ``verify`` reads the range back and checks that pfSense's service status shows the DHCP service
(``dhcpd`` or ``kea-dhcp4``) running: pfSense's own apply ignores a failed restart. Any failure after the PATCH
puts the old range and alias back and applies again; the message says whether that worked.
"""

from __future__ import annotations

import ipaddress
import json
import time
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError,
    ReservationError,
    ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiClient, ApiError

if t.TYPE_CHECKING:
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import IPNetwork, MarkerEntry, Plan
    from ansible_collections.baremetal.lb.plugins.module_utils.router_api import Opener

    IPInterface = t.Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

    Json = t.Dict[str, t.Any]

API = "/api/v2"
FIELD_MAX = 1024  # bytes: default maximum_length of the package's StringField (LengthValidator counts strlen)
ALIAS_DESCR = "baremetal-lb dhcp_reservation: load-balancer addresses kept out of DHCP server %s"
DETAIL_PREFIX = "baremetal-lb "  # + compact JSON of the reservation record, in each of its CIDRs' details
LEGACY_PREFIX = "baremetal-lb dhcp_reservation "  # v1: "<prefix>[records...]" in descr
DHCP_SERVICES = ("dhcpd", "kea-dhcp4")  # pfSense's service names for the ISC and Kea DHCPv4 servers
SERVICE_CHECKS = 5  # reads of the service status after an apply, one second apart, before calling it stopped
SETTINGS = "System > REST API > Settings > Authentication Methods"

# Where pfSense can refer to an alias by name: (endpoint, fields, what it is). The same places pfSense's GUI
# checks before deleting an alias (deleteAlias in alias-utils.inc), as the REST API exposes them.
REFERENCES = (
    ("/firewall/rules", ("source", "destination"), "firewall rule"),
    ("/firewall/nat/port_forwards", ("source", "destination", "target"), "NAT port forward"),
    ("/firewall/nat/outbound/mappings", ("source", "destination", "target"), "outbound NAT mapping"),
    ("/firewall/nat/one_to_one/mappings", ("source", "destination"), "1:1 NAT mapping"),
    ("/firewall/aliases", ("address",), "firewall alias"),
    ("/routing/static_routes", ("network",), "static route"),
    ("/vpn/openvpn/servers", ("local_network", "remote_network"), "OpenVPN server"),
    ("/vpn/openvpn/csos", ("local_network", "remote_network"), "OpenVPN client specific override"),
)

# Every call the module makes (dhcp_reservation and dhcp_scope_info): a pfSense user with 'WebCfg - All pages' may
# make them all; a least-privilege user needs privilege(method, path) of each (docs/router.md lists them).
CALLS = (
    ("GET", "/services/dhcp_servers"),
    ("GET", "/services/dhcp_server"),
    ("PATCH", "/services/dhcp_server"),
    ("POST", "/services/dhcp_server/apply"),
    ("GET", "/services/dhcp_server/apply"),
    ("GET", "/interface"),
    ("GET", "/status/dhcp_server/leases"),
    ("GET", "/status/services"),
    ("GET", "/firewall/virtual_ips"),
    ("DELETE", "/firewall/aliases"),
    ("POST", "/firewall/alias"),
    ("PATCH", "/firewall/alias"),
    ("POST", "/firewall/apply"),
) + tuple(("GET", ref[0]) for ref in REFERENCES)


def alias_name(scope: str) -> str:
    return ("blb_dhcp_" + "".join(c if c.isalnum() else "_" for c in scope))[:31]


def _data(answer: Json) -> t.Any:
    return answer.get("data") if isinstance(answer, dict) else None


def privilege(method: str, path: str) -> str:
    """The pfSense privilege the package requires for ``method path`` besides ``page-all``
    (``Endpoint::get_method_priv_name``: the URL with ``/`` and ``_`` as ``-``, then the method)."""
    url = (API + path.split("?", 1)[0]).strip("/")
    return url.replace("/", "-").replace("_", "-") + "-" + method.lower()


def choose_auth(params: Json) -> tuple[str, tuple[str, str, str]]:
    """``(mode, auth)`` for ApiClient from the given credentials: ``key`` with ``api_key``, ``basic`` with
    ``api_username`` + ``api_password``. Refuses none, half of the pair, or both kinds at once."""
    key = params.get("api_key")
    user, password = params.get("api_username"), params.get("api_password")
    if key and (user or password):
        raise ReservationError(
            "pfsense: set either api_key (Key authentication) or api_username and api_password "
            "(Basic authentication), not both"
        )
    if key:
        return "key", ("header", "X-API-Key", key)
    if user and password:
        return "basic", ("basic", user, password)
    if user or password:
        raise ReservationError(
            "pfsense: api_%s is set but api_%s is not; Basic authentication needs both"
            % (("username", "password") if user else ("password", "username"))
        )
    raise ReservationError(
        "pfsense: no credentials; set api_username and api_password (Basic authentication, the "
        f"REST API package's default) or api_key (Key authentication, once enabled under {SETTINGS})"
    )


def auth_advice(mode: str, user: str | None = None) -> str:
    """What to check when pfSense answers 401 to ``mode``."""
    if mode == "key":
        return (
            "pfSense did not accept the API key: either the key is wrong or revoked (System > REST API > Keys), or "
            "Key authentication is not enabled - the REST API package allows only Basic (Local database) "
            f"authentication after install. Enable it under {SETTINGS}: select 'Key' (setting auth_methods, KeyAuth) "
            "and Save; or give api_username and api_password instead"
        )
    return (
        f"pfSense did not accept user {user!r}: either the user name or password is wrong (a local user; LDAP/RADIUS "
        "users cannot use the REST API), the user is disabled, or Basic authentication was turned off - "
        f"enable it under {SETTINGS}: select 'Local database' (setting auth_methods, BasicAuth) and Save. Repeated "
        "failures get this address blocked by pfSense's login protection"
    )


def entry_cidrs(entry: Json) -> list[str]:
    first, dash, last = entry["range"].partition("-")
    rng = IPRange.make(first, last if dash else first)
    return [str(n) for n in ipaddress.summarize_address_range(rng.first, rng.last)]


def encode_detail(entry: Json) -> str:
    """A reservation record as an alias detail (``||`` separates details in pfSense's config: no ``|`` inside)."""
    text = DETAIL_PREFIX + json.dumps(entry, separators=(",", ":"), sort_keys=True).replace("|", "\\u007c")
    if len(text.encode("utf-8")) > FIELD_MAX:
        raise ReservationError(
            (
                "the record of reservation {} is {} bytes, more than the {} bytes pfSense keeps in an "
                "alias detail; release it and reserve it again; the router was not changed"
            ).format(entry.get("range"), len(text.encode("utf-8")), FIELD_MAX)
        )
    return text


def decode_alias(alias: Json) -> t.Any:
    """``(entries, foreign)`` of an alias: the module's reservation records (one per range, in order) and the
    ``(address, detail)`` pairs a person added. Raises ReservationError for a record it cannot read."""
    descr = str(alias.get("descr") or "")
    addresses = list(alias.get("address") or [])
    details = list(alias.get("detail") or [])
    if descr.startswith(LEGACY_PREFIX) and descr[len(LEGACY_PREFIX) :].startswith("["):
        try:
            entries = json.loads(descr[len(LEGACY_PREFIX) :])
        except ValueError:
            raise ReservationError(
                "firewall alias {} has a description the module cannot read; fix or delete it".format(alias.get("name"))
            ) from None  # the message names the value that failed to parse; the parser's error adds nothing
        return entries, []
    entries, seen, foreign = [], set(), []
    for i, address in enumerate(addresses):
        detail = details[i] if i < len(details) else ""
        if not str(detail).startswith(DETAIL_PREFIX):
            foreign.append((address, detail))
            continue
        try:
            entry = json.loads(detail[len(DETAIL_PREFIX) :])
            rng = entry["range"]
        except (ValueError, KeyError, TypeError):
            raise ReservationError(
                "firewall alias {}: the detail of {} is not a record the module can read ({!r}); "
                "fix or delete that entry".format(alias.get("name"), address, detail)
            ) from None  # the message names the value that failed to parse; the parser's error adds nothing
        if rng not in seen:
            seen.add(rng)
            entries.append(entry)
    return entries, foreign


def build_alias(scope_id: str, entries: list[t.Any], foreign: t.Any) -> Json | None:
    """The alias body holding ``foreign`` addresses as they were, then every CIDR of every record; None when
    there is nothing to hold."""
    addresses = [pair[0] for pair in foreign]
    details = [pair[1] for pair in foreign]
    for entry in entries:
        detail = encode_detail(entry)
        for cidr in entry_cidrs(entry):
            addresses.append(cidr)
            details.append(detail)
    if not addresses:
        return None
    return {
        "name": alias_name(scope_id),
        "type": "network",
        "descr": ALIAS_DESCR % scope_id,
        "address": addresses,
        "detail": details,
    }


def references(name: str, listings: list[t.Any]) -> t.Any:
    """Where ``name`` is used: ``listings`` is ``[(what, fields, objects)]`` as read from REFERENCES."""
    found = []
    for what, fields, objects in listings:
        for obj in objects or []:
            if what == "firewall alias" and obj.get("name") == name:
                continue
            for field in fields:
                value = obj.get(field)
                values = value if isinstance(value, list) else [value]
                if any(isinstance(v, str) and v.lstrip("!") == name for v in values):
                    label = obj.get("descr") or obj.get("name") or ""
                    found.append("{} {}{} ({})".format(what, obj.get("id", "?"), f" {label!r}" if label else "", field))
                    break
    return found


class PfsenseBackend:
    name = "pfsense"
    max_ranges = None  # the primary range is checked in prepare (pools are not edited)

    def __init__(
        self,
        client: ApiClient,
        auth_mode: str = "key",
        user: str | None = None,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.auth_mode = auth_mode
        self.user = user
        self.sleep = sleep
        self.leases_unknown: str | None = None

    @classmethod
    def from_params(
        cls, params: Json, opener: Opener | None = None, sleep: t.Callable[[float], None] = time.sleep
    ) -> PfsenseBackend:
        mode, auth = choose_auth(params)
        client = ApiClient(
            params.get("api_url"),
            "pfSense REST API",
            auth=auth,
            validate_certs=params.get("validate_certs", True),
            timeout=params.get("timeout", 30),
            opener=opener,
            ca_path=params.get("ca_path"),
        )
        return cls(client, mode, params.get("api_username"), sleep=sleep)

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: t.Any = None) -> t.Any:
        """One API call; a 401/403 becomes an ApiError saying what to change on pfSense."""
        try:
            return self.client.request(method, API + path, body)
        except ApiError as exc:
            if exc.status == 401:
                raise ApiError(f"{exc}; {auth_advice(self.auth_mode, self.user)}", status=401, body=exc.body) from exc
            if (
                exc.status == 403
                and isinstance(exc.body, dict)
                and exc.body.get("response_id") == "AUTH_AUTHORIZATION_FAILED"
            ):
                raise ApiError(
                    "{}; the pfSense user{} needs the privilege 'WebCfg - All pages' (page-all) or {!r} "
                    "(System > User Manager > the user > Effective Privileges)".format(
                        exc,
                        " behind the API key" if self.auth_mode == "key" else f" {self.user!r}",
                        privilege(method, path),
                    ),
                    status=403,
                    body=exc.body,
                ) from exc
            raise

    def _get(self, path: str) -> t.Any:
        try:
            return _data(self._call("GET", path))
        except ApiError as exc:
            raise ReservationError(f"{exc}; the router was not changed") from exc

    def _subnet_of(self, iface_id: str) -> IPInterface:
        iface = self._get(f"/interface?id={iface_id}") or {}
        try:
            return ipaddress.ip_interface("{}/{}".format(iface["ipaddr"], iface["subnet"]))
        except (KeyError, ValueError):
            raise ReservationError(
                "pfSense interface {} has no static IPv4 address (ipaddr {!r}, subnet {!r})".format(
                    iface_id, iface.get("ipaddr"), iface.get("subnet")
                )
            ) from None  # the message names the value that failed to parse; the parser's error adds nothing

    # -- read ------------------------------------------------------------------------------------------------

    def read(self, request: IPRange, scope_hint: str | None) -> ScopeState:
        if request.version != 4:
            raise ReservationError(
                f"range: {request} is IPv6; the pfsense backend manages the IPv4 DHCP server only (its DHCPv6 "
                "server is not supported yet); the router was not changed"
            )
        scope_id = scope_hint
        if not scope_id:
            servers = self._get("/services/dhcp_servers") or []
            holding = []
            for server in servers:
                try:
                    if request.first in self._subnet_of(server["id"]).network:
                        holding.append(server["id"])
                except ReservationError:
                    continue
            if len(holding) != 1:
                raise ReservationError(
                    "{} pfSense DHCP server's interface subnet holds {} (servers: {}); set scope".format(
                        "no" if not holding else "more than one",
                        request.first,
                        ", ".join(s.get("id", "?") for s in servers),
                    )
                )
            scope_id = holding[0]
        server = self._get(f"/services/dhcp_server?id={scope_id}")
        if not server:
            raise ReservationError(f"pfSense has no DHCP server {scope_id!r}")
        iface = self._subnet_of(scope_id)
        ranges = []
        if server.get("range_from") and server.get("range_to"):
            ranges.append(IPRange.make(server["range_from"], server["range_to"], f"pfSense {scope_id} range"))
        for pool in server.get("pool") or []:
            ranges.append(IPRange.make(pool["range_from"], pool["range_to"], f"pfSense {scope_id} pool"))
        occupants = [Occupant(iface.ip, "router address", f"(pfSense interface {scope_id})")]
        if server.get("gateway") and server["gateway"] != "none":
            occupants.append(Occupant(ipaddress.ip_address(server["gateway"]), "gateway", "(DHCP server gateway)"))
        for sm in server.get("staticmap") or []:
            if sm.get("ipaddr"):
                occupants.append(
                    Occupant(
                        ipaddress.ip_address(sm["ipaddr"]),
                        "static mapping",
                        "{} ({})".format(sm.get("hostname") or sm.get("descr") or "", sm.get("mac", "")),
                    )
                )
        occupants += self._virtual_ips(iface.network)
        for addr, lease in self._lease_records(iface.network) or []:
            occupants.append(
                Occupant(
                    addr,
                    "active lease",
                    "{} ({}, ends {})".format(
                        lease.get("hostname") or "", lease.get("mac", ""), lease.get("ends", "?")
                    ),
                )
            )
        alias = self._alias(scope_id)
        entries, foreign = decode_alias(alias) if alias else ([], [])
        scope = Scope(scope_id, iface.network, tuple(ranges), tuple(occupants))
        return ScopeState(scope, entries, {"id": scope_id, "server": server, "alias": alias, "foreign": foreign})

    def _virtual_ips(self, network: IPNetwork) -> t.Any:
        """Virtual IPs (CARP, IP alias, proxy ARP) inside ``network``: addresses the router answers for."""
        out = []
        for vip in self._get("/firewall/virtual_ips") or []:
            try:
                bits = vip.get("subnet_bits") if vip.get("type") == "network" else 32
                block = ipaddress.ip_network("{}/{}".format(vip["subnet"], bits), strict=False)
            except (KeyError, ValueError, TypeError):
                continue
            if block.version != 4 or not block.overlaps(network):
                continue
            inner = block if block.prefixlen >= network.prefixlen else network
            # (typeshed iterates either network type as _BaseAddress)
            addrs: list[t.Any] = [block.network_address] if vip.get("type") != "network" else list(inner)
            for addr in addrs:
                if addr in network and addr in block:
                    out.append(
                        Occupant(addr, "virtual IP", "{} ({})".format(vip.get("descr") or "", vip.get("mode", "?")))
                    )
        return out

    def _lease_records(self, network: IPNetwork) -> t.Any:
        """The active leases inside ``network`` as ``(address, lease)``; None, with ``leases_unknown`` set, when
        pfSense did not list them."""
        try:
            leases = _data(self._call("GET", "/status/dhcp_server/leases")) or []
        except ApiError as exc:
            self.leases_unknown = f"pfSense did not list the DHCP leases ({exc})"
            return None
        out = []
        for lease in leases:
            if lease.get("active_status") != "active" or not lease.get("ip"):
                continue
            addr = ipaddress.ip_address(lease["ip"])
            if addr in network:
                out.append((addr, lease))
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self) -> list[t.Any]:
        """Every DHCP server on an interface with a static IPv4 address: ``[{"request", "hint", "names"}]``
        (``read(request, hint)`` reads that one scope)."""
        found = []
        for server in self._get("/services/dhcp_servers") or []:
            try:
                net = self._subnet_of(server["id"]).network
            except ReservationError:
                continue  # no static IPv4 address on the interface: no DHCP scope there
            found.append(
                {
                    "request": IPRange(net.network_address, net.network_address),
                    "hint": server["id"],
                    "names": [server["id"], str(net)],
                }
            )
        return found

    def details(self, state: ScopeState) -> Json:
        """What ``read`` does not keep apart, for dhcp_scope_info: the interface, the static mappings and the
        active leases as records (``leases`` None when pfSense did not list them)."""
        server = state.raw["server"]
        iface = self._get("/interface?id={}".format(state.raw["id"])) or {}
        statics = [
            {"address": sm["ipaddr"], "mac": sm.get("mac") or None, "hostname": sm.get("hostname") or None}
            for sm in server.get("staticmap") or []
            if sm.get("ipaddr")
        ]
        records = self._lease_records(state.scope.subnet)
        leases = None
        if records is not None:
            leases = [
                {
                    "address": str(addr),
                    "mac": lease.get("mac") or None,
                    "hostname": lease.get("hostname") or None,
                    "expires": lease.get("ends") or None,
                }
                for addr, lease in records
            ]
        return {
            "interface": iface.get("if") or state.raw["id"],
            "enabled": server.get("enable", True) is not False,
            "static_mappings": statics,
            "leases": leases,
        }

    def _alias(self, scope_id: str) -> Json | None:
        """The module's alias for ``scope_id``, found by name (never by a remembered id), or None."""
        name = alias_name(scope_id)
        found = [a for a in self._get(f"/firewall/aliases?name={name}") or [] if a.get("name") == name]
        return found[0] if found else None

    # -- change ----------------------------------------------------------------------------------------------

    def prepare(
        self, state: ScopeState, plan: Plan, entries_after: list[MarkerEntry], request: IPRange, action: str
    ) -> Json:
        server = state.raw["server"]
        primary = IPRange.make(server["range_from"], server["range_to"]) if server.get("range_from") else None
        for rep in plan.replacements:
            if len(rep.pieces) != 1 and action == "absent":
                raise ReservationError(
                    "giving back {} would leave pfSense DHCP server {} with the ranges {}, but its primary range is "
                    "one range; give back the reservations made after it first; the router was not changed".format(
                        request, state.raw["id"], ", ".join(str(r) for r in plan.ranges_after)
                    )
                )
            if len(rep.pieces) != 1:
                raise ReservationError(
                    "reserving {} would {} the primary range {} of pfSense DHCP server {}, which "
                    "holds one range; reserve a band at either end; the router was not changed".format(
                        request, "split" if rep.pieces else "remove all of", rep.source, state.raw["id"]
                    )
                )
            live = rep.source if action == "present" else rep.pieces[0]
            if live != primary:
                raise ReservationError(
                    "{} overlaps the additional address pool {} of pfSense DHCP server {}; this module only "
                    "edits the primary range - change the pool by hand; the router was not changed".format(
                        request, live, state.raw["id"]
                    )
                )
        old = state.raw["alias"]
        if old is not None:
            mine = bool(state.entries) or str(old.get("descr") or "") == ALIAS_DESCR % state.raw["id"]
            if old.get("type") != "network" or not mine:
                raise ReservationError(
                    "firewall alias {} exists (type {}, description {!r}) but was not written by this "
                    "module; rename or delete it; the router was not changed".format(
                        old.get("name"), old.get("type"), old.get("descr")
                    )
                )
        new_primary = plan.ranges_after[0]  # the primary range comes first, pools after it
        alias = build_alias(state.raw["id"], entries_after, state.raw["foreign"])
        if alias is None and old is not None:
            self._refuse_if_referenced(old["name"], request)
        return {"range_from": str(new_primary.first), "range_to": str(new_primary.last), "alias": alias}

    def _refuse_if_referenced(self, name: str, request: IPRange) -> None:
        """Deleting an alias a rule uses would make pfSense's rule set fail to load: refuse, like pfSense's GUI
        ("Cannot delete alias. Currently in use by ...")."""
        listings = []
        for path, fields, what in REFERENCES:
            try:
                listings.append((what, fields, _data(self._call("GET", path))))
            except ApiError as exc:
                raise ReservationError(
                    f"releasing {request} would empty firewall alias {name}, and the module deletes it only after "
                    f"checking that nothing uses it, but reading the {what}s failed ({exc}); the router was not changed"
                ) from exc
        used = references(name, listings)
        if used:
            raise ReservationError(
                "releasing {} would empty firewall alias {}, which is in use by {}; pfSense cannot load rules "
                "naming a deleted alias, so the module does not delete it: remove those references first (or add an "
                "address of your own to the alias - the module then keeps it); the router was not changed".format(
                    request, name, "; ".join(used)
                )
            )

    def validate(self, state: ScopeState, candidate: Json) -> None:
        # pfSense validates the PATCH itself and rejects it without changing anything. What is checked here is
        # that the DHCP service runs now: afterwards it must still run, and a service already stopped would make
        # that check meaningless.
        if self._service_expected(state):
            service = self._dhcp_service()
            if not service.get("status"):
                raise ReservationError(
                    "pfSense's DHCP service {} ({}) is not running before any change (Status > "
                    "Services); start it or fix its configuration first - the module checks that "
                    "it runs after the change; the router was not changed".format(
                        service.get("name"), service.get("description")
                    )
                )

    @staticmethod
    def _service_expected(state: ScopeState) -> bool:
        return state.raw["server"].get("enable", True) is not False

    def _dhcp_service(self) -> Json:
        """pfSense's DHCPv4 service entry (``dhcpd`` with ISC, ``kea-dhcp4`` with Kea)."""
        services = self._get("/status/services") or []
        found = [s for s in services if s.get("name") in DHCP_SERVICES]
        if not found:
            raise ReservationError(
                "pfSense lists no DHCPv4 service ({}) although the DHCP server is enabled; the "
                "module cannot tell whether a change works; the router was not changed".format(
                    " or ".join(DHCP_SERVICES)
                )
            )
        service: Json = found[0]
        return service

    def _wait_running(self) -> Json:
        """The DHCP service entry once it runs, or the last one read after SERVICE_CHECKS reads."""
        service = {}
        for attempt in range(SERVICE_CHECKS):
            service = self._dhcp_service()
            if service.get("status"):
                return service
            if attempt + 1 < SERVICE_CHECKS:
                self.sleep(1)
        return service

    def _patch_range(self, scope_id: str, first: str, last: str) -> None:
        self._call("PATCH", "/services/dhcp_server", {"id": scope_id, "range_from": first, "range_to": last})

    def _alias_id(self, name: str) -> int | None:
        found = [a for a in _data(self._call("GET", f"/firewall/aliases?name={name}")) or [] if a.get("name") == name]
        return found[0]["id"] if found else None

    def _put_alias(self, want: Json | None, name: str) -> None:
        """Make the alias ``name`` be ``want`` (None: deleted), addressing it by name."""
        current = self._alias_id(name)
        if want is None:
            if current is not None:
                self._call("DELETE", f"/firewall/aliases?name={name}")
        elif current is None:
            self._call("POST", "/firewall/alias", want)
        else:
            body = dict(want)
            body["id"] = current  # with the name: pfSense refuses to rename, so a shifted id cannot hit another alias
            self._call("PATCH", "/firewall/alias", body)

    def _apply(self, alias_touched: bool) -> None:
        self._call("POST", "/services/dhcp_server/apply", {"async": False})
        if alias_touched:
            self._call("POST", "/firewall/apply", {"async": False})

    def apply(self, state: ScopeState, candidate: Json) -> None:
        scope_id = state.raw["id"]
        server = state.raw["server"]
        try:
            self._patch_range(scope_id, candidate["range_from"], candidate["range_to"])
        except ApiError as exc:
            raise ApplyError(
                f"pfSense refused the new range ({exc}); the router was left as it was", restored=True
            ) from exc
        try:
            alias_changed = candidate["alias"] != _comparable(state.raw["alias"])
            if alias_changed:
                self._put_alias(candidate["alias"], alias_name(scope_id))
            self._apply(alias_changed)
        except ApiError as exc:
            try:
                self.rollback(state)
            except Exception as rb:
                raise ApplyError(
                    f"{exc} after the range was changed, and setting the range back failed too ({rb}): check "
                    f"DHCP server {scope_id} by hand",
                    restored=False,
                ) from rb
            raise ApplyError(
                "{} after the range was changed; the old range {}-{} was set back, the router is as it was".format(
                    exc, server["range_from"], server["range_to"]
                ),
                restored=True,
            ) from exc

    def rollback(self, state: ScopeState) -> None:
        server = state.raw["server"]
        name = alias_name(state.raw["id"])
        self._patch_range(state.raw["id"], server["range_from"], server["range_to"])
        old = _comparable(state.raw["alias"])
        now = self._alias(state.raw["id"])
        alias_changed = _comparable(now) != old
        if alias_changed:
            self._put_alias(old, name)
        self._apply(alias_changed)
        if self._service_expected(state):
            service = self._wait_running()
            if not service.get("status"):
                raise ReservationError(
                    "the old range is set back but pfSense's DHCP service {} is still not running "
                    "(Status > Services, Status > System Logs > DHCP)".format(service.get("name"))
                )

    def verify(self, state: ScopeState, plan: Plan) -> None:
        server = self._get("/services/dhcp_server?id={}".format(state.raw["id"]))
        got = [IPRange.make(server["range_from"], server["range_to"])]
        got += [IPRange.make(p["range_from"], p["range_to"]) for p in server.get("pool") or []]
        if tuple(got) != tuple(plan.ranges_after):
            raise ReservationError(
                f"pfSense reports ranges {[str(r) for r in got]} after the change, expected "
                f"{[str(r) for r in plan.ranges_after]}"
            )
        pending = self._get("/services/dhcp_server/apply") or {}
        if pending.get("applied") is False:
            raise ReservationError("pfSense still has DHCP server changes pending after the apply")
        if self._service_expected(state):
            service = self._wait_running()
            if not service.get("status"):
                raise ReservationError(
                    "pfSense's DHCP service {} is not running after the change (it did not start "
                    "with the new range; see Status > System Logs > DHCP)".format(service.get("name"))
                )

    def ui_range(self, rng: IPRange) -> str:
        return f"{rng.first} to {rng.last}"


def _comparable(alias: Json | None) -> Json | None:
    """An alias as read, in the shape the module writes (for comparing and for writing it back)."""
    if alias is None:
        return None
    return {
        "name": alias.get("name"),
        "type": alias.get("type"),
        "descr": alias.get("descr", ""),
        "address": list(alias.get("address") or []),
        "detail": list(alias.get("detail") or []),
    }
