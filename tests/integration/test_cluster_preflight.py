"""baremetal.lb.cluster_preflight run by ansible-playbook against the API emulator, and site.yml stopping on it.

The emulator holds what a real cluster would show: Nodes with kubeadm's labels or k3s's node-args annotation,
MetalLB's pods, kube-proxy's ConfigMap as kubeadm writes it. Every refusal is checked to have written nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from tests.collection import PYTHON, REPO, run_module, run_playbook, task_results
from tests.kubeapi import ApiServer

pytestmark = pytest.mark.timeout(90)

FIXTURES = REPO / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "cluster"
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
WRITES = ("create", "update", "patch", "delete")


def writes(server: ApiServer) -> int:
    return sum(server.count_requests(verb=v) for v in WRITES)


def add_node(kube_client, name: str, labels: dict[str, str] | None = None, k3s: list[str] | None = None) -> None:
    meta: dict = {"name": name, "labels": labels or {}}
    if k3s is not None:
        meta["annotations"] = {"k3s.io/node-args": json.dumps(k3s)}
    client.CoreV1Api(kube_client).create_node({"metadata": meta})


def add_pod(kube_client, namespace: str, name: str, labels: dict[str, str]) -> None:
    core = client.CoreV1Api(kube_client)
    try:
        core.create_namespace({"metadata": {"name": namespace}})
    except client.ApiException as exc:
        assert exc.status == 409
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    )


def add_kube_proxy(kube_client, text: str) -> None:
    core = client.CoreV1Api(kube_client)
    try:
        core.create_namespace({"metadata": {"name": "kube-system"}})
    except client.ApiException as exc:
        assert exc.status == 409
    core.create_namespaced_config_map(
        "kube-system", {"metadata": {"name": "kube-proxy"}, "data": {"config.conf": text}}
    )


def kube_proxy_text(kube_client) -> str:
    return client.CoreV1Api(kube_client).read_namespaced_config_map("kube-proxy", "kube-system").data["config.conf"]


@pytest.fixture
def nodes(kube_client):
    for n in ("node1", "node2", "node3"):
        add_node(kube_client, n)


def test_a_ready_cluster_passes_and_writes_nothing(kube_api, kubeconfig, nodes):
    kube_api.reset_counts()
    rc, res = run_module(
        "baremetal.lb.cluster_preflight", {"kubeconfig": str(kubeconfig), "nodes": ["node1", "node2", "node3"]}
    )
    assert rc == 0, res
    assert res["findings"] == [] and res["changed"] is False
    assert writes(kube_api) == 0


def test_every_refusal_is_listed_at_once_and_nothing_is_written(kube_api, kubeconfig, kube_client):
    add_node(kube_client, "k1", k3s=["server", "--disable", "traefik"])
    add_pod(kube_client, "metallb-system", "controller-7d5c", {"app": "metallb", "component": "controller"})
    add_kube_proxy(kube_client, (FIXTURES / "kube-proxy-kubeadm.conf").read_text())
    kube_api.reset_counts()
    rc, res = run_module(
        "baremetal.lb.cluster_preflight", {"kubeconfig": str(kubeconfig), "nodes": ["k1", "k9"], "fix_strict_arp": True}
    )
    assert rc != 0
    checks = sorted(f["check"] for f in res["findings"] if f["severity"] == "error")
    assert checks == ["k3s_servicelb", "kube_proxy_strict_arp", "metallb_running", "node_exists"], res
    for words in (
        "'k9' is not a Node",
        "k3s server(s) k1",
        "metallb-system/controller-7d5c (controller)",
        "IPVS mode without strictARP",
        "nothing was changed",
    ):
        assert words in res["msg"], (words, res["msg"])
    # fix_strict_arp was asked for, but other errors stand: the ConfigMap is left as it was
    assert writes(kube_api) == 0
    assert "strictARP: false" in kube_proxy_text(kube_client)


def test_strict_arp_fix_check_mode_then_real_then_no_change(kube_api, kubeconfig, kube_client, nodes):
    original = (FIXTURES / "kube-proxy-kubeadm.conf").read_text()
    add_kube_proxy(kube_client, original)
    args = {"kubeconfig": str(kubeconfig), "nodes": ["node1"], "fix_strict_arp": True}

    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.cluster_preflight", args, check=True, diff=True)
    assert rc == 0 and res["changed"] is True, res
    assert writes(kube_api) == 0 and kube_proxy_text(kube_client) == original
    assert "rollout restart daemonset kube-proxy" in res["commands"][0]

    rc, res = run_module("baremetal.lb.cluster_preflight", args, diff=True)
    assert rc == 0 and res["changed"] is True, res
    assert kube_proxy_text(kube_client) == original.replace("strictARP: false", "strictARP: true")
    before = res["diff"]["before"]["ConfigMap kube-system/kube-proxy"]["config.conf"]
    assert before == original

    kube_api.reset_counts()
    rc, res = run_module("baremetal.lb.cluster_preflight", args)
    assert rc == 0 and res["changed"] is False and res["findings"] == [], res
    assert writes(kube_api) == 0


def test_exclude_label_on_every_node_warns(kube_api, kubeconfig, kube_client):
    for n in ("cp1", "cp2", "cp3"):
        add_node(kube_client, n, {"node-role.kubernetes.io/control-plane": "", EXCLUDE: ""})
    rc, res = run_module(
        "baremetal.lb.cluster_preflight", {"kubeconfig": str(kubeconfig), "nodes": ["cp1", "cp2", "cp3"]}
    )
    assert rc == 0, res
    assert [f["check"] for f in res["findings"]] == ["exclude_label"]
    assert any(EXCLUDE in w for w in res.get("warnings", [])), res
    rc, res = run_module(
        "baremetal.lb.cluster_preflight",
        {"kubeconfig": str(kubeconfig), "nodes": ["cp1", "cp2", "cp3"], "ignore_exclude_lb": True},
    )
    assert rc == 0 and res["findings"] == [], res


def test_site_yml_stops_before_the_router_is_touched(kube_api, kubeconfig, kube_client, tmp_path: Path):
    # k3s with ServiceLB: site.yml must fail in its first play, before the router or the cluster is written.
    add_node(kube_client, "node1", k3s=["server"])
    inventory = {
        "all": {
            "vars": {"ansible_python_interpreter": PYTHON},
            "children": {
                "routers": {"hosts": {"router": {"ansible_connection": "local"}}},
                "k8s_nodes": {
                    "hosts": {"node1": {"ansible_connection": "local", "baremetal_lb_speaker_node_name": "node1"}}
                },
            },
        }
    }
    extra = {
        "baremetal_lb_kubeconfig": str(kubeconfig),
        "baremetal_lb_pools": [
            {"name": "lan", "addresses": ["198.51.100.240-198.51.100.250"], "router": {"scope": "lan"}}
        ],
        "baremetal_lb_router_backend": "dnsmasq",
        "baremetal_lb_router_options": {"config_file": str(tmp_path / "never-read.conf")},
    }
    kube_api.reset_counts()
    rc, out = run_playbook(
        [{"ansible.builtin.import_playbook": str(REPO / "playbooks" / "site.yml")}],
        inventory=inventory,
        extra_vars=extra,
    )
    assert rc != 0
    failed = [r for r in task_results(out) if r.get("_status") == "failed"]
    assert len(failed) == 1 and "k3s's own ServiceLB is enabled" in failed[0]["msg"], failed
    assert writes(kube_api) == 0
    assert [p["play"]["name"] for p in out["plays"]] == ["Cluster preflight"]  # no router, pools or speaker play
