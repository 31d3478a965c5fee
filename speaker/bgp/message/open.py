"""OPEN (RFC 4271 §4.2) with Capabilities optional parameters (RFC 5492 §4).

``my_as`` is the 2-octet field as on the wire (AS_TRANS when the real ASN does not fit, RFC 6793 §4.1);
:attr:`Open.asn` is the real ASN (from the 4-octet AS capability when present). Build one with
:meth:`Open.build`. Errors are :class:`Notification` 2/x (RFC 4271 §6.2). Checks that need the session's
configuration (bad peer AS, unacceptable hold time against our policy) are the session's job.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from speaker.bgp.capability import FourOctetAs, pack_capability, unpack_capability
from speaker.bgp.context import AS_TRANS, Context
from speaker.bgp.errors import (
    BAD_BGP_IDENTIFIER,
    OPEN_MESSAGE_ERROR,
    UNACCEPTABLE_HOLD_TIME,
    UNSUPPORTED_OPTIONAL_PARAMETER,
    UNSUPPORTED_VERSION_NUMBER,
    Notification,
)
from speaker.bgp.message.base import register

VERSION = 4
PARAM_CAPABILITIES = 2
_FIXED = struct.Struct("!BHHIB")


@register
@dataclass(frozen=True)
class Open:
    TYPE: ClassVar[int] = 1
    MIN_LENGTH: ClassVar[int] = 29
    MAX_LENGTH: ClassVar[int] = 4096

    my_as: int
    hold_time: int
    router_id: ipaddress.IPv4Address
    capabilities: tuple[Any, ...] = field(default=())
    version: int = VERSION

    @classmethod
    def build(
        cls, asn: int, hold_time: int, router_id: ipaddress.IPv4Address, capabilities: tuple[Any, ...] = ()
    ) -> Open:
        """An OPEN for ``asn`` (any 32-bit value): AS_TRANS in the header and the 4-octet AS capability first."""
        caps = tuple(c for c in capabilities if not isinstance(c, FourOctetAs))
        return cls(asn if asn <= 0xFFFF else AS_TRANS, hold_time, router_id, (FourOctetAs(asn),) + caps)

    @property
    def asn(self) -> int:
        for cap in self.capabilities:
            if isinstance(cap, FourOctetAs):
                return cap.asn
        return self.my_as

    @property
    def asn4(self) -> bool:
        return any(isinstance(c, FourOctetAs) for c in self.capabilities)

    def capability(self, kind: type) -> list[Any]:
        return [c for c in self.capabilities if isinstance(c, kind)]

    def pack_body(self, ctx: Context) -> bytes:
        caps = b"".join(pack_capability(c) for c in self.capabilities)
        params = b""
        # One Capabilities parameter holds at most 255 octets; split when more (RFC 5492 §4 allows several).
        while caps:
            chunk, caps = _split_caps(caps)
            params += bytes((PARAM_CAPABILITIES, len(chunk))) + chunk
        if len(params) > 255:
            raise ValueError("optional parameters exceed 255 octets (RFC 9072 extended parameters not implemented)")
        return _FIXED.pack(self.version, self.my_as, self.hold_time, int(self.router_id), len(params)) + params

    @classmethod
    def unpack_body(cls, data: bytes, ctx: Context) -> Open:
        version, my_as, hold, rid, plen = _FIXED.unpack_from(data)
        if version != VERSION:
            raise Notification(
                OPEN_MESSAGE_ERROR,
                UNSUPPORTED_VERSION_NUMBER,
                struct.pack("!H", VERSION),
                f"version {version}, we speak 4 (RFC 4271 §6.2)",
            )
        if hold in (1, 2):
            raise Notification(
                OPEN_MESSAGE_ERROR,
                UNACCEPTABLE_HOLD_TIME,
                b"",
                f"hold time {hold}s; it must be 0 or at least 3 (RFC 4271 §6.2)",
            )
        if rid == 0:
            raise Notification(
                OPEN_MESSAGE_ERROR, BAD_BGP_IDENTIFIER, b"", "BGP identifier 0.0.0.0 (RFC 4271 §6.2, RFC 6286 §2.2)"
            )
        params = data[_FIXED.size :]
        if len(params) != plen:
            raise Notification(
                OPEN_MESSAGE_ERROR,
                0,
                b"",
                f"optional parameters length {plen}, {len(params)} octets follow (RFC 4271 §6.2)",
            )
        caps: list[Any] = []
        i = 0
        while i < plen:
            if i + 2 > plen:
                raise Notification(OPEN_MESSAGE_ERROR, 0, b"", "truncated optional parameter (RFC 4271 §4.2)")
            ptype, pl = params[i], params[i + 1]
            value = params[i + 2 : i + 2 + pl]
            if len(value) != pl:
                raise Notification(
                    OPEN_MESSAGE_ERROR,
                    0,
                    b"",
                    f"optional parameter {ptype} claims {pl} octets, {len(value)} left (RFC 4271 §4.2)",
                )
            if ptype != PARAM_CAPABILITIES:
                raise Notification(
                    OPEN_MESSAGE_ERROR,
                    UNSUPPORTED_OPTIONAL_PARAMETER,
                    b"",
                    f"optional parameter type {ptype} (RFC 4271 §6.2)",
                )
            j = 0
            while j < pl:
                if j + 2 > pl:
                    raise Notification(OPEN_MESSAGE_ERROR, 0, b"", "truncated capability (RFC 5492 §4)")
                code, cl = value[j], value[j + 1]
                cval = value[j + 2 : j + 2 + cl]
                if len(cval) != cl:
                    raise Notification(
                        OPEN_MESSAGE_ERROR,
                        0,
                        b"",
                        f"capability {code} claims {cl} octets, {len(cval)} left (RFC 5492 §4)",
                    )
                caps.append(unpack_capability(code, cval))
                j += 2 + cl
            i += 2 + pl
        return cls(my_as, hold, ipaddress.IPv4Address(rid), tuple(caps), version)


def _split_caps(caps: bytes) -> tuple[bytes, bytes]:
    i = 0
    while i < len(caps) and i + 2 + caps[i + 1] <= 255:
        i += 2 + caps[i + 1]
    if i == 0:
        raise ValueError("a capability longer than 253 octets")
    return caps[:i], caps[i:]
