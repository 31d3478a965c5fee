# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure checks of ``cluster_preflight``: one scenario per row, a finding (check, severity) expected or not."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import cluster_preflight as cp

EXCLUDE = cp.EXCLUDE_LABEL
DATA = os.path.join(os.path.dirname(__file__), "fixtures", "cluster")


def kubeadm_conf():
    with open(os.path.join(DATA, "kube-proxy-kubeadm.conf")) as f:
        return f.read()


def node(name, labels=None, k3s=None):
    meta = {"name": name, "labels": dict(labels or {})}
    if k3s is not None:
        meta["annotations"] = {"k3s.io/node-args": json.dumps(k3s)}
    return {"metadata": meta}


def pod(namespace, name, labels, phase="Running"):
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels}, "status": {"phase": phase}}


def kube_proxy(text):
    return {"metadata": {"namespace": "kube-system", "name": "kube-proxy"}, "data": {"config.conf": text}}


def snapshot(nodes=None, servicelb=(), metallb=(), proxy=None):
    return {
        "nodes": nodes if nodes is not None else [node("node1"), node("node2"), node("node3")],
        "servicelb_pods": list(servicelb),
        "metallb_pods": list(metallb),
        "kube_proxy_config_map": proxy,
    }


NODES = ["node1", "node2", "node3"]
CP = {"node-role.kubernetes.io/control-plane": "", EXCLUDE: ""}

# (description, snapshot, keyword arguments of check(), expected findings as {(check, severity)})
SCENARIOS = [
    ("a plain kubeadm cluster in iptables mode: nothing to say", snapshot(), {}, set()),
    ("an inventory host that is no Node", snapshot(), {"nodes": NODES + ["node4"]}, {("node_exists", "error")}),
    (
        "k3s server with ServiceLB (the default)",
        snapshot(nodes=[node("k1", k3s=["server"]), node("k2", k3s=["agent", "--server", "https://k1:6443"])]),
        {"nodes": ["k1", "k2"]},
        {("k3s_servicelb", "error")},
    ),
    (
        "k3s server with --disable servicelb",
        snapshot(nodes=[node("k1", k3s=["server", "--disable", "servicelb"])]),
        {"nodes": ["k1"]},
        set(),
    ),
    (
        "k3s --disable=traefik,servicelb as k3s records it (split at '=')",
        snapshot(nodes=[node("k1", k3s=["server", "--disable", "traefik,servicelb"])]),
        {"nodes": ["k1"]},
        set(),
    ),
    (
        "k3s --disable traefik only: ServiceLB still runs",
        snapshot(nodes=[node("k1", k3s=["server", "--disable", "traefik"])]),
        {"nodes": ["k1"]},
        {("k3s_servicelb", "error")},
    ),
    (
        "ServiceLB pods running (seen from the pods alone)",
        snapshot(servicelb=[pod("kube-system", "svclb-traefik-abcde", {cp.SERVICELB_POD_LABEL: "traefik"})]),
        {},
        {("k3s_servicelb", "error")},
    ),
    (
        "a finished ServiceLB pod is history",
        snapshot(servicelb=[pod("kube-system", "svclb-x", {cp.SERVICELB_POD_LABEL: "x"}, phase="Succeeded")]),
        {},
        set(),
    ),
    (
        "kubeadm IPVS without strictARP, layer2 pools",
        snapshot(proxy=kube_proxy(kubeadm_conf())),
        {},
        {("kube_proxy_strict_arp", "error")},
    ),
    (
        "kubeadm IPVS without strictARP, BGP pools only: kube-proxy's ARP does not matter",
        snapshot(proxy=kube_proxy(kubeadm_conf())),
        {"layer2": False},
        set(),
    ),
    (
        "kubeadm IPVS with strictARP",
        snapshot(proxy=kube_proxy(kubeadm_conf().replace("strictARP: false", "strictARP: true"))),
        {},
        set(),
    ),
    (
        "kubeadm iptables mode (mode empty)",
        snapshot(proxy=kube_proxy(kubeadm_conf().replace('mode: "ipvs"', 'mode: ""'))),
        {},
        set(),
    ),
    (
        "k3s kube-proxy in IPVS without strict ARP",
        snapshot(nodes=[node("k1", k3s=["server", "--disable", "servicelb", "--kube-proxy-arg", "proxy-mode=ipvs"])]),
        {"nodes": ["k1"]},
        {("kube_proxy_strict_arp", "error")},
    ),
    (
        "k3s kube-proxy in IPVS with strict ARP",
        snapshot(
            nodes=[
                node(
                    "k1",
                    k3s=[
                        "server",
                        "--disable",
                        "servicelb",
                        "--kube-proxy-arg",
                        "proxy-mode=ipvs",
                        "--kube-proxy-arg",
                        "ipvs-strict-arp=true",
                    ],
                )
            ]
        ),
        {"nodes": ["k1"]},
        set(),
    ),
    (
        "MetalLB's controller (manifests' labels) still running",
        snapshot(metallb=[pod("metallb-system", "controller-7d5c", {"app": "metallb", "component": "controller"})]),
        {},
        {("metallb_running", "error")},
    ),
    (
        "MetalLB's speaker (Helm labels) still running",
        snapshot(
            metallb=[
                pod(
                    "metallb",
                    "metallb-speaker-x",
                    {"app.kubernetes.io/name": "metallb", "app.kubernetes.io/component": "speaker"},
                )
            ]
        ),
        {},
        {("metallb_running", "error")},
    ),
    (
        "MetalLB running beside speakers that serve their own loadBalancerClass",
        snapshot(metallb=[pod("metallb-system", "controller-7d5c", {"app": "metallb", "component": "controller"})]),
        {"load_balancer_class": "baremetal-lb"},
        {("metallb_running", "warning")},
    ),
    (
        "every speaker node carries the exclude label (3 control-plane homelab)",
        snapshot(nodes=[node(n, CP) for n in NODES]),
        {},
        {("exclude_label", "warning")},
    ),
    (
        "... unless the speakers ignore it",
        snapshot(nodes=[node(n, CP) for n in NODES]),
        {"ignore_exclude_lb": True},
        set(),
    ),
    (
        "only the control plane carries it: the workers announce",
        snapshot(nodes=[node("node1", CP), node("node2"), node("node3")]),
        {},
        set(),
    ),
]


