"""Readers for the recorded OpenWrt ground truth in tests/data/openwrt/ (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[3] / "data" / "openwrt"


def records(name: str) -> list[dict[str, Any]]:
    with open(DATA / name) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def parse_show_value(text: str) -> str | list[str]:
    """``'a' 'b'`` → ["a", "b"], ``'a'`` → "a" (uci show's quoting: ``'\\''`` is an escaped quote)."""
    items, cur, i, inq = [], "", 0, False
    while i < len(text):
        if text.startswith("'\\''", i):
            cur += "'"
            i += 4
            continue
        c = text[i]
        if c == "'":
            if inq:
                items.append(cur)
                cur = ""
            inq = not inq
        elif inq:
            cur += c
        i += 1
    return items if len(items) > 1 else (items[0] if items else "")


def sections_from_show(lines: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """``uci show`` lines → ``[(name, type, options)]`` in order."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    index: dict[str, dict[str, Any]] = {}
    for line in lines:
        key, _, value = line.partition("=")
        parts = key.split(".")
        if len(parts) == 2:
            opts: dict[str, Any] = {}
            out.append((parts[1], value, opts))
            index[parts[1]] = opts
        else:
            index[parts[1]][parts[2]] = parse_show_value(value)
    return out
