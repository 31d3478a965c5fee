"""A hand-over without resetting the connections in flight: the new owner forwards them to the old one.

Why. A gratuitous ARP/NA moves a client's neighbour entry for a VIP at once — every later frame of every
connection it has open to that VIP goes to the new owner. Those connections were accepted by the old owner
(its conntrack/DNAT state, or its kube-proxy's choice of endpoint); the new owner knows none of them, picks the
mid-stream segment up as a new flow, DNATs it to a socket that does not have it and answers with a RST. So
with a steady client, a planned stop reset the one request that was between its SYN and its last ACK when the
announcement arrived — captured on the client: GET sent to node1, GARP from node2, node1's answer, the client's
ACK to node2, RST from node2 (docs/design/0009-announcing.md, "Planned stop"). No timing of the announcement
can avoid it: a busy client always has a connection open.

What. On a takeover the new owner installs, before its first announcement, an nftables ``netdev`` ingress chain
on the interface through which it reaches the old owner:

- a TCP SYN to the VIP is a connection that starts here: remember its 4-tuple (a dynamic set);
- any other TCP segment to the VIP whose 4-tuple is not remembered belongs to a connection the old owner
  accepted: ``fwd`` it, unchanged, to the old owner's address on that link (the kernel resolves its MAC).

The old owner answers the client directly, as before. How long:

- from a node that *left cleanly* (heartbeat LEAVE, released Lease: it is up and holds those connections),
  ``DRAIN`` seconds: 30 s, what Kubernetes gives a terminating Pod to finish its connections; a connection still
  open after that is reset then, as it was before;
- from any other node (declared dead, or alive and rebalanced away), ``CONFIRM`` seconds, extended to
  ``DRAIN`` (counted from the takeover) if the node's LEAVE or released Lease arrives meanwhile. Under load a
  leaving speaker's heartbeats can stall past ``dead_after`` just before its LEAVE goes out (seen: "peer node1
  dead", then "left" 4 ms later), and the takeover happens on the first verdict; forwarding from the start
  closes that window. A node that is really dead holds nothing: its clients' retransmissions are forwarded into
  the void for those 2 s instead of being reset at once — the price of not guessing.

Not for UDP (no handshake tells new from old); only where the old owner's InternalIP is on-link (no gateway) —
otherwise nothing changes.

Pure (``ruleset``, ``Plan``) and one small executor (``HandoverForwarder``) that runs ``nft -f -`` and asks the
kernel which device reaches an address. Everything lives in one table, ``netdev baremetal-lb-handover``,
removed at start (a crashed speaker's leftovers) and at stop.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

TABLE = "baremetal-lb-handover"
DRAIN = 30.0  # seconds a hand-over forwards the old owner's connections (Kubernetes' default grace period)
CONFIRM = 2.0  # seconds a takeover from a node declared dead forwards, waiting for its LEAVE
PRIORITY = -500  # before anything else on ingress


@dataclass(frozen=True)
class Forward:
    """TCP to ``ip`` arriving on ``device`` that did not start here goes to ``via`` (the old owner)."""

    ip: str
    device: str
    via: str


def _chain(device: str) -> str:
    return "in_" + re.sub(r"[^A-Za-z0-9_]", "_", device)


def ruleset(forwards: Iterable[Forward], previous_devices: Iterable[str] = ()) -> str:
    """The ``nft -f`` script that makes the table hold exactly ``forwards``, in one transaction. Pure.

    The sets of connections that started here are kept across updates (only the chains are rebuilt), so a
    second takeover does not forget the first one's connections; ``previous_devices`` are the devices that had
    a chain before, whose chains go when no forward uses them. No forwards at all: the table goes.
    """
    fw = sorted(set(forwards), key=lambda f: (f.device, f.ip))
    if not fw:
        return f"table netdev {TABLE}\ndelete table netdev {TABLE}\n"
    timeout = int(DRAIN * 2)  # outlives any forward, so a remembered connection is never forgotten early
    lines = [
        f"table netdev {TABLE} {{",
        f"  set own4 {{ type ipv4_addr . inet_service . ipv4_addr . inet_service; flags dynamic,timeout; "
        f"timeout {timeout}s; size 65536; }}",
        f"  set own6 {{ type ipv6_addr . inet_service . ipv6_addr . inet_service; flags dynamic,timeout; "
        f"timeout {timeout}s; size 65536; }}",
        "}",
    ]
    devices = sorted({f.device for f in fw})
    for dev in devices:
        chain = _chain(dev)
        lines.append(
            f'add chain netdev {TABLE} {chain} {{ type filter hook ingress device "{dev}" '
            f"priority {PRIORITY}; policy accept; }}"
        )
        lines.append(f"flush chain netdev {TABLE} {chain}")
        for f in fw:
            if f.device != dev:
                continue
            v6 = ipaddress.ip_address(f.ip).version == 6
            fam, own, fwd = ("ip6", "own6", "ip6") if v6 else ("ip", "own4", "ip")
            key = f"{fam} saddr . tcp sport . {fam} daddr . tcp dport"
            lines.append(
                f"add rule netdev {TABLE} {chain} {fam} daddr {f.ip} meta l4proto tcp "
                f"tcp flags & (syn | ack) == syn update @{own} {{ {key} }}"
            )
            lines.append(
                f"add rule netdev {TABLE} {chain} {fam} daddr {f.ip} meta l4proto tcp "
                f'{key} != @{own} counter fwd {fwd} to {f.via} device "{dev}"'
            )
    for dev in sorted(set(previous_devices) - set(devices)):
        lines.append(f"delete chain netdev {TABLE} {_chain(dev)}")
    return "\n".join(lines) + "\n"


class Plan:
    """Which forwards are in force and until when. Pure (times are arguments)."""

    def __init__(self, drain: float = DRAIN) -> None:
        self.drain = drain
        self._until: dict[Forward, float] = {}
        self._start: dict[Forward, float] = {}

    def begin(self, forwards: Iterable[Forward], now: float, hold: float | None = None) -> None:
        """Forward for ``hold`` seconds (the drain period when None)."""
        for f in forwards:
            self._start[f] = now
            self._until[f] = now + (self.drain if hold is None else hold)

    def confirm(self, ips: Iterable[str]) -> list[Forward]:
        """The old owner of ``ips`` left cleanly after all: forward for the drain period from the takeover."""
        keep = set(ips)
        done = []
        for f in self._until:
            if f.ip in keep and self._until[f] < self._start[f] + self.drain:
                self._until[f] = self._start[f] + self.drain
                done.append(f)
        return done

    def keep_only(self, ips: Iterable[str]) -> None:
        """Forward only for ``ips`` (stop: none). Not when we stop announcing an address: its clients keep
        sending to us until another node announces it, and the old owner still holds their connections."""
        keep = set(ips)
        self._until = {f: t for f, t in self._until.items() if f.ip in keep}
        self._start = {f: t for f, t in self._start.items() if f in self._until}

    def expire(self, now: float) -> None:
        self._until = {f: t for f, t in self._until.items() if t > now}
        self._start = {f: t for f, t in self._start.items() if f in self._until}

    def current(self) -> frozenset[Forward]:
        return frozenset(self._until)


def _run_nft(script: str) -> None:
    r = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip() or f"nft exited with {r.returncode}")


def _on_link_device(address: str) -> str | None:
    """The device through which the kernel reaches ``address`` directly (no gateway), or None."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        try:
            routes = ipr.route("get", dst=address)
        except Exception:  # noqa: BLE001 - unreachable: nothing to forward to
            return None
        if not routes:
            return None
        route = routes[0]
        if route.get_attr("RTA_GATEWAY") or route.get("type") != 1:  # 1: RTN_UNICAST (not local, not blackhole)
            return None
        links = ipr.get_links(route.get_attr("RTA_OIF"))
        return links[0].get_attr("IFLA_IFNAME") if links else None


