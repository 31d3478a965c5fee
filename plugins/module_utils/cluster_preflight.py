# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a real cluster must look like before baremetal-lb changes anything (``baremetal.lb.cluster_preflight``).

Every MetalLB guide starts with the same three steps, and each one, when missed, breaks a user's network in a way
that looks like our bug: k3s's own ServiceLB answering for the same Services, kube-proxy in IPVS mode answering
ARP for every load-balancer address from every node (no ``strictARP``), and a MetalLB still running beside us.
Two more are ours: inventory hosts that are not Nodes (their speakers would never announce), and kubeadm's
``node.kubernetes.io/exclude-from-external-load-balancers`` label on every node that may announce (nothing is
announced, silently).

Shape: :func:`read_snapshot` reads what the checks need (no writes); :func:`check` is pure — a snapshot and the
play's intent in, :class:`Finding` s out; :func:`strict_arp_fix` is the one write the module offers (opt-in), as a
new ConfigMap plus a readable diff. The module fails when any finding is an error, before writing anything.
"""

from __future__ import annotations

import copy
import json
import re
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.k8s_auth import K8S_AUTH_ARG_SPEC, K8sAuthError, get_client

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.baremetal.lb.plugins.module_utils.metallb_pool import Cluster

    Json = t.Dict[str, t.Any]

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

# k3s records every server/agent argument (command line and config.yaml; "--f=v" split into "--f", "v") in this
# Node annotation, as a JSON list: k3s-io/k3s pkg/nodeconfig/nodeconfig.go (NodeArgsAnnotation = version.Program
# + ".io/node-args", getNodeArgs). RKE2 is built from the same code with its own program name.
K3S_NODE_ARGS = ("k3s.io/node-args", "rke2.io/node-args")

# The pods ServiceLB (klipper-lb) creates for each LoadBalancer Service carry this label: k3s-io/k3s
# pkg/cloudprovider/servicelb.go (svcNameLabel = "svccontroller.k3s.cattle.io/svcname").
SERVICELB_POD_LABEL = "svccontroller.k3s.cattle.io/svcname"

# MetalLB's pods, as its manifests (config/manifests/metallb-native.yaml: app=metallb, component=controller|speaker)
# and its Helm chart (charts/metallb/templates/_helpers.tpl: app.kubernetes.io/name=metallb,
# app.kubernetes.io/component=controller|speaker) label them.
METALLB_POD_SELECTORS = ("app=metallb", "app.kubernetes.io/name=metallb")

CLUSTER_PREFLIGHT_ARG_SPEC = copy.deepcopy(K8S_AUTH_ARG_SPEC)
CLUSTER_PREFLIGHT_ARG_SPEC.update(
    nodes=dict(type="list", elements="str", default=[]),
    layer2=dict(type="bool", default=True),
    ignore_exclude_lb=dict(type="bool", default=False),
    load_balancer_class=dict(type="str"),
    fix_strict_arp=dict(type="bool", default=False),
)

ERROR = "error"
WARNING = "warning"


class Finding:
    """One result of a check: ``check`` (a stable id), ``severity``, the ``object`` it is about, and a ``message``
    that says what is wrong and how to fix it."""

    __slots__ = ("check", "severity", "object", "message")

    def __init__(self, check: str, severity: str, obj: str, message: str) -> None:
        self.check = check
        self.severity = severity
        self.object = obj
        self.message = message

    def as_dict(self) -> Json:
        return {"check": self.check, "severity": self.severity, "object": self.object, "message": self.message}

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Finding({self.check!r}, {self.severity!r}, {self.message!r})"


class PreflightError(Exception):
    """The cluster could not be read, or a fix cannot be computed; the message names the object."""


# ---------------------------------------------------------------------------------------------------------------
# pure helpers over API dicts


def _meta(obj: Json) -> Json:
    return obj.get("metadata") or {}


def _name(obj: Json) -> str:
    meta = _meta(obj)
    if meta.get("namespace"):
        return "{}/{}".format(meta["namespace"], meta.get("name"))
    return meta.get("name") or "?"


def k3s_args(node: Json) -> list[str] | None:
    """The k3s/RKE2 arguments recorded on ``node`` (a list), or None when the node is not k3s/RKE2's."""
    annotations = _meta(node).get("annotations") or {}
    for key in K3S_NODE_ARGS:
        if key in annotations:
            try:
                args = json.loads(annotations[key])
            except ValueError:
                return []
            return [str(a) for a in args] if isinstance(args, list) else []
    return None


