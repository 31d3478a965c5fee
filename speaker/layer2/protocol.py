"""The speaker ↔ responder-process channel: framing, messages, and the tables the child answers from. Pure.

The ARP/NDP responder runs in a child process (``speaker/layer2/child.py``, docs/design/0011). The speaker
keeps every decision (which address on which interface, probing, when to send gratuitous ARP) and tells the
child what to answer; the child tells the speaker what it counted. One AF_UNIX stream socketpair, both ways,
each message a 4-byte big-endian length then a UTF-8 JSON object:

speaker → child
    ``{"t": "apply", "ops": [op, ...]}`` — one transaction: the child validates every op, then applies them
    all between two frames (no frame sees half of it), or, on a protocol error, none of them (and exits, so
    the speaker restarts it and re-sends the full table). An op is one of
      ``{"op": "port", "name", "index", "mac", "reset": bool, "add": [ip, ...], "del": [ip, ...]}`` —
        answer on interface ``name`` (ifindex, our MAC there) for these addresses; ``reset``: the table is
        exactly ``add`` (a new port, a changed ifindex/MAC, or the full re-send after a restart); otherwise
        ``add``/``del`` change the current table and must match it exactly (a mismatch is a protocol error);
      ``{"op": "remove", "name"}`` — stop answering on ``name`` (close its sockets);
      ``{"op": "forget", "name"}`` — the interface is gone (close its send socket too).
    ``{"t": "announce", "items": [[ifname, mac, ip], ...]}`` — send the gratuitous ARP / unsolicited NA
    for each (after every earlier ``apply``: one ordered stream, so a takeover's table is in place first).

child → speaker
    ``{"t": "ready", "pid", "realtime": bool}`` once serving (the speaker then sends the full table);
    ``{"t": "report", "requests": {ip: n}, "responses": {ip: n}, "gratuitous": {ip: n}, "dropped":
    {reason: n}}`` — counts since the previous report (empty families omitted); at most every
    ``REPORT_INTERVAL`` while something was counted, and at least every ``HEARTBEAT`` (an empty report is the
    heartbeat the speaker's health check waits for).

Addresses travel as text (the speaker's canonical form, which is also the metric label); MACs as
``aa:bb:cc:dd:ee:ff``.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from speaker.layer2.frames import mac_str

MAX_MESSAGE = 32 << 20  # a full table of 10,000 addresses is ~0.4 MB
REPORT_INTERVAL = 0.2  # child: counters go out at most this often while something was counted
HEARTBEAT = 1.0  # child: a report (possibly empty) at least this often
COUNTER_FAMILIES = ("requests", "responses", "gratuitous", "dropped")

_LEN = struct.Struct("!I")


class ProtocolError(ValueError):
    """A malformed or inconsistent message. Either side's answer is the same: restart the child."""


# --- framing ---------------------------------------------------------------------------------------------
def encode(msg: Mapping[str, Any]) -> bytes:
    body = json.dumps(msg, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE}")
    return _LEN.pack(len(body)) + body


