"""How the speaker writes its log: ``log_format`` text (the default), json, or journal.

- **text**: ``LEVEL logger: message`` on stderr, one line per record. Under systemd stderr goes to the journal,
  which adds the time, host and unit itself (so the line carries none of them).
- **json**: one JSON object per line on stderr, for log shippers (Vector, Promtail, Fluent Bit) that read the
  journal's MESSAGE or a file. Keys (stable; a key is only ever added): ``time`` (RFC 3339, UTC, milliseconds),
  ``level`` (debug/info/warning/error/critical), ``logger``, ``message``, ``node`` (this speaker's node), and where
  the record is about one: ``service`` (namespace/name), ``ip``; ``exception`` with a traceback.
- **journal**: journald's native protocol — one datagram of ``KEY=value`` fields per record to
  ``/run/systemd/journal/socket`` (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/; the format is a few lines, so no
  library). journald keeps the fields, so ``journalctl -u baremetal-lb-speaker SERVICE=default/traefik`` or
  ``ADDRESS=10.1.1.240`` selects a Service's or an address's lines. Fields: ``MESSAGE``, ``PRIORITY`` (syslog
  levels), ``SYSLOG_IDENTIFIER=baremetal-lb``, ``LOGGER``, ``NODE``, ``SERVICE``, ``ADDRESS`` (the JSON ``ip``),
  ``CODE_FILE``/``CODE_LINE``/``CODE_FUNC``. Plain stderr lines cannot carry fields: journald reads a unit's
  stderr as MESSAGE only (and a ``<N>`` prefix as the priority, ``SyslogLevelPrefix=``), hence the socket.

A record is about a Service or an address when its call says so: ``log.info(..., extra=log_fields(service=key,
ip=ip))``. Only the message and these fields are written — never the record's arguments or ``extra`` beyond them,
so a secret passed along for another purpose cannot reach the log by this path.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import struct
import sys
from typing import Any

TEXT, JSON, JOURNAL = "text", "json", "journal"
FORMATS = (TEXT, JSON, JOURNAL)
JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "baremetal-lb"
#: A datagram larger than this is refused by the kernel at the default buffer sizes; longer messages are cut.
MAX_MESSAGE = 48 * 1024
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def log_fields(*, service: str | None = None, ip: str | None = None) -> dict[str, str]:
    """``extra=`` for a record about a Service ("namespace/name") and/or an address."""
    return {k: str(v) for k, v in (("service", service), ("ip", ip)) if v}


def _fields_of(record: logging.LogRecord) -> dict[str, str]:
    return {k: str(v) for k in ("service", "ip") if (v := getattr(record, k, None))}


class JsonLines(logging.Formatter):
    """One JSON object per record (keys: see the module docstring)."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self._node = node

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, Any] = {
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "node": self._node,
            **_fields_of(record),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def journal_datagram(fields: dict[str, str]) -> bytes:
    """journald's native serialization: ``KEY=value\\n``, or for a value with a newline ``KEY\\n``, its length as a
    little-endian 64-bit integer, the value, ``\\n``. Pure."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends each record to journald's socket with its fields. The socket is connectionless: a journald restart
    loses nothing but the records sent while it was away (as with stderr)."""

    def __init__(self, node: str, *, path: str = JOURNAL_SOCKET) -> None:
        super().__init__()
        self._node = node
        self._path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.connect(path)  # raises here, at start-up, when there is no journald

    def journal_fields(self, record: logging.LogRecord) -> dict[str, str]:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        extra = _fields_of(record)
        fields = {
            "MESSAGE": message[:MAX_MESSAGE],
            "PRIORITY": str(_PRIORITY.get(record.levelno, 6)),
            "SYSLOG_IDENTIFIER": IDENTIFIER,
            "LOGGER": record.name,
            "NODE": self._node,
        }
        if "service" in extra:
            fields["SERVICE"] = extra["service"]
        if "ip" in extra:
            fields["ADDRESS"] = extra["ip"]
        fields.update({"CODE_FILE": record.pathname, "CODE_LINE": str(record.lineno), "CODE_FUNC": record.funcName})
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sock.send(journal_datagram(self.journal_fields(record)))
        except Exception:  # noqa: BLE001 - logging must never take the speaker down (logging's own rule)
            self.handleError(record)

    def close(self) -> None:
        self._sock.close()
        super().close()


def setup_logging(
    level: str, fmt: str = TEXT, *, node: str = "", stream: Any = None, journal_socket: str = JOURNAL_SOCKET
) -> None:
    """Configure the root logger once, at start-up (``baremetal-lb speaker``). ``journal`` without a journald
    socket falls back to text on stderr and says so in its first line."""
    stream = stream if stream is not None else sys.stderr
    handler: logging.Handler
    fallback = None
    if fmt == JOURNAL:
        try:
            handler = JournalHandler(node, path=journal_socket)
        except OSError as exc:
            fallback = f"log_format journal: no journald at {journal_socket} ({exc.strerror or exc}); logging text"
            fmt = TEXT
    if fmt == JSON:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonLines(node))
    elif fmt == TEXT:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    if fallback:
        logging.getLogger("baremetal-lb").warning("%s", fallback)
