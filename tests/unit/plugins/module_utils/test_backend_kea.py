"""backend_kea's decisions against a fake Kea Control Agent that answers with real Kea 2.2 replies.

Every reply shape and error text comes from ``tests/data/kea/kea-2.2.0-replies.json``, recorded from the real
``kea-dhcp4`` + ``kea-ctrl-agent`` 2.2.0 of Debian 12 by ``scripts/record-kea-replies`` (tests/data/kea/README.md).
The fake keeps one piece of state (the running Dhcp4 configuration and its leases) and only decides *which*
recorded reply to give; the integration tests (tests/integration/test_dhcp_kea.py) run the real Kea.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_backend
from ansible_collections.baremetal.lb.plugins.module_utils.backend_kea import KeaBackend
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_backend import ApplyError, ReservationError

RECORDED = json.loads((Path(__file__).resolve().parents[3] / "data" / "kea" / "kea-2.2.0-replies.json").read_text())
REPLIES = RECORDED["replies"]
NOW = 1796586353 + 60  # a minute after the recorded lease's cltt: it has 540 s left


def recorded(name: str) -> dict:
    return copy.deepcopy(REPLIES[name]["reply"][0])


def kea_pool_text(text: str) -> str:
    """How Kea 2.2 prints a pool in config-get: ``first-last``, no spaces (the recorded config-get), or a prefix when
    the range is exactly one (Kea's src/lib/dhcpsrv/pool.cc, Pool4::toElement)."""
    first, last = (ipaddress.ip_address(p.strip()) for p in text.split("-")) if "-" in text else (None, None)
    if first is None:
        return text
    for net in ipaddress.summarize_address_range(first, last):
        if net.num_addresses == int(last) - int(first) + 1:
            return str(net)
    return f"{first}-{last}"


class FakeControlAgent:
    """The Control Agent for ``dhcp4`` only (the recorded config-get for dhcp6 says it is not configured)."""

    def __init__(self, *, lease_cmds: bool = True, subnet_cmds: bool = False) -> None:
        self.config = recorded("config-get")["arguments"]["Dhcp4"]
        self.leases = [] if lease_cmds else None
        self.subnet_cmds = subnet_cmds
        self.fail = {}  # command -> recorded reply name to answer with instead
        self.sent = []  # (command, arguments)
        self.writes = []  # configurations "written to the file" by config-write

    def add_lease(self) -> None:
        self.leases.extend(recorded("lease4-get-all")["arguments"]["leases"])  # 198.51.100.107, 'laptop'

    # ApiClient's opener: (url, method, data, headers, validate_certs, timeout) -> (status, body)
    def __call__(self, url, method, data, headers, validate_certs, timeout):
        assert (url, method) == ("http://kea.example:8000/", "POST")
        body = json.loads(data)
        command, (service,), args = body["command"], body["service"], body.get("arguments")
        self.sent.append((command, args))
        return 200, json.dumps([self.answer(command, service, args)]).encode()

    def answer(self, command, service, args):
        if service != "dhcp4":
            return recorded("config-get-dhcp6-not-configured")
        if command in self.fail:
            return recorded(self.fail[command])
        if command == "config-get":
            reply = recorded("config-get")
            reply["arguments"]["Dhcp4"] = copy.deepcopy(self.config)
            return reply
        if command == "list-commands":
            reply = recorded("list-commands")
            if self.subnet_cmds:  # the subnet_cmds hook adds its commands (Kea >= 2.7.7 open source)
                reply["arguments"] = sorted(reply["arguments"] + ["subnet4-get", "subnet4-update"])
            return reply
        if command == "lease4-get-all":
            if self.leases is None:
                return recorded("lease4-get-all-no-hook")
            reply = recorded("lease4-get-all" if self.leases else "lease4-get-all-empty")
            reply["arguments"]["leases"] = [lease for lease in self.leases if lease["subnet-id"] in args["subnets"]]
            return reply
        if command == "config-test":
            assert "hash" not in args["Dhcp4"]
            return recorded("config-test")
        if command == "config-set":
            self.config = self._normalised(args["Dhcp4"])
            return recorded("config-set")
        if command == "config-write":
            self.writes.append(copy.deepcopy(self.config))
            return recorded("config-write")
        if command == "subnet4-update":
            if not self.subnet_cmds:
                return recorded("subnet4-update-unsupported")
            (subnet,) = args["subnet4"]
            self.config["subnet4"] = [
                self._normalised_subnet(subnet) if s["id"] == subnet["id"] else s for s in self.config["subnet4"]
            ]
            return {"result": 0, "text": "IPv4 subnet updated"}  # subnet_cmds docs (Kea ARM, "subnet4-update")
        raise AssertionError(f"the fake has no recorded reply for {command}")

    def _normalised(self, dhcp4):
        out = copy.deepcopy(dhcp4)
        out["subnet4"] = [self._normalised_subnet(s) for s in out["subnet4"]]
        return out

    @staticmethod
    def _normalised_subnet(subnet):
        subnet = copy.deepcopy(subnet)
        for pool in subnet.get("pools", []):
            pool["pool"] = kea_pool_text(pool["pool"])
        return subnet

    def pools(self):
        return [p["pool"] for p in self.config["subnet4"][0]["pools"]]

    def commands(self):
        return [command for command, dummy in self.sent]


def backend(kea: FakeControlAgent, **params) -> KeaBackend:
    b = KeaBackend.from_params(dict({"api_url": "http://kea.example:8000"}, **params), opener=kea)
    b.now = lambda: NOW
    return b


def test_reserve_splits_the_pool_marks_the_subnet_and_writes_the_file():
    kea = FakeControlAgent()
    result = dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    assert result["changed"]
    assert kea.pools() == ["198.51.100.100-198.51.100.109", "198.51.100.120-198.51.100.199"]
    marker = kea.config["subnet4"][0]["user-context"]["baremetal-lb"]
    assert marker["by"] == "baremetal.lb.dhcp_reservation" and len(marker["reservations"]) == 1
    assert kea.commands() == [
        "config-get",
        "lease4-get-all",
        "config-test",
        "list-commands",
        "config-set",
        "config-write",
        "config-get",
    ]
    assert kea.writes == [kea.config]  # what runs is what was written
    assert result["scope"] == {"name": "subnet 1", "subnet": "198.51.100.0/24", "backend": "kea"}
    # a second run changes nothing and sends no write
    kea.sent.clear()
    again = dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    assert not again["changed"] and kea.commands() == ["config-get", "lease4-get-all"]


def test_release_gives_back_exactly_what_was_reserved():
    kea = FakeControlAgent()
    before = kea.pools()
    dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    result = dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119", state="absent")
    assert result["changed"] and kea.pools() == before
    assert "user-context" not in kea.config["subnet4"][0]


def test_check_mode_validates_but_changes_nothing():
    kea = FakeControlAgent()
    before = copy.deepcopy(kea.config)
    result = dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119", check_mode=True)
    assert result["changed"] and result["msg"].startswith("check mode: would have reserved")
    assert kea.config == before and "config-set" not in kea.commands() and "config-test" in kea.commands()


def test_an_active_lease_in_the_band_refuses_unless_accepted():
    kea = FakeControlAgent()
    kea.add_lease()  # 198.51.100.107 'laptop', recorded from Kea's lease4-add
    before = copy.deepcopy(kea.config)
    with pytest.raises(ReservationError, match=r"198\.51\.100\.107.*laptop"):
        dhcp_backend.run(backend(kea), "198.51.100.100-198.51.100.109")
    assert kea.config == before and "config-set" not in kea.commands()
    result = dhcp_backend.run(backend(kea), "198.51.100.100-198.51.100.109", accept_active_leases=True)
    assert result["changed"] and kea.pools() == ["198.51.100.110-198.51.100.199"]


def test_a_lease_says_its_time_left_in_whole_seconds_on_a_real_clock():
    # time.time() has a fraction; the message said "%ds" (truncated) before the f-string rewrite and still must.
    kea = FakeControlAgent()
    kea.add_lease()
    b = backend(kea)
    b.now = lambda: NOW + 0.75
    with pytest.raises(ReservationError, match=r"laptop \(expires in 539s\)"):
        dhcp_backend.run(b, "198.51.100.100-198.51.100.109")


def test_an_expired_lease_does_not_count():
    kea = FakeControlAgent()
    kea.add_lease()
    b = backend(kea)
    b.now = lambda: 1796586353 + 600  # cltt + valid-lft: expired now
    assert dhcp_backend.run(b, "198.51.100.100-198.51.100.109")["changed"]


def test_without_lease_cmds_leases_are_unknown_and_it_refuses_unless_accepted():
    kea = FakeControlAgent(lease_cmds=False)
    with pytest.raises(ReservationError, match="no lease_cmds hook.*accept_active_leases"):
        dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    assert "config-set" not in kea.commands()
    assert dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119", accept_active_leases=True)["changed"]


def test_config_test_rejection_changes_nothing_and_quotes_kea():
    kea = FakeControlAgent()
    kea.fail["config-test"] = "config-test-overlapping-pools"
    before = copy.deepcopy(kea.config)
    with pytest.raises(ReservationError, match="config-test rejected.*overlaps.*the router was not changed"):
        dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    assert kea.config == before and "config-set" not in kea.commands()


def test_config_write_failure_sets_the_old_configuration_back_and_says_how_to_fix_it():
    kea = FakeControlAgent()
    kea.fail["config-write"] = "config-write-unwritable"
    before = copy.deepcopy(kea.config)
    with pytest.raises(ApplyError, match="config-write failed.*Unable to open file.*chmod g\\+w") as err:
        dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    assert err.value.restored
    assert kea.config == before  # running configuration back to what it was
    assert kea.commands()[-3:] == ["config-write", "config-set", "config-get"]  # rollback: set, then check


def test_refused_config_set_that_changed_nothing_is_not_rolled_back():
    kea = FakeControlAgent()
    kea.fail["config-set"] = "config-test-overlapping-pools"  # a result-1 reply: Kea refused, kept the old one
    before = copy.deepcopy(kea.config)
    with pytest.raises(ApplyError, match="refused to apply.*left as it was") as err:
        dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    assert err.value.restored and kea.config == before
    assert kea.commands().count("config-set") == 1  # the live configuration was checked, not overwritten


@pytest.mark.parametrize("mode, hook, update", [("auto", True, True), ("auto", False, False), ("never", True, False)])
def test_subnet_cmds_used_only_when_offered_or_wanted(mode, hook, update):
    kea = FakeControlAgent(subnet_cmds=hook)
    dhcp_backend.run(backend(kea, subnet_cmds=mode), "198.51.100.110-198.51.100.119")
    assert ("subnet4-update" in kea.commands()) is update
    assert ("config-set" in kea.commands()) is not update
    assert kea.pools() == ["198.51.100.100-198.51.100.109", "198.51.100.120-198.51.100.199"]


def test_subnet_cmds_always_without_the_hook_refuses_before_changing_anything():
    kea = FakeControlAgent(subnet_cmds=False)
    before = copy.deepcopy(kea.config)
    with pytest.raises(ReservationError, match="subnet_cmds=always.*subnet4-update.*not changed"):
        dhcp_backend.run(backend(kea, subnet_cmds="always"), "198.51.100.110-198.51.100.119")
    assert kea.config == before and "config-set" not in kea.commands()


def test_scope_is_found_by_the_request_or_named_and_ambiguity_is_an_error():
    kea = FakeControlAgent()
    second = copy.deepcopy(kea.config["subnet4"][0])
    second.update({"id": 2, "subnet": "198.51.100.0/25", "interface": "eth1", "pools": [], "reservations": []})
    kea.config["subnet4"].append(second)
    with pytest.raises(ReservationError, match="2 Kea subnets contain 198.51.100.110.*set scope"):
        dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119")
    assert dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119", scope="1")["changed"]
    with pytest.raises(ReservationError, match="scope 'eth9': no Kea subnet matches"):
        dhcp_backend.run(backend(kea), "198.51.100.110-198.51.100.119", scope="eth9")
    with pytest.raises(ReservationError, match="no Kea subnet contains 192.0.2.10"):
        dhcp_backend.run(backend(kea), "192.0.2.10-192.0.2.20")


def test_reserved_and_gateway_addresses_are_occupants():
    kea = FakeControlAgent()
    state = backend(kea).read(dhcp_backend.parse_range("198.51.100.60", "range"), None)
    kinds = {(str(o.address), o.kind) for o in state.scope.occupants}
    assert ("198.51.100.60", "reservation") in kinds and ("198.51.100.1", "gateway") in kinds


def test_scopes_lists_dhcp4_and_skips_a_service_the_agent_does_not_forward():
    kea = FakeControlAgent()
    scopes = backend(kea).scopes()
    assert [s["hint"] for s in scopes] == ["1"]
    assert scopes[0]["names"] == ["1", "subnet 1", "198.51.100.0/24"]


def test_basic_auth_secret_never_appears_in_errors():
    kea = FakeControlAgent()
    kea.fail["config-get"] = "config-get-dhcp6-not-configured"
    with pytest.raises(ReservationError) as err:
        dhcp_backend.run(backend(kea, api_key="admin", api_secret="s3cret-kea"), "198.51.100.110-198.51.100.119")
    assert "s3cret" not in str(err.value) and "forwarding socket is not configured" in str(err.value)
