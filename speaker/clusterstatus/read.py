"""Listing what the cluster report needs: one list per kind, each on its own.

The only part of ``status --cluster`` that talks to the API. A list that fails (RBAC: the speakers' own
ServiceAccount may not list Events; a CRD not installed) leaves its section empty and is named in
``unreadable`` with the reason, so the rest of the report still shows; a cluster that cannot be reached at all
(every list failed for a connection reason) raises :class:`ClusterUnreachable`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from speaker.clusterstatus.report import ClusterObjects
from speaker.kube.client import REQUEST_TIMEOUT, read_json
from speaker.kube.kinds import METALLB_GROUP, METALLB_VERSIONS

#: Warning Events only: the report explains gaps with the newest one per Service (field selector, server side).
WARNINGS = "type=Warning"


class ClusterUnreachable(RuntimeError):
    """No list succeeded and at least one failed without an HTTP answer: the message says why."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}".strip()
    return f"{type(exc).__name__}: {exc}"


def read_cluster(
    api: client.ApiClient,
    *,
    namespace: str,
    allocator_lease: str = "baremetal-lb-allocator",
    memberlist_secret: str = "memberlist",
    key_file: str | None = None,
    load_balancer_class: str | None = None,
    now: dt.datetime | None = None,
) -> ClusterObjects:
    """List everything the report reads (a dozen GETs, no watch) into :class:`ClusterObjects`."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    coordination = client.CoordinationV1Api(api)

    def metallb(plural: str) -> Callable[..., Any]:
        return partial(
            custom.list_namespaced_custom_object,
            METALLB_GROUP,
            METALLB_VERSIONS.get(plural, "v1beta1"),
            namespace,
            plural,
        )

    lists: dict[str, Callable[..., Any]] = {
        "services": core.list_service_for_all_namespaces,
        "pools": metallb("ipaddresspools"),
        "l2_advertisements": metallb("l2advertisements"),
        "bgp_advertisements": metallb("bgpadvertisements"),
        "bgp_peers": metallb("bgppeers"),
        "communities": metallb("communities"),
        "bfd_profiles": metallb("bfdprofiles"),
        "l2_statuses": metallb("servicel2statuses"),
        "bgp_statuses": metallb("servicebgpstatuses"),
        "leases": partial(coordination.list_namespaced_lease, namespace),
        "secrets": partial(core.list_namespaced_secret, namespace),
        "events": partial(core.list_event_for_all_namespaces, field_selector=WARNINGS),
    }
    items: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    unreachable: list[str] = []
    for what, fn in lists.items():
        try:
            items[what] = tuple(
                read_json(fn(_preload_content=False, _request_timeout=REQUEST_TIMEOUT)).get("items") or ()
            )
        except ApiException as exc:
            unreadable[what] = _reason(exc)
        except (HTTPError, OSError) as exc:
            unreadable[what] = _reason(exc)
            unreachable.append(_reason(exc))
    if not items and unreachable:
        raise ClusterUnreachable(unreachable[0])
    secrets = {str((s.get("metadata") or {}).get("name")): s for s in items.pop("secrets", ())}
    return ClusterObjects(
        namespace=namespace,
        now=now or dt.datetime.now(dt.UTC),
        secrets=secrets,
        allocator_lease=allocator_lease,
        memberlist_secret=memberlist_secret,
        key_file=key_file,
        load_balancer_class=load_balancer_class,
        unreadable=unreadable,
        **items,
    )
