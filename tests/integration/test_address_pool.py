"""baremetal.lb.address_pool and the baremetal.lb.pools role, run by ansible-playbook against the API emulator.

Each test runs the real module (AnsiballZ, connection local, the test's Python as interpreter) with
``kubeconfig: <path>`` and checks the cluster through the official client and the emulator's request counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.collection import REPO, ansible_doc, run_module, run_playbook, task_results
from tests.kubeapi import ApiServer, write_kubeconfig

pytestmark = pytest.mark.timeout(60)

NS = "metallb-system"
GROUP, VERSION = "metallb.io", "v1beta1"
SEED = ["10.1.1.240-10.1.1.250"]
WRITES = ("create", "update", "patch", "delete")


def pool_args(kubeconfig: Path, **kw: Any) -> dict[str, Any]:
    args = {"kubeconfig": str(kubeconfig), "name": "lan", "addresses": SEED}
    args.update(kw)
    return args


def get(kube_client, plural: str, name: str, namespace: str = NS) -> dict[str, Any] | None:
    try:
        return client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def writes(server: ApiServer) -> int:
    return sum(server.count_requests(verb=v) for v in WRITES)


def make_pool(kube_client, name: str, addresses: list[str]) -> None:
    core = client.CoreV1Api(kube_client)
    try:
        core.create_namespace({"metadata": {"name": NS}})
    except client.ApiException as exc:
        assert exc.status == 409
    client.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        "ipaddresspools",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "IPAddressPool",
            "metadata": {"name": name},
            "spec": {"addresses": addresses},
        },
    )


def test_create_then_second_run_changes_nothing(kube_api, kubeconfig, kube_client):
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    assert rc == 0 and res["_status"] == "ok", res
    assert res["changed"] is True
    assert res["commands"] == [
        "create Namespace metallb-system",
        "create IPAddressPool metallb-system/lan 10.1.1.240-10.1.1.250",
        "create L2Advertisement metallb-system/lan for pool lan",
    ]
    pool = get(kube_client, "ipaddresspools", "lan")
    assert pool["spec"] == {"addresses": SEED, "autoAssign": True, "avoidBuggyIPs": False}
    assert pool["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "baremetal-lb"}
    adv = get(kube_client, "l2advertisements", "lan")
    assert adv["spec"] == {"ipAddressPools": ["lan"]}
    assert get(kube_client, "bgpadvertisements", "lan") is None
    assert res["pool"]["spec"] == pool["spec"] and res["advertisement"]["spec"] == adv["spec"]

    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    assert rc == 0 and res["changed"] is False and res["commands"] == [], res
    assert writes(kube_api) == 0


def test_check_mode_writes_nothing_and_reports_the_plan(kube_api, kubeconfig, kube_client):
    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig), check=True, diff=True)
    assert rc == 0 and res["changed"] is True, res
    assert "create IPAddressPool metallb-system/lan 10.1.1.240-10.1.1.250" in res["commands"]
    assert res["diff"]["before"] == {}
    assert writes(kube_api) == 0
    assert get(kube_client, "ipaddresspools", "lan") is None

    run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig, addresses=["10.1.1.240/29"]), check=True)
    assert rc == 0 and res["changed"] is True
    assert res["commands"] == [
        "update IPAddressPool metallb-system/lan: addresses 10.1.1.240-10.1.1.250 -> 10.1.1.240/29"
    ]
    assert writes(kube_api) == 0
    assert get(kube_client, "ipaddresspools", "lan")["spec"]["addresses"] == SEED


def test_diff_shows_before_and_after(kubeconfig, kube_client):
    run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    rc, res = run_module(
        "baremetal.lb.address_pool",
        pool_args(kubeconfig, addresses=["10.1.1.240/29"], l2={"interfaces": ["eth0"]}),
        diff=True,
    )
    assert rc == 0 and res["changed"] is True, res
    assert res["diff"] == {
        "before": {
            "IPAddressPool metallb-system/lan": {"addresses": SEED, "autoAssign": True, "avoidBuggyIPs": False},
            "L2Advertisement metallb-system/lan": {"ipAddressPools": ["lan"]},
        },
        "after": {
            "IPAddressPool metallb-system/lan": {
                "addresses": ["10.1.1.240/29"],
                "autoAssign": True,
                "avoidBuggyIPs": False,
            },
            "L2Advertisement metallb-system/lan": {"ipAddressPools": ["lan"], "interfaces": ["eth0"]},
        },
    }
    assert get(kube_client, "l2advertisements", "lan")["spec"]["interfaces"] == ["eth0"]


def test_overlap_with_another_pool_is_refused_naming_both(kube_api, kubeconfig, kube_client):
    make_pool(kube_client, "dmz", ["10.1.1.248/29"])
    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    assert rc != 0 and res["_status"] == "failed"
    assert "IPAddressPool metallb-system/lan" in res["msg"] and "IPAddressPool metallb-system/dmz" in res["msg"]
    assert "10.1.1.248-10.1.1.250" in res["msg"] and "nothing was changed" in res["msg"]
    assert writes(kube_api) == 0
    assert get(kube_client, "ipaddresspools", "lan") is None


@pytest.mark.parametrize(
    "addresses, field, value",
    [
        (["10.1.1.250-10.1.1.240"], "addresses[0]", "10.1.1.250-10.1.1.240"),
        (["10.1.1.240/24"], "addresses[0]", "10.1.1.240/24"),
        (["10.1.1.240-10.1.1.250", "10.1.1.0/33"], "addresses[1]", "10.1.1.0/33"),
    ],
)
def test_bad_range_is_refused_before_anything_is_sent(kube_api, kubeconfig, addresses, field, value):
    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig, addresses=addresses))
    assert rc != 0 and res["_status"] == "failed"
    assert res["msg"].startswith(field + ":") and value in res["msg"], res["msg"]
    assert kube_api.count_requests() == 0  # refused before connecting


def test_absent_removes_pool_and_advertisement(kube_api, kubeconfig, kube_client):
    run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    rc, res = run_module("baremetal.lb.address_pool", {"kubeconfig": str(kubeconfig), "name": "lan", "state": "absent"})
    assert rc == 0 and res["changed"] is True, res
    assert res["commands"] == ["delete L2Advertisement metallb-system/lan", "delete IPAddressPool metallb-system/lan"]
    assert get(kube_client, "ipaddresspools", "lan") is None
    assert get(kube_client, "l2advertisements", "lan") is None
    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.address_pool", {"kubeconfig": str(kubeconfig), "name": "lan", "state": "absent"})
    assert rc == 0 and res["changed"] is False and writes(kube_api) == 0


def test_mode_switch_replaces_the_advertisement(kubeconfig, kube_client):
    run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    rc, res = run_module(
        "baremetal.lb.address_pool",
        pool_args(
            kubeconfig, mode="bgp", bgp={"aggregation_length": 32, "local_pref": 100, "communities": ["64512:100"]}
        ),
    )
    assert rc == 0 and res["changed"] is True, res
    assert get(kube_client, "l2advertisements", "lan") is None
    assert get(kube_client, "bgpadvertisements", "lan")["spec"] == {
        "ipAddressPools": ["lan"],
        "aggregationLength": 32,
        "aggregationLengthV6": 128,
        "localPref": 100,
        "communities": ["64512:100"],
    }


def test_crds_are_installed_when_missing(tmp_path):
    with ApiServer(port=0, crd_dirs=[]) as server:
        server.start()
        kc = write_kubeconfig(tmp_path / "kubeconfig", server.url)
        rc, res = run_module("baremetal.lb.address_pool", pool_args(kc))
        assert rc == 0 and res["changed"] is True, res
        installs = [c for c in res["commands"] if c.startswith("install CustomResourceDefinition")]
        assert len(installs) == len(list((REPO / "speaker" / "crds").glob("*.yaml")))  # every CRD the speaker ships
        from tests.kubeapi import api_client

        kc_client = api_client(server.url)
        try:
            names = {
                c.metadata.name for c in client.ApiextensionsV1Api(kc_client).list_custom_resource_definition().items
            }
            assert {
                "ipaddresspools.metallb.io",
                "l2advertisements.metallb.io",
                "bgpadvertisements.metallb.io",
                "bgppeers.metallb.io",
                "communities.metallb.io",
                "bfdprofiles.metallb.io",
            } <= names
            assert get(kc_client, "ipaddresspools", "lan")["spec"]["addresses"] == SEED
        finally:
            kc_client.close()
        server.reset_counts()
        rc, res = run_module("baremetal.lb.address_pool", pool_args(kc))
        assert rc == 0 and res["changed"] is False and writes(server) == 0


def test_missing_crds_with_install_crds_false_fail_and_write_nothing(tmp_path):
    with ApiServer(port=0, crd_dirs=[]) as server:
        server.start()
        kc = write_kubeconfig(tmp_path / "kubeconfig", server.url)
        rc, res = run_module("baremetal.lb.address_pool", pool_args(kc, install_crds=False))
        assert rc != 0 and "ipaddresspools.metallb.io" in res["msg"] and "install_crds" in res["msg"]
        assert writes(server) == 0


def test_failed_advertisement_write_rolls_back_the_pool(kube_api, kubeconfig, kube_client):
    kube_api.fail(500, verb="create", resource="l2advertisements", message="injected failure")
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    assert rc != 0 and res["_status"] == "failed"
    assert "create L2Advertisement metallb-system/lan for pool lan failed: 500" in res["msg"]
    assert "rolled back: deleted IPAddressPool metallb-system/lan, which this run had created" in res["msg"]
    assert get(kube_client, "ipaddresspools", "lan") is None
    assert kube_api.count_requests(verb="delete", resource="ipaddresspools") == 1
    kube_api.clear_faults()
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kubeconfig))
    assert rc == 0 and res["changed"] is True
    assert get(kube_client, "l2advertisements", "lan") is not None


def test_api_key_is_used_and_never_shown(tmp_path):
    token = "s3cr3t-bearer-token-6b1f"
    authz = {token: [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    with ApiServer(port=0, crd_dirs=[REPO / "speaker" / "crds"], authz=authz) as server:
        server.start()
        kc = write_kubeconfig(tmp_path / "kubeconfig", server.url, token="not-the-right-token")
        play = [
            {
                "hosts": "all",
                "gather_facts": False,
                "tasks": [
                    {"name": "pool", "baremetal.lb.address_pool": pool_args(kc, api_key=token)},
                    {
                        "name": "bad range",
                        "baremetal.lb.address_pool": pool_args(kc, api_key=token, addresses=["x"]),
                        "ignore_errors": True,
                    },
                ],
            }
        ]
        rc, out = run_playbook(play, diff=True, args=["-vvv"])
        first = task_results(out, "pool")[0]
        assert first["_status"] == "ok" and first["changed"] is True, first
        assert first["invocation"]["module_args"]["api_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert task_results(out, "bad range")[0]["_status"] == "failed"
        assert token not in json.dumps(out)


def test_env_fallback_kubeconfig(kubeconfig, kube_client):
    rc, res = run_module(
        "baremetal.lb.address_pool", {"name": "lan", "addresses": SEED}, env={"K8S_AUTH_KUBECONFIG": str(kubeconfig)}
    )
    assert rc == 0 and res["changed"] is True, res
    assert get(kube_client, "ipaddresspools", "lan") is not None


def test_unreachable_api_fails_with_the_address(tmp_path):
    kc = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    rc, res = run_module("baremetal.lb.address_pool", pool_args(kc))
    assert rc != 0 and "cannot reach the API server at http://127.0.0.1:9" in res["msg"], res["msg"]


def test_pools_role_with_the_example_inventory_is_idempotent(kube_api, kubeconfig, kube_client):
    example = REPO / "inventory" / "example"
    pools = yaml.safe_load((example / "group_vars" / "all.yml").read_text())["baremetal_lb_pools"]
    playbook = (REPO / "playbooks" / "pools.yml").read_text()
    extra = {"baremetal_lb_kubeconfig": str(kubeconfig)}
    rc, out = run_playbook(playbook, extra_vars=extra, args=["-i", str(example)])
    assert rc == 0, out
    assert out["stats"]["localhost"]["changed"] == 1 and out["stats"]["localhost"]["failures"] == 0
    for p in pools:
        pool = get(kube_client, "ipaddresspools", p["name"])
        assert pool["spec"]["addresses"] == p["addresses"]
        assert get(kube_client, "l2advertisements" if p["mode"] == "layer2" else "bgpadvertisements", p["name"])

    kube_api.reset_counts()
    rc, out = run_playbook(playbook, extra_vars=extra, args=["-i", str(example)])
    assert rc == 0 and out["stats"]["localhost"]["changed"] == 0, out["stats"]
    assert writes(kube_api) == 0


def test_pools_role_preflight_stops_before_any_write(kube_api, kubeconfig):
    pools = [
        {"name": "lan", "addresses": SEED},
        {"name": "bad", "addresses": ["10.1.2.250-10.1.2.240"], "router": {"scope": "lan"}},
    ]
    kube_api.reset_counts()
    rc, out = run_playbook(
        REPO.joinpath("playbooks", "pools.yml").read_text(),
        extra_vars={"baremetal_lb_kubeconfig": str(kubeconfig), "baremetal_lb_pools": pools},
    )
    assert rc != 0
    failed = [r for r in task_results(out) if r.get("_status") == "failed"]
    assert failed and "addresses[0]: '10.1.2.250-10.1.2.240' ends before it starts" in json.dumps(failed)
    assert writes(kube_api) == 0


def test_pools_role_preflight_refuses_overlapping_pools_naming_both_before_any_write(kube_api, kubeconfig, kube_client):
    # Each pool alone is valid and the cluster holds neither, so the module's check-mode preflight passes both;
    # without the inventory-wide check "lan" would be written and "dmz" refused afterwards (half-applied).
    pools = [
        {"name": "lan", "addresses": SEED},
        {"name": "dmz", "addresses": ["192.0.2.0/28", "10.1.1.248/29"], "mode": "bgp"},
        {"name": "v6", "addresses": ["2001:db8::/120"]},
        {"name": "old", "addresses": ["10.1.1.250"], "state": "absent"},
    ]  # being removed: no clash
    kube_api.reset_counts()
    rc, out = run_playbook(
        REPO.joinpath("playbooks", "pools.yml").read_text(),
        extra_vars={"baremetal_lb_kubeconfig": str(kubeconfig), "baremetal_lb_pools": pools},
    )
    assert rc != 0
    failed = [r for r in task_results(out) if r.get("_status") == "failed"]
    assert len(failed) == 1, failed
    assert failed[0]["msg"] == (
        "baremetal_lb_pools: pool lan addresses[0] 10.1.1.240-10.1.1.250 and pool dmz "
        "addresses[1] 10.1.1.248/29 share 10.1.1.248-10.1.1.250; two pools must not share "
        "addresses; nothing was changed"
    ), failed
    assert writes(kube_api) == 0
    assert get(kube_client, "ipaddresspools", "lan") is None and get(kube_client, "ipaddresspools", "dmz") is None


def test_docs_render_with_ansible_doc():
    text = ansible_doc("baremetal.lb.address_pool")
    for word in ("addresses", "K8S_AUTH_KUBECONFIG", "install_crds", "EXAMPLES", "RETURN VALUES"):
        assert word in text, word
    doc = json.loads(ansible_doc("baremetal.lb.address_pool", json_output=True))["baremetal.lb.address_pool"]
    assert doc["doc"]["options"]["api_key"]["type"] == "str"


def _crd_files(directory: Path, edit) -> Path:
    """speaker/crds/ copied to ``directory``, each CRD passed through ``edit(crd) -> crd`` (as kubectl would apply)."""
    from speaker.crds import load_crds

    directory.mkdir()
    for crd in load_crds():
        (directory / f"{crd['metadata']['name']}.yaml").write_text(yaml.safe_dump(edit(crd)))
    return directory


def test_crds_of_an_older_release_are_updated_never_deleted_and_others_left_alone(tmp_path):
    """The cluster holds: our IPAddressPool CRD from an older release (schema 0.0.9, without serviceAllocation),
    MetalLB's own L2Advertisement CRD (no part-of label, a field of its own), and a BGPPeer CRD written by a newer
    collection. Check mode reports the one update and writes nothing; the run updates only that CRD; the second
    run changes nothing; no CRD is ever deleted."""

    def edit(crd):
        name = crd["metadata"]["name"]
        if name == "ipaddresspools.metallb.io":
            crd["metadata"]["annotations"]["baremetal-lb/schema-version"] = "0.0.9"
            props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            del props["serviceAllocation"]
        elif name == "l2advertisements.metallb.io":
            del crd["metadata"]["labels"]
            crd["metadata"]["annotations"] = {"from": "metallb"}
            crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
                {"name": "Pools", "type": "string", "jsonPath": ".spec.ipAddressPools"}
            ]
        elif name == "bgppeers.metallb.io":
            crd["metadata"]["annotations"]["baremetal-lb/schema-version"] = "9.9.9"
            crd["spec"]["versions"][0]["additionalPrinterColumns"] = []
        return crd

    crds = _crd_files(tmp_path / "crds", edit)
    with ApiServer(port=0, crd_dirs=[crds]) as server:
        server.start()
        kc = write_kubeconfig(tmp_path / "kubeconfig", server.url)
        ext = client.ApiextensionsV1Api(api_client_for(server))
        before = {c.metadata.name: c for c in ext.list_custom_resource_definition().items}
        args = pool_args(kc, service_allocation={"priority": 5})

        server.reset_counts()
        rc, res = run_module("baremetal.lb.address_pool", args, check=True)
        assert rc == 0 and res["changed"] is True, res
        assert "update CustomResourceDefinition ipaddresspools.metallb.io: schema 0.0.9 -> 0.1.0" in res["commands"]
        assert not [c for c in res["commands"] if "l2advertisements.metallb.io" in c or "bgppeers" in c]
        assert any(
            "bgppeers.metallb.io has schema 9.9.9, newer than this collection's 0.1.0" in w
            for w in res.get("warnings", [])
        ), res
        assert writes(server) == 0

        rc, res = run_module("baremetal.lb.address_pool", args)
        assert rc == 0 and res["changed"] is True, res
        after = {c.metadata.name: c for c in ext.list_custom_resource_definition().items}
        pools_crd = after["ipaddresspools.metallb.io"]
        assert pools_crd.metadata.annotations["baremetal-lb/schema-version"] == "0.1.0"
        assert "serviceAllocation" in pools_crd.spec.versions[0].schema.open_apiv3_schema.properties["spec"].properties
        for name in ("l2advertisements.metallb.io", "bgppeers.metallb.io"):
            assert after[name].metadata.resource_version == before[name].metadata.resource_version, name
        assert get_with(server, "ipaddresspools", "lan")["spec"]["serviceAllocation"] == {"priority": 5}

        server.reset_counts()
        rc, res = run_module("baremetal.lb.address_pool", args)
        assert rc == 0 and res["changed"] is False and res["commands"] == [], res
        assert writes(server) == 0
        assert server.count_requests(verb="delete", resource="customresourcedefinitions") == 0
        assert set(after) == set(before)


def api_client_for(server: ApiServer):
    from tests.kubeapi import api_client

    return api_client(server.url)


def get_with(server: ApiServer, plural: str, name: str) -> dict[str, Any] | None:
    kc = api_client_for(server)
    try:
        return get(kc, plural, name)
    finally:
        kc.close()
