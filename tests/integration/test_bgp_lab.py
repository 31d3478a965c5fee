"""The BGP lab helpers (tests/bgplab.py) checked on their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bgplab import DAEMONS, Neighbor
from tests.netlab import Lab

# ---- the helpers' own checks ---------------------------------------------------------------------------------

@pytest.fixture
def lab() -> Any:
    with Lab() as lab:
        yield lab


@pytest.mark.parametrize("kind", sorted(DAEMONS))
def test_peer_daemon_starts_and_answers(lab: Lab, tmp_path: Path, kind: str) -> None:
    r = lab.host("r", "198.51.100.2/24", "2001:db8:100::2/64")
    d = DAEMONS[kind](r, tmp_path, asn=64513, router_id="198.51.100.2",
                      neighbors=[Neighbor("n1", "198.51.100.10", 64512)]).start()
    try:
        assert d.routes(4) == {}
        assert not d.established("198.51.100.10")
    finally:
        d.stop()
