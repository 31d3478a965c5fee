"""``BGPSpeaker``: the daemon-facing object. Owns an asyncio loop (its own thread, or the caller's), one
:class:`Session` per BGPPeer, and an optional passive listener.

Thread-safe entry points: ``set_peers``, ``set_routes``, ``snapshot``, ``stop`` may be called from any thread;
they hand the work to the loop. Nothing starts in the constructor: ``start()`` (threaded) or ``await run()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from speaker.bgp.errors import CEASE_ADMINISTRATIVE_SHUTDOWN, CEASE_OTHER_CONFIGURATION_CHANGE, CEASE_PEER_DECONFIGURED
from speaker.bgp.metrics import BGPMetrics, default_metrics
from speaker.bgp.rib import Route, by_prefix
from speaker.bgp.session import Session, SessionStatus
from speaker.bgp.sockopt import set_md5
from speaker.config.cluster import BGPPeer

log = logging.getLogger("speaker.bgp")
T = TypeVar("T")
SHUTDOWN_TEXT = "baremetal-lb speaker shutting down"


def unsupported(peer: BGPPeer) -> str | None:
    """Why the native speaker cannot run a session for ``peer`` (None when it can)."""
    if peer.address is None:
        return "spec.interface (BGP unnumbered) is not supported by the native BGP speaker"
    if peer.vrf:
        return f"spec.vrf ({peer.vrf!r}) is not supported by the native BGP speaker"
    return None


class BGPSpeaker:
    """BGP sessions to the BGPPeers selected for this node, advertising the routes it is given.

    ``router_id``: the node's BGP identifier (BGPPeer ``routerID`` wins; when neither is set, the session's local
    IPv4 address, or a value derived from ``node_name`` on IPv6-only sessions). ``listen``: (address, port) to
    also accept connections from configured peers (passive side); None = active connections only.
    ``ipv6_link_local_next_hop``: add the interface's link-local address to IPv6 next hops on IPv6 sessions to
    on-link peers (RFC 2545 §3). Off by default: FRR without interface information (bgpd without zebra) treats
    such an UPDATE as an error and resets the session; the global next hop alone works with BIRD, FRR, GoBGP.
    """

    def __init__(
        self,
        node_name: str,
        *,
        router_id: ipaddress.IPv4Address | str | None = None,
        listen: tuple[str, int] | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        shutdown_text: str = SHUTDOWN_TEXT,
        addresses: Callable[[], list[Any]] | None = None,
        ipv6_link_local_next_hop: bool = False,
    ) -> None:
        self.node_name = node_name
        self.router_id = ipaddress.IPv4Address(router_id) if router_id is not None else None
        self.listen = listen
        self.metrics = BGPMetrics(registry) if registry is not None else default_metrics()
        self._clock = clock
        self._rng = rng or random.Random()
        self._shutdown_text = shutdown_text
        self._addresses = addresses
        self._link_local = ipv6_link_local_next_hop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed: asyncio.Event | None = None
        self._sessions: dict[str, Session] = {}
        self._peers: dict[str, BGPPeer] = {}
        self._problems: dict[str, str] = {}
        self._routes: dict[str, dict[Any, Route]] = {}
        self._listener: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._warmed = False  # pyroute2 imported ahead (a few hundred ms, ~9 MiB): only once a session is wanted

    # ---- lifecycle --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve on the running loop until :meth:`aclose`."""
        await self._open()
        assert self._closed is not None
        await self._closed.wait()

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        if self.listen is not None:
            self._listener = self._make_listener(*self.listen)
            self._accept_task = self._loop.create_task(self._accept_loop())
        self._apply_peers()

    async def aclose(self) -> None:
        """Graceful stop: every session withdraws its routes, sends Cease/Administrative Shutdown, closes."""
        if self._accept_task:
            self._accept_task.cancel()
        if self._listener:
            self._listener.close()
            self._listener = None
        sessions = list(self._sessions.values())
        self._sessions.clear()
        await asyncio.gather(
            *(s.shutdown(CEASE_ADMINISTRATIVE_SHUTDOWN, self._shutdown_text) for s in sessions), return_exceptions=True
        )
        if self._closed:
            self._closed.set()

    def start(self) -> None:
        """Run the loop on a thread of its own (the daemon's way). Returns once it serves."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            closed = self._closed
            assert closed is not None  # made by _open()
            try:
                loop.run_until_complete(closed.wait())
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="bgp", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop from another thread (see :meth:`aclose`); waits at most ``timeout``."""
        if self._loop is None or self._thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), self._loop).result(timeout)
        except Exception as exc:  # noqa: BLE001 - stopping must not raise
            log.warning("BGP speaker did not stop cleanly: %s", exc)
        self._thread.join(timeout)

    # ---- configuration ----------------------------------------------------------------------------------

    def set_peers(self, peers: Iterable[BGPPeer]) -> None:
        """The BGPPeers this node must peer with (already selected by node). Adds, removes (Cease 6/3) and
        reconfigures (Cease 6/6, then a new session) as needed."""
        with self._lock:
            self._peers = {p.name: p for p in peers}
        self._call(self._apply_peers)

    def set_routes(self, routes: Mapping[str, Iterable[Route]]) -> None:
        """The complete set of routes per peer name (peers not named get none). Level-triggered: the sessions
        send only the difference with what each peer already has."""
        prepared = {name: by_prefix(rs) for name, rs in routes.items()}
        with self._lock:
            self._routes = prepared
        self._call(self._apply_routes)

    def snapshot(self) -> list[SessionStatus]:
        """Every configured peer, in name order: state, uptime, prefixes sent/received/pending."""

        def collect() -> list[SessionStatus]:
            rows = [s.status() for s in self._sessions.values()]
            for name, why in self._problems.items():
                p = self._peers[name]
                rows.append(
                    SessionStatus(
                        name,
                        str(p.address or p.interface),
                        p.port,
                        "Unsupported",
                        None,
                        None,
                        None,
                        None,
                        None,
                        (),
                        0,
                        0,
                        0,
                        0,
                        why,
                    )
                )
            return sorted(rows, key=lambda r: r.peer)

        return self._run(collect)

    # ---- loop side --------------------------------------------------------------------------------------

    def _apply_peers(self) -> None:
        with self._lock:
            wanted = dict(self._peers)
        self._problems = {}
        for name in list(self._sessions):
            s = self._sessions[name]
            if name not in wanted or wanted[name] != s.peer:
                del self._sessions[name]
                subcode = CEASE_PEER_DECONFIGURED if name not in wanted else CEASE_OTHER_CONFIGURATION_CHANGE
                log.info("BGPPeer %s: %s", name, "removed" if name not in wanted else "changed, reconnecting")
                asyncio.get_running_loop().create_task(s.shutdown(subcode, forget_metrics=name not in wanted))
        for name, peer in wanted.items():
            why = unsupported(peer)
            if why:
                if name not in self._problems:
                    log.error("BGPPeer %s: %s; no session", name, why)
                self._problems[name] = why
                continue
            if name not in self._sessions:
                if not self._warmed:  # the first session: import pyroute2 beside its connect, not at every start
                    self._warmed = True
                    asyncio.get_running_loop().run_in_executor(None, _warm_up)
                kw: dict[str, Any] = {}
                if self._addresses is not None:
                    kw["addresses"] = self._addresses
                s = Session(
                    peer,
                    node_name=self.node_name,
                    router_id=self.router_id,
                    metrics=self.metrics,
                    clock=self._clock,
                    rng=self._rng,
                    link_local_next_hop=self._link_local,
                    **kw,
                )
                self._sessions[name] = s
                self._set_listener_key(peer)
                s.set_routes(self._routes_for(name))
                s.start()
        self._apply_routes()

    def _routes_for(self, name: str) -> dict[Any, Route]:
        with self._lock:
            return self._routes.get(name, {})

    def _apply_routes(self) -> None:
        for name, s in self._sessions.items():
            s.set_routes(self._routes_for(name))

    def _call(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # applied by _open()
        if _running_loop() is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def _run(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        loop = self._loop
        if loop is None or _running_loop() is loop or not loop.is_running():
            return fn()

        async def wrap() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrap(), loop).result(timeout)

    # ---- passive side -----------------------------------------------------------------------------------

    def _make_listener(self, address: str, port: int) -> socket.socket:
        ip = ipaddress.ip_address(address)
        sock = socket.socket(socket.AF_INET if ip.version == 4 else socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(16)
        sock.setblocking(False)
        return sock

    def _set_listener_key(self, peer: BGPPeer) -> None:
        if (
            self._listener is not None
            and peer.password is not None
            and peer.address is not None
            and (self._listener.family == socket.AF_INET) == (peer.address.version == 4)
        ):
            set_md5(self._listener, peer.address, peer.password.reveal())

    async def _accept_loop(self) -> None:
        assert self._listener is not None and self._loop is not None
        while True:
            conn, addr = await self._loop.sock_accept(self._listener)
            remote = ipaddress.ip_address(addr[0])
            session = next((s for s in self._sessions.values() if s.peer.address == remote), None)
            try:
                taken = session is not None and await session.accept(conn)
            except OSError:
                taken = False
            if not taken:
                log.info(
                    "BGP: refused a connection from %s (%s)",
                    remote,
                    "no BGPPeer with that address" if session is None else "session already connected",
                )
                conn.close()


def _warm_up() -> None:
    """Import pyroute2 ahead of the first session's need (it takes a few hundred milliseconds, and ~9 MiB that a
    node with no BGPPeer does not spend)."""
    with contextlib.suppress(ImportError):  # pragma: no cover
        __import__("pyroute2")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
