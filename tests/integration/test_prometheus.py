"""A real Prometheus scrapes two real speakers and evaluates monitoring/alerts.yaml (tests/promserver.py).

The world of tests/l2world.py with two nodes (heartbeats on), the speakers' metrics listening on every address
of their node, and Prometheus in the client namespace scraping them over the LAN as a Prometheus off the nodes
would. The shipped rules wait minutes (`for: 1m`); the test loads a copy with every `for:` set to 2s so a run
takes seconds — the expressions are the shipped ones.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.integration.conftest import Cluster, wait_for
from tests.l2world import L2Lab
from tests.netlab import Lab
from tests.promserver import Prometheus

REPO = Path(__file__).resolve().parents[2]


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
        for n in l2.nodes.values():  # reachable from the LAN, as `metrics_listen: 0.0.0.0:7472` on a node
            n.config.write_text(re.sub(r"^metrics_listen: 127\.0\.0\.1:", "metrics_listen: 0.0.0.0:",
                                       n.config.read_text(), flags=re.M))
        prom = Prometheus(l2.client, tmp_path, [f"{n.ip}:{n.port}" for n in l2.nodes.values()],
                          rule_files=[_rules_copy(tmp_path)])
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
                print(f"----- prometheus -----\n{prom.log.read_text(errors='replace')[-4000:] if prom.log.exists() else ''}")
                for n in l2.nodes.values():
                    print(f"----- {n.name} -----\n{n.log.read_text(errors='replace')[-4000:] if n.log.exists() else ''}")


def _firing(prom: Prometheus, name: str) -> list[str]:
    return [a["labels"]["instance"] for a in prom.alerts() if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_speaker_down_alert_fires_when_a_node_dies_and_resolves_when_it_returns(world: World) -> None:
    prom, l2 = world.prom, world.l2
    node1, node2 = l2.nodes["node1"], l2.nodes["node2"]
    target2 = f"{node2.ip}:{node2.port}"
    wait_for("Prometheus to scrape both speakers", lambda: list(prom.targets_up().values()) == [True, True], timeout=30)
    wait_for("both speakers to see each other",
             lambda: [float(r["value"][1]) for r in prom.query("baremetal_lb_members_alive")] == [2.0, 2.0], timeout=30)
    assert _firing(prom, "BaremetalLBSpeakerDown") == []

    t0 = time.monotonic()
    node2.kill()  # SIGKILL: the node's speaker is gone
    wait_for("node2's target to go down", lambda: prom.targets_up().get(target2) is False, timeout=30)
    t_down = time.monotonic() - t0
    wait_for("BaremetalLBSpeakerDown firing for node2",
             lambda: _firing(prom, "BaremetalLBSpeakerDown") == [target2], timeout=30)
    t_firing = time.monotonic() - t0
    # node1 noticed too: its view shrank to itself
    wait_for("node1 to see only itself alive",
             lambda: [r["value"][1] for r in prom.query(f'baremetal_lb_members_alive{{instance="{node1.ip}:{node1.port}"}}')] == ["1"],
             timeout=30)

    t1 = time.monotonic()
    node2.start(timeout=90)
    t_back = time.monotonic() - t1  # node2's speaker answers again (start-up is slow on a loaded machine)
    wait_for("BaremetalLBSpeakerDown resolved", lambda: not any(
        a["labels"]["alertname"] == "BaremetalLBSpeakerDown" for a in prom.alerts()), timeout=30)
    t_resolved = time.monotonic() - t1
    wait_for("both speakers to see each other again",
             lambda: [float(r["value"][1]) for r in prom.query("baremetal_lb_members_alive")] == [2.0, 2.0], timeout=30)
    print(f"\ntimeline (scrape and evaluation every 1 s, for: 2s): kill -9 node2 at 0 s; target down at "
          f"{t_down:.1f} s; BaremetalLBSpeakerDown firing at {t_firing:.1f} s; node2 restarted at "
          f"{t1 - t0:.1f} s, serving again {t_back:.1f} s later; alert resolved {t_resolved:.1f} s after the restart "
          f"({t_resolved - t_back:.1f} s after it served again)")
