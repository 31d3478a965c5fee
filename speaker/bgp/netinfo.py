"""The node's addresses on a session: which interface carries the local end, and its other addresses.

:func:`choose_next_hops` is pure (tested with tables); :func:`interface_addresses` reads the table with
pyroute2 in the calling thread's network namespace.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from speaker.bgp.rib import NextHops

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class IfAddr:
    ifindex: int
    interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface


def interface_addresses() -> list[IfAddr]:
    from pyroute2 import IPRoute  # imported here: the codec and the pure parts must not need it

    out = []
    with IPRoute() as ipr:
        for msg in ipr.get_addr():
            addr = msg.get_attr("IFA_ADDRESS")
            if addr is None:
                continue
            out.append(IfAddr(msg["index"], ipaddress.ip_interface(f"{addr}/{msg['prefixlen']}")))
    return out


def choose_next_hops(
    local: IPAddress, peer: IPAddress, table: Iterable[IfAddr], *, link_local: bool = True
) -> NextHops:
    """The local address of the session for its family; for the other family the first usable address on the same
    interface; the IPv6 link-local only on an IPv6 session to a peer on one of that interface's subnets."""
    table = list(table)
    ifindex = next((a.ifindex for a in table if a.interface.ip == local), None)
    same = [a.interface for a in table if a.ifindex == ifindex] if ifindex is not None else []
    v4 = local if local.version == 4 else next((i.ip for i in same if i.version == 4), None)
    globals6 = [i.ip for i in same if i.version == 6 and not i.ip.is_link_local]
    v6 = local if local.version == 6 and not local.is_link_local else (globals6[0] if globals6 else None)
    # RFC 2545 §3: the link-local next hop is for a peer on the same link — and only over an IPv6 session:
    # FRR without interface information for an IPv4 session treats such a route as an error (seen with bgpd -Z).
    on_link = (
        link_local
        and peer.version == 6
        and any(peer in i.network for i in same if i.version == 6 and i.network.prefixlen < 128)
    )
    ll = next((i.ip for i in same if i.version == 6 and i.ip.is_link_local), None) if on_link else None
    return NextHops(v4, v6, ll)
