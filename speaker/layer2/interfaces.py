"""Which interfaces can announce an address, and watching them change (pyroute2).

``choose_interfaces`` is pure: given the links (a snapshot), the VIP, the L2Advertisement's ``interfaces`` list (or
None) and the interfaces excluded (``exclude.py``), it returns the interface names to answer on. ``read_links``
dumps links and addresses with pyroute2. ``LinkWatcher`` is a thread that re-reads them whenever the kernel reports
a link or address change (RTM_NEWLINK/DELLINK/NEWADDR/DELADDR) and hands the new snapshot to a callback.

The watcher listens on a plain NETLINK_ROUTE socket used only as a change *notifier*, then dumps state
with pyroute2 (level-triggered, like the rest of the speaker): pyroute2 0.9's ``IPRoute.get()`` buffers
messages internally, so ``select()`` on its descriptor misses events that were already read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from speaker.layer2.exclude import NONE as NO_EXCLUSION
from speaker.layer2.exclude import InterfaceExclusion

log = logging.getLogger(__name__)

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
NETLINK_ROUTE = 0

IPNetwork = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: str
    flags: int
    master: int | None = None  # IFLA_MASTER: a bridge port or bond slave
    kind: str | None = None  # IFLA_INFO_KIND (veth, bridge, bond, vlan, dummy...)
    addresses: tuple[IPNetwork, ...] = field(default_factory=tuple)

    def unusable(self) -> str | None:
        """Why this link cannot announce anything, or None."""
        if self.flags & IFF_LOOPBACK:
            return "loopback"
        if self.master is not None:
            return "member of a bridge/bond"
        if self.flags & IFF_NOARP:
            return "NOARP"
        if not self.flags & IFF_UP:
            return "administratively down"
        if not self.flags & IFF_RUNNING:
            return "no carrier"
        if not self.mac or self.mac == "00:00:00:00:00:00" or len(self.mac) != 17:
            return "no Ethernet address"
        return None


@dataclass(frozen=True)
class InterfaceChoice:
    """The interfaces to answer for one address on, and whether they are the fallback (``all_interfaces``): no
    usable interface holds the address's subnet, so every usable, non-excluded one answers, as MetalLB's do."""

    names: frozenset[str]
    all_interfaces: bool = False


def select_interfaces(
    ip: IPAddress | str,
    links: Mapping[str, Link],
    names: Iterable[str] | None = None,
    exclude: InterfaceExclusion = NO_EXCLUSION,
) -> frozenset[str]:
    """``choose_interfaces(...).names``."""
    return choose_interfaces(ip, links, names, exclude).names


def choose_interfaces(
    ip: IPAddress | str,
    links: Mapping[str, Link],
    names: Iterable[str] | None = None,
    exclude: InterfaceExclusion = NO_EXCLUSION,
) -> InterfaceChoice:
    """The interfaces to answer for ``ip`` on. Pure.

    Never an interface ``exclude`` matches (MetalLB's ``metallb-excludel2``: no responder there, named or not).
    With ``names`` (an L2Advertisement's ``interfaces``): those of them that are usable. Without: the usable
    interfaces with an address whose subnet contains ``ip`` (of the same family) — stricter than MetalLB, which
    answers on every interface, so the address is not offered on networks it does not belong to. When no interface
    holds it (an address on a VLAN the node joins at Layer 2 only, with no address of its own there), every usable
    interface answers, as in MetalLB (for IPv6 those with an IPv6 address, as MetalLB's NDP responders need one):
    ``all_interfaces`` is then True, so the user can be told.
    """
    addr = ipaddress.ip_address(ip)

    def ok(name: str, link: Link) -> bool:
        return link.unusable() is None and exclude.match(name) is None

    if names is not None:
        return InterfaceChoice(frozenset(n for n in names if n in links and ok(n, links[n])))
    usable = {name: link for name, link in links.items() if ok(name, link)}
    holding = frozenset(
        name
        for name, link in usable.items()
        if any(net.version == addr.version and addr in net.network for net in link.addresses)
    )
    if holding:
        return InterfaceChoice(holding)
    if addr.version == 6:
        fallback = frozenset(name for name, link in usable.items() if any(n.version == 6 for n in link.addresses))
    else:
        fallback = frozenset(usable)
    return InterfaceChoice(fallback, all_interfaces=bool(fallback))


def read_links(ipr: Any) -> dict[str, Link]:
    """Links and their addresses from a pyroute2 ``IPRoute``."""
    addrs: dict[int, list[IPNetwork]] = {}
    for msg in ipr.get_addr():
        raw = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if not raw:
            continue
        try:
            addrs.setdefault(msg["index"], []).append(ipaddress.ip_interface(f"{raw}/{msg['prefixlen']}"))
        except ValueError:
            continue
    links: dict[str, Link] = {}
    for msg in ipr.get_links():
        name = msg.get_attr("IFLA_IFNAME")
        info = msg.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        links[name] = Link(
            index=msg["index"],
            name=name,
            mac=(msg.get_attr("IFLA_ADDRESS") or "").lower(),
            flags=msg["flags"],
            master=msg.get_attr("IFLA_MASTER"),
            kind=kind,
            addresses=tuple(addrs.get(msg["index"], ())),
        )
    return links


def dump_links() -> dict[str, Link]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return read_links(ipr)


def dump_neighbours() -> list[tuple[str, str]]:
    """The kernel's neighbour table (IPv4 and IPv6) as (address, MAC) pairs, MACs lower case; entries without a
    link-layer address (INCOMPLETE, FAILED) left out."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        pairs = [(msg.get_attr("NDA_DST"), msg.get_attr("NDA_LLADDR")) for msg in ipr.get_neighbours()]
    return [(str(ip), str(mac).lower()) for ip, mac in pairs if ip and mac]


class LinkWatcher:
    """Calls ``on_change(links)`` after every burst of link/address events. Nothing starts in __init__."""

    def __init__(
        self, on_change: Callable[[dict[str, Link]], None], *, dump: Callable[[], dict[str, Link]] = dump_links
    ) -> None:
        self._on_change = on_change
        self._dump = dump
        self._thread: threading.Thread | None = None
        self._nl: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self.links: dict[str, Link] = {}

    def start(self) -> dict[str, Link]:
        """Subscribe, dump once (returned, and passed to ``on_change``), then watch in a thread."""
        self._nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._nl.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        self._nl.setblocking(False)
        self.links = self._dump()
        self._on_change(self.links)
        self._thread = threading.Thread(target=self._run, name="layer2-links", daemon=True)
        self._thread.start()
        return self.links

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout)
        if self._nl is not None:
            self._nl.close()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        assert self._nl is not None
        while not self._stopping:
            try:
                ready, _, _ = select.select([self._nl, self._wake_r], [], [], 30.0)
            except (OSError, ValueError):
                return
            if self._stopping:
                return
            if self._nl not in ready:
                continue
            self._drain()
            try:
                links = self._dump()
            except Exception:  # keep watching; next event re-dumps
                log.exception("reading interfaces failed")
                continue
            if links != self.links:
                self.links = links
                try:
                    self._on_change(links)
                except Exception:  # a bug in the handler must not stop the watch
                    log.exception("interface change handler failed")

    def _drain(self) -> None:
        assert self._nl is not None
        while True:
            try:
                if not self._nl.recv(65536):
                    return
            except BlockingIOError:
                return
            except OSError as exc:  # ENOBUFS: events were lost; the dump that follows catches up anyway
                log.debug("netlink: %s", exc)
                return
