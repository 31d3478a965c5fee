"""Socket options for BGP: TCP MD5 signatures (RFC 2385) and the IP TTL for eBGP.

The password is only ever packed into the ``struct tcp_md5sig`` here; it is never logged or put in an error.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

TCP_MD5SIG = 14  # linux/tcp.h
TCP_MD5SIG_MAXKEYLEN = 80
_SOCKADDR_STORAGE = 128


def md5sig(peer: IPAddress, key: bytes) -> bytes:
    """``struct tcp_md5sig`` for ``peer``: sockaddr_storage, flags, prefixlen, keylen, ifindex, key[80]."""
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP MD5 password longer than {TCP_MD5SIG_MAXKEYLEN} octets")
    if peer.version == 4:
        addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0) + peer.packed
    else:
        addr = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", 0, 0) + peer.packed + struct.pack("=I", 0)
    return (
        addr.ljust(_SOCKADDR_STORAGE, b"\0")
        + struct.pack("=BBHI", 0, 0, len(key), 0)
        + key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")
    )


def set_md5(sock: socket.socket, peer: IPAddress, password: str | None) -> None:
    """Sign (or, with ``None``, stop signing) segments to/from ``peer`` on ``sock``."""
    key = password.encode("utf-8") if password else b""
    sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(peer, key))


def set_ttl(sock: socket.socket, version: int, ttl: int) -> None:
    if version == 4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)


def ebgp_ttl(ebgp: bool, multihop: bool) -> int | None:
    """The TTL to send with: 1 for a directly connected eBGP peer (as BIRD/FRR/GoBGP do), 255 for ``ebgpMultiHop``,
    the system default (None) for iBGP."""
    if not ebgp:
        return None
    return 255 if multihop else 1
