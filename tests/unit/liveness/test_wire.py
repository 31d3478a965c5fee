"""The heartbeat codec: round trip, authenticity, and nothing but WireError from hostile bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.liveness.wire import (
    MAX_NAME,
    Kind,
    Message,
    WireError,
    decode,
    encode,
    parse_keys,
    view_digest,
)

KEY = b"k" * 32
OTHER = b"o" * 32

u64 = st.integers(0, 2**64 - 1)
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60).filter(
    lambda s: len(s.encode()) <= MAX_NAME
)
messages = st.builds(Message, st.sampled_from(list(Kind)), names, u64, u64, u64, u64)


@given(messages)
def test_round_trip(msg):
    assert decode(encode(msg, KEY), [KEY]) == msg


@given(messages, st.data())
def test_any_bit_flip_is_rejected(msg, data):
    raw = bytearray(encode(msg, KEY))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(WireError):
        decode(bytes(raw), [KEY])


@given(st.binary(max_size=400))
def test_garbage_raises_only_wire_error(data):
    try:
        decode(data, [KEY])
    except WireError as exc:
        assert exc.reason in ("malformed", "version", "bad_mac")


def test_wrong_key_is_bad_mac_and_rotation_accepts_either():
    raw = encode(Message(Kind.HEARTBEAT, "n2", 1, 1, 1, 0), OTHER)
    with pytest.raises(WireError) as err:
        decode(raw, [KEY])
    assert err.value.reason == "bad_mac"
    assert decode(raw, [KEY, OTHER]).name == "n2"


def test_truncated_and_padded_are_malformed():
    raw = encode(Message(Kind.HEARTBEAT, "n2", 1, 1, 1, 0), KEY)
    for bad in (raw[:-1], raw + b"\0", raw[:10], b""):
        with pytest.raises(WireError):
            decode(bad, [KEY])


def test_version_is_checked():
    raw = bytearray(encode(Message(Kind.HEARTBEAT, "n2", 1, 1, 1, 0), KEY))
    raw[4] = 9
    with pytest.raises(WireError) as err:
        decode(bytes(raw), [KEY])
    assert err.value.reason == "version"


def test_name_limits():
    with pytest.raises(ValueError):
        encode(Message(Kind.HEARTBEAT, "", 1, 1, 1), KEY)
    with pytest.raises(ValueError):
        encode(Message(Kind.HEARTBEAT, "a" * (MAX_NAME + 1), 1, 1, 1), KEY)


def test_view_digest_is_order_free():
    assert view_digest(["a", "b", "c"]) == view_digest({"c", "a", "b"})
    assert view_digest(["a", "b"]) != view_digest(["a", "bc"]) != view_digest(["ab"])


def test_parse_keys():
    assert parse_keys(b"# comment\n" + b"x" * 32 + b"\n\n" + b"y" * 20 + b"\n") == (b"x" * 32, b"y" * 20)
    with pytest.raises(ValueError, match="no key"):
        parse_keys(b"\n# nothing\n")
    with pytest.raises(ValueError, match="key 1 is 5 bytes") as err:
        parse_keys(b"short\n")
    assert "short" not in str(err.value)  # key material never appears in messages
