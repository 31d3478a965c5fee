"""baremetal.lb.router: its public interface (defaults vs argument_specs) and a run against the pfSense FAKE."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.collection import PYTHON, run_playbook, task_result, task_results
from tests.fakes.pfsense import FakePfsense

ROLE = Path(__file__).resolve().parents[3] / "roles" / "router"


def test_defaults_and_argument_specs_have_the_same_keys():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(specs)
    for name, spec in specs.items():
        if "default" in spec:
            assert spec["default"] == defaults[name], name
    assert all(k.startswith("baremetal_lb_") for k in defaults)


def inventory(url: str, **extra):
    return {
        "all": {
            "children": {
                "routers": {
                    "hosts": {
                        "gw": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": PYTHON,
                            "baremetal_lb_router_backend": "pfsense",
                            "baremetal_lb_router_api_url": url,
                            "baremetal_lb_router_api_key": "pf-secret-key",
                            **extra,
                        }
                    }
                }
            }
        }
    }


PLAYBOOK = (Path(__file__).resolve().parents[3] / "playbooks" / "router.yml").read_text()


def test_role_reserves_the_seed_pool_on_pfsense_idempotently_and_releases():
    pools = [
        {"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"], "mode": "layer2", "router": {"scope": "lan"}},
        {"name": "bgp-only", "addresses": ["192.0.2.0/28"], "mode": "bgp"},
    ]  # no router key: untouched
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        rc, out = run_playbook(PLAYBOOK, inventory=inventory(pf.url), extra_vars={"baremetal_lb_pools": pools})
        assert rc == 0, out
        res = task_result(out, "Reserve | keep")
        assert res["changed"] is True
        assert [r["ranges_after"] for r in res["results"]] == [["10.1.1.100-10.1.1.239"]]
        assert pf.applied["lan"]["range_to"] == "10.1.1.239"
        assert "pf-secret-key" not in str(out)

        rc, out = run_playbook(PLAYBOOK, inventory=inventory(pf.url), extra_vars={"baremetal_lb_pools": pools})
        assert rc == 0 and out["stats"]["gw"]["changed"] == 0, out

        pools[0]["state"] = "absent"
        rc, out = run_playbook(PLAYBOOK, inventory=inventory(pf.url), extra_vars={"baremetal_lb_pools": pools})
        assert rc == 0 and pf.applied["lan"]["range_to"] == "10.1.1.250", out


def test_role_preflight_names_what_is_missing():
    rc, out = run_playbook(
        PLAYBOOK,
        inventory=inventory("", baremetal_lb_router_backend="fortigate"),
        extra_vars={"baremetal_lb_pools": []},
    )
    assert rc != 0
    failed = [r for r in task_results(out) if r["_status"] == "failed"]
    # meta/argument_specs.yml catches it before the tasks: the message names the variable and the value
    assert (
        "baremetal_lb_router_backend must be one of: kea, dnsmasq, pfsense, opnsense, openwrt, got: fortigate"
        in failed[0]["msg"]
    ), failed
    rc, out = run_playbook(
        PLAYBOOK, inventory=inventory("", baremetal_lb_router_backend="opnsense"), extra_vars={"baremetal_lb_pools": []}
    )
    assert rc != 0
    failed = [r for r in task_results(out) if r["_status"] == "failed"]
    assert (
        "backend opnsense needs baremetal_lb_router_api_url and baremetal_lb_router_api_key and "
        "baremetal_lb_router_api_secret" in failed[0]["msg"]
    ), failed
    rc, out = run_playbook(
        PLAYBOOK,
        inventory=inventory("http://127.0.0.1:9"),
        extra_vars={"baremetal_lb_pools": [{"name": "lan", "addresses": "10.1.1.240-10.1.1.250", "router": {}}]},
    )
    assert rc != 0
    failed = [r for r in task_results(out) if r["_status"] == "failed"]
    assert "baremetal_lb_pools entry lan" in str(failed), failed
