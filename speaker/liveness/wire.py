"""The membership heartbeat on the wire: a fixed header, the sender's name, and an HMAC-SHA256 over both.

Pure (no sockets, no clock): ``encode(msg, key) -> bytes`` and ``decode(data, keys) -> Message``, which
raises :class:`WireError` with a short ``reason`` (``malformed``, ``version``, ``bad_mac``) that the protocol
counts. The MAC is checked before anything else in the packet is trusted; ``decode`` accepts any of several
keys so a shared key can be rotated without a split (sign with the new key once every node knows both).

Layout (network byte order)::

    0   4  magic  b"BLBm"
    4   1  version (1)
    5   1  kind: 1 heartbeat, 2 leaving
    6   2  reserved (0)
    8   8  incarnation  — the sender's start time in ms; a restart is a new, higher incarnation
    16  8  sequence     — +1 per message within an incarnation (replays are not newer)
    24  8  timestamp    — sender's wall clock, ms since the epoch (bounds how long a capture can be replayed)
    32  8  view digest  — hash of the sender's alive set (lets peers see whether views agree)
    40  1  name length n (1..253)
    41  n  sender's node name, UTF-8
    41+n 32 HMAC-SHA256(key, bytes 0 .. 41+n)
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"BLBm"
VERSION = 1
_HEADER = struct.Struct("!4sBBHQQQQB")
MAC_SIZE = 32
MAX_NAME = 253
MIN_SIZE = _HEADER.size + 1 + MAC_SIZE
MAX_SIZE = _HEADER.size + MAX_NAME + MAC_SIZE
MIN_KEY_BYTES = 16


class Kind(IntEnum):
    HEARTBEAT = 1
    LEAVE = 2


class WireError(ValueError):
    """A packet that is not a valid membership message; ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Message:
    kind: Kind
    name: str
    incarnation: int
    seq: int
    timestamp_ms: int
    digest: int = 0


def encode(msg: Message, key: bytes) -> bytes:
    name = msg.name.encode()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"node name {msg.name!r}: must be 1..{MAX_NAME} bytes")
    body = (
        _HEADER.pack(
            MAGIC, VERSION, int(msg.kind), 0, msg.incarnation, msg.seq, msg.timestamp_ms, msg.digest, len(name)
        )
        + name
    )
    return body + hmac.new(key, body, hashlib.sha256).digest()


def decode(data: bytes, keys: Sequence[bytes]) -> Message:
    if len(data) < MIN_SIZE or len(data) > MAX_SIZE:
        raise WireError("malformed", f"{len(data)} bytes")
    if data[:4] != MAGIC:
        raise WireError("malformed", "bad magic")
    if data[4] != VERSION:
        raise WireError("version", f"version {data[4]}")
    body, mac = data[:-MAC_SIZE], data[-MAC_SIZE:]
    if not any(hmac.compare_digest(hmac.new(k, body, hashlib.sha256).digest(), mac) for k in keys):
        raise WireError("bad_mac")
    _, _, kind, _, inc, seq, ts, digest, n = _HEADER.unpack_from(body)
    if len(body) != _HEADER.size + n or n == 0:
        raise WireError("malformed", "name length")
    try:
        name = body[_HEADER.size :].decode()
        kind = Kind(kind)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError("malformed", str(exc)) from None
    return Message(kind, name, inc, seq, ts, digest)


def view_digest(alive: Iterable[str]) -> int:
    """64-bit digest of a set of names (order-free), carried in heartbeats."""
    h = hashlib.blake2b(b"\n".join(sorted(n.encode() for n in alive)), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def parse_keys(text: bytes) -> tuple[bytes, ...]:
    """A key file: one key per line (blank lines and ``#`` comments ignored); the first signs, all verify.

    Errors never include key material.
    """
    keys = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(b"#"))
    if not keys:
        raise ValueError("membership key file: no key found")
    for i, k in enumerate(keys, 1):
        if len(k) < MIN_KEY_BYTES:
            raise ValueError(
                f"membership key file: key {i} is {len(k)} bytes; use at least {MIN_KEY_BYTES} "
                "(e.g. `openssl rand -hex 32`)"
            )
    return keys
