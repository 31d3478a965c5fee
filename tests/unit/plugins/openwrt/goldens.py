"""Readers for the recorded OpenWrt ground truth in tests/data/openwrt/ (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[3] / "data" / "openwrt"


def records(name: str) -> list[dict[str, Any]]:
    with open(DATA / name) as fh:
        return [json.loads(line) for line in fh if line.strip()]
