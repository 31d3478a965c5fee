"""``baremetal-lb``: ``speaker`` runs the daemon, ``status`` asks a running one (``--cluster``: the API),
``check-config`` validates."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from speaker import __version__
from speaker.config import cluster as clusterconfig
from speaker.config.node import DEFAULT_PATH, ConfigError, SpeakerConfig, build_speaker_config, load_speaker_config
from speaker.logformat import FORMATS as LOG_FORMATS
from speaker.logformat import setup_logging

log = logging.getLogger("baremetal-lb")

#: Kinds of MetalLB's FRR-K8s mode: configuration for an FRR daemon the native speaker does not have.
FRR_K8S_GROUP = "frrk8s.metallb.io"


class KubectlLoader(yaml.SafeLoader):
    """PyYAML's safe loader without YAML 1.1's base-60 numbers, so it reads manifests as kubectl does.

    kubectl decodes YAML with sigs.k8s.io/yaml (go-yaml), which has no sexagesimal numbers: ``value: 1234:1``
    (a BGP community in MetalLB's docs) is the string ``"1234:1"`` for the API server, where PyYAML's YAML 1.1
    rules make it the integer 74041. Everything else (booleans, octal, ``1_000``) is left as PyYAML and go-yaml
    both read it; only the base-60 forms, which go-yaml never produces, are removed.
    """


def _without_sexagesimal() -> None:
    resolvers: dict[Any, list[tuple[str, Any]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = []
        for tag, regexp in entries:
            if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
                # Drop the alternatives containing ':' (base 60); keep the rest of the pattern as it is.
                alternatives = [a for a in regexp.pattern[len("^(?:") : -len(")$")].split("|") if ":[0-5]" not in a]
                regexp = re.compile("^(?:" + "|".join(alternatives) + ")$", re.X)
            kept.append((tag, regexp))
        resolvers[first] = kept
    KubectlLoader.yaml_implicit_resolvers = resolvers


_without_sexagesimal()


def load_manifest(text: str) -> list[Any]:
    """The non-empty YAML documents of ``text``, read as kubectl reads them (see :class:`KubectlLoader`)."""
    return [d for d in yaml.load_all(text, Loader=KubectlLoader) if d is not None]  # KubectlLoader is a SafeLoader


def cmd_speaker(args: argparse.Namespace) -> int:
    from speaker.daemon import Speaker
    from speaker.kube.client import KubeAccessError, make_api_client

    try:
        cfg = load_speaker_config(args.config).with_overrides(
            kubeconfig=args.kubeconfig,
            node_name=args.node_name,
            namespace=args.namespace,
            log_level=args.log_level,
            metrics_listen=args.metrics_listen,
            ignore_exclude_lb=True if args.ignore_exclude_lb else None,
            log_format=args.log_format,
        )
    except ConfigError as exc:
        print(f"baremetal-lb: config error: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.log_level, cfg.log_format, node=cfg.node_name)
    try:
        api = make_api_client(cfg.kubeconfig, pool_size=cfg.status_writers + 8)
    except KubeAccessError as exc:
        log.error("%s", exc)
        return 2
    log.info("baremetal-lb %s: node %s, namespace %s", __version__, cfg.node_name, cfg.namespace)
    try:
        speaker = Speaker(cfg, api=api)
    except ConfigError as exc:
        log.error("config error: %s", exc)
        return 2
    done = {"stop": False}

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s", signal.Signals(signum).name)
        done["stop"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    speaker.start()
    try:
        while not done["stop"]:
            speaker.wait(0.2)
    finally:
        speaker.stop()
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    """``status --cluster``: every speaker, pool and LoadBalancer Service, from the API (speaker.clusterstatus).

    Reaches the cluster as the speaker does (``speaker.kube.client``): ``--kubeconfig``, else ``kubeconfig:`` of
    the speaker config when one is present (on a node: the speaker's own ServiceAccount), else ``$KUBECONFIG``,
    in-cluster, ``~/.kube/config``.
    """
    from speaker.clusterstatus.read import ClusterUnreachable, read_cluster
    from speaker.clusterstatus.report import build_report
    from speaker.clusterstatus.table import render
    from speaker.kube.client import KubeAccessError, make_api_client

    path = args.config
    if path is None and Path(DEFAULT_PATH).exists() and not os.access(DEFAULT_PATH, os.R_OK):
        # Not root on a node (the file is root's): the defaults, so --kubeconfig and --namespace still work.
        print(
            f"baremetal-lb: {DEFAULT_PATH} is not readable; using the defaults (--config to name one)", file=sys.stderr
        )
        path = os.devnull
    try:
        cfg = load_speaker_config(path).with_overrides(kubeconfig=args.kubeconfig, namespace=args.namespace)
    except ConfigError as exc:
        print(f"baremetal-lb: config error: {exc}", file=sys.stderr)
        return 2
    try:
        api = make_api_client(cfg.kubeconfig, context=args.context)
    except KubeAccessError as exc:
        print(f"baremetal-lb: {exc}", file=sys.stderr)
        return 2
    try:
        objs = read_cluster(
            api,
            namespace=cfg.namespace,
            allocator_lease=cfg.lease.name,
            memberlist_secret=cfg.membership.secret_name,
            key_file=cfg.membership.key_file,
            load_balancer_class=cfg.load_balancer_class,
        )
    except ClusterUnreachable as exc:
        print(f"baremetal-lb: cannot reach the cluster: {exc}", file=sys.stderr)
        return 1
    finally:
        api.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient is untyped
    report = build_report(objs)
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(render(report))
    return 0


def status_lines(data: dict[str, Any]) -> list[str]:
    """``baremetal-lb status``: a speaker's ``/status`` as lines for people. Pure (tests feed it a dict).

    Every silent failure has its line: a pool with no free address (``FULL``), an address nobody may announce
    (``NOT ANNOUNCED``; BGP: ``NOT ADVERTISED``, on the allocator leader), Layer 2 liveness from the Lease
    fallback (``membership: LEASES``), heartbeats failing authentication (``KEY MISMATCH``)."""
    out = [
        f"node {data['node']}  namespace {data['namespace']}  "
        f"allocator: {'leader' if data['allocator_leader'] else 'standby'}  "
        f"API: {'reachable' if data['api_reachable'] else 'UNREACHABLE (using last state)'}",
        "pools:",
    ]
    for name, st in sorted(data["pools"].items()):
        full = [fam for fam in ("IPv4", "IPv6") if st[f"assigned{fam}"] and not st[f"available{fam}"]]
        out.append(
            f"  {name:<20} IPv4 {st['assignedIPv4']} used / {st['availableIPv4']} free   "
            f"IPv6 {st['assignedIPv6']} used / {st['availableIPv6']} free"
            + (f"   FULL ({', '.join(full)}): the next Service asking stays pending" if full else "")
        )
    out.append("services:")
    for s in data["services"]:
        out.append(f"  {s['service']:<40} {', '.join(s['ips']):<30} pool {s['pool'] or '-'}")
    for key in data.get("unallocated", []):
        out.append(f"  {key:<40} (no address: see its Events)")
    live = data.get("liveness")
    if live:
        speakers = live.get("speakers") or {}
        alive = [n for n, st in speakers.items() if st.get("alive")]
        gone = [n for n, st in speakers.items() if not st.get("alive")]
        out.append(
            f"speakers (Leases {live.get('duration', 0):g}s): alive {', '.join(alive) or '-'}"
            f"{'  gone ' + ', '.join(gone) if gone else ''}"
            f"  layer2 uses {live.get('layer2_source', '?')}"
            f"{'  BLIND (cannot read or renew Leases): nobody is declared dead' if live.get('blind') else ''}"
        )
    mem = data.get("membership")
    if mem:
        if mem.get("mode") == "heartbeats":
            out.append(f"membership: heartbeats (UDP port {mem.get('port')}, key from {mem.get('key_source')})")
        else:
            out.append(
                f"membership: LEASES, not heartbeats: {mem.get('reason')} — a dead node is noticed after "
                f"seconds, not 0.2 s (key from {mem.get('key_source')}; see docs/speaker.md)"
            )
        for bad in mem.get("key_mismatch") or []:
            who = f" (node {bad['node']})" if bad.get("node") else ""
            out.append(
                f"membership: KEY MISMATCH: heartbeats from {bad['address']}{who} fail authentication, none "
                f"verify, for {bad['for_seconds']:g}s: that speaker has another heartbeat key"
            )
    l2 = data.get("layer2")
    if l2:
        out.append(
            f"layer2: members alive {', '.join(l2.get('alive', [])) or '-'}"
            f"{'  FENCED (no peer and no API): announcing nothing' if l2.get('fenced') else ''}"
        )
        for a in l2.get("addresses", []):
            extra = f" conflict with {a['conflict_mac']}" if a.get("conflict_mac") else ""
            if a.get("all_interfaces"):
                extra += "  (every interface: none holds its subnet)"
            out.append(
                f"  {a['ip']:<40} {a['state']:<10} on {', '.join(a['interfaces']) or '-'}  ({a['service']}){extra}"
            )
        if l2.get("excluded"):
            out.append(f"  this node announces nothing: {l2['excluded']}")
        ex = l2.get("excluded_interfaces") or {}
        if ex:
            out.append(
                f"  never on interfaces matching: {', '.join(ex.get('patterns') or []) or '(none)'} "
                f"({ex.get('source')}){'  ERROR: ' + str(ex['error']) if ex.get('error') else ''}"
            )
        for gap in l2.get("unannounced", []):
            out.append(f"  NOT ANNOUNCED {gap['service']}: {gap['message']} ({gap['reason']})")
    for sess in data.get("bgp") or []:
        out.append(
            f"bgp: {sess.get('peer')} {sess.get('address')} {sess.get('state')}  "
            f"sent {sess.get('prefixes_sent', 0)} prefixes, pending {sess.get('prefixes_pending', 0)}"
            f"{'  last error: ' + str(sess['last_error']) if sess.get('last_error') else ''}"
        )
    for gap in data.get("bgp_unannounced") or []:
        out.append(f"bgp: NOT ADVERTISED {gap['service']}: {gap['message']} ({gap['reason']})")
    for w in data.get("bgp_withdrawn") or []:
        out.append(f"bgp: NOT ADVERTISED {w['service']}: {', '.join(w['ips'])}: {w['reason']}")
    for err in data.get("config_errors", []):
        out.append(f"config error: {err}")
    return out


def cmd_status(args: argparse.Namespace) -> int:
    if args.cluster:
        return cmd_cluster_status(args)
    url = args.url.rstrip("/") + "/status"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            data = json.load(resp)
    except (urllib.error.URLError, OSError) as exc:
        print(f"baremetal-lb: no speaker answering at {url} ({exc})", file=sys.stderr)
        return 1
    if args.json or args.output == "json":
        print(json.dumps(data, indent=2))
        return 0
    sys.stdout.write("".join(line + "\n" for line in status_lines(data)))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a speaker config file, or a manifest of metallb.io objects (detected by content)."""
    path = Path(args.file)
    try:
        docs = load_manifest(path.read_text())
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except yaml.YAMLError as exc:
        print(f"{path}: not valid YAML: {exc}", file=sys.stderr)
        return 1
    if any(isinstance(d, dict) and (d.get("kind") in clusterconfig.KINDS or "apiVersion" in d) for d in docs):
        return _check_manifest(path, docs)
    if len(docs) > 1:
        print(f"{path}: a speaker config is one YAML document, found {len(docs)}", file=sys.stderr)
        return 1
    try:
        cfg: SpeakerConfig = build_speaker_config(docs[0] if docs else {}, str(path))
    except ConfigError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: OK (node {cfg.node_name}, namespace {cfg.namespace})")
    return 0


def manifest_config(docs: list[Any]) -> tuple[Any, list[str]]:
    """The speaker's :class:`~speaker.config.cluster.ClusterConfig` for the objects of a manifest, and notes on
    the documents it does not use. Secrets in the manifest resolve ``BGPPeer.spec.passwordSecret``, as they
    would once applied; FRR-K8s objects are errors (the native speaker has no FRR to give them to); MetalLB's
    ``metallb-excludel2`` ConfigMap is checked as the speaker reads it (speaker.layer2.exclude)."""
    from speaker.layer2.exclude import CONFIGMAP, DATA_KEY, ExclusionError, from_configmap

    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in clusterconfig.KINDS}
    secrets: dict[str, Any] = {}
    notes: list[str] = []
    extra_errors: list[clusterconfig.ObjectError] = []
    for i, d in enumerate(docs):
        kind = d.get("kind") if isinstance(d, dict) else None
        if kind == "Secret" and isinstance(d.get("metadata"), dict):
            secrets[str(d["metadata"].get("name"))] = d
        elif kind == "ConfigMap" and isinstance(d.get("metadata"), dict) and d["metadata"].get("name") == CONFIGMAP:
            try:  # MetalLB's speaker reads it and refuses to start with a bad one (speaker.layer2.exclude)
                from_configmap(d, str(d["metadata"].get("namespace") or "metallb-system"))
            except ExclusionError as exc:
                extra_errors.append(
                    clusterconfig.ObjectError(
                        "ConfigMap", CONFIGMAP, f"data.{DATA_KEY}", str(exc).split(f"data.{DATA_KEY}: ", 1)[-1]
                    )
                )
        elif kind in clusterconfig.KINDS:
            by_kind[kind].append(d)
        elif isinstance(d, dict) and str(d.get("apiVersion", "")).startswith(FRR_K8S_GROUP + "/"):
            name = (d.get("metadata") or {}).get("name", f"#{i + 1}")
            extra_errors.append(
                clusterconfig.ObjectError(
                    str(kind),
                    str(name),
                    "apiVersion",
                    f"{d.get('apiVersion')}: FRR-K8s is {clusterconfig.NATIVE_UNSUPPORTED}",
                )
            )
        else:
            notes.append(f"document {i + 1}: kind {kind if kind else d!r} is not a metallb.io kind (ignored)")
    cfg = clusterconfig.build_config(
        by_kind[clusterconfig.POOL],
        by_kind[clusterconfig.L2ADV],
        by_kind[clusterconfig.BGPADV],
        by_kind[clusterconfig.PEER],
        by_kind[clusterconfig.COMMUNITY],
        bfd_profiles=by_kind[clusterconfig.BFD_PROFILE],
        secrets=secrets,
    )
    if extra_errors:
        from dataclasses import replace

        cfg = replace(cfg, errors=cfg.errors + tuple(extra_errors))
    return cfg, notes


def _check_manifest(path: Path, docs: list[Any]) -> int:
    cfg, notes = manifest_config(docs)
    for note in notes:
        print(f"{path}: {note}", file=sys.stderr)
    for warning in cfg.warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    for err in cfg.errors:
        print(f"{path}: {err}", file=sys.stderr)
    if cfg.errors:
        return 1
    print(f"{path}: OK ({len(cfg.pools)} pools)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="baremetal-lb", description=__doc__)
    p.add_argument("--version", action="version", version=f"baremetal-lb {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("speaker", help="run the speaker daemon (foreground; logs to stderr)")
    sp.add_argument("--config", help="speaker config file (default /etc/baremetal-lb/speaker.yaml if present)")
    sp.add_argument("--kubeconfig", help="kubeconfig file (default: config file, $KUBECONFIG, in-cluster)")
    sp.add_argument("--node-name", help="this node's name in the cluster (default: the hostname)")
    sp.add_argument("--namespace", help="namespace of the metallb.io objects (default metallb-system)")
    sp.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    sp.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text (default): a line per record; json: JSON lines on stderr; journal: journald fields "
        "(SERVICE=, ADDRESS=, NODE=) over journald's socket (config: log_format; docs/speaker.md)",
    )
    sp.add_argument("--metrics-listen", help="address:port for /metrics and /status (default 127.0.0.1:7472)")
    sp.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help="announce from nodes labelled node.kubernetes.io/exclude-from-external-load-balancers too "
        "(MetalLB's flag of the same name; config: ignore_exclude_lb)",
    )
    sp.set_defaults(func=cmd_speaker)

    st = sub.add_parser(
        "status",
        help="show what a running speaker allocates and announces (--cluster: every "
        "speaker, pool and Service, from the API)",
    )
    st.add_argument("--url", default="http://127.0.0.1:7472", help="the speaker's metrics_listen address")
    st.add_argument("--json", action="store_true", help="print the raw JSON (same as --output json)")
    st.add_argument(
        "--output",
        "-o",
        choices=("table", "json"),
        default="table",
        help="table for people; json for scripts (--cluster: schema baremetal-lb/cluster-status/v1, "
        "docs/troubleshooting.md)",
    )
    st.add_argument(
        "--cluster",
        action="store_true",
        help="the whole cluster through the API (no ssh): speakers, allocator, pools and usage, every "
        "LoadBalancer Service and who announces it, and the gaps",
    )
    st.add_argument(
        "--config",
        help="--cluster: speaker config to take kubeconfig, namespace, lease and Secret names "
        "from (default /etc/baremetal-lb/speaker.yaml if present)",
    )
    st.add_argument(
        "--kubeconfig",
        help="--cluster: kubeconfig file (default: the config's, $KUBECONFIG, in-cluster, ~/.kube/config)",
    )
    st.add_argument("--context", help="--cluster: kubeconfig context")
    st.add_argument(
        "--namespace", help="--cluster: namespace of the metallb.io objects (default: the config's, metallb-system)"
    )
    st.set_defaults(func=cmd_status)

    cc = sub.add_parser("check-config", help="validate a speaker config file or a metallb.io manifest")
    cc.add_argument("file")
    cc.set_defaults(func=cmd_check_config)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func  # each subparser's set_defaults(func=cmd_...)
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
