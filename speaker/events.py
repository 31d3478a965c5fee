"""Kubernetes Events as values, and the one builder that says which object an Event is about. Pure.

Controllers decide Events; ``speaker.kube.writer.EventRecorder`` sends them. Building the involved object by hand
(apiVersion, kind, namespace, name, uid from a cached dict) was done in five places, each with its own fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event about one object; ``involved`` is (apiVersion, kind, namespace, name, uid)."""

    involved: tuple[str, str, str, str, str]
    type: str  # Normal | Warning
    reason: str
    message: str


def event_about(
    obj: Mapping[str, Any] | None,
    *,
    kind: str,
    api_version: str,
    namespace: str,
    name: str,
    type: str,
    reason: str,
    message: str,
) -> Event:
    """An Event about ``obj`` as the cache holds it (None: not cached — gone, or not listed yet).

    The object's own apiVersion and uid win (a BGPPeer served as v1beta2, a uid that tells a re-created object
    apart); ``namespace``/``name`` are what the caller knows the object by, so the Event lands where a user looks
    (``kubectl describe``) even when the object is not in the cache.
    """
    obj = obj or {}
    meta = obj.get("metadata") or {}
    return Event(
        (
            str(obj.get("apiVersion") or api_version),
            kind,
            str(meta.get("namespace") or namespace),
            str(meta.get("name") or name),
            str(meta.get("uid") or ""),
        ),
        type,
        reason,
        message,
    )


def service_event(svc: Mapping[str, Any] | None, key: str, type: str, reason: str, message: str) -> Event:
    """An Event about the Service ``key`` ("namespace/name")."""
    namespace, _, name = key.partition("/")
    return event_about(
        svc, kind="Service", api_version="v1", namespace=namespace, name=name, type=type, reason=reason, message=message
    )
