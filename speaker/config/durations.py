"""Kubernetes ``metav1.Duration`` strings (Go's ``time.ParseDuration`` syntax), shared by every config reader."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")
_DURATION_MAX = 2**63 / 1e9  # Go's time.Duration is int64 nanoseconds (about 292 years)
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Kubernetes ``metav1.Duration`` string (``"90s"``, ``"1m30s"``, ``"1.5h"``).

    Raises ``ValueError`` naming the text. Negative durations are refused: no BGP timer can be.
    """
    raw = text.strip() if isinstance(text, str) else text
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 1m30s)")
    if raw.startswith("-"):
        raise ValueError(f"{text!r} is negative")
    body = raw[1:] if raw.startswith("+") else raw
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m or (not m.group(1) and not m.group(2)):
            raise ValueError(f"{text!r} is not a duration (e.g. 90s, 1m30s)")
        number = float(f"{m.group(1) or 0}.{m.group(2) or 0}")
        total += number * _UNIT_SECONDS[m.group(3)]
        pos = m.end()
        if total > _DURATION_MAX:
            raise ValueError(f"{text!r} is too long")
    return total
