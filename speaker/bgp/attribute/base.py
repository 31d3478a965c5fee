"""Path attributes (RFC 4271 §4.3, §5): the attribute header, and the registry of kinds by type code.

An attribute kind has ``TYPE``, ``FLAGS`` (the Optional/Transitive bits it must carry), ``pack(ctx) -> bytes``
(the value) and ``unpack(data, ctx)`` (classmethod). Unknown optional attributes are kept as
:class:`UnknownAttribute`; an unknown well-known one is an error (3/2). Errors carry the whole attribute
(type, length, value) as their data, as RFC 4271 §6.3 asks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from speaker.bgp.context import Context
from speaker.bgp.errors import (
    ATTRIBUTE_FLAGS_ERROR,
    ATTRIBUTE_LENGTH_ERROR,
    MALFORMED_ATTRIBUTE_LIST,
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
    UPDATE_MESSAGE_ERROR,
    Notification,
)

OPTIONAL = 0x80
TRANSITIVE = 0x40
PARTIAL = 0x20
EXTENDED_LENGTH = 0x10

WELL_KNOWN = TRANSITIVE  # flags of a well-known attribute
OPTIONAL_TRANSITIVE = OPTIONAL | TRANSITIVE
OPTIONAL_NON_TRANSITIVE = OPTIONAL


class Attribute(Protocol):
    TYPE: ClassVar[int]
    FLAGS: ClassVar[int]

    def pack(self, ctx: Context) -> bytes: ...

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int) -> Any: ...


ATTRIBUTES: dict[int, type[Attribute]] = {}
A = TypeVar("A", bound=type[Attribute])


def register(cls: A) -> A:
    if cls.TYPE in ATTRIBUTES:
        raise ValueError(f"attribute type {cls.TYPE} registered twice")
    ATTRIBUTES[cls.TYPE] = cls
    return cls


@dataclass(frozen=True)
class UnknownAttribute:
    """An optional attribute we do not implement (e.g. extended communities, AGGREGATOR): kept as bytes."""

    type_code: int
    flags: int
    data: bytes

    @property
    def TYPE(self) -> int:  # noqa: N802 - same spelling as the registered kinds
        return self.type_code

    def pack(self, ctx: Context) -> bytes:
        return self.data


def raw_attribute(flags: int, type_code: int, value: bytes) -> bytes:
    """The attribute as on the wire (for the data of a NOTIFICATION)."""
    if flags & EXTENDED_LENGTH:
        return struct.pack("!BBH", flags, type_code, len(value)) + value
    return struct.pack("!BBB", flags, type_code, len(value) & 0xFF) + value


def attribute_error(subcode: int, flags: int, type_code: int, value: bytes, why: str) -> Notification:
    return Notification(UPDATE_MESSAGE_ERROR, subcode, raw_attribute(flags, type_code, value), why)


def length_error(cls: Any, value: bytes, flags: int, expected: str) -> Notification:
    return attribute_error(
        ATTRIBUTE_LENGTH_ERROR,
        flags,
        cls.TYPE,
        value,
        f"{cls.__name__} of {len(value)} octets, expected {expected} (RFC 4271 §6.3)",
    )


def pack_attribute(attr: Attribute | UnknownAttribute, ctx: Context) -> bytes:
    value = attr.pack(ctx)
    if isinstance(attr, UnknownAttribute):
        flags, code = attr.flags & (OPTIONAL | TRANSITIVE | PARTIAL), attr.type_code
    else:
        flags, code = attr.FLAGS, attr.TYPE
    if len(value) > 255:
        return struct.pack("!BBH", flags | EXTENDED_LENGTH, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def unpack_attributes(data: bytes, ctx: Context) -> dict[int, Any]:
    """Decode the path attributes of an UPDATE into ``{type code: attribute}`` (RFC 4271 §6.3 checks)."""
    out: dict[int, Any] = {}
    i, end = 0, len(data)
    while i < end:
        if i + 3 > end:
            raise Notification(
                UPDATE_MESSAGE_ERROR,
                MALFORMED_ATTRIBUTE_LIST,
                b"",
                f"truncated attribute header at octet {i} (RFC 4271 §6.3)",
            )
        flags, code = data[i], data[i + 1]
        if flags & EXTENDED_LENGTH:
            if i + 4 > end:
                raise Notification(
                    UPDATE_MESSAGE_ERROR,
                    MALFORMED_ATTRIBUTE_LIST,
                    b"",
                    f"truncated attribute header at octet {i} (RFC 4271 §6.3)",
                )
            (length,) = struct.unpack_from("!H", data, i + 2)
            start = i + 4
        else:
            length = data[i + 2]
            start = i + 3
        value = bytes(data[start : start + length])
        if len(value) != length:
            raise attribute_error(
                ATTRIBUTE_LENGTH_ERROR,
                flags,
                code,
                value,
                f"attribute {code} claims {length} octets, {len(value)} left (RFC 4271 §6.3)",
            )
        i = start + length
        if code in out:
            raise Notification(
                UPDATE_MESSAGE_ERROR, MALFORMED_ATTRIBUTE_LIST, b"", f"attribute {code} appears twice (RFC 4271 §6.3)"
            )
        cls = ATTRIBUTES.get(code)
        if cls is None:
            if not flags & OPTIONAL:
                raise attribute_error(
                    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    flags,
                    code,
                    value,
                    f"unrecognized well-known attribute {code} (RFC 4271 §6.3)",
                )
            out[code] = UnknownAttribute(code, flags & (OPTIONAL | TRANSITIVE | PARTIAL), value)
            continue
        if (flags & (OPTIONAL | TRANSITIVE)) != cls.FLAGS:
            raise attribute_error(
                ATTRIBUTE_FLAGS_ERROR,
                flags,
                code,
                value,
                f"{cls.__name__} with flags {flags:#04x}, expected {cls.FLAGS:#04x} (RFC 4271 §6.3)",
            )
        out[code] = cls.unpack(value, ctx, flags)
    return out
