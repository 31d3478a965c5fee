"""playbooks/uninstall.yml on the cluster and the router: the speakers' identity, and (opt-in) the pools and the
router reservations. The node side (unit, virtualenv, config) runs in the Molecule speaker scenario
(molecule/speaker/side_effect.yml), which imports the same playbook.

Against the API emulator and the pfSense fake (tests/fakes/pfsense.py): check mode changes nothing, the run
removes, a second run reports no change. Without the opt-ins the pools and the reservation stay.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from tests.collection import PYTHON, REPO, run_playbook, task_result
from tests.fakes.pfsense import FakePfsense
from tests.kubeapi import DEFAULT_TOKEN, ApiServer, api_client, write_kubeconfig

pytestmark = pytest.mark.timeout(300)

NS = "metallb-system"
POOLS = [{"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"], "mode": "layer2", "router": {"scope": "lan"}}]
WRITES = ("create", "update", "patch", "delete")


def inventory(pf_url: str, kubeconfig: Path) -> dict:
    local = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}
    return {
        "all": {
            "vars": {"baremetal_lb_pools": POOLS, "baremetal_lb_kubeconfig": str(kubeconfig)},
            "hosts": {"localhost": local},
            "children": {
                "k8s_nodes": {"hosts": {}},  # the node side: Molecule
                "routers": {
                    "hosts": {
                        "gw": {
                            **local,
                            "baremetal_lb_router_backend": "pfsense",
                            "baremetal_lb_router_api_url": pf_url,
                            "baremetal_lb_router_api_key": "pf-secret-key",
                        }
                    }
                },
            },
        }
    }


def play(name: str) -> str:
    return (REPO / "playbooks" / name).read_text()


def writes(server: ApiServer) -> int:
    return sum(server.count_requests(verb=v) for v in WRITES)


def exists(fn, *args) -> bool:
    try:
        fn(*args)
        return True
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise


def test_uninstall_checks_removes_and_then_changes_nothing(tmp_path: Path) -> None:
    everything = {"baremetal_lb_uninstall_pools": True, "baremetal_lb_uninstall_router_reservations": True}
    # an API key needs KeyAuth enabled on the router (the fake starts as pfSense does: BasicAuth only)
    with (
        ApiServer(port=0, crd_dirs=[REPO / "speaker" / "crds"]) as server,
        FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf,
    ):
        server.start()
        kc = write_kubeconfig(tmp_path / "kubeconfig", server.url, token=DEFAULT_TOKEN)
        inv = inventory(pf.url, kc)
        api = api_client(server.url)
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        sa = lambda: exists(core.read_namespaced_service_account, "baremetal-lb-speaker", NS)  # noqa: E731
        pool = lambda: exists(  # noqa: E731
            custom.get_namespaced_custom_object,
            "metallb.io",
            "v1beta1",
            NS,
            "ipaddresspools",
            "lan",
        )
        # installed: router reservation, pool, identity
        for name in ("router.yml", "pools.yml"):
            rc, out = run_playbook(play(name), inventory=inv)
            assert rc == 0, out
        rc, out = run_playbook(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {"name": "identity", "baremetal.lb.speaker_identity": {"kubeconfig": str(kc)}, "no_log": True}
                    ],
                }
            ],
            inventory=inv,
        )
        assert rc == 0, out
        assert sa() and pool() and pf.applied["lan"]["range_to"] == "10.1.1.239"

        # without the opt-ins: only the identity goes; pools and reservation stay
        server.reset_counts()
        rc, out = run_playbook(play("uninstall.yml"), inventory=inv, check=True, diff=True, extra_vars=everything)
        assert rc == 0, out
        assert out["stats"]["localhost"]["changed"] > 0 and out["stats"]["gw"]["changed"] > 0, out["stats"]
        assert writes(server) == 0 and sa() and pool() and pf.applied["lan"]["range_to"] == "10.1.1.239"

        rc, out = run_playbook(play("uninstall.yml"), inventory=inv)
        assert rc == 0, out
        assert not sa() and pool() and pf.applied["lan"]["range_to"] == "10.1.1.239"

        rc, out = run_playbook(play("uninstall.yml"), inventory=inv, extra_vars=everything)
        assert rc == 0, out
        assert not sa() and not pool() and pf.applied["lan"]["range_to"] == "10.1.1.250"
        assert server.count_requests(verb="delete", resource="customresourcedefinitions") == 0

        server.reset_counts()
        rc, out = run_playbook(play("uninstall.yml"), inventory=inv, extra_vars=everything)
        assert rc == 0, out
        assert all(s["changed"] == 0 for s in out["stats"].values()), out["stats"]
        assert writes(server) == 0
        api.close()
        removed = task_result(out, "Delete the speakers' ServiceAccount", host="localhost")
        assert removed["changed"] is False
