# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ISC Kea through its Control Agent (``POST /`` with ``{"command", "service", "arguments"}``).

Kea 2.2 (Debian 12) has no ``subnet_cmds`` hook, so the portable path is the whole configuration:
``config-get`` -> edit ``subnet4[].pools`` -> ``config-test`` -> ``config-set`` -> ``config-write``.
When the server lists ``subnet4-update``/``subnet6-update`` (``subnet_cmds``: open source since Kea 2.7.7/3.0)
the edited subnet is applied with that command instead (no full reconfiguration), still validated first with
``config-test`` and persisted with ``config-write``.

Marker: the subnet's ``user-context`` gets ``{"baremetal-lb": {"reservations": [...]}}`` — Kea keeps
user-context through config-get/set/write and shows it in every tool, so a person can see who shrank the pool.
Leases come from ``lease_cmds`` (``lease4-get-all``); without that hook active leases cannot be checked and the
module refuses unless ``accept_active_leases`` is set.
"""

from __future__ import annotations

import copy
import ipaddress
import time
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import (
    ApplyError,
    ReservationError,
    ScopeState,
)
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import Occupant, Scope
from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPRange, RangeError, parse_range
from ansible_collections.baremetal.lb.plugins.module_utils.router_api import ApiClient, ApiError

if t.TYPE_CHECKING:
    from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_ranges import IPNetwork, MarkerEntry, Plan
    from ansible_collections.baremetal.lb.plugins.module_utils.ip_ranges import IPAddress
    from ansible_collections.baremetal.lb.plugins.module_utils.router_api import Opener

    Json = t.Dict[str, t.Any]
    SubnetPath = t.Tuple[t.Optional[int], int]  # (shared-network index or None, subnet index)
    LeaseRecord = t.Tuple[IPAddress, Json, int, float]  # (address, Kea's lease, expires, seconds left)

MARKER_KEY = "baremetal-lb"

# Kea result codes
OK, ERROR, UNSUPPORTED, EMPTY = 0, 1, 2, 3


def parse_pool(text: object) -> IPRange:
    """A Kea pool string (``a - b`` or a CIDR) -> IPRange."""
    return parse_range(str(text).replace(" ", ""), "Kea pool")


def format_pool(rng: IPRange) -> str:
    return f"{rng.first} - {rng.last}"


class KeaBackend:
    name = "kea"
    max_ranges = None

    def __init__(self, client: ApiClient, subnet_cmds: str = "auto", now: t.Callable[[], float] | None = None) -> None:
        self.client = client
        self.leases_unknown: str | None = None
        self.used_subnet_cmds = False
        self.subnet_cmds = subnet_cmds
        self.now = now or time.time
        self.commands_sent: list[str] = []

    @classmethod
    def from_params(cls, params: Json, opener: Opener | None = None) -> KeaBackend:
        auth = None
        if params.get("api_key") or params.get("api_secret"):
            auth = ("basic", params.get("api_key") or "", params.get("api_secret") or "")
        client = ApiClient(
            params.get("api_url"),
            "Kea Control Agent",
            auth=auth,
            validate_certs=params.get("validate_certs", True),
            timeout=params.get("timeout", 30),
            opener=opener,
        )
        return cls(client, subnet_cmds=params.get("subnet_cmds") or "auto")

    # -- the Control Agent ---------------------------------------------------------------------------

    def command(
        self, command: str, service: str, arguments: Json | None = None, allowed: t.Container[int] = (OK,)
    ) -> Json:
        body: Json = {"command": command, "service": [service]}
        if arguments is not None:
            body["arguments"] = arguments
        self.commands_sent.append(command)
        try:
            answer = self.client.request("POST", "/", body)
        except ApiError as exc:
            raise ReservationError(str(exc)) from exc
        if isinstance(answer, list):
            answer = answer[0] if answer else {}
        if not isinstance(answer, dict):
            raise ReservationError(f"Kea {command} ({service}): unexpected answer {answer!r}")
        if answer.get("result") not in allowed:
            raise KeaCommandError(command, service, answer.get("result"), answer.get("text", ""))
        return answer

    # -- read ------------------------------------------------------------------------------------------

    def read(self, request: IPRange, scope_hint: str | None) -> ScopeState:
        service = "dhcp4" if request.version == 4 else "dhcp6"
        root_key = "Dhcp4" if request.version == 4 else "Dhcp6"
        skey = "subnet4" if request.version == 4 else "subnet6"
        answer = self._call("config-get", service)
        args = answer.get("arguments") or {}
        config = copy.deepcopy(args.get(root_key))
        if not isinstance(config, dict):
            raise ReservationError(f"Kea config-get ({service}) returned no {root_key} configuration")
        located = list(_subnets(config, skey))
        subnet, path = self._choose(located, request, scope_hint, service)
        subnet_net = ipaddress.ip_network(subnet["subnet"], strict=False)
        scope_name = "subnet {}".format(subnet.get("id", subnet["subnet"]))
        ranges = []
        for pool in subnet.get("pools", []):
            try:
                ranges.append(parse_pool(pool["pool"]))
            except (KeyError, RangeError) as exc:
                raise ReservationError(f"Kea {scope_name} has a pool I cannot read ({pool!r}): {exc}") from exc
        occupants = []
        for addr, res in _reservations(subnet, config, subnet_net):
            who = res.get("hostname") or res.get("hw-address") or res.get("duid") or res.get("client-id") or ""
            occupants.append(Occupant(addr, "reservation", who))
        shared = config["shared-networks"][path[0]] if path[0] is not None else {}
        for level in (subnet, shared, config):
            for opt in level.get("option-data", []):
                if opt.get("name") == "routers" or (opt.get("code") == 3 and opt.get("space", "dhcp4") == "dhcp4"):
                    for a in str(opt.get("data", "")).split(","):
                        a = a.strip()
                        if a:
                            occupants.append(Occupant(ipaddress.ip_address(a), "gateway", "(option routers)"))
        occupants += self._leases(service, request.version, subnet)
        entries = list(((subnet.get("user-context") or {}).get(MARKER_KEY) or {}).get("reservations", []))
        scope = Scope(scope_name, subnet_net, tuple(ranges), tuple(occupants))
        raw = {
            "service": service,
            "root_key": root_key,
            "skey": skey,
            "config": config,
            "path": path,
            "subnet_id": subnet.get("id"),
        }
        return ScopeState(scope, entries, raw)

    def _call(self, command: str, service: str, arguments: Json | None = None) -> Json:
        try:
            return self.command(command, service, arguments)
        except KeaCommandError as exc:
            raise ReservationError(str(exc)) from exc

    def _choose(
        self, located: list[tuple[Json, SubnetPath]], request: IPRange, hint: str | None, service: str
    ) -> tuple[Json, SubnetPath]:
        if not located:
            raise ReservationError(f"Kea ({service}) has no subnets configured")
        if hint:
            hint = str(hint).strip()
            try:
                hint_net = ipaddress.ip_network(hint, strict=False) if "/" in hint else None
            except ValueError:
                hint_net = None
            picked = [
                (s, p)
                for s, p in located
                if hint in (str(s.get("id")), str(s.get("interface", "")), str(s.get("subnet")))
                or (hint_net is not None and hint_net == ipaddress.ip_network(s["subnet"], strict=False))
            ]
            if len(picked) != 1:
                raise ReservationError(
                    "scope {!r}: {} Kea subnet matches (by id, prefix or interface); subnets: {}".format(
                        hint,
                        "no" if not picked else "more than one",
                        ", ".join("{} (id {})".format(s["subnet"], s.get("id")) for s, dummy in located),
                    )
                )
            return picked[0]
        holding = [(s, p) for s, p in located if request.first in ipaddress.ip_network(s["subnet"], strict=False)]
        if not holding:
            raise ReservationError(
                "no Kea subnet contains {} (subnets: {}); set scope".format(
                    request.first, ", ".join(s["subnet"] for s, dummy in located)
                )
            )
        if len(holding) > 1:
            raise ReservationError(
                "{} Kea subnets contain {} ({}); set scope to the subnet id".format(
                    len(holding),
                    request.first,
                    ", ".join("{} id {}".format(s["subnet"], s.get("id")) for s, dummy in holding),
                )
            )
        return holding[0]

    def _leases(self, service: str, version: int, subnet: Json) -> list[Occupant]:
        out: list[Occupant] = []
        for addr, lease, _expires, left in self._lease_records(service, version, subnet) or []:
            who = lease.get("hostname") or lease.get("hw-address") or lease.get("duid") or ""
            out.append(
                Occupant(
                    addr, "active lease", f"{who} (expires in {int(left)}s)" if who else f"(expires in {int(left)}s)"
                )
            )
        return out

    def _lease_records(self, service: str, version: int, subnet: Json) -> list[LeaseRecord] | None:
        """The subnet's active leases as ``(address, lease, expires, seconds left)`` (``lease``: Kea's dict,
        ``expires``: seconds since the epoch); None, with ``leases_unknown`` set, without the lease_cmds hook."""
        command = "lease4-get-all" if version == 4 else "lease6-get-all"
        try:
            answer = self.command(command, service, {"subnets": [subnet.get("id")]}, allowed=(OK, EMPTY))
        except KeaCommandError as exc:
            if exc.result == UNSUPPORTED:
                self.leases_unknown = (
                    f"Kea has no lease_cmds hook loaded ({command} is not supported), so active leases "
                    "cannot be checked"
                )
                return None
            raise ReservationError(str(exc)) from exc
        self.leases_unknown = None
        out: list[LeaseRecord] = []
        now = self.now()
        for lease in (answer.get("arguments") or {}).get("leases", []):
            if lease.get("type", "IA_NA") not in ("IA_NA", "IA_TA"):
                continue
            if lease.get("state", 0) != 0:
                continue
            expires = int(lease.get("cltt", 0)) + int(lease.get("valid-lft", 0))
            if expires <= now:
                continue
            out.append((ipaddress.ip_address(lease["ip-address"]), lease, expires, expires - now))
        return out

    # -- read-only: every scope (baremetal.lb.dhcp_scope_info) ------------------------------------------

    def scopes(self) -> list[Json]:
        """Every subnet of the dhcp4 and dhcp6 services the Control Agent forwards to, in configuration order:
        ``[{"request", "hint", "names"}]`` (``read(request, hint)`` reads that one subnet)."""
        found: list[Json] = []
        served: list[str] = []
        for service, root_key, skey in (("dhcp4", "Dhcp4", "subnet4"), ("dhcp6", "Dhcp6", "subnet6")):
            try:
                answer = self.command("config-get", service)
            except KeaCommandError as exc:
                if "not configured" in exc.text:  # the Control Agent has no socket for this service
                    continue
                raise ReservationError(str(exc)) from exc
            served.append(service)
            config = (answer.get("arguments") or {}).get(root_key) or {}
            for subnet, path in _subnets(config, skey):
                net = ipaddress.ip_network(subnet["subnet"], strict=False)
                shared = config["shared-networks"][path[0]] if path[0] is not None else {}
                iface = subnet.get("interface") or shared.get("interface")
                names = [str(subnet.get("id")), "subnet {}".format(subnet.get("id")), str(net)] + (
                    [iface] if iface else []
                )
                found.append(
                    {
                        "request": IPRange(net.network_address, net.network_address),
                        "hint": str(subnet.get("id")),
                        "names": names,
                    }
                )
        if not served:
            raise ReservationError(
                "the Kea Control Agent forwards commands to neither dhcp4 nor dhcp6 (no control-sockets configured)"
            )
        return found

    def details(self, state: ScopeState) -> Json:
        """What ``read`` does not keep apart, for dhcp_scope_info: the interface, the reservations and the active
        leases as records (``leases`` None when Kea cannot list them)."""
        raw = state.raw
        subnet = _subnet_at(raw["config"], raw["skey"], raw["path"])
        shared = raw["config"]["shared-networks"][raw["path"][0]] if raw["path"][0] is not None else {}
        statics = [
            {"address": str(addr), "mac": res.get("hw-address"), "hostname": res.get("hostname")}
            for addr, res in _reservations(subnet, raw["config"], state.scope.subnet)
        ]
        records = self._lease_records(raw["service"], state.scope.subnet.version, subnet)
        leases = None
        if records is not None:
            leases = [
                {
                    "address": str(addr),
                    "mac": lease.get("hw-address"),
                    "hostname": lease.get("hostname") or None,
                    "expires": expires,
                }
                for addr, lease, expires, left in records
            ]
        return {
            "interface": subnet.get("interface") or shared.get("interface"),
            "enabled": True,
            "static_mappings": statics,
            "leases": leases,
        }

    # -- write -----------------------------------------------------------------------------------------

    def prepare(
        self, state: ScopeState, plan: Plan, entries_after: list[MarkerEntry], request: IPRange, action: str
    ) -> Json:
        raw = state.raw
        config: Json = copy.deepcopy(raw["config"])
        subnet = _subnet_at(config, raw["skey"], raw["path"])
        old_pools: dict[IPRange, Json] = {}
        for pool in subnet.get("pools", []):
            old_pools[parse_pool(pool["pool"])] = pool
        extras_for: dict[IPRange, Json] = {}
        for rep in plan.replacements:
            src = old_pools.get(rep.source) or (old_pools.get(rep.pieces[0]) if rep.pieces else None) or {}
            for piece in rep.pieces:
                extras_for[piece] = src
            extras_for[rep.source] = old_pools[rep.pieces[0]] if rep.pieces and rep.pieces[0] in old_pools else src
        pools: list[Json] = []
        for rng in plan.ranges_after:
            if rng in old_pools and rng not in extras_for:
                pools.append(old_pools[rng])
                continue
            pool = copy.deepcopy(extras_for.get(rng) or {})
            pool["pool"] = format_pool(rng)
            pools.append(pool)
        subnet["pools"] = pools
        ctx = dict(subnet.get("user-context") or {})
        if entries_after:
            ctx[MARKER_KEY] = {"reservations": entries_after, "by": "baremetal.lb.dhcp_reservation"}
        else:
            ctx.pop(MARKER_KEY, None)
        if ctx:
            subnet["user-context"] = ctx
        else:
            subnet.pop("user-context", None)
        return config

    def validate(self, state: ScopeState, candidate: Json) -> None:
        try:
            self.command("config-test", state.raw["service"], {state.raw["root_key"]: candidate})
        except KeaCommandError as exc:
            raise ReservationError(
                f"Kea config-test rejected the new configuration ({exc.text}); the router was not changed"
            ) from exc

    def _use_subnet_cmds(self, service: str) -> bool:
        if self.subnet_cmds == "never":
            return False
        wanted = "subnet4-update" if service == "dhcp4" else "subnet6-update"
        try:
            answer = self.command("list-commands", service)
            available = wanted in (answer.get("arguments") or [])
        except (KeaCommandError, ReservationError):
            available = False
        if self.subnet_cmds == "always" and not available:
            raise ReservationError(
                f"subnet_cmds=always but Kea ({service}) does not offer {wanted} (the subnet_cmds hook is not "
                "loaded); the router was not changed"
            )
        return available

    def apply(self, state: ScopeState, candidate: Json) -> None:
        raw = state.raw
        service, root_key = raw["service"], raw["root_key"]
        self.used_subnet_cmds = self._use_subnet_cmds(service)
        try:
            if self.used_subnet_cmds:
                subnet = _subnet_at(candidate, raw["skey"], raw["path"])
                self.command(raw["skey"] + "-update", service, {raw["skey"]: [subnet]})
            else:
                self.command("config-set", service, {root_key: candidate})
        except (KeaCommandError, ReservationError) as exc:
            # config-set / subnet-update are all-or-nothing in Kea: a refusal leaves the running configuration as it
            # was. Check that rather than trust it; set the old one back only if it did change.
            if not self._live_is_original(state):
                self._restore_or_raise(state, f"Kea refused to apply the new configuration ({_text(exc)})", write=False)
            raise ApplyError(
                f"Kea refused to apply the new configuration ({_text(exc)}); the router was left as it was",
                restored=True,
            ) from exc
        try:
            self.command("config-write", service)
        except (KeaCommandError, ReservationError) as exc:
            # The file was not replaced; only the running configuration must go back.
            self._restore_or_raise(state, f"Kea applied the change but config-write failed ({_text(exc)})", write=False)
            raise ApplyError(
                f"Kea applied the change but config-write failed ({_text(exc)}); the previous configuration was "
                f"set back, the router is as it was{_write_hint(exc, service)}",
                restored=True,
            ) from exc

    def _live_is_original(self, state: ScopeState) -> bool:
        raw = state.raw
        try:
            live = self.command("config-get", raw["service"])["arguments"][raw["root_key"]]
        except Exception:  # noqa: BLE001 - whatever stops the read (API, Kea, a changed reply), not provably original
            return False
        return bool(live == raw["config"])

    def _restore_or_raise(self, state: ScopeState, what: str, write: bool = True) -> None:
        try:
            self.rollback(state, write=write)
        except Exception as exc:
            raise ApplyError(
                f"{what}, and restoring the previous configuration failed too ({_text(exc)}): check Kea by hand",
                restored=False,
            ) from exc

    def rollback(self, state: ScopeState, write: bool = True) -> None:
        """Set the configuration ``read`` saw (and write it to the file when a new one was written)."""
        raw = state.raw
        self.command("config-set", raw["service"], {raw["root_key"]: raw["config"]})
        if not self._live_is_original(state):
            raise ReservationError(
                "after config-set of the previous configuration Kea reports pools {}".format(
                    _pools_of(self.command("config-get", raw["service"])["arguments"][raw["root_key"]], raw)
                )
            )
        if write:
            self.command("config-write", raw["service"])

    def verify(self, state: ScopeState, plan: Plan) -> None:
        raw = state.raw
        live = self._call("config-get", raw["service"])["arguments"][raw["root_key"]]
        got = _pools_of(live, raw)
        want = [str(r) for r in plan.ranges_after]
        if got != want:
            raise ReservationError(f"Kea reports pools {got} after the change, expected {want}")

    def ui_range(self, rng: IPRange) -> str:
        return format_pool(rng)


class KeaCommandError(Exception):
    def __init__(self, command: str, service: str, result: object, text: str) -> None:
        super().__init__(f"Kea {command} ({service}) failed: result {result}: {text}")
        self.command = command
        self.result = result
        self.text = text


def _write_hint(exc: Exception, service: str) -> str:
    """What to do when Kea cannot persist its configuration: Debian's packages make this the default."""
    if "unable to open file" not in _text(exc).lower():
        return ""
    daemon = "kea-" + service
    return (
        f". Kea's {daemon} cannot write its own configuration file, so a change would not survive a restart. Debian "
        f"and Ubuntu run {daemon} as user _kea and ship /etc/kea/{daemon}.conf owned by root: let the service write "
        f"it (chgrp _kea /etc/kea/{daemon}.conf; chmod g+w /etc/kea/{daemon}.conf; see docs/router.md)"
    )


