"""The speaker's own configuration file (``/etc/baremetal-lb/speaker.yaml``).

This is node-local settings only (how to reach the cluster, who this node is, timers);
the address pools live in the cluster as ``metallb.io`` objects, read by ``clusterconfig``.
Unknown keys are errors: a typo in a timer name must not silently fall back to a default.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from speaker import durations

DEFAULT_PATH = "/etc/baremetal-lb/speaker.yaml"
LOG_LEVELS = ("debug", "info", "warning", "error")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ConfigError(ValueError):
    """A bad speaker configuration; the message starts with the field path."""


@dataclass(frozen=True)
class LeaseSettings:
    """The allocator lease (``coordination.k8s.io/v1`` Lease in the speaker namespace).

    Defaults follow client-go's leader election (15 s / 10 s / 2 s): a standby takes over
    at most ``duration`` after the leader stops renewing; a clean stop hands over at once.
    """

    name: str = "baremetal-lb-allocator"
    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class SpeakerConfig:
    node_name: str = field(default_factory=socket.gethostname)
    namespace: str = "metallb-system"
    kubeconfig: str | None = None
    load_balancer_class: str | None = None
    log_level: str = "info"
    metrics_listen: str = "127.0.0.1:7472"
    lease: LeaseSettings = LeaseSettings()
    status_writers: int = 4

    def with_overrides(self, **overrides: Any) -> "SpeakerConfig":
        """Command-line values win over the file; ``None`` means "not given"."""
        given = {k: v for k, v in overrides.items() if v is not None}
        new = replace(self, **given)
        _validate(new)
        return new


def parse_duration(value: Any, where: str) -> float:
    """Seconds as a number, or a Kubernetes-style duration string ("15s", "1m30s", "500ms")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: {value!r} is not a duration (use e.g. 15s, 1m30s, 500ms)")
    try:
        seconds = float(value) if not isinstance(value, str) else durations.parse_duration(value)
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a duration (use e.g. 15s, 1m30s, 500ms)") from None
    if seconds <= 0:
        raise ConfigError(f"{where}: {value!r} must be positive")
    return seconds


_TOP_KEYS = {
    "node_name", "namespace", "kubeconfig", "load_balancer_class", "log_level", "metrics_listen", "lease",
    "status_writers",
}
_LEASE_KEYS = {"name", "duration", "renew_deadline", "retry_period"}


def _expect_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}{key}: {value!r} must be a non-empty string")
    return value.strip()


def build_speaker_config(raw: Any, source: str = "config") -> SpeakerConfig:
    """Turn the parsed YAML document into a validated config; errors name the field and the value."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting (known: {', '.join(sorted(_TOP_KEYS))})")
    values: dict[str, Any] = {}
    for key in ("node_name", "namespace", "kubeconfig", "load_balancer_class", "log_level", "metrics_listen"):
        value = _expect_str(raw, key, "")
        if value is not None:
            values[key] = value
    if "status_writers" in raw:
        sw = raw["status_writers"]
        if isinstance(sw, bool) or not isinstance(sw, int) or not 1 <= sw <= 64:
            raise ConfigError(f"status_writers: {sw!r} must be an integer from 1 to 64")
        values["status_writers"] = sw
    lease_raw = raw.get("lease") or {}
    if not isinstance(lease_raw, Mapping):
        raise ConfigError(f"lease: must be a mapping, got {lease_raw!r}")
    unknown = sorted(set(map(str, lease_raw)) - _LEASE_KEYS)
    if unknown:
        raise ConfigError(f"lease.{unknown[0]}: unknown setting (known: {', '.join(sorted(_LEASE_KEYS))})")
    lease_values: dict[str, Any] = {}
    if (name := _expect_str(lease_raw, "name", "lease.")) is not None:
        lease_values["name"] = name
    for key in ("duration", "renew_deadline", "retry_period"):
        if key in lease_raw:
            lease_values[key] = parse_duration(lease_raw[key], f"lease.{key}")
    values["lease"] = LeaseSettings(**lease_values)
    cfg = SpeakerConfig(**values)
    _validate(cfg)
    return cfg


def _validate(cfg: SpeakerConfig) -> None:
    if not _DNS1123.match(cfg.node_name) or len(cfg.node_name) > 253:
        raise ConfigError(f"node_name: {cfg.node_name!r} is not a valid Kubernetes node name (lowercase DNS name)")
    if not _DNS1123.match(cfg.namespace) or "." in cfg.namespace or len(cfg.namespace) > 63:
        raise ConfigError(f"namespace: {cfg.namespace!r} is not a valid namespace name")
    if cfg.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level: {cfg.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    parse_listen(cfg.metrics_listen)
    lease = cfg.lease
    if not _DNS1123.match(lease.name):
        raise ConfigError(f"lease.name: {lease.name!r} is not a valid object name")
    if not lease.duration > lease.renew_deadline > lease.retry_period:
        raise ConfigError(
            f"lease: need duration > renew_deadline > retry_period, got {lease.duration:g}s, "
            f"{lease.renew_deadline:g}s, {lease.retry_period:g}s"
        )


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``; port 0 lets the kernel choose (tests); ``off`` is not a thing, use ``''``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        port_n = int(port)
        if not sep or not 0 <= port_n <= 65535:
            raise ValueError
    except ValueError:
        raise ConfigError(f"metrics_listen: {text!r} is not an address:port (e.g. 127.0.0.1:7472)") from None
    return host, port_n


def load_speaker_config(path: str | Path | None) -> SpeakerConfig:
    """Read the YAML file; a missing file at the default path means "all defaults"."""
    if path is None:
        path = DEFAULT_PATH
        if not Path(path).exists():
            return build_speaker_config({})
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return build_speaker_config(raw, str(p))
