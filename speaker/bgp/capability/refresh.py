"""Route Refresh capability (RFC 2918 §2): empty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.capability.base import malformed, register


@register
@dataclass(frozen=True)
class RouteRefreshCapability:
    CODE: ClassVar[int] = 2

    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, data: bytes) -> RouteRefreshCapability:
        if data:
            raise malformed("Route Refresh", data, "must be empty")
        return cls()