def _text(exc: Exception) -> str:
    return exc.text if isinstance(exc, KeaCommandError) else str(exc)


def _subnets(config: Json, skey: str) -> t.Iterator[tuple[Json, SubnetPath]]:
    for i, subnet in enumerate(config.get(skey, [])):
        yield subnet, (None, i)
    for j, shared in enumerate(config.get("shared-networks", [])):
        for i, subnet in enumerate(shared.get(skey, [])):
            yield subnet, (j, i)


def _reservations(subnet: Json, config: Json, subnet_net: IPNetwork) -> t.Iterator[tuple[IPAddress, Json]]:
    """``(address, reservation)`` for every host reservation (the subnet's and global ones) inside the subnet."""
    for res in subnet.get("reservations", []) + list(config.get("reservations", [])):
        addrs = [res["ip-address"]] if res.get("ip-address") else list(res.get("ip-addresses", []))
        for a in addrs:
            addr = ipaddress.ip_address(a)
            if addr in subnet_net:
                yield addr, res


def _subnet_at(config: Json, skey: str, path: SubnetPath) -> Json:
    subnet: Json = config[skey][path[1]] if path[0] is None else config["shared-networks"][path[0]][skey][path[1]]
    return subnet


def _pools_of(config: Json, raw: Json) -> list[str] | None:
    for subnet, _dummy in _subnets(config, raw["skey"]):
        if subnet.get("id") == raw["subnet_id"]:
            return [str(parse_pool(p["pool"])) for p in subnet.get("pools", [])]
    return None
