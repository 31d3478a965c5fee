"""Secrets never appear in what the router modules return: the result, the diff, warnings or failure messages.

Each router module's entry (``main_for``) runs with a stand-in for ``AnsibleModule`` that records what the module
hands to ``exit_json``/``fail_json``/``warn`` *before* Ansible's own no_log masking (which would hide a leak of a
value it knows, but not of a value derived from it, such as a Basic-auth token), against the contract fakes, with
every secret option set. The secret options are the ``no_log`` ones of each module's argument spec, and the module's
documentation names each of them in its "Secrets never appear" note.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.collection import collection_path
from tests.fakes.openwrt_router import PASSWORD as WRT_PASSWORD
from tests.fakes.openwrt_router import USER as WRT_USER
from tests.fakes.openwrt_router import FakeOpenwrt
from tests.fakes.opnsense import FakeOpnsense
from tests.fakes.pfsense import FakePfsense

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils import dhcp_module, dhcp_scope_info

BAND = "10.1.1.240-10.1.1.250"  # in the pfSense and OPNsense fakes' LAN
WRT_BAND = "192.168.1.240-192.168.1.249"  # in OpenWrt's default LAN (192.168.1.100-249)
MODULES = {"dhcp_reservation": dhcp_module, "dhcp_scope_info": dhcp_scope_info}


class Exited(Exception):
    pass


class RecordingModule:
    """What ``main_for`` uses of ``AnsibleModule``, recording its output unmasked."""

    def __init__(self, spec: dict[str, Any], params: dict[str, Any], check_mode: bool = True) -> None:
        self.params = {name: opt.get("default") for name, opt in spec.items()}
        self.params.update(params)
        self.check_mode = check_mode
        self.warnings: list[str] = []
        self.output: dict[str, Any] = {}

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def exit_json(self, **kwargs: Any) -> None:
        self.output = kwargs
        raise Exited()

    def fail_json(self, **kwargs: Any) -> None:
        self.output = dict(kwargs, failed=True)
        raise Exited()

    def run_command(self, argv: list[str]) -> tuple[int, str, str]:  # pragma: no cover - API backends only
        raise AssertionError(f"an API backend ran a command: {argv!r}")


def secret_options(spec: dict[str, Any]) -> list[str]:
    return sorted(name for name, opt in spec.items() if opt.get("no_log"))


def run(module: str, params: dict[str, Any]) -> RecordingModule:
    mod = MODULES[module]
    rec = RecordingModule(mod.ARG_SPEC, params)
    with pytest.raises(Exited):
        mod.main_for(rec)
    return rec


def assert_clean(rec: RecordingModule, secrets: dict[str, str]) -> None:
    text = json.dumps(rec.output) + json.dumps(rec.warnings)
    for name, value in secrets.items():
        assert value not in text, f"{name}'s value appears in the output: {text}"
    user = rec.params.get("api_username")
    for secret in secrets.values():
        for pair in ((user or "") + ":" + secret, secret):
            assert base64.b64encode(pair.encode()).decode() not in text, "a Basic-auth token appears"


@pytest.fixture
def routers(tmp_path) -> Iterator[dict[str, Any]]:
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf, FakeOpnsense() as opn, FakeOpenwrt(tmp_path) as wrt:
        # the module's own user (docs/router.md): pfSense's default password "pfsense" is also the backend's name
        pf.users["baremetal-lb"] = dict(pf.users["admin"], password="pf-Password-4242")
        wrt.write_leases("0 aa:bb:cc:00:00:02 192.168.1.245 laptop *\n")  # accept_active_leases: a warning
        yield {"pf": pf, "opn": opn, "wrt": wrt}


def cases(routers: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(label, params, the secrets set) -- every secret option set in each; the ones a backend does not use too,
    where the backend allows it (pfSense refuses Key and Basic at once: that refusal is a case of its own)."""
    pf, opn, wrt = routers["pf"], routers["opn"], routers["wrt"]
    spare = {"api_secret": "unused-Secret-9931", "api_password": "unused-Password-8812"}
    out = [
        (
            "opnsense",
            {
                "backend": "opnsense",
                "api_url": opn.url,
                "api_key": opn.key,
                "api_secret": opn.secret,
                "api_password": spare["api_password"],
            },
        ),
        (
            "opnsense wrong secret",
            {
                "backend": "opnsense",
                "api_url": opn.url,
                "api_key": opn.key,
                "api_secret": "wrong-Secret-5150",
                "api_password": spare["api_password"],
            },
        ),
        (
            "pfsense key",
            {"backend": "pfsense", "api_url": pf.url, "api_key": "pf-secret-key", "api_secret": spare["api_secret"]},
        ),
        (
            "pfsense basic",
            {
                "backend": "pfsense",
                "api_url": pf.url,
                "api_username": "baremetal-lb",
                "api_password": "pf-Password-4242",
                "api_secret": spare["api_secret"],
            },
        ),
        (
            "pfsense wrong password",
            {
                "backend": "pfsense",
                "api_url": pf.url,
                "api_username": "baremetal-lb",
                "api_password": "wrong-Password-2718",
                "api_secret": spare["api_secret"],
            },
        ),
        (
            "pfsense key and basic",
            {
                "backend": "pfsense",
                "api_url": pf.url,
                "api_key": "pf-secret-key",
                "api_username": "baremetal-lb",
                **spare,
            },
        ),
        (
            "openwrt",
            {
                "backend": "openwrt",
                "range": WRT_BAND,
                "openwrt_transport": "rpcd",
                "api_url": wrt.rpcd.url,
                "api_username": WRT_USER,
                "api_password": WRT_PASSWORD,
                "api_key": "unused-Key-3141",
                "api_secret": spare["api_secret"],
            },
        ),
        (
            "openwrt wrong password",
            {
                "backend": "openwrt",
                "range": WRT_BAND,
                "openwrt_transport": "rpcd",
                "api_url": wrt.rpcd.url,
                "api_username": WRT_USER,
                "api_password": "wrong-Password-1618",
                "api_key": "unused-Key-3141",
                "api_secret": spare["api_secret"],
            },
        ),
    ]
    result = []
    for label, params in out:
        params = dict(params, validate_certs=False, timeout=5)
        secrets = {name: params[name] for name in secret_options(dhcp_module.ARG_SPEC) if params.get(name)}
        result.append((label, params, secrets))
    return result


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_secret_option_is_named_in_the_docs(module):
    doc = yaml.safe_load(
        importlib.import_module(f"ansible_collections.baremetal.lb.plugins.modules.{module}").DOCUMENTATION
    )
    notes = [n for n in doc["notes"] if n.startswith("Secrets")]
    assert len(notes) == 1, doc["notes"]
    assert secret_options(MODULES[module].ARG_SPEC) == ["api_key", "api_password", "api_secret"]
    for name in secret_options(MODULES[module].ARG_SPEC):
        assert f"O({name})" in notes[0], f"{module}'s note {notes[0]!r} does not name {name}"


def test_dhcp_reservation_output_holds_no_secret(routers):
    seen = {"failed": 0, "changed": 0, "warnings": 0}
    for _label, params, secrets in cases(routers):
        for accept in (False, True):
            rec = run("dhcp_reservation", dict({"range": BAND}, **params, accept_active_leases=accept))
            assert_clean(rec, secrets)
            seen["failed"] += bool(rec.output.get("failed"))
            seen["changed"] += bool(rec.output.get("changed") and rec.output.get("diff"))
            seen["warnings"] += bool(rec.warnings)
    assert seen["failed"] >= 4 and seen["changed"] >= 4 and seen["warnings"] >= 1, seen  # every path was taken


def test_dhcp_scope_info_output_holds_no_secret(routers):
    seen = {"failed": 0, "scopes": 0}
    for _label, params, secrets in cases(routers):
        rec = run("dhcp_scope_info", {k: v for k, v in params.items() if k != "range"})
        assert_clean(rec, secrets)
        seen["failed"] += bool(rec.output.get("failed"))
        seen["scopes"] += bool(rec.output.get("scopes"))
    assert seen["failed"] >= 4 and seen["scopes"] >= 3, seen
