"""What a session negotiated, as the codec needs it: ``pack(ctx)`` / ``unpack(data, ctx)`` take one of these."""

from __future__ import annotations

from dataclasses import dataclass

AFI_IPV4 = 1
AFI_IPV6 = 2
SAFI_UNICAST = 1

Family = tuple[int, int]  # (AFI, SAFI)
IPV4_UNICAST: Family = (AFI_IPV4, SAFI_UNICAST)
IPV6_UNICAST: Family = (AFI_IPV6, SAFI_UNICAST)

FAMILY_NAMES = {IPV4_UNICAST: "ipv4-unicast", IPV6_UNICAST: "ipv6-unicast"}

AS_TRANS = 23456  # RFC 6793 §9
MAX_MESSAGE = 4096  # RFC 4271 §4.1 (no Extended Message capability, RFC 8654, is negotiated)


@dataclass(frozen=True)
class Context:
    """``asn4``: both sides sent the 4-octet AS capability (RFC 6793). ``families``: the AFI/SAFIs both sides
    announced (RFC 4760; IPv4 unicast alone when the peer sent no MP capability). Add-path (RFC 7911) is never
    negotiated, so NLRI never carry path identifiers.
    """

    asn4: bool = True
    families: frozenset[Family] = frozenset({IPV4_UNICAST, IPV6_UNICAST})

    # Used before the OPENs are exchanged: OPEN, NOTIFICATION and KEEPALIVE do not depend on it.
    @classmethod
    def initial(cls) -> Context:
        return cls(asn4=False, families=frozenset({IPV4_UNICAST}))
