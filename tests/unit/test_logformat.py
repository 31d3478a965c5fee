"""speaker.logformat: JSON lines with stable keys, journald's native serialization, and the text default."""

from __future__ import annotations

import io
import json
import logging
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from speaker.config.node import ConfigError, build_speaker_config
from speaker.logformat import JournalHandler, JsonLines, journal_datagram, log_fields, setup_logging


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def record(msg: str, *args: object, level: int = logging.INFO, **extra: str) -> logging.LogRecord:
    rec = logging.LogRecord("speaker.layer2.announcer", level, "/x/announcer.py", 377, msg, args, None, "set_phase")
    rec.created = 1796598071.5
    rec.__dict__.update(extra)
    return rec


def test_json_lines_have_the_stable_keys() -> None:
    line = JsonLines("node1").format(
        record(
            "layer2: announcing %s (%s) on %s",
            "10.1.1.240",
            "default/traefik",
            "eth0",
            **log_fields(service="default/traefik", ip="10.1.1.240"),
        )
    )
    assert json.loads(line) == {
        "time": "2026-12-06T23:01:11.500Z",
        "level": "info",
        "logger": "speaker.layer2.announcer",
        "message": "layer2: announcing 10.1.1.240 (default/traefik) on eth0",
        "node": "node1",
        "service": "default/traefik",
        "ip": "10.1.1.240",
    }
    assert "\n" not in line


def test_json_only_the_message_and_the_named_fields() -> None:
    """What a call passes beyond the message's arguments and service/ip is not written (a secret in ``extra``)."""
    line = JsonLines("node1").format(record("peer %s up", "gw", password="s3cr3t-bgp", token="tok-123"))
    assert json.loads(line).keys() == {"time", "level", "logger", "message", "node"}
    assert "s3cr3t" not in line and "tok-123" not in line


def test_json_carries_a_traceback_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    obj = json.loads(JsonLines("n").format(rec))
    assert (
        obj["level"] == "error" and obj["exception"].startswith("Traceback") and "ValueError: boom" in obj["exception"]
    )


def test_journal_serialization_follows_the_native_protocol() -> None:
    """systemd.io/JOURNAL_NATIVE_PROTOCOL: KEY=value lines; a value with a newline as KEY, LE64 length, bytes."""
    assert journal_datagram({"MESSAGE": "hello", "PRIORITY": "6"}) == b"MESSAGE=hello\nPRIORITY=6\n"
    assert journal_datagram({"MESSAGE": "a\nb"}) == b"MESSAGE\n" + struct.pack("<Q", 3) + b"a\nb\n"


def test_journal_handler_sends_the_fields(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        handler = JournalHandler("node1", path=path)
        handler.emit(
            record(
                "conflict on %s",
                "10.1.1.240",
                level=logging.WARNING,
                **log_fields(service="default/traefik", ip="10.1.1.240"),
            )
        )
        data = server.recv(65536)
        handler.close()
    finally:
        server.close()
    fields = dict(line.split("=", 1) for line in data.decode().splitlines())
    assert {
        k: fields[k]
        for k in ("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "LOGGER", "NODE", "SERVICE", "ADDRESS", "CODE_LINE")
    } == {
        "MESSAGE": "conflict on 10.1.1.240",
        "PRIORITY": "4",
        "SYSLOG_IDENTIFIER": "baremetal-lb",
        "LOGGER": "speaker.layer2.announcer",
        "NODE": "node1",
        "SERVICE": "default/traefik",
        "ADDRESS": "10.1.1.240",
        "CODE_LINE": "377",
    }


def test_text_stays_the_default_and_journal_without_journald_falls_back(tmp_path: Path) -> None:
    assert build_speaker_config({}).log_format == "text"
    out = io.StringIO()
    setup_logging("info", "text", node="n1", stream=out)
    logging.getLogger("speaker.x").info("hello %s", "world", extra=log_fields(service="a/b"))
    assert out.getvalue() == "INFO speaker.x: hello world\n"

    out = io.StringIO()
    setup_logging("info", "journal", node="n1", stream=out, journal_socket=str(tmp_path / "none"))
    logging.getLogger("speaker.x").info("still here")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("WARNING baremetal-lb: log_format journal: no journald at ") and lines[0].endswith(
        "; logging text"
    )
    assert lines[1] == "INFO speaker.x: still here"


def test_a_bad_log_format_is_named() -> None:
    with pytest.raises(ConfigError, match=r"log_format: 'yaml' is not one of text, json, journal"):
        build_speaker_config({"log_format": "yaml"})
