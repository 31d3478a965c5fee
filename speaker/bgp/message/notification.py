"""NOTIFICATION (RFC 4271 §4.5), with the shutdown communication of RFC 9003 for Cease 2 and 4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.context import Context
from speaker.bgp.errors import CEASE, CEASE_ADMINISTRATIVE_RESET, CEASE_ADMINISTRATIVE_SHUTDOWN, Notification, describe
from speaker.bgp.message.base import register


@register
@dataclass(frozen=True)
class NotificationMessage:
    TYPE: ClassVar[int] = 3
    MIN_LENGTH: ClassVar[int] = 21
    MAX_LENGTH: ClassVar[int] = 4096

    code: int
    subcode: int
    data: bytes = b""

    @classmethod
    def from_error(cls, err: Notification) -> NotificationMessage:
        return cls(err.code, err.subcode, err.data)

    @classmethod
    def shutdown(cls, subcode: int, text: str) -> NotificationMessage:
        """Cease with an RFC 9003 shutdown communication (a length octet, then at most 255 octets of UTF-8)."""
        raw = text.encode("utf-8")[:255]
        while True:  # do not cut a UTF-8 sequence in half
            try:
                raw.decode("utf-8")
                break
            except UnicodeDecodeError:
                raw = raw[:-1]
        return cls(CEASE, subcode, bytes((len(raw),)) + raw)

    @property
    def communication(self) -> str | None:
        """The RFC 9003 shutdown text, if this is a Cease 2/4 that carries one."""
        if (
            self.code == CEASE
            and self.subcode in (CEASE_ADMINISTRATIVE_SHUTDOWN, CEASE_ADMINISTRATIVE_RESET)
            and self.data
        ):
            n = self.data[0]
            if n == len(self.data) - 1:
                return self.data[1:].decode("utf-8", "replace")
        return None

    def __str__(self) -> str:
        text = describe(self.code, self.subcode)
        comm = self.communication
        if comm:
            return f"{text}: {comm!r}"
        return f"{text} data={self.data.hex()}" if self.data else text

    def pack_body(self, ctx: Context) -> bytes:
        return bytes((self.code, self.subcode)) + self.data

    @classmethod
    def unpack_body(cls, data: bytes, ctx: Context) -> NotificationMessage:
        return cls(data[0], data[1], bytes(data[2:]))
