"""The speaker's own configuration file (``/etc/baremetal-lb/speaker.yaml``).

This is node-local settings only (how to reach the cluster, who this node is, timers);
the address pools live in the cluster as ``metallb.io`` objects, read by ``speaker/config/cluster.py``.
Unknown keys are errors: a typo in a timer name must not silently fall back to a default.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from speaker.config import durations
from speaker.layer2.settings import RESPONDERS, Layer2Settings
from speaker.liveness.core import MembershipSettings
from speaker.logformat import FORMATS as LOG_FORMATS  # the one list of formats

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
class BGPConfig:
    """``bgp:`` — native BGP sessions from the cluster's BGPPeers (``speaker.bgp``)."""

    enabled: bool = True


@dataclass(frozen=True)
class SpeakerConfig:
    node_name: str = field(default_factory=socket.gethostname)
    namespace: str = "metallb-system"
    kubeconfig: str | None = None
    load_balancer_class: str | None = None
    log_level: str = "info"
    metrics_listen: str = "127.0.0.1:7472"
    # MetalLB's --ignore-exclude-lb: announce from nodes labelled
    # node.kubernetes.io/exclude-from-external-load-balancers
    ignore_exclude_lb: bool = False
    metrics_bearer_token_file: str | None = None  # /metrics wants "Authorization: Bearer <the file's content>"
    metrics_tls_cert_file: str | None = None  # with metrics_tls_key_file: HTTPS on metrics_listen
    metrics_tls_key_file: str | None = None
    # with TLS: a client must present a certificate signed by a CA in this PEM file (mutual TLS), else no handshake
    metrics_tls_client_ca_file: str | None = None
    log_format: str = "text"  # text | json (JSON lines on stderr) | journal (journald fields): speaker/logformat.py
    lease: LeaseSettings = LeaseSettings()
    status_writers: int = 4
    layer2: Layer2Settings = Layer2Settings()
    membership: MembershipSettings = MembershipSettings()
    bgp: BGPConfig = BGPConfig()

    def with_overrides(self, **overrides: Any) -> SpeakerConfig:
        """Command-line values win over the file; ``None`` means "not given"."""
        given = {k: v for k, v in overrides.items() if v is not None}
        new = replace(self, **given)
        _validate(new)
        return new


def duration_setting(value: Any, where: str) -> float:
    """A timer of this file: seconds as a number, or a duration string ("15s", "1m30s", "500ms") read by the one
    parser, :func:`speaker.config.durations.parse_duration`; positive. Errors are ``ConfigError`` naming ``where``."""
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
    "node_name",
    "namespace",
    "kubeconfig",
    "load_balancer_class",
    "log_level",
    "metrics_listen",
    "lease",
    "status_writers",
    "layer2",
    "membership",
    "bgp",
    "ignore_exclude_lb",
    "metrics_bearer_token_file",
    "metrics_tls_cert_file",
    "metrics_tls_key_file",
    "metrics_tls_client_ca_file",
    "log_format",
}
_LEASE_KEYS = {"name", "duration", "renew_deadline", "retry_period"}
_LAYER2_KEYS = {"enabled", "probe", "refresh_interval", "leave_grace", "realtime_priority", "responder"}
_MEMBERSHIP_KEYS = {
    "key_file",
    "port",
    "interval",
    "dead_after",
    "fence_after",
    "peers",
    "lease_duration",
    "lease_renew_interval",
    "secret_name",
    "create_secret",
    "key_overlap",
}


def _section(raw: Mapping[str, Any], name: str, known: set[str]) -> Mapping[str, Any]:
    sec = raw.get(name) or {}
    if not isinstance(sec, Mapping):
        raise ConfigError(f"{name}: must be a mapping, got {sec!r}")
    unknown = sorted(set(map(str, sec)) - known)
    if unknown:
        raise ConfigError(f"{name}.{unknown[0]}: unknown setting (known: {', '.join(sorted(known))})")
    return sec


def _bool(sec: Mapping[str, Any], key: str, where: str) -> dict[str, bool]:
    if key not in sec:
        return {}
    if not isinstance(sec[key], bool):
        raise ConfigError(f"{where + '.' if where else ''}{key}: {sec[key]!r} must be true or false")
    return {key: sec[key]}


