"""A real Prometheus scrapes two real speakers and evaluates monitoring/alerts.yaml (tests/promserver.py).

The world of tests/l2world.py with two nodes (heartbeats on), the speakers' metrics on HTTPS at their node's
address with a bearer token, and Prometheus in the client namespace scraping them over the LAN as a Prometheus off
the nodes would. The shipped rules wait minutes (`for: 1m`); the test loads a copy with every `for:` set to 2s so a
run takes seconds — the expressions are the shipped ones.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Cluster, wait_for
from tests.l2world import L2Lab
from tests.netlab import Lab
from tests.promserver import Prometheus, self_signed

REPO = Path(__file__).resolve().parents[2]
TOKEN = "prometheus-scrape-token-for-tests-0123456789"


def _rules_copy(tmp: Path, for_: str = "2s") -> Path:
    rules = yaml.safe_load((REPO / "monitoring" / "alerts.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_
    path = tmp / "alerts-short-for.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


class World:
    def __init__(self, l2: L2Lab, prom: Prometheus) -> None:
        self.l2 = l2
        self.prom = prom


@pytest.fixture
def world(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    with Lab() as lab:
        l2 = L2Lab(lab, kube_api, cluster, tmp_path, nodes=2)
        token = tmp_path / "metrics.token"
        token.write_text(TOKEN + "\n")
        cert, key = self_signed(tmp_path, [n.ip for n in l2.nodes.values()])
        for n in l2.nodes.values():  # HTTPS on the node's address, reachable from the LAN; /status on loopback
            text = re.sub(
                r"^metrics_listen: 127\.0\.0\.1:", f"metrics_listen: {n.ip}:", n.config.read_text(), flags=re.M
            )
            # BGP on (no peers): its metric families are served too, for the documented-vs-scraped check
            n.config.write_text(
                text + f"metrics_bearer_token_file: {token}\nmetrics_tls_cert_file: {cert}\n"
                f"metrics_tls_key_file: {key}\nbgp: {{enabled: true}}\n"
            )
        prom = Prometheus(
            l2.client,
            tmp_path,
            [f"{n.ip}:{n.port}" for n in l2.nodes.values()],
            rule_files=[_rules_copy(tmp_path)],
            bearer_token_file=token,
            ca_file=cert,
        )
        started = False
        try:
            for n in l2.nodes.values():  # generous: a loaded CI machine starts a speaker slowly
                n.start(timeout=90)
            prom.start()
            started = True
            yield World(l2, prom)
        finally:
            prom.stop()
            for n in l2.nodes.values():
                n.kill()
            rep = getattr(request.node, "rep_call", None)
            if not started or (rep is not None and rep.failed):
                print("----- prometheus -----\n" + _tail(prom.log))
                for n in l2.nodes.values():
                    print(f"----- {n.name} -----\n" + _tail(n.log))


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _firing(prom: Prometheus, name: str) -> list[str]:
    return [
        a["labels"]["instance"] for a in prom.alerts() if a["labels"]["alertname"] == name and a["state"] == "firing"
    ]


def test_speaker_down_alert_fires_when_a_node_dies_and_resolves_when_it_returns(world: World) -> None:
    prom, l2 = world.prom, world.l2
    node1, node2 = l2.nodes["node1"], l2.nodes["node2"]
    target2 = f"{node2.ip}:{node2.port}"
    wait_for("Prometheus to scrape both speakers", lambda: list(prom.targets_up().values()) == [True, True], timeout=30)
    wait_for(
        "both speakers to see each other",
        lambda: [float(r["value"][1]) for r in prom.query("baremetal_lb_members_alive")] == [2.0, 2.0],
        timeout=30,
    )
    assert _firing(prom, "BaremetalLBSpeakerDown") == []

    t0 = time.monotonic()
    node2.kill()  # SIGKILL: the node's speaker is gone
    wait_for("node2's target to go down", lambda: prom.targets_up().get(target2) is False, timeout=30)
    t_down = time.monotonic() - t0
    wait_for(
        "BaremetalLBSpeakerDown firing for node2",
        lambda: _firing(prom, "BaremetalLBSpeakerDown") == [target2],
        timeout=30,
    )
    t_firing = time.monotonic() - t0
    # node1 noticed too: its view shrank to itself
    wait_for(
        "node1 to see only itself alive",
        lambda: (
            [r["value"][1] for r in prom.query(f'baremetal_lb_members_alive{{instance="{node1.ip}:{node1.port}"}}')]
            == ["1"]
        ),
        timeout=30,
    )

    t1 = time.monotonic()
    node2.start(timeout=90)
    t_back = time.monotonic() - t1  # node2's speaker answers again (start-up is slow on a loaded machine)
    wait_for(
        "BaremetalLBSpeakerDown resolved",
        lambda: not any(a["labels"]["alertname"] == "BaremetalLBSpeakerDown" for a in prom.alerts()),
        timeout=30,
    )
    t_resolved = time.monotonic() - t1
    wait_for(
        "both speakers to see each other again",
        lambda: [float(r["value"][1]) for r in prom.query("baremetal_lb_members_alive")] == [2.0, 2.0],
        timeout=30,
    )
    print(
        f"\ntimeline (scrape and evaluation every 1 s, for: 2s): kill -9 node2 at 0 s; target down at "
        f"{t_down:.1f} s; BaremetalLBSpeakerDown firing at {t_firing:.1f} s; node2 restarted at "
        f"{t1 - t0:.1f} s, serving again {t_back:.1f} s later; alert resolved {t_resolved:.1f} s after the restart "
        f"({t_resolved - t_back:.1f} s after it served again)"
    )


def _client_get(world: World, url: str, token: str | None = None) -> tuple[int, str]:
    """GET from the client namespace (a host on the LAN, not the node), trusting the test certificate."""
    cmd = [
        "curl",
        "-s",
        "--max-time",
        "5",
        "--cacert",
        str(world.prom.dir.parent / "metrics.crt"),
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        url,
    ]
    if token is not None:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = world.l2.client.run(cmd, check=False, timeout=15).stdout
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


def test_metrics_open_to_the_lan_with_a_token_status_only_on_the_node(world: World) -> None:
    node1 = world.l2.nodes["node1"]
    assert _client_get(world, f"http://{node1.ip}:{node1.port}/metrics", token=TOKEN)[0] != 200  # HTTPS only
    base = f"https://{node1.ip}:{node1.port}"
    assert _client_get(world, f"{base}/metrics")[0] == 401
    assert _client_get(world, f"{base}/metrics", token="not-the-token")[0] == 401
    code, body = _client_get(world, f"{base}/metrics", token=TOKEN)
    assert code == 200
    # MetalLB's Layer 2 counters keep their names and are typed counters (they were served untyped)
    assert "# TYPE metallb_layer2_requests_received counter" in body
    assert "_created" not in body
    assert _client_get(world, f"{base}/status")[0] == 403
    assert _client_get(world, f"{base}/status", token=TOKEN)[0] == 403
    st = node1.status()  # from the node itself (loopback): no token needed
    assert st is not None and st["node"] == "node1"
    assert _client_get(world, f"{base}/healthz")[0] == 200


def _documented(path: Path) -> dict[str, str]:
    """docs/metrics.md's tables: | `name` | type | labels | meaning |."""
    rows = re.findall(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(\w+)\s*\|", path.read_text(), flags=re.M)
    return dict(rows)


def test_documented_metrics_are_what_prometheus_scrapes(world: World) -> None:
    """docs/metrics.md names every metric family a speaker serves, with the type Prometheus sees, and no others."""
    prom = world.prom
    wait_for("Prometheus to scrape both speakers", lambda: list(prom.targets_up().values()) == [True, True], timeout=30)
    scraped = wait_for(
        "metadata of the scraped families",
        lambda: (md := prom.metadata()) and "metallb_bgp_session_up" in md and md,
        timeout=30,
    )
    documented = _documented(REPO / "docs" / "metrics.md")
    print("\nscraped:", json.dumps(scraped, indent=1, sort_keys=True))
    assert {n: t for n, t in scraped.items() if t == "unknown"} == {}, "every family typed"
    assert documented == scraped


_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def _metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords, or label lists."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        rest = e[m.end() :].lstrip()
        if rest.startswith("(") or m.group(0).lower() in _PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def test_dashboard_and_alert_queries_read_metrics_the_speakers_export(world: World) -> None:
    """Every expression of monitoring/dashboard.json and monitoring/alerts.yaml runs on the real Prometheus and
    names only metrics the speakers exported."""
    prom = world.prom
    wait_for("Prometheus to scrape both speakers", lambda: list(prom.targets_up().values()) == [True, True], timeout=30)
    # Families the speakers serve (their # TYPE lines, also those with no series yet, e.g. BGP without peers),
    # and the series Prometheus stored (`up` included).
    families = wait_for(
        "metadata of the scraped families",
        lambda: (md := prom.metadata()) and "metallb_bgp_session_up" in md and md,
        timeout=30,
    )
    scraped = set(families) | prom.metric_names()
    doc = json.loads((REPO / "monitoring" / "dashboard.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", []) if t.get("expr")]
    exprs += [v["query"] for v in doc["templating"]["list"] if v["type"] == "query"]
    assert len(exprs) > 15
    rules = yaml.safe_load((REPO / "monitoring" / "alerts.yaml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    unknown: dict[str, set[str]] = {}
    for expr in exprs:
        runnable = expr.replace("$__rate_interval", "1m").replace('"$job"', '"baremetal-lb-speaker"')
        m = re.fullmatch(r"label_values\((\w+), *\w+\)", runnable)
        if m:
            runnable = m.group(1)  # a variable query: Grafana's function around a metric
        prom.query(runnable)  # asserts Prometheus parsed and evaluated it
        if missing := _metric_names(runnable) - scraped:
            unknown[expr] = missing
    assert unknown == {}
    assert _metric_names('sum by (ip) (rate(metallb_layer2_requests_received{job=~"x"}[1m])) or vector(0)') == {
        "metallb_layer2_requests_received"
    }
