"""Each module's ``main()`` run in-process the way Ansible runs it (arguments in, one JSON result out), for the
paths that need no router and no cluster: argument validation and the first refusal of a bad option.

Runs under both ``pytest`` and ``ansible-test units`` (see tests/unit/plugins/conftest.py).
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.baremetal.lb.plugins.modules import address_pool, dhcp_reservation, speaker_identity


def run_main(module, args, capsys):
    """``module.main()`` with ``args``: the parsed JSON it printed (every module ends in exit/fail_json)."""
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        module.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = info.value.code
    return result


POOL = {"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"], "kubeconfig": "/nonexistent/kubeconfig"}


@pytest.mark.parametrize(
    "module, args, message",
    [
        (address_pool, {"name": "lan"}, "state is present but all of the following are missing: addresses"),
        (address_pool, dict(POOL, mode="ospf"), "value of mode must be one of: layer2, bgp, got: ospf"),
        (address_pool, dict(POOL, colour="blue"), "Unsupported parameters for (basic.py) module: colour"),
        (
            address_pool,
            dict(POOL, addresses=["10.1.1.250-10.1.1.240"]),
            "addresses[0]: '10.1.1.250-10.1.1.240' ends before it starts",
        ),
        (speaker_identity, {"token_timeout": -1}, "token_timeout: -1 must be 0 or more seconds"),
        (dhcp_reservation, {"range": "10.1.1.240-10.1.1.250"}, "missing required arguments: backend"),
        (
            dhcp_reservation,
            {"backend": "dhcpd", "range": "10.1.1.240-10.1.1.250"},
            "value of backend must be one of: kea, dnsmasq, pfsense, opnsense, openwrt, got: dhcpd",
        ),
        (
            dhcp_reservation,
            {"backend": "dnsmasq", "range": "10.1.1.250-10.1.1.240", "conf_file": "/nonexistent.conf"},
            "range: '10.1.1.250-10.1.1.240' ends before it starts",
        ),
    ],
    ids=[
        "pool-no-addresses",
        "pool-bad-mode",
        "pool-unknown-option",
        "pool-backwards-range",
        "identity-timeout",
        "dhcp-no-backend",
        "dhcp-bad-backend",
        "dhcp-backwards-range",
    ],
)
def test_bad_arguments_fail_with_a_message_naming_them(module, args, message, capsys):
    result = run_main(module, args, capsys)
    assert result["_rc"] == 1 and result["failed"] is True
    assert message in result["msg"]
    assert result.get("changed", False) is False


def test_bad_options_are_refused_before_the_cluster_is_contacted(capsys):
    """The kubeconfig does not exist: a bad pool must be reported, not the missing kubeconfig."""
    result = run_main(address_pool, dict(POOL, mode="bgp", bgp={"aggregation_length": 33}), capsys)
    assert result["msg"].startswith("bgp.aggregation_length:"), result["msg"]


def test_unreachable_kubeconfig_names_the_option(capsys):
    result = run_main(address_pool, POOL, capsys)
    assert result["failed"] is True
    assert "kubeconfig" in result["msg"] and "/nonexistent/kubeconfig" in result["msg"], result["msg"]


def test_secrets_never_reach_the_result(capsys):
    result = run_main(address_pool, dict(POOL, api_key="s3cret-token", mode="ospf"), capsys)
    assert "s3cret-token" not in json.dumps(result)