class Decoder:
    """Bytes in (as they arrive, split anywhere), whole messages out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        out: list[dict[str, Any]] = []
        buf = self._buf
        while len(buf) >= 4:
            (n,) = _LEN.unpack_from(buf, 0)
            if n > MAX_MESSAGE:
                raise ProtocolError(f"message of {n} bytes exceeds {MAX_MESSAGE}")
            if len(buf) < 4 + n:
                break
            body = bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            try:
                msg = json.loads(body)
            except ValueError as exc:
                raise ProtocolError(f"not JSON: {exc}") from None
            if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
                raise ProtocolError(f"not a message object: {body[:80]!r}")
            out.append(msg)
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


# --- values ------------------------------------------------------------------------------------------------
def parse_ip(text: Any, where: str) -> bytes:
    """Text address → packed (4 or 16 bytes). (~3 µs for IPv6: a full table of 10,000 takes ~35 ms, once
    per restart; changes are small.)"""
    if not isinstance(text, str):
        raise ProtocolError(f"{where}: {text!r} is not an address")
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        raise ProtocolError(f"{where}: {text!r} is not an address") from None


def parse_mac(text: Any, where: str) -> bytes:
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ProtocolError(f"{where}: {text!r} is not a MAC address")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ProtocolError(f"{where}: {text!r} is not a MAC address") from None


def _name(op: Mapping[str, Any], where: str) -> str:
    name = op.get("name")
    if not isinstance(name, str) or not name or len(name) > 15:
        raise ProtocolError(f"{where}.name: {name!r} is not an interface name")
    return name


# --- the tables the child answers from --------------------------------------------------------------------
@dataclass(frozen=True)
class PortState:
    """One interface as the child answers on it. ``v4``/``v6``: packed address → text; never mutated."""

    index: int
    mac: bytes
    v4: Mapping[bytes, str]
    v6: Mapping[bytes, str]


@dataclass(frozen=True)
class Changes:
    """What a transaction changed, for the socket side: ``synced`` ports get ``Responder.sync_port``."""

    synced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    forgotten: tuple[str, ...] = ()


def apply_ops(ports: Mapping[str, PortState], ops: Any) -> tuple[dict[str, PortState], Changes]:
    """The tables after transaction ``ops``, and what changed. Raises ``ProtocolError`` (naming the op and
    the field) on any malformed or inconsistent op, in which case nothing is applied. ``ports`` is not
    mutated: the caller swaps in the result."""
    if not isinstance(ops, list):
        raise ProtocolError(f"apply.ops: {ops!r} is not a list")
    new = dict(ports)
    synced: dict[str, None] = {}
    removed: dict[str, None] = {}
    forgotten: dict[str, None] = {}
    for i, op in enumerate(ops):
        where = f"apply.ops[{i}]"
        if not isinstance(op, dict):
            raise ProtocolError(f"{where}: {op!r} is not an object")
        kind = op.get("op")
        if kind == "port":
            name = _name(op, where)
            index = op.get("index")
            if isinstance(index, bool) or not isinstance(index, int) or index <= 0:
                raise ProtocolError(f"{where}.index: {index!r} is not an interface index")
            mac = parse_mac(op.get("mac"), f"{where}.mac")
            reset = op.get("reset", False)
            if not isinstance(reset, bool):
                raise ProtocolError(f"{where}.reset: {reset!r} must be true or false")
            add, dele = op.get("add", []), op.get("del", [])
            if not isinstance(add, list) or not isinstance(dele, list):
                raise ProtocolError(f"{where}: add/del must be lists")
            prev = new.get(name)
            if reset:
                if dele:
                    raise ProtocolError(f"{where}.del: a reset has nothing to delete")
                v4: dict[bytes, str] = {}
                v6: dict[bytes, str] = {}
            else:
                if prev is None:
                    raise ProtocolError(f"{where}: change to {name}, which has no table (a new port needs reset)")
                if prev.index != index or prev.mac != mac:
                    raise ProtocolError(f"{where}: {name} changed ifindex/MAC without reset")
                v4, v6 = dict(prev.v4), dict(prev.v6)
                for j, text in enumerate(dele):
                    raw = parse_ip(text, f"{where}.del[{j}]")
                    table = v4 if len(raw) == 4 else v6
                    if table.pop(raw, None) is None:
                        raise ProtocolError(f"{where}.del[{j}]: {text} is not in {name}'s table")
            for j, text in enumerate(add):
                raw = parse_ip(text, f"{where}.add[{j}]")
                table = v4 if len(raw) == 4 else v6
                if raw in table:
                    raise ProtocolError(f"{where}.add[{j}]: {text} is already in {name}'s table")
                table[raw] = text
            new[name] = PortState(index, mac, v4, v6)
            synced[name] = None
            removed.pop(name, None)
        elif kind == "remove":
            name = _name(op, where)
            if new.pop(name, None) is None:
                raise ProtocolError(f"{where}: remove {name}, which has no table")
            removed[name] = None
            synced.pop(name, None)
        elif kind == "forget":
            name = _name(op, where)
            if name in new:
                raise ProtocolError(f"{where}: forget {name}, which still has a table (remove it first)")
            forgotten[name] = None
        else:
            raise ProtocolError(f"{where}.op: {kind!r} is not one of port, remove, forget")
    return new, Changes(tuple(synced), tuple(removed), tuple(forgotten))


def all_addresses(ports: Mapping[str, PortState]) -> frozenset[bytes]:
    """Every address answered on some interface (the decisions' ``elsewhere``: NOT_MATCH_INTERFACE)."""
    out: set[bytes] = set()
    for p in ports.values():
        out.update(p.v4)
        out.update(p.v6)
    return frozenset(out)


def parse_announce(msg: Mapping[str, Any]) -> list[tuple[str, bytes, bytes, str]]:
    """``announce`` items as (ifname, mac, packed ip, text ip); raises ProtocolError."""
    items = msg.get("items")
    if not isinstance(items, list):
        raise ProtocolError(f"announce.items: {items!r} is not a list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, list) or len(item) != 3:
            raise ProtocolError(f"announce.items[{i}]: {item!r} is not [ifname, mac, ip]")
        name = _name({"name": item[0]}, f"announce.items[{i}]")
        out.append(
            (
                name,
                parse_mac(item[1], f"announce.items[{i}].mac"),
                parse_ip(item[2], f"announce.items[{i}].ip"),
                item[2],
            )
        )
    return out


# --- the speaker's side: what it last told the child --------------------------------------------------------
def port_op(
    name: str, prev: PortState | None, index: int, mac: bytes, v4: Mapping[bytes, str], v6: Mapping[bytes, str]
) -> dict[str, Any] | None:
    """The op that turns what the child has (``prev``) into the given table; None if nothing changed."""
    if prev is None or prev.index != index or prev.mac != mac:
        return {
            "op": "port",
            "name": name,
            "index": index,
            "mac": mac_str(mac),
            "reset": True,
            "add": [*v4.values(), *v6.values()],
            "del": [],
        }
    add = [ip for k, ip in v4.items() if k not in prev.v4] + [ip for k, ip in v6.items() if k not in prev.v6]
    dele = [ip for k, ip in prev.v4.items() if k not in v4] + [ip for k, ip in prev.v6.items() if k not in v6]
    if not add and not dele:
        return None
    return {"op": "port", "name": name, "index": index, "mac": mac_str(mac), "reset": False, "add": add, "del": dele}


def full_table(ports: Mapping[str, PortState]) -> list[dict[str, Any]]:
    """Reset ops for every port: what a freshly started child needs."""
    ops = (port_op(name, None, p.index, p.mac, p.v4, p.v6) for name, p in sorted(ports.items()))
    return [op for op in ops if op is not None]  # all of them: against no previous state every port is a reset


def announce_msg(items: Iterable[tuple[str, bytes, str]]) -> dict[str, Any]:
    return {"t": "announce", "items": [[name, mac_str(mac), ip] for name, mac, ip in items]}


# --- counters ------------------------------------------------------------------------------------------------
class Counters:
    """The child's counts since its last report. The responder's hot path holds references to these dicts,
    so ``take()`` empties them in place."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.responses: dict[str, int] = {}
        self.gratuitous: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def take(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for fam in COUNTER_FAMILIES:
            d = getattr(self, fam)
            if d:
                out[fam] = dict(d)
                d.clear()
        return out


def report_msg(counts: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    return {"t": "report", **counts}


def merge_report(target: Any, msg: Mapping[str, Any]) -> None:
    """Add a report's counts into ``target``'s ``requests``/``responses``/``gratuitous``/``dropped`` dicts
    (``Layer2Metrics``). Validates the whole report first: a bad one adds nothing."""
    checked: list[tuple[dict[str, int], str, int]] = []
    for fam in COUNTER_FAMILIES:
        values = msg.get(fam, {})
        if not isinstance(values, dict):
            raise ProtocolError(f"report.{fam}: {values!r} is not an object")
        for key, n in values.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ProtocolError(f"report.{fam}[{key!r}]: {n!r} is not a count")
            checked.append((getattr(target, fam), key, n))
    for d, key, n in checked:
        d[key] = d.get(key, 0) + n