def _flag_values(args: list[str], *flags: str) -> list[str]:
    """Values given to any of ``flags`` in a k3s argument list: ``--f v``, ``--f=v``; comma lists split."""
    values: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        for flag in flags:
            if arg == flag and i + 1 < len(args):
                values.extend(v.strip() for v in args[i + 1].split(","))
                i += 1
                break
            if arg.startswith(flag + "="):
                values.extend(v.strip() for v in arg[len(flag) + 1 :].split(","))
                break
        i += 1
    return values


def servicelb_enabled(args: list[str] | None) -> bool:
    """Whether a k3s *server* with these arguments runs ServiceLB.

    k3s starts ServiceLB inside its cloud controller unless ``--disable servicelb`` (older: ``--no-deploy``) is
    given: k3s-io/k3s pkg/cli/server/server.go maps the disable list to ``DisableServiceLB``, and
    pkg/daemons/control/server.go starts the cloud controller when ``!DisableCCM || !DisableServiceLB``. Agents do
    not decide it (only servers read ``--disable``).
    """
    if not args or args[0] != "server":
        return False
    return "servicelb" not in _flag_values(args, "--disable", "--no-deploy")


def _kube_proxy_args(args: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in _flag_values(args, "--kube-proxy-arg"):
        key, sep, text = value.partition("=")
        out[key] = text if sep else "true"
    return out


def _parse_kube_proxy_config(text: str) -> tuple[str, bool]:
    """``mode`` and ``ipvs.strictARP`` from kube-proxy's KubeProxyConfiguration (YAML) — read with PyYAML."""
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PreflightError(f"ConfigMap kube-system/kube-proxy: config.conf is not YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise PreflightError("ConfigMap kube-system/kube-proxy: config.conf is not a KubeProxyConfiguration")
    ipvs = doc.get("ipvs") or {}
    return (doc.get("mode") or ""), bool(ipvs.get("strictARP"))


def _running(pod: Json) -> bool:
    return ((pod.get("status") or {}).get("phase") or "Pending") not in ("Succeeded", "Failed")


def _component(pod: Json) -> str:
    labels = _meta(pod).get("labels") or {}
    return labels.get("app.kubernetes.io/component") or labels.get("component") or "pod"


# ---------------------------------------------------------------------------------------------------------------
# the checks (pure)


def check(
    snapshot: Json,
    node_names: list[str],
    layer2: bool = True,
    ignore_exclude_lb: bool = False,
    load_balancer_class: str | None = None,
) -> list[Finding]:
    """Findings for ``snapshot`` (see :func:`read_snapshot`) and the play's intent. No side effects.

    ``node_names``: the Nodes the inventory's speaker hosts will run as; ``layer2``: whether any pool is announced
    by ARP/NDP (kube-proxy's ARP answers matter only then); ``load_balancer_class``: the class the speakers will
    serve (a running MetalLB is then a coexistence, not a clash).
    """
    findings: list[Finding] = []
    nodes: dict[str, Json] = dict((str(_meta(n).get("name")), n) for n in snapshot["nodes"])

    # inventory hosts that are not Nodes
    for name in node_names:
        if name not in nodes:
            findings.append(
                Finding(
                    "node_exists",
                    ERROR,
                    f"Node {name}",
                    "inventory host's node name {!r} is not a Node of this cluster (Nodes: {}); set "
                    "baremetal_lb_speaker_node_name for that host to its Node's name, or remove it from the speakers' "
                    "group".format(name, ", ".join(sorted(nodes)) or "none"),
                )
            )

    # k3s ServiceLB
    svclb = [p for p in snapshot["servicelb_pods"] if _running(p)]
    servers = [name for name, node in sorted(nodes.items()) if servicelb_enabled(k3s_args(node))]
    if svclb or servers:
        evidence = []
        if servers:
            evidence.append("k3s server(s) {} run without --disable servicelb".format(", ".join(servers)))
        if svclb:
            evidence.append("ServiceLB pods running: {}".format(", ".join(sorted(_name(p) for p in svclb)[:5])))
        findings.append(
            Finding(
                "k3s_servicelb",
                ERROR,
                "Node %s" % (servers[0] if servers else _name(svclb[0])),
                "k3s's own ServiceLB is enabled ({}): it would answer for the same LoadBalancer Services. On every k3s "
                "server add 'disable: [servicelb]' to /etc/rancher/k3s/config.yaml (or start it with --disable "
                "servicelb) and restart k3s (docs/k3s.md)".format("; ".join(evidence)),
            )
        )

    # kube-proxy IPVS without strictARP (kubeadm: the kube-proxy ConfigMap; k3s: --kube-proxy-arg)
    if layer2:
        config_map = snapshot.get("kube_proxy_config_map")
        if config_map is not None:
            text = (config_map.get("data") or {}).get("config.conf")
            if text:
                mode, strict = _parse_kube_proxy_config(text)
                if mode == "ipvs" and not strict:
                    findings.append(
                        Finding(
                            "kube_proxy_strict_arp",
                            ERROR,
                            "ConfigMap kube-system/kube-proxy",
                            "kube-proxy runs in IPVS mode without strictARP: every node would answer ARP for every "
                            "load-balancer address. Set ipvs.strictARP: true in ConfigMap kube-system/kube-proxy "
                            "(config.conf) and restart kube-proxy (kubectl -n kube-system rollout restart daemonset "
                            "kube-proxy), or set fix_strict_arp (baremetal_lb_fix_strict_arp: true) to have it patched",
                        )
                    )
        for name, node in sorted(nodes.items()):
            args = k3s_args(node)
            if not args:
                continue
            proxy = _kube_proxy_args(args)
            if proxy.get("proxy-mode") == "ipvs" and proxy.get("ipvs-strict-arp", "false") != "true":
                findings.append(
                    Finding(
                        "kube_proxy_strict_arp",
                        ERROR,
                        f"Node {name}",
                        f"k3s on {name} runs kube-proxy in IPVS mode without strict ARP: every node would answer ARP "
                        "for every load-balancer address. Add kube-proxy-arg: [ipvs-strict-arp=true] to "
                        "/etc/rancher/k3s/config.yaml on that node and restart k3s (docs/k3s.md)",
                    )
                )

    # MetalLB still running
    metallb = sorted(set(_name(p) + " (" + _component(p) + ")" for p in snapshot["metallb_pods"] if _running(p)))
    if metallb:
        if load_balancer_class:
            findings.append(
                Finding(
                    "metallb_running",
                    WARNING,
                    "Pod {}".format(metallb[0].split(" ")[0]),
                    "MetalLB is running ({}); the speakers serve only Services with loadBalancerClass {!r}, so "
                    "both can run side by side (docs/migrating-from-metallb.md)".format(
                        ", ".join(metallb[:5]), load_balancer_class
                    ),
                )
            )
        else:
            findings.append(
                Finding(
                    "metallb_running",
                    ERROR,
                    "Pod {}".format(metallb[0].split(" ")[0]),
                    "MetalLB is still running ({}): two allocators would hand out the same addresses. Stop MetalLB's "
                    "controller, speaker and webhook first (keep its CRDs and objects), or give the speakers a "
                    "loadBalancerClass (baremetal_lb_speaker_load_balancer_class) to run side by side; see "
                    "docs/migrating-from-metallb.md".format(", ".join(metallb[:5])),
                )
            )

    # the exclude label on every node that may announce
    if not ignore_exclude_lb:
        candidates = [n for n in node_names if n in nodes]
        excluded = [n for n in candidates if EXCLUDE_LABEL in (_meta(nodes[n]).get("labels") or {})]
        if candidates and len(excluded) == len(candidates):
            findings.append(
                Finding(
                    "exclude_label",
                    WARNING,
                    f"Node {excluded[0]}",
                    f"every speaker node carries the label {EXCLUDE_LABEL} (kubeadm puts it on control-plane nodes), "
                    "so no node may announce any address. Remove the label from the nodes that should announce "
                    f"(kubectl label node NAME {EXCLUDE_LABEL}-), or set baremetal_lb_speaker_ignore_exclude_lb: true",
                )
            )
    return findings


# ---------------------------------------------------------------------------------------------------------------
# the one write: kube-proxy strictARP


_STRICT_ARP_FALSE = re.compile(r"^(?P<indent>[ \t]+)strictARP:[ \t]*false[ \t]*$", re.MULTILINE)


def strict_arp_fix(config_map: Json) -> Json | None:
    """The kube-proxy ConfigMap with ``ipvs.strictARP: true`` — changed as text, one line, so the admin's comments
    and layout are kept (what MetalLB's installation guide does with sed) — or None when nothing needs changing.

    Raises :class:`PreflightError` when the line is not there to change (the admin must edit it by hand).
    """
    data = config_map.get("data") or {}
    text = data.get("config.conf") or ""
    mode, strict = _parse_kube_proxy_config(text)
    if mode != "ipvs" or strict:
        return None
    matches = _STRICT_ARP_FALSE.findall(text)
    if len(matches) != 1:
        raise PreflightError(
            f"ConfigMap kube-system/kube-proxy: config.conf has {len(matches)} 'strictARP: false' line(s) under ipvs; "
            "set ipvs.strictARP: true by hand (kubectl -n kube-system edit configmap kube-proxy)"
        )
    new_text = _STRICT_ARP_FALSE.sub(lambda m: m.group("indent") + "strictARP: true", text, count=1)
    if _parse_kube_proxy_config(new_text) != ("ipvs", True):
        raise PreflightError(
            "ConfigMap kube-system/kube-proxy: changing the strictARP line did not set ipvs.strictARP; set it by hand"
        )
    fixed: Json = json.loads(json.dumps(config_map))
    fixed["data"]["config.conf"] = new_text
    return fixed


# ---------------------------------------------------------------------------------------------------------------
# reading the cluster


def read_snapshot(cluster: Cluster) -> Json:
    """What :func:`check` needs, read through ``cluster`` (:class:`metallb_pool.Cluster`): Nodes, ServiceLB and
    MetalLB pods in every namespace, and kube-proxy's ConfigMap (None when there is none: k3s, or no kube-proxy)."""
    metallb: dict[str, Json] = {}
    for selector in METALLB_POD_SELECTORS:
        for pod in cluster.pods(selector):
            metallb[_name(pod)] = pod
    return {
        "nodes": cluster.nodes(),
        "servicelb_pods": cluster.pods(SERVICELB_POD_LABEL),
        "metallb_pods": list(metallb.values()),
        "kube_proxy_config_map": cluster.config_map("kube-system", "kube-proxy"),
    }


def run(params: Json, cluster: Cluster, check_mode: bool = False) -> Json:
    """The whole module: findings, and the strictARP fix when asked for and nothing else stands in the way."""
    snapshot = read_snapshot(cluster)
    findings = check(
        snapshot,
        params.get("nodes") or [],
        layer2=params.get("layer2", True),
        ignore_exclude_lb=params.get("ignore_exclude_lb", False),
        load_balancer_class=params.get("load_balancer_class") or None,
    )
    result: Json = {
        "changed": False,
        "commands": [],
        "diff": {"before": {}, "after": {}},
        "findings": [f.as_dict() for f in findings],
    }
    fixable = [f for f in findings if f.check == "kube_proxy_strict_arp" and f.object.startswith("ConfigMap")]
    others = [f for f in findings if f.severity == ERROR and f not in fixable]
    if params.get("fix_strict_arp") and fixable and not others:
        config_map = snapshot["kube_proxy_config_map"]
        fixed = strict_arp_fix(config_map)
        if fixed is not None:
            key = "ConfigMap kube-system/kube-proxy"
            result["diff"] = {
                "before": {key: {"config.conf": config_map["data"]["config.conf"]}},
                "after": {key: {"config.conf": fixed["data"]["config.conf"]}},
            }
            result["commands"].append(
                "set ipvs.strictARP: true in ConfigMap kube-system/kube-proxy (config.conf); "
                "then restart kube-proxy: kubectl -n kube-system rollout restart "
                "daemonset kube-proxy"
            )
            result["changed"] = True
            if not check_mode:
                cluster.replace_config_map(fixed)
            result["findings"] = [f.as_dict() for f in findings if f not in fixable]
            findings = [f for f in findings if f not in fixable]
    result["errors"] = [f.message for f in findings if f.severity == ERROR]
    result["warnings"] = [f.message for f in findings if f.severity == WARNING]
    return result


def run_module(module: AnsibleModule) -> None:
    """Entry point for ``plugins/modules/cluster_preflight.py``: read, check, maybe fix; ``exit_json`` or
    ``fail_json`` (which lists every error at once, so one run shows the whole list of things to fix)."""
    from ansible_collections.baremetal.lb.plugins.module_utils.metallb_pool import (
        ApiUnreachable,
        Cluster,
        api_error_text,
    )

    try:
        api_client = get_client(module)
    except K8sAuthError as exc:
        module.fail_json(msg=str(exc), changed=False)
    from kubernetes.client.exceptions import ApiException

    try:
        result = run(module.params, Cluster(api_client), check_mode=module.check_mode)
    except PreflightError as exc:
        module.fail_json(msg=f"{exc}; nothing was changed", changed=False)
    except ApiUnreachable as exc:
        module.fail_json(msg=f"{exc}; nothing was changed", changed=False)
    except ApiException as exc:
        module.fail_json(msg=f"reading the cluster failed: {api_error_text(exc)}; nothing was changed", changed=False)
    finally:
        api_client.close()
    for warning in result.pop("warnings"):
        module.warn(warning)
    errors = result.pop("errors")
    if errors:
        module.fail_json(msg="cluster preflight: {}; nothing was changed".format("; ".join(errors)), **result)
    module.exit_json(**result)