class HandoverForwarder:
    """Runs ``Plan`` against the kernel. Called from the Layer 2 controller's thread; ``tick`` expires."""

    def __init__(
        self,
        *,
        run: Callable[[str], None] = _run_nft,
        device_for: Callable[[str], str | None] = _on_link_device,
        clock: Callable[[], float] = time.monotonic,
        drain: float = DRAIN,
    ) -> None:
        self._run = run
        self._device_for = device_for
        self._clock = clock
        self._plan = Plan(drain)
        self._applied: frozenset[Forward] = frozenset()
        self._lock = threading.Lock()
        self._broken = False

    def start(self) -> None:
        """Remove what a previous (crashed) speaker may have left."""
        with self._lock:
            self._apply(force=True)

    def begin(self, takeovers: Mapping[str, Iterable[str]], hold: float | None = None) -> list[Forward]:
        """``takeovers``: VIP → the old owner's addresses. Forward where one of them is on-link and of the
        VIP's family, for ``hold`` seconds (the drain period when None); returns what is now forwarded (for the
        log). Call before announcing the VIPs."""
        new: list[Forward] = []
        for ip, vias in takeovers.items():
            version = ipaddress.ip_address(ip).version
            for via in vias:
                if ipaddress.ip_address(via).version != version:
                    continue
                device = self._device_for(via)
                if device is not None:
                    new.append(Forward(ip, device, via))
                    break
        with self._lock:
            self._plan.begin(new, self._clock(), hold)
            self._apply()
        return new

    def confirm(self, ips: Iterable[str]) -> list[Forward]:
        """The old owner of ``ips`` turned out to have left cleanly: forward for the whole drain period."""
        with self._lock:
            return self._plan.confirm(ips)

    def tick(self) -> None:
        with self._lock:
            self._plan.expire(self._clock())
            self._apply()

    def stop(self) -> None:
        with self._lock:
            self._plan.keep_only(())
            self._apply(force=True)

    def current(self) -> frozenset[Forward]:
        with self._lock:
            return self._plan.current()

    def _apply(self, force: bool = False) -> None:
        want = self._plan.current()
        if want == self._applied and not force:
            return
        previous = {f.device for f in self._applied}
        try:
            self._run(ruleset(want, previous))
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            if not self._broken:
                log.warning(
                    "layer2: cannot forward the old owner's connections on a planned hand-over (nft: %s); "
                    "connections in flight then are reset",
                    exc,
                )
            self._broken = True
            self._applied = want  # do not retry every second: the next change tries again
            return
        self._broken = False
        self._applied = want