@pytest.mark.parametrize("description,snap,kwargs,expected", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenarios(description, snap, kwargs, expected):
    kwargs = dict(kwargs)
    nodes = kwargs.pop("nodes", NODES)
    before = copy.deepcopy(snap)
    found = cp.check(snap, nodes, **kwargs)
    assert set((f.check, f.severity) for f in found) == expected, [f.message for f in found]
    assert snap == before  # the checks are pure: the snapshot is not touched


def test_messages_name_the_object_and_the_fix():
    found = cp.check(
        snapshot(
            nodes=[node("k1", {EXCLUDE: ""}, k3s=["server"])],
            metallb=[pod("metallb-system", "speaker-abc", {"app": "metallb", "component": "speaker"})],
            proxy=kube_proxy(kubeadm_conf()),
        ),
        ["k1", "nodex"],
    )
    text = dict((f.check, f.message) for f in found)
    assert "'nodex' is not a Node" in text["node_exists"] and "k1" in text["node_exists"]
    assert "k3s server(s) k1" in text["k3s_servicelb"] and "--disable servicelb" in text["k3s_servicelb"]
    assert "ConfigMap kube-system/kube-proxy" in text["kube_proxy_strict_arp"]
    assert "metallb-system/speaker-abc (speaker)" in text["metallb_running"]
    assert "baremetal_lb_speaker_ignore_exclude_lb" in text["exclude_label"]


def test_strict_arp_fix_changes_one_line_and_keeps_the_rest():
    config_map = kube_proxy(kubeadm_conf())
    fixed = cp.strict_arp_fix(config_map)
    old, new = config_map["data"]["config.conf"].splitlines(), fixed["data"]["config.conf"].splitlines()
    changed = [(a, b) for a, b in zip(old, new, strict=False) if a != b]  # lengths: asserted below
    assert changed == [("  strictARP: false", "  strictARP: true")]
    assert len(old) == len(new)
    assert config_map["data"]["config.conf"] == kubeadm_conf()  # input not mutated


def test_strict_arp_fix_is_none_when_nothing_to_do():
    assert cp.strict_arp_fix(kube_proxy(kubeadm_conf().replace("strictARP: false", "strictARP: true"))) is None
    assert cp.strict_arp_fix(kube_proxy(kubeadm_conf().replace('mode: "ipvs"', 'mode: "iptables"'))) is None


def test_strict_arp_fix_refuses_when_the_line_is_missing():
    text = kubeadm_conf().replace("  strictARP: false\n", "")
    with pytest.raises(cp.PreflightError, match="set ipvs.strictARP: true by hand"):
        cp.strict_arp_fix(kube_proxy(text))


def test_unreadable_kube_proxy_config_names_the_configmap():
    with pytest.raises(cp.PreflightError, match="ConfigMap kube-system/kube-proxy: config.conf is not YAML"):
        cp.check(snapshot(proxy=kube_proxy("mode: [ipvs")), NODES)


class FakeCluster:
    """Records writes; reads come from a snapshot (the module's reads are exercised against the emulator in
    tests/integration/test_cluster_preflight.py)."""

    def __init__(self, snap):
        self.snap = snap
        self.writes = []

    def nodes(self):
        return self.snap["nodes"]

    def pods(self, selector):
        key, value = (selector.split("=", 1) + [""])[:2]
        pods = self.snap["servicelb_pods"] + self.snap["metallb_pods"]
        return [
            p for p in pods if key in p["metadata"]["labels"] and (not value or p["metadata"]["labels"][key] == value)
        ]

    def config_map(self, namespace, name):
        return self.snap["kube_proxy_config_map"]

    def replace_config_map(self, obj):
        self.writes.append(obj)


def test_fix_is_not_written_while_another_error_stands():
    cluster = FakeCluster(
        snapshot(proxy=kube_proxy(kubeadm_conf()), metallb=[pod("metallb-system", "controller-1", {"app": "metallb"})])
    )
    result = cp.run({"nodes": NODES, "fix_strict_arp": True}, cluster)
    assert cluster.writes == [] and not result["changed"]
    assert len(result["errors"]) == 2


def test_fix_in_check_mode_reports_and_writes_nothing():
    cluster = FakeCluster(snapshot(proxy=kube_proxy(kubeadm_conf())))
    result = cp.run({"nodes": NODES, "fix_strict_arp": True}, cluster, check_mode=True)
    assert cluster.writes == [] and result["changed"] and result["errors"] == []
    assert "strictARP: true" in result["diff"]["after"]["ConfigMap kube-system/kube-proxy"]["config.conf"]
