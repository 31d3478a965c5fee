"""The capture reader of tests/bgplab.py: a segment tcpdump missed may drop messages, never reorder them."""

from __future__ import annotations

from pathlib import Path

import pytest

from speaker.bgp.message.base import MARKER
from tests.bgplab import _Stream

KEEPALIVE = MARKER + b"\x00\x13\x04"
CEASE = MARKER + b"\x00\x15\x03\x06\x02"  # NOTIFICATION Cease / Administrative Shutdown, no data


def stream(*segments: tuple[int, bytes]) -> _Stream:
    s = _Stream(0.0, base=1000)
    s.segments = {1000 + offset: data for offset, data in segments}
    return s


def test_a_missed_segment_that_held_whole_messages_splits_the_stream_there(tmp_path: Path) -> None:
    s = stream((0, KEEPALIVE), (38, CEASE))  # 19..38, a KEEPALIVE, not captured
    assert s.pieces(("n", 1, "r", 179), tmp_path / "log") == [KEEPALIVE, CEASE]


def test_a_missed_segment_before_one_that_starts_mid_message_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("1 packet dropped by kernel")
    s = stream((0, KEEPALIVE), (25, CEASE[6:]))
    with pytest.raises(AssertionError, match=r"lost bytes 19\.\.25 .*1 packet dropped by kernel"):
        s.pieces(("n", 1, "r", 179), tmp_path / "log")


def test_overlapping_retransmissions_are_read_once(tmp_path: Path) -> None:
    s = stream((0, KEEPALIVE + KEEPALIVE[:5]), (19, KEEPALIVE), (38, CEASE))
    assert s.pieces(("n", 1, "r", 179), tmp_path / "log") == [KEEPALIVE + KEEPALIVE + CEASE]