def _layer2(raw: Mapping[str, Any]) -> Layer2Settings:
    sec = _section(raw, "layer2", _LAYER2_KEYS)
    values: dict[str, Any] = {**_bool(sec, "enabled", "layer2"), **_bool(sec, "probe", "layer2")}
    if "refresh_interval" in sec:
        values["refresh_interval"] = (
            0.0
            if sec["refresh_interval"] in (0, "0")
            else duration_setting(sec["refresh_interval"], "layer2.refresh_interval")
        )
    if "leave_grace" in sec:
        values["leave_grace"] = duration_setting(sec["leave_grace"], "layer2.leave_grace")
    if "realtime_priority" in sec:
        prio = sec["realtime_priority"]
        if isinstance(prio, bool) or not isinstance(prio, int):
            raise ConfigError(f"layer2.realtime_priority: {prio!r} must be an integer from 0 (off) to 99")
        values["realtime_priority"] = prio
    if "responder" in sec:
        mode = sec["responder"]
        if mode not in RESPONDERS:
            raise ConfigError(f"layer2.responder: {mode!r} must be one of {', '.join(RESPONDERS)}")
        values["responder"] = mode
    try:
        return Layer2Settings(**values)
    except ValueError as exc:  # the values' own checks (Layer2Settings.__post_init__), once
        raise ConfigError(str(exc)) from None


def _membership(raw: Mapping[str, Any]) -> MembershipSettings:
    sec = _section(raw, "membership", _MEMBERSHIP_KEYS)
    values: dict[str, Any] = {}
    if (key_file := _expect_str(sec, "key_file", "membership.")) is not None:
        values["key_file"] = key_file
    if (secret_name := _expect_str(sec, "secret_name", "membership.")) is not None:
        if not _DNS1123.match(secret_name) or len(secret_name) > 253:
            raise ConfigError(f"membership.secret_name: {secret_name!r} is not a valid Secret name")
        values["secret_name"] = secret_name
    values.update(_bool(sec, "create_secret", "membership"))
    if "port" in sec:
        port = sec["port"]
        if isinstance(port, bool) or not isinstance(port, int):  # its range: MembershipSettings
            raise ConfigError(f"membership.port: {port!r} is not a UDP port")
        values["port"] = port
    for key in ("interval", "dead_after", "fence_after", "lease_duration", "lease_renew_interval", "key_overlap"):
        if key in sec:
            values[key] = duration_setting(sec[key], f"membership.{key}")
    peers = sec.get("peers") or {}
    if not isinstance(peers, Mapping):
        raise ConfigError(f"membership.peers: must map node names to addresses, got {peers!r}")
    values["peers"] = tuple(sorted((str(k), str(v)) for k, v in peers.items()))
    lease = values.get("lease_duration")
    if lease is not None and (lease < 1 or lease != int(lease)):  # named as written: "2500ms", not 2.5s
        raise ConfigError(
            f"membership.lease_duration: {sec['lease_duration']!r} must be whole seconds, at least 1s "
            f"(a Lease counts in seconds)"
        )
    try:
        return MembershipSettings(**values)
    except ValueError as exc:  # the values' own checks (MembershipSettings.__post_init__), once
        raise ConfigError(str(exc)) from None


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
    for key in (
        "node_name",
        "namespace",
        "kubeconfig",
        "load_balancer_class",
        "log_level",
        "metrics_listen",
        "metrics_bearer_token_file",
        "metrics_tls_cert_file",
        "metrics_tls_key_file",
        "metrics_tls_client_ca_file",
        "log_format",
    ):
        value = _expect_str(raw, key, "")
        if value is not None:
            values[key] = value
    if "status_writers" in raw:
        sw = raw["status_writers"]
        if isinstance(sw, bool) or not isinstance(sw, int) or not 1 <= sw <= 64:
            raise ConfigError(f"status_writers: {sw!r} must be an integer from 1 to 64")
        values["status_writers"] = sw
    values.update(_bool(raw, "ignore_exclude_lb", ""))
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
            lease_values[key] = duration_setting(lease_raw[key], f"lease.{key}")
    values["lease"] = LeaseSettings(**lease_values)
    values["layer2"] = _layer2(raw)
    values["membership"] = _membership(raw)
    values["bgp"] = BGPConfig(**_bool(_section(raw, "bgp", {"enabled"}), "enabled", "bgp"))
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
    if bool(cfg.metrics_tls_cert_file) != bool(cfg.metrics_tls_key_file):
        given, missing = (
            ("metrics_tls_cert_file", "metrics_tls_key_file")
            if cfg.metrics_tls_cert_file
            else ("metrics_tls_key_file", "metrics_tls_cert_file")
        )
        raise ConfigError(f"{missing}: needed with {given} (HTTPS wants the certificate and its key)")
    if cfg.metrics_tls_client_ca_file and not cfg.metrics_tls_cert_file:
        raise ConfigError(
            f"metrics_tls_client_ca_file: {cfg.metrics_tls_client_ca_file!r} needs metrics_tls_cert_file "
            "and metrics_tls_key_file (client certificates are checked in the TLS handshake)"
        )
    if cfg.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format: {cfg.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
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
