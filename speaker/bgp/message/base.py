"""The message header (RFC 4271 §4.1) and the registry of message kinds, by type code.

A message kind is a class with ``TYPE``, ``MIN_LENGTH``/``MAX_LENGTH`` (whole message, header included),
``pack_body(ctx) -> bytes`` and ``unpack_body(data, ctx)`` (a classmethod). Modules register their kinds
with :func:`register`; :func:`unpack_message` checks the header (§6.1) and dispatches.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar

from speaker.bgp.context import MAX_MESSAGE, Context
from speaker.bgp.errors import (
    BAD_MESSAGE_LENGTH,
    BAD_MESSAGE_TYPE,
    CONNECTION_NOT_SYNCHRONIZED,
    MESSAGE_HEADER_ERROR,
    Notification,
)

MARKER = b"\xff" * 16
HEADER = 19
_HDR = struct.Struct("!16sHB")


class Message(Protocol):
    TYPE: ClassVar[int]
    MIN_LENGTH: ClassVar[int]
    MAX_LENGTH: ClassVar[int]

    def pack_body(self, ctx: Context) -> bytes: ...

    @classmethod
    def unpack_body(cls, data: bytes, ctx: Context) -> Any: ...


MESSAGES: dict[int, type[Message]] = {}
M = TypeVar("M", bound=type[Message])


def register(cls: M) -> M:
    if cls.TYPE in MESSAGES:
        raise ValueError(f"message type {cls.TYPE} registered twice")
    MESSAGES[cls.TYPE] = cls
    return cls


def header(length: int, type_: int) -> bytes:
    return _HDR.pack(MARKER, length, type_)


def pack_message(msg: Message, ctx: Context) -> bytes:
    body = msg.pack_body(ctx)
    length = HEADER + len(body)
    if length > MAX_MESSAGE:
        raise ValueError(f"{type(msg).__name__} of {length} octets exceeds {MAX_MESSAGE} (RFC 4271 §4.1)")
    return _HDR.pack(MARKER, length, msg.TYPE) + body


def check_header(data: bytes) -> tuple[int, int]:
    """Validate a 19-octet header; return (length, type). Raises Notification 1/x (RFC 4271 §6.1)."""
    marker, length, type_ = _HDR.unpack_from(data)
    if marker != MARKER:
        raise Notification(
            MESSAGE_HEADER_ERROR, CONNECTION_NOT_SYNCHRONIZED, b"", "marker is not all ones (RFC 4271 §6.1)"
        )
    cls = MESSAGES.get(type_)
    if cls is None:
        raise Notification(
            MESSAGE_HEADER_ERROR, BAD_MESSAGE_TYPE, bytes((type_,)), f"unknown message type {type_} (RFC 4271 §6.1)"
        )
    if not (max(HEADER, cls.MIN_LENGTH) <= length <= min(MAX_MESSAGE, cls.MAX_LENGTH)):
        raise Notification(
            MESSAGE_HEADER_ERROR,
            BAD_MESSAGE_LENGTH,
            struct.pack("!H", length),
            f"{cls.__name__} length {length} outside {cls.MIN_LENGTH}..{min(MAX_MESSAGE, cls.MAX_LENGTH)}"
            " (RFC 4271 §6.1)",
        )
    return length, type_


def unpack_message(data: bytes, ctx: Context) -> Any:
    """Decode one whole message (header included). Raises only :class:`Notification`."""
    data = bytes(data)
    if len(data) < HEADER:
        raise Notification(
            MESSAGE_HEADER_ERROR,
            BAD_MESSAGE_LENGTH,
            struct.pack("!H", len(data)),
            f"{len(data)} octets is shorter than a header (RFC 4271 §6.1)",
        )
    length, type_ = check_header(data)
    if length != len(data):
        raise Notification(
            MESSAGE_HEADER_ERROR,
            BAD_MESSAGE_LENGTH,
            struct.pack("!H", length),
            f"header says {length} octets, message has {len(data)} (RFC 4271 §6.1)",
        )
    return MESSAGES[type_].unpack_body(data[HEADER:], ctx)


class Reader:
    """Split a TCP byte stream into messages: ``feed(chunk)`` then iterate ``messages(ctx)``.

    ``ctx_for`` is consulted per message so a session can switch context right after the OPEN.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk

    def next_raw(self) -> bytes | None:
        """The next whole message (header checked), or None if more bytes are needed."""
        if len(self._buf) < HEADER:
            return None
        length, _ = check_header(bytes(self._buf[:HEADER]))
        if len(self._buf) < length:
            return None
        raw = bytes(self._buf[:length])
        del self._buf[:length]
        return raw


Decoder = Callable[[bytes, Context], Any]
