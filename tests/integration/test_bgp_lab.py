"""The BGP lab helpers (tests/bgplab.py) checked on their own: they answer while the daemon runs, and every query
raises once it is gone — so "no route" / "not established" in a test is the daemon's answer, never an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bgplab import DAEMONS, Neighbor, QueryFailed
from tests.netlab import Lab

# ---- the helpers' own checks ---------------------------------------------------------------------------------


@pytest.fixture
def lab() -> Any:
    with Lab() as lab:
        yield lab


@pytest.mark.parametrize("kind", sorted(DAEMONS))
def test_peer_daemon_answers_and_a_dead_daemon_raises(lab: Lab, tmp_path: Path, kind: str) -> None:
    r = lab.host("r", "198.51.100.2/24", "2001:db8:100::2/64")
    d = DAEMONS[kind](
        r, tmp_path, asn=64513, router_id="198.51.100.2", neighbors=[Neighbor("n1", "198.51.100.10", 64512)]
    ).start()
    try:
        assert d.routes(4) == {}
        assert d.routes(6) == {}
        assert not d.established("198.51.100.10")
    finally:
        d.stop()
    assert not d.ready()
    for query in (lambda: d.routes(4), lambda: d.routes(6), lambda: d.established("198.51.100.10")):
        with pytest.raises(QueryFailed, match=kind):
            query()
