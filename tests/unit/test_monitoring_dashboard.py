"""monitoring/dashboard.json is what scripts/gen-dashboard builds (grafana-foundation-sdk), and well formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dashboard_is_generated_by_the_script() -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen-dashboard"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


def test_every_target_has_its_own_ref_and_the_datasource_variable() -> None:
    doc = json.loads((REPO / "monitoring" / "dashboard.json").read_text())
    panels = [p for p in doc["panels"] if p["type"] != "row"]
    assert panels
    for p in panels:
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs) and all(refs), p["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]
    assert {"Address pools", "Addresses and who announces them", "Speakers", "BGP", "ARP / NDP"} <= {
        p["title"] for p in doc["panels"] if p["type"] == "row"
    }
