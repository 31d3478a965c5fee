"""baremetal.lb.router with backend openwrt: with an API URL the role runs the module on the controller over rpcd,
so the router host is never connected to (here it is an SSH address where nothing listens)."""

from __future__ import annotations

from pathlib import Path

from tests.collection import run_playbook, task_result, task_results
from tests.fakes.openwrt_router import PASSWORD, USER, FakeOpenwrt

PLAYBOOK = (Path(__file__).resolve().parents[4] / "playbooks" / "router.yml").read_text()
POOLS = [{"name": "lan", "addresses": ["192.168.1.240-192.168.1.250"], "mode": "layer2", "router": {"scope": "lan"}}]


def inventory(**host):
    return {
        "all": {
            "children": {
                "routers": {
                    "hosts": {
                        "openwrt": {
                            "ansible_connection": "ssh",
                            "ansible_host": "127.0.0.1",
                            "ansible_port": 9,  # nothing listens: no SSH
                            "baremetal_lb_router_backend": "openwrt",
                            **host,
                        }
                    }
                }
            }
        }
    }


def test_role_reserves_from_the_controller_and_never_touches_the_router_host(tmp_path):
    with FakeOpenwrt(tmp_path) as router:
        conn = {
            "baremetal_lb_router_api_url": router.rpcd.url,
            "baremetal_lb_router_api_username": USER,
            "baremetal_lb_router_api_password": PASSWORD,
        }
        rc, out = run_playbook(PLAYBOOK, inventory=inventory(**conn), extra_vars={"baremetal_lb_pools": POOLS})
        assert rc == 0, out
        assert [r["ranges_after"] for r in task_result(out, "Reserve | keep")["results"]] == [
            ["192.168.1.100-192.168.1.239"]
        ]
        assert "option limit '140'" in router.dhcp_file() and PASSWORD not in str(out)
        rc, out = run_playbook(PLAYBOOK, inventory=inventory(**conn), extra_vars={"baremetal_lb_pools": POOLS})
        assert rc == 0 and out["stats"]["openwrt"]["changed"] == 0, out


def test_role_preflight_wants_the_rpcd_login(tmp_path):
    rc, out = run_playbook(
        PLAYBOOK,
        inventory=inventory(baremetal_lb_router_api_url="https://192.0.2.1"),
        extra_vars={"baremetal_lb_pools": POOLS},
    )
    assert rc != 0
    failed = [r for r in task_results(out) if r["_status"] == "failed"]
    assert (
        "backend openwrt with baremetal_lb_router_api_url talks to rpcd and needs baremetal_lb_router_api_username"
        in failed[0]["msg"]
    ), failed
