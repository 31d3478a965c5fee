"""The heartbeat key from MetalLB's ``memberlist`` Secret, and which liveness Layer 2 uses — pure, no I/O.

Why MetalLB's Secret: a cluster that runs (or ran) MetalLB already has one, and every MetalLB install path creates
it the same way, so a speaker needs no key file and no Ansible variable to get sub-second failover:

- its name is ``memberlist`` in the speakers' namespace in MetalLB's manifests (``config/controllers/
  controller.yaml`` sets ``METALLB_ML_SECRET_NAME=memberlist``; ``config/controllers/speaker.yaml`` mounts
  ``secretName: memberlist``); the Helm chart calls it ``<release>-memberlist`` (``charts/metallb/templates/
  _helpers.tpl``, ``metallb.secretName``), hence ``membership.secret_name``;
- the key is under ``data.secretkey`` (``internal/k8s/k8s.go``: ``MLSecretKeyName = "secretkey"``);
- MetalLB's controller creates it once, when missing (``internal/k8s/k8s.go`` ``CreateMlSecret``): 16 random
  bytes, encoded with ``base64.RawStdEncoding`` (22 characters, no padding), and that *text* is the value; its
  speaker reads the mounted file as a string (``speaker/main.go``). We do the same, so either side can create it
  and the other reads it. (MetalLB at 7938d3f8, July 2026.)

Our heartbeats use the value's bytes as the HMAC key (``speaker.liveness.wire``); MetalLB's memberlist derives an
AES key from them. The two never talk to each other (different ports and protocols), they only share the secret.

:func:`liveness_source` is the decision the daemon asks on every Layer 2 reconcile: heartbeats once a key is
known *and* the heartbeats have caught up with the Leases, otherwise Leases, with the reason the user sees.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from speaker.liveness.wire import MIN_KEY_BYTES

SECRET_NAME = "memberlist"
SECRET_KEY = "secretkey"
RANDOM_BYTES = 16  # as MetalLB's CreateMlSecret
HEARTBEATS, LEASES = "heartbeats", "leases"


class SecretKeyError(ValueError):
    """The Secret exists but holds no usable key; the message names the field, never the value."""


def key_from_secret(secret: Mapping[str, Any], where: str) -> bytes:
    """The heartbeat key held by a memberlist Secret as the API returns it (``data`` values are base64)."""
    raw = (secret.get("data") or {}).get(SECRET_KEY)
    if not raw:
        raise SecretKeyError(f"{where}: data.{SECRET_KEY} is missing")
    try:
        key = base64.b64decode(raw, validate=True).strip()
    except (binascii.Error, ValueError, TypeError):
        raise SecretKeyError(f"{where}: data.{SECRET_KEY} is not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise SecretKeyError(f"{where}: data.{SECRET_KEY} is {len(key)} bytes; at least {MIN_KEY_BYTES} are needed")
    return key


def new_secret(name: str, namespace: str, random_bytes: Callable[[int], bytes]) -> dict[str, Any]:
    """A memberlist Secret as MetalLB's controller would create it (see the module docstring)."""
    value = base64.b64encode(random_bytes(RANDOM_BYTES)).rstrip(b"=")  # Go's RawStdEncoding
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "baremetal-lb", "app.kubernetes.io/component": "membership"},
        },
        "data": {SECRET_KEY: base64.b64encode(value).decode()},
    }


@dataclass(frozen=True)
class Source:
    """What Layer 2 liveness uses now, and why not heartbeats (``reason``) when it is Leases."""

    mode: str  # HEARTBEATS | LEASES
    reason: str | None = None


def liveness_source(
    *,
    key_known: bool,
    no_key_reason: str | None,
    switched: bool,
    heartbeat_alive: AbstractSet[str],
    lease_alive: AbstractSet[str],
    lease_ready: bool,
    since_key: float,
    catch_up: float,
) -> Source:
    """Heartbeats or Leases for the Layer 2 election. No side effects.

    Why not switch the moment a key arrives: a speaker's heartbeat view starts with itself alone and fills in over
    the next interval or two; electing from it at once would make this node take every address for a moment. So
    the Leases stay in force until the heartbeats have found every speaker the Leases know (once the Leases have
    been read at all: ``lease_ready``), or ``catch_up``
    seconds have passed since the key arrived: a peer without the key, or behind a firewall, must not keep this
    node on Leases forever — it then looks dead, as it would with a key file). ``switched`` makes the switch
    sticky: once on heartbeats, losing sight of the Secret later changes nothing (the last key stays in force).
    """
    if switched:
        return Source(HEARTBEATS)
    if not key_known:
        return Source(LEASES, no_key_reason or "no heartbeat key yet")
    if since_key >= catch_up or (lease_ready and lease_alive <= heartbeat_alive):
        return Source(HEARTBEATS)
    if not lease_ready:  # the Leases' view still knows only this node: comparing with it proves nothing
        return Source(LEASES, "switching to heartbeats: waiting for the first view of the speakers' Leases")
    missing = ", ".join(sorted(lease_alive - heartbeat_alive))
    return Source(LEASES, f"switching to heartbeats: waiting to hear from {missing}")
