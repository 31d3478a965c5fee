"""UPDATE (RFC 4271 §4.3): withdrawn IPv4 routes, path attributes, IPv4 NLRI; IPv6 rides in MP_REACH/MP_UNREACH.

The model holds attributes sorted by type code, one of each (``Update.of`` sorts), and real ASNs: in a 2-octet
session ``pack`` adds AS4_PATH when the path needs it and ``unpack`` folds AS4_PATH back in (RFC 6793 §4.2).
Errors follow RFC 4271 §6.3 (3/x).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from speaker.bgp.attribute import (
    As4Path,
    AsPath,
    MpReach,
    NextHop,
    Origin,
    as4_path_for,
    merge_as4_path,
    pack_attribute,
    unpack_attributes,
)
from speaker.bgp.context import Context
from speaker.bgp.errors import (
    MALFORMED_ATTRIBUTE_LIST,
    MISSING_WELL_KNOWN_ATTRIBUTE,
    UPDATE_MESSAGE_ERROR,
    Notification,
)
from speaker.bgp.message.base import register
from speaker.bgp.nlri import pack_prefixes, unpack_prefixes

T = TypeVar("T")


@register
@dataclass(frozen=True)
class Update:
    TYPE: ClassVar[int] = 2
    MIN_LENGTH: ClassVar[int] = 23
    MAX_LENGTH: ClassVar[int] = 4096

    withdrawn: tuple[ipaddress.IPv4Network, ...] = ()
    attributes: tuple[Any, ...] = ()
    nlri: tuple[ipaddress.IPv4Network, ...] = ()

    @classmethod
    def of(
        cls,
        withdrawn: Iterable[ipaddress.IPv4Network] = (),
        attributes: Iterable[Any] = (),
        nlri: Iterable[ipaddress.IPv4Network] = (),
    ) -> Update:
        attrs = sorted(attributes, key=lambda a: a.TYPE)
        codes = [a.TYPE for a in attrs]
        if len(set(codes)) != len(codes):
            raise ValueError(f"duplicate attributes {codes}")
        return cls(tuple(withdrawn), tuple(attrs), tuple(nlri))

    def get(self, kind: type[T]) -> T | None:
        for a in self.attributes:
            if isinstance(a, kind):
                return a
        return None

    @property
    def is_end_of_rib(self) -> bool:
        """RFC 4724 §2: an empty UPDATE (IPv4) or one with an empty MP_UNREACH_NLRI only."""
        if self.withdrawn or self.nlri:
            return False
        if not self.attributes:
            return True
        from speaker.bgp.attribute import MpUnreach

        return (
            len(self.attributes) == 1 and isinstance(self.attributes[0], MpUnreach) and not self.attributes[0].withdrawn
        )

    def pack_body(self, ctx: Context) -> bytes:
        attrs = list(self.attributes)
        if not ctx.asn4:
            path = self.get(AsPath)
            if path is not None and path.needs_as4 and self.get(As4Path) is None:
                attrs.append(as4_path_for(path))
                attrs.sort(key=lambda a: a.TYPE)
        wd = pack_prefixes(self.withdrawn)
        pa = b"".join(pack_attribute(a, ctx) for a in attrs)
        return struct.pack("!H", len(wd)) + wd + struct.pack("!H", len(pa)) + pa + pack_prefixes(self.nlri)

    @classmethod
    def unpack_body(cls, data: bytes, ctx: Context) -> Update:
        (wlen,) = struct.unpack_from("!H", data)
        if 2 + wlen + 2 > len(data):
            raise Notification(
                UPDATE_MESSAGE_ERROR,
                MALFORMED_ATTRIBUTE_LIST,
                b"",
                f"withdrawn routes length {wlen} overruns the message (RFC 4271 §6.3)",
            )
        withdrawn = unpack_prefixes(data[2 : 2 + wlen], 32, where="withdrawn routes")
        (alen,) = struct.unpack_from("!H", data, 2 + wlen)
        start = 4 + wlen
        if start + alen > len(data):
            raise Notification(
                UPDATE_MESSAGE_ERROR,
                MALFORMED_ATTRIBUTE_LIST,
                b"",
                f"total path attribute length {alen} overruns the message (RFC 4271 §6.3)",
            )
        attrs = unpack_attributes(data[start : start + alen], ctx)
        nlri = unpack_prefixes(data[start + alen :], 32)
        as4 = attrs.pop(As4Path.TYPE, None)
        if as4 is not None and not ctx.asn4 and AsPath.TYPE in attrs:
            attrs[AsPath.TYPE] = merge_as4_path(attrs[AsPath.TYPE], as4)
        # RFC 4271 §6.3 / RFC 4760 §4: reachability needs ORIGIN and AS_PATH, IPv4 NLRI also NEXT_HOP.
        required = []
        if nlri or MpReach.TYPE in attrs:
            required += [Origin.TYPE, AsPath.TYPE]
        if nlri:
            required.append(NextHop.TYPE)
        for code in required:
            if code not in attrs:
                raise Notification(
                    UPDATE_MESSAGE_ERROR,
                    MISSING_WELL_KNOWN_ATTRIBUTE,
                    bytes((code,)),
                    f"missing well-known attribute {code} (RFC 4271 §6.3)",
                )
        # arg-type: unpack_prefixes(…, 32) returns IPv4 networks only, typed as either family
        return cls(tuple(withdrawn), tuple(attrs[k] for k in sorted(attrs)), tuple(nlri))  # type: ignore[arg-type]
