"""Capabilities (RFC 5492): registry by capability code; unknown ones are kept as :class:`UnknownCapability`.

A capability kind has ``CODE``, ``pack() -> bytes`` (value only) and ``unpack(data)`` (classmethod) that raises
:class:`Notification` 2/0 (OPEN Message Error, unspecific, RFC 5492 §3 leaves the subcode open) on a malformed value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from speaker.bgp.errors import OPEN_MESSAGE_ERROR, Notification


class Capability(Protocol):
    CODE: ClassVar[int]

    def pack(self) -> bytes: ...

    @classmethod
    def unpack(cls, data: bytes) -> Any: ...


CAPABILITIES: dict[int, type[Capability]] = {}
C = TypeVar("C", bound=type[Capability])


def register(cls: C) -> C:
    CAPABILITIES[cls.CODE] = cls
    return cls


def malformed(name: str, data: bytes, why: str) -> Notification:
    return Notification(OPEN_MESSAGE_ERROR, 0, b"", f"{name} capability {data.hex() or '(empty)'}: {why} (RFC 5492 §4)")


@dataclass(frozen=True)
class UnknownCapability:
    """A capability we do not implement: ignored (RFC 5492 §4), kept for logs and round trips."""

    code: int
    data: bytes = b""

    def pack(self) -> bytes:
        return self.data


def pack_capability(cap: Capability | UnknownCapability) -> bytes:
    value = cap.pack()
    code = cap.code if isinstance(cap, UnknownCapability) else cap.CODE
    return bytes((code, len(value))) + value


def unpack_capability(code: int, data: bytes) -> Any:
    cls = CAPABILITIES.get(code)
    if cls is None:
        return UnknownCapability(code, bytes(data))
    return cls.unpack(bytes(data))
