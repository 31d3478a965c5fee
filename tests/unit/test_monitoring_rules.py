"""monitoring/alerts.yaml: valid for the real promtool, its unit tests pass, and the PrometheusRule matches it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "monitoring" / "alerts.yaml"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's prometheus package (scripts/install-deps does)"
    return path


def test_promtool_check_rules() -> None:
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_test_rules() -> None:
    """The rules' own unit tests (monitoring/alerts.test.yaml): each alert fires, waits out its `for:`, resolves."""
    r = subprocess.run(
        [promtool(), "test", "rules", str(REPO / "monitoring" / "alerts.test.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_is_unit_tested() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((REPO / "monitoring" / "alerts.test.yaml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert alerts - tested == set(), f"alerts never shown firing in alerts.test.yaml: {sorted(alerts - tested)}"


def test_metallb_chart_alert_names_kept() -> None:
    """MetalLB's chart alerts (charts/metallb/templates/prometheusrules.yaml) exist under the same names."""
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    metallb = {
        "MetalLBStaleConfig",
        "MetalLBConfigNotLoaded",
        "MetalLBAddressPoolExhausted",
        "MetalLBAddressPoolUsage75Percent",
        "MetalLBAddressPoolUsage85Percent",
        "MetalLBAddressPoolUsage95Percent",
        "MetalLBBGPSessionDown",
    }
    assert metallb <= alerts


def test_prometheusrule_is_generated_from_the_rules_file() -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen-prometheusrule"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    manifest = yaml.safe_load((REPO / "monitoring" / "prometheusrule.yaml").read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1" and manifest["kind"] == "PrometheusRule"
    assert manifest["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
