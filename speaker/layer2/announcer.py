"""``Announcer``: what the daemon drives. Declarative desired set in, ARP/NDP answers and announcements out.

    announcer = Announcer("node-1", on_conflict=warn)
    announcer.start()                                   # link watcher, loop thread, responder process
    announcer.set_desired({"198.51.100.240": Announcement("default/web")})
    announcer.snapshot()                                # for `baremetal-lb status`
    announcer.stop()                                    # prompt; sends nothing

Per address, the state machine (all on the responder's loop thread, so the tables need no lock):

    pending ──(a usable interface appears)──► probing ──(no answer in the window)──► announced
       ▲                │                        ├──(another host answers)──► conflict ──(retry)──┤
       │                │                        └──(another speaker answers)──► peer-answering ──(retry)──┘
       └──(interfaces vanish)◄──────────────────────────────────── announced
    (removed from the desired set, from any state) ──► forgotten: stop answering, send nothing

Entering ``announced`` on an interface sends the gratuitous burst there (``gratuitous.py``); so does an
interface that becomes usable again, or changes its MAC, or a restart of the responder process. Probing
happens only the first time this Announcer announces an address, only if both the settings and the
Announcement ask for it. An answer whose MAC ``peer_of`` names as another node's speaker is not a conflict: that
node still answers under its own plan (for an interval after a node starts, it hears its peers before they hear
it, so their plans differ). No Warning then, and the probe is repeated after ``peer_retry`` (1 s) instead of
``retry`` (30 s), so the address is not left dark for half a minute once that node hands it over.

Who answers (``Layer2Settings.responder``, docs/design/0011): ``"process"`` (default) — a child process
(``child.py``, driven by ``supervisor.ResponderProcess``) holds the packet sockets and answers; this
object's loop thread keeps the state machine, link events, probes and the burst schedule, and sends the
child table changes and "announce now" orders. ``"thread"`` — the loop thread answers itself (the speaker's
GIL then delays replies under load). Either way the Announcer calls the same port methods
(``sync_port``/``remove_port``/``forget_interface``/``announce``/``commit``) on ``self._answer``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from speaker.layer2 import bpf
from speaker.layer2.announcement import Announcement
from speaker.layer2.exclude import NONE as NO_EXCLUSION
from speaker.layer2.exclude import InterfaceExclusion
from speaker.layer2.frames import ETH_P_ARP, ETH_P_IPV6, mac_bytes, mac_str
from speaker.layer2.interfaces import Link, LinkWatcher, choose_interfaces, dump_links
from speaker.layer2.metrics import METRICS, Layer2Metrics
from speaker.layer2.probe import conflicting_mac, probe_frames
from speaker.layer2.responder import Responder, Timer
from speaker.layer2.settings import RESPONDERS, Layer2Settings
from speaker.layer2.supervisor import ResponderProcess
from speaker.logformat import log_fields

log = logging.getLogger(__name__)

PENDING, PROBING, ANNOUNCED, CONFLICT = "pending", "probing", "announced", "conflict"
PEER_ANSWERING = "peer-answering"
START_TIMEOUT = 15.0  # start(): the responder process must be answering within this (it is retried meanwhile)


def _ignore_conflict(ip: str, mac: str) -> None:
    pass


def _no_peer(mac: str) -> str | None:
    return None


class _Addr:
    __slots__ = (
        "ip",
        "packed",
        "ann",
        "phase",
        "ifaces",
        "gen",
        "conflict_mac",
        "since",
        "timer",
        "probe_ifaces",
        "all_interfaces",
    )

    def __init__(self, ip: str, ann: Announcement, now: float) -> None:
        self.ip = ip
        self.packed = ipaddress.ip_address(ip).packed
        self.ann = ann
        self.phase = PENDING
        self.ifaces: frozenset[str] = frozenset()
        self.gen = 0
        self.conflict_mac: str | None = None
        self.since = now
        self.timer: Timer | None = None
        self.probe_ifaces: frozenset[str] = frozenset()
        self.all_interfaces = False  # no interface holds the address's subnet: every usable one answers


def _canonical(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise ValueError(f"layer2: {ip!r} is not an IP address") from None


class Announcer:
    """Answers ARP/NDP for the desired addresses on their interfaces. Constructing it starts nothing.

    Thread-safe entry points: ``announce``, ``withdraw``, ``set_desired``, ``snapshot``, ``healthy``,
    ``start``, ``stop``. ``on_conflict(ip, mac)`` runs on the loop thread: keep it short (queue an Event).
    ``peer_of(mac)``: the node whose speaker uses ``mac``, or None; asked on the loop thread when a probe is
    answered, before ``on_conflict``.
    """

    def __init__(
        self,
        node_name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        settings: Layer2Settings = Layer2Settings(),
        on_conflict: Callable[[str, str], None] = _ignore_conflict,
        peer_of: Callable[[str], str | None] = _no_peer,
        metrics: Layer2Metrics = METRICS,
        dump: Callable[[], dict[str, Link]] = dump_links,
        exclude: InterfaceExclusion = NO_EXCLUSION,
    ) -> None:
        self.node_name = node_name
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self._on_conflict = on_conflict
        self._peer_of = peer_of
        if settings.responder not in RESPONDERS:
            raise ValueError(f"layer2: responder {settings.responder!r} must be one of {', '.join(RESPONDERS)}")
        in_thread = settings.responder == "thread"
        # the loop: timers, probes, link changes, the channel to the responder process (and, in thread mode,
        # the answering itself — then it gets the real-time priority)
        self._responder = Responder(
            metrics=metrics, clock=clock, realtime_priority=settings.realtime_priority if in_thread else 0
        )
        self._child: ResponderProcess | None = (
            None
            if in_thread
            else ResponderProcess(
                self._responder,
                metrics=metrics,
                realtime_priority=settings.realtime_priority,
                on_ready=self._on_responder_ready,
                clock=clock,
            )
        )
        self._answer: Responder | ResponderProcess = self._child or self._responder
        self._watcher = LinkWatcher(self._on_links, dump=dump)
        self._lock = threading.Lock()
        self._desired: dict[str, Announcement] = {}
        self._links: dict[str, Link] = {}
        self._exclude = exclude  # the interfaces never answered on (metallb-excludel2): set_exclusion
        self._links_changed = True
        self._pending = False
        self._started = False
        # loop-thread state
        self._addrs: dict[str, _Addr] = {}
        self._applied: dict[str, Announcement] = {}
        self._applied_links: dict[str, Link] = {}
        self._applied_exclude = exclude
        self._ever: set[str] = set()
        self._tables: dict[str, tuple[dict[bytes, str], dict[bytes, str]]] = {}
        self._all: set[bytes] = set()
        self._port_macs: dict[str, bytes] = {}
        self._our_macs: frozenset[bytes] = frozenset()
        self._probing: dict[tuple[str, int], dict[bytes, _Addr]] = {}
        self._listeners: dict[tuple[str, int], Any] = {}
        self._queue: deque[tuple[_Addr, int, str]] = deque()
        self._pumping = False
        self._refresh: Timer | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start answering (the responder process, or the loop thread), then read the interfaces and watch
        them. In process mode, returns once the child answers; raises RuntimeError (having stopped
        everything) if it does not within START_TIMEOUT."""
        self._responder.open()
        if self._child is None:
            self._watcher.start()
            self._started = True
            self._responder.start()
            self._schedule_refresh()
            return
        self._responder.call_soon(self._child.spawn)  # from the loop thread, which outlives it
        self._responder.start()
        if not self._child.wait_ready(START_TIMEOUT):
            self._responder.stop()
            self._child.close()
            raise RuntimeError(
                f"layer2: the ARP/NDP responder process did not start answering within "
                f"{START_TIMEOUT:g}s (its messages are above)"
            )
        self._watcher.start()
        self._started = True
        self._schedule_refresh()

    def run(self) -> None:
        """Like ``start`` but the loop runs on the calling thread until ``stop()``."""
        self._responder.open()
        if self._child is not None:
            self._responder.call_soon(self._child.spawn)
        self._watcher.start()
        self._started = True
        self._schedule_refresh()
        try:
            self._responder.run()
        finally:
            if self._child is not None:
                self._child.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop answering at once and close every socket; the responder process exits (and is reaped).
        Sends nothing (no "goodbye" frames: clients keep the MAC they have until the new owner's gratuitous
        ARP moves them)."""
        self._watcher.stop(timeout)
        self._responder.stop(timeout)
        if self._child is not None:
            self._child.close(timeout)
        for a in list(self._addrs.values()):
            if a.phase == ANNOUNCED:
                self.metrics.set_announced(a.ip, self.node_name, a.ann.service, False)
        self._started = False

    # --- desired state (any thread) ------------------------------------------------------------------
    def set_desired(self, desired: Mapping[str, Announcement]) -> None:
        """Replace the whole desired set; the difference is applied on the loop thread."""
        new = {_canonical(ip): ann for ip, ann in desired.items()}
        with self._lock:
            self._desired = new
        self._kick()

    def announce(
        self, ip: str, service: str, interfaces: set[str] | frozenset[str] | None = None, *, probe: bool = True
    ) -> None:
        ann = Announcement(service, frozenset(interfaces) if interfaces is not None else None, probe)
        ip = _canonical(ip)
        with self._lock:
            self._desired = {**self._desired, ip: ann}
        self._kick()

    def withdraw(self, ip: str) -> None:
        ip = _canonical(ip)
        with self._lock:
            if ip not in self._desired:
                return
            self._desired = {k: v for k, v in self._desired.items() if k != ip}
        self._kick()

    def set_exclusion(self, exclude: InterfaceExclusion) -> None:
        """The interfaces never to answer on changed (MetalLB's ``metallb-excludel2``): every address's interfaces
        are chosen again, as after a link change."""
        with self._lock:
            if exclude == self._exclude:
                return
            self._exclude = exclude
            self._links_changed = True
        self._kick()

    def _on_links(self, links: dict[str, Link]) -> None:
        with self._lock:
            self._links = links
            self._links_changed = True
        self._kick()

    def healthy(self) -> bool:
        """False if the loop thread died, or the responder process has not been answering for longer than
        ``supervisor.DOWN_LIMIT`` (its restarts keep failing): the daemon then stops feeding the watchdog."""
        if not self._responder.alive():
            return False
        return self._child is None or self._child.healthy()

    def _on_responder_ready(self, restarted: bool) -> None:
        """The responder process answers (again) and has the full table: re-announce everything announced
        (loop thread). While it was down, clients' entries for our addresses may have failed; gratuitous
        ARP/NA repairs every entry that still exists."""
        items = [(a, n) for a in self._addrs.values() if a.phase == ANNOUNCED for n in sorted(a.ifaces)]
        if items:
            log.log(
                logging.WARNING if restarted else logging.INFO,
                "layer2: re-announcing %d addresses after the responder %s",
                len({a.ip for a, _ in items}),
                "restart" if restarted else "start",
            )
            self._burst(items)

    def _kick(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        self._responder.call_soon(self._reconcile)

    # --- status ------------------------------------------------------------------------------------------
    def snapshot(self, timeout: float = 2.0) -> dict[str, Any]:
        """What this node announces, per address, and the interfaces it sees (JSON-ready)."""
        if not self._started or self._responder.in_loop():
            return self._build_snapshot()
        box: dict[str, dict[str, Any]] = {}
        done = threading.Event()

        def build() -> None:
            box["v"] = self._build_snapshot()
            done.set()

        self._responder.call_soon(build)
        if not done.wait(timeout):
            raise TimeoutError(f"layer2 responder did not answer within {timeout}s")
        return box["v"]

    def _build_snapshot(self) -> dict[str, Any]:
        now = self.clock()
        addrs = []
        for a in sorted(self._addrs.values(), key=lambda a: (len(a.packed), a.packed)):
            row: dict[str, Any] = {
                "ip": a.ip,
                "service": a.ann.service,
                "state": a.phase,
                "interfaces": sorted(a.ifaces if a.phase == ANNOUNCED else a.probe_ifaces),
                "for_seconds": round(now - a.since, 3),
            }
            if a.conflict_mac:
                row["conflict_mac"] = a.conflict_mac
            if a.all_interfaces and a.phase in (ANNOUNCED, PROBING):
                row["all_interfaces"] = True
            addrs.append(row)
        links = {
            n: {"mac": link.mac, "usable": (why := self._unusable(n, link)) is None, **({"reason": why} if why else {})}
            for n, link in sorted(self._applied_links.items())
        }
        if self._child is not None:
            responder = self._child.info()
        else:
            responder = {
                "mode": "thread",
                "up": self._responder.alive(),
                "pid": os.getpid(),
                "realtime": self._responder.realtime,
            }
        return {
            "node": self.node_name,
            "addresses": addrs,
            "interfaces": links,
            "excluded_interfaces": self._applied_exclude.as_status(),
            "answering_on": sorted(self._tables),
            "responder": responder,
        }

    def _unusable(self, name: str, link: Link) -> str | None:
        """Why an interface answers for nothing (for ``/status``): the link's state, or the exclusion list."""
        why = link.unusable()
        if why is None and (pattern := self._applied_exclude.match(name)) is not None:
            why = f"excluded by {pattern!r} ({self._applied_exclude.source})"
        return why

    # --- reconcile (loop thread) -----------------------------------------------------------------------
    def _reconcile(self) -> None:
        with self._lock:
            self._pending = False
            desired = self._desired
            links = self._links
            links_changed = self._links_changed
            self._links_changed = False
            exclude = self._exclude
        now = self.clock()
        if links_changed:
            self._applied_links = links
            self._applied_exclude = exclude
            self._our_macs = frozenset(mac_bytes(link.mac) for link in links.values() if len(link.mac) == 17)
        for ip in [ip for ip in self._addrs if ip not in desired]:
            self._forget(self._addrs.pop(ip))
        dirty: set[str] = set()
        announce: list[tuple[_Addr, str]] = []
        applied = self._applied
        for ip, ann in desired.items():
            a = self._addrs.get(ip)
            if a is None:
                a = self._addrs[ip] = _Addr(ip, ann, now)
            elif not links_changed and applied.get(ip) == ann:
                continue
            elif a.ann != ann:
                if a.phase == ANNOUNCED and a.ann.service != ann.service:
                    self.metrics.set_announced(ip, self.node_name, a.ann.service, False)
                    self.metrics.set_announced(ip, self.node_name, ann.service, True)
                a.ann = ann
            self._step(a, links, now, dirty, announce)
        self._applied = desired
        if links_changed:
            for name, link in links.items():
                old = self._port_macs.get(name)
                if old is not None and old != mac_bytes(link.mac) and name in self._tables:
                    # same interface, new MAC: tell the LAN again
                    announce.extend(
                        (a, name) for a in self._addrs.values() if a.phase == ANNOUNCED and name in a.ifaces
                    )
                    dirty.add(name)
            self._port_macs = {n: mac_bytes(link.mac) for n, link in links.items() if len(link.mac) == 17}
            for name in self._answer.port_names():
                if name not in links:
                    dirty.add(name)
        self._apply_tables(dirty, links)
        self._burst(announce)

    def _step(
        self, a: _Addr, links: Mapping[str, Link], now: float, dirty: set[str], announce: list[tuple[_Addr, str]]
    ) -> None:
        """Move one address towards what the links allow (loop thread)."""
        choice = choose_interfaces(a.ip, links, a.ann.interfaces, self._applied_exclude)
        wanted = choice.names
        a.all_interfaces = choice.all_interfaces
        if a.phase in (CONFLICT, PEER_ANSWERING):
            return
        if a.phase == PROBING:
            if not wanted:
                self._end_probe(a)
                self._set_phase(a, PENDING, now)
            return
        if not wanted:
            if a.phase == ANNOUNCED:
                dirty.update(a.ifaces)
                self._unindex(a, a.ifaces)
                a.ifaces = frozenset()
                self._set_phase(a, PENDING, now)
            return
        if a.phase == PENDING and self.settings.probe and a.ann.probe and a.ip not in self._ever:
            self._start_probe(a, wanted, now)
            return
        added, removed = wanted - a.ifaces, a.ifaces - wanted
        if not added and not removed and a.phase == ANNOUNCED:
            return
        self._unindex(a, removed)
        a.ifaces = wanted
        self._index(a, added)
        dirty.update(added | removed)
        if a.phase != ANNOUNCED:
            self._set_phase(a, ANNOUNCED, now)
            self._ever.add(a.ip)
        announce.extend((a, n) for n in added)

    def _set_phase(self, a: _Addr, phase: str, now: float) -> None:
        if a.phase == ANNOUNCED and phase != ANNOUNCED:
            self.metrics.set_announced(a.ip, self.node_name, a.ann.service, False)
        elif phase == ANNOUNCED and a.phase != ANNOUNCED:
            self.metrics.set_announced(a.ip, self.node_name, a.ann.service, True)
            log.info(
                "layer2: announcing %s (%s) on %s",
                a.ip,
                a.ann.service,
                ",".join(sorted(a.ifaces)),
                extra=log_fields(service=a.ann.service, ip=a.ip),
            )
        a.phase = phase
        a.since = now
        a.gen += 1

    def _index(self, a: _Addr, ifaces: frozenset[str]) -> None:
        fam = 0 if len(a.packed) == 4 else 1
        for n in ifaces:
            self._tables.setdefault(n, ({}, {}))[fam][a.packed] = a.ip
        if ifaces:
            self._all.add(a.packed)

    def _unindex(self, a: _Addr, ifaces: frozenset[str]) -> None:
        fam = 0 if len(a.packed) == 4 else 1
        for n in ifaces:
            t = self._tables.get(n)
            if t is not None:
                t[fam].pop(a.packed, None)
        if ifaces == a.ifaces:
            self._all.discard(a.packed)

    def _forget(self, a: _Addr) -> None:
        """Removed from the desired set: stop answering; send nothing."""
        if a.phase == PROBING:
            self._end_probe(a)
        if a.timer is not None:
            a.timer.cancel()
        if a.phase == ANNOUNCED:
            self._unindex(a, a.ifaces)
            self._apply_tables(set(a.ifaces), self._applied_links)
            log.info(
                "layer2: no longer announcing %s (%s)",
                a.ip,
                a.ann.service,
                extra=log_fields(service=a.ann.service, ip=a.ip),
            )
        self._set_phase(a, PENDING, self.clock())

    def _apply_tables(self, dirty: set[str], links: Mapping[str, Link]) -> None:
        elsewhere = frozenset(self._all)
        for name in dirty:
            t = self._tables.get(name)
            link = links.get(name)
            if not t or (not t[0] and not t[1]) or link is None or link.unusable() is not None:
                self._tables.pop(name, None)
                self._answer.remove_port(name)
                if link is None:
                    self._answer.forget_interface(name)
                continue
            try:
                self._answer.sync_port(name, link.index, mac_bytes(link.mac), t[0], t[1], elsewhere)
            except OSError as exc:  # the interface vanished between the dump and now: next event retries
                log.warning("layer2: cannot answer on %s: %s", name, exc)
        self._answer.set_elsewhere(elsewhere)
        self._answer.commit()  # one transaction for the responder process

    # --- gratuitous announcements (loop thread) --------------------------------------------------------
    def _burst(self, items: list[tuple[_Addr, str]]) -> None:
        if not items:
            return
        batch = [(a, a.gen, n) for a, n in items]
        for delay in self.settings.burst:
            if delay <= 0:
                self._enqueue(batch)
            else:
                self._responder.call_later(delay, functools.partial(self._enqueue, batch))

    def _enqueue(self, batch: list[tuple[_Addr, int, str]]) -> None:
        self._queue.extend(batch)
        if not self._pumping:
            self._pumping = True
            self._pump()

    def _pump(self) -> None:
        q = self._queue
        batch: list[tuple[str, bytes, bytes, str]] = []
        for _ in range(self.settings.pace):
            if not q:
                break
            a, gen, ifname = q.popleft()
            if a.gen != gen or a.phase != ANNOUNCED or ifname not in a.ifaces or self._addrs.get(a.ip) is not a:
                continue
            mac = self._port_macs.get(ifname)
            if mac is None:
                continue
            batch.append((ifname, mac, a.packed, a.ip))
        if batch:
            self._answer.announce(batch)  # sends and counts (in the responder process: after its table)
        if q:
            self._responder.call_later(0.001, self._pump)
        else:
            self._pumping = False

    def _schedule_refresh(self) -> None:
        if self.settings.refresh_interval > 0:
            self._responder.call_soon(self._refresh_tick)

    def _refresh_tick(self) -> None:
        items = [(a, a.gen, n) for a in self._addrs.values() if a.phase == ANNOUNCED for n in a.ifaces]
        if items:
            self._enqueue(items)
        self._refresh = self._responder.call_later(self.settings.refresh_interval, self._refresh_tick)

    # --- probing (loop thread) -----------------------------------------------------------------------
    def _start_probe(self, a: _Addr, ifaces: frozenset[str], now: float) -> None:
        ps = self.settings.probing
        fam = 0 if len(a.packed) == 4 else 1
        opened = []
        for n in ifaces:
            key = (n, fam)
            if key not in self._listeners:
                try:
                    if fam == 0:
                        prog, proto = bpf.arp_program(None, requests_only=False), ETH_P_ARP
                    else:
                        prog, proto = bpf.ndp_program(None, types=(135, 136)), ETH_P_IPV6
                    self._listeners[key] = self._responder.open_listener(
                        n, proto, prog, functools.partial(self._on_probe_frame, key)
                    )
                except OSError as exc:
                    log.warning("layer2: cannot probe %s on %s: %s", a.ip, n, exc)
                    continue
            self._probing.setdefault(key, {})[a.packed] = a
            opened.append(n)
        self._set_phase(a, PROBING, now)
        a.probe_ifaces = frozenset(opened)
        gen = a.gen
        log.info("layer2: probing %s on %s before announcing it", a.ip, ",".join(sorted(opened)) or "-")
        for i in range(ps.count):
            self._responder.call_later(i * ps.interval, lambda: self._send_probe(a, gen))
        a.timer = self._responder.call_later(ps.timeout, lambda: self._probe_done(a, gen))

    def _send_probe(self, a: _Addr, gen: int) -> None:
        if a.gen != gen or a.phase != PROBING:
            return
        for n in a.probe_ifaces:
            mac = self._port_macs.get(n)
            if mac is not None:
                self._responder.send(n, (probe_frames(mac, a.packed),))

    def _on_probe_frame(self, key: tuple[str, int], frame: bytes) -> None:
        table = self._probing.get(key)
        if not table:
            return
        candidates = (frame[28:32], frame[38:42]) if key[1] == 0 else (frame[62:78],)
        for c in candidates:
            a = table.get(c)
            if a is None:
                continue
            mac = conflicting_mac(frame, a.packed, self._our_macs)
            if mac is not None:
                self._conflict(a, mac_str(mac))
                return

    def _conflict(self, a: _Addr, mac: str) -> None:
        self._end_probe(a)
        try:
            peer = self._peer_of(mac)
        except Exception:  # a bug in the lookup must not stop the responder loop: count it a conflict
            log.exception("layer2: looking up %s among the speakers failed", mac)
            peer = None
        if peer is not None:
            self._set_phase(a, PEER_ANSWERING, self.clock())
            a.conflict_mac = mac
            log.info(
                "layer2: %s (%s) is still answered by the speaker on %s (%s): probing again in about %gs",
                a.ip,
                a.ann.service,
                peer,
                mac,
                self.settings.probing.peer_retry,
                extra=log_fields(service=a.ann.service, ip=a.ip),
            )
            gen = a.gen
            # jittered: two nodes whose probes crossed (each took the other's for an answer) must not cross again
            delay = self.settings.probing.peer_retry * random.uniform(0.5, 1.5)
            a.timer = self._responder.call_later(delay, lambda: self._retry(a, gen))
            return
        self._set_phase(a, CONFLICT, self.clock())
        a.conflict_mac = mac
        self.metrics.inc(self.metrics.conflicts, a.ip)
        log.warning(
            "layer2: %s (%s) is already in use by %s: not announcing it (probing again in %ss)",
            a.ip,
            a.ann.service,
            mac,
            self.settings.probing.retry,
            extra=log_fields(service=a.ann.service, ip=a.ip),
        )
        gen = a.gen
        a.timer = self._responder.call_later(self.settings.probing.retry, lambda: self._retry(a, gen))
        try:
            self._on_conflict(a.ip, mac)
        except Exception:  # a bug in the handler must not stop the responder loop
            log.exception("layer2: conflict handler failed")

    def _retry(self, a: _Addr, gen: int) -> None:
        if a.gen != gen or self._addrs.get(a.ip) is not a:
            return
        self._set_phase(a, PENDING, self.clock())
        self._advance(a)

    def _probe_done(self, a: _Addr, gen: int) -> None:
        if a.gen != gen or a.phase != PROBING or self._addrs.get(a.ip) is not a:
            return
        self._end_probe(a)
        a.conflict_mac = None
        self._ever.add(a.ip)  # probed clean: announce without probing again
        self._set_phase(a, PENDING, self.clock())
        self._advance(a)

    def _advance(self, a: _Addr) -> None:
        dirty: set[str] = set()
        announce: list[tuple[_Addr, str]] = []
        self._step(a, self._applied_links, self.clock(), dirty, announce)
        self._apply_tables(dirty, self._applied_links)
        self._burst(announce)

    def _end_probe(self, a: _Addr) -> None:
        if a.timer is not None:
            a.timer.cancel()
            a.timer = None
        fam = 0 if len(a.packed) == 4 else 1
        for n in a.probe_ifaces:
            key = (n, fam)
            table = self._probing.get(key)
            if table is not None:
                table.pop(a.packed, None)
                if not table:
                    del self._probing[key]
                    s = self._listeners.pop(key, None)
                    if s is not None:
                        self._responder.close_listener(s)
        a.probe_ifaces = frozenset()
