"""ServiceL2Status names the interfaces the speaker really answers on, through the API emulator.

The real ``Layer2Controller`` loop, real informers and the real status applier, against the emulator; only the
announcer is a stand-in whose links the test changes (what the real one reports in its snapshot, the source of
``/status``). With an L2Advertisement that names no interfaces, the object must show the interface in use, be
written once, not again while nothing changes — although every write comes back as a watch event and a
recompute — and follow a link being added or removed with exactly one write each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.reconciler import Signal
from speaker.controllers.views import ViewSource
from speaker.kube.informer import Informer
from speaker.kube.kinds import Caches, speaker_kinds
from speaker.kube.writer import announcement_status_applier
from tests.integration.conftest import NS, Cluster, wait_for
from tests.kubeapi import api_client


class FakeAnnouncer:
    """Announces every desired address on every link it has (the real one picks the links whose subnet holds
    the address, or the advertisement's)."""

    def __init__(self) -> None:
        self.links = ["eth0"]
        self.desired: Mapping[str, Any] = {}

    def set_desired(self, desired: Mapping[str, Any]) -> None:
        self.desired = dict(desired)

    def snapshot(self) -> dict[str, Any]:
        return {
            "addresses": [
                {"ip": ip, "service": a.service, "state": "announced", "interfaces": sorted(self.links)}
                for ip, a in sorted(self.desired.items())
            ]
        }


class NoEvents:
    def record(self, event: Any) -> None:
        pass


@pytest.fixture
def world(kube_api, kube_client) -> Iterator[dict[str, Any]]:
    cluster = Cluster(kube_client)
    cluster.core.create_node(
        {"metadata": {"name": "node-1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    )
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    cluster.custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        NS,
        "l2advertisements",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "lan"},
            "spec": {"ipAddressPools": ["lan"]},
        },
    )  # no interfaces named
    cluster.service("web")
    cluster.core.patch_namespaced_service_status(  # as the allocator leaves it
        "web",
        "default",
        {
            "metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "lan"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.240"}]}},
        },
        _content_type="application/merge-patch+json",
    )
    api = api_client(kube_api.url)  # the speaker's own client, as in the daemon
    box: dict[str, Layer2Controller] = {}
    informers: dict[str, Informer] = {}

    def on_synced(_: str) -> None:  # as the daemon does: one Signal.SYNCED once every cache is
        if all(i.synced for i in informers.values()):
            box["ctl"].signal(Signal.SYNCED)

    for k in speaker_kinds(NS):
        informers[k.name] = Informer(
            k, api, sink=lambda kind, change, key: box["ctl"].notify(kind, change, key), on_synced=on_synced
        )
    applier = announcement_status_applier(
        api,
        NS,
        informers["servicel2statuses"].get,
        kind="ServiceL2Status",
        plural="servicel2statuses",
        detail="interfaces",
    )
    announcer = FakeAnnouncer()
    ctl = box["ctl"] = Layer2Controller(
        node="node-1",
        caches=Caches(**informers),
        views=ViewSource(Caches(**informers), load_balancer_class=None),
        synced=lambda: all(i.synced for i in informers.values()),
        announcer=announcer,
        events=NoEvents(),
        alive=lambda: frozenset({"node-1"}),
        l2_status=applier,
    )
    applier.set_enabled(True)
    applier.start()
    threads = [threading.Thread(target=t, daemon=True) for t in [i.run for i in informers.values()] + [ctl.run]]
    for t in threads:
        t.start()
    try:
        yield {"cluster": cluster, "ctl": ctl, "announcer": announcer, "informers": informers, "applier": applier}
    finally:
        ctl.stop()
        applier.stop()
        for i in informers.values():
            i.stop()
        api.close()


def objects(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, "servicel2statuses")["items"]


def interfaces(cluster: Cluster) -> list[list[str] | None]:
    return [names for _, _, names in cluster.announcements("servicel2statuses")]


def writes(kube_api) -> int:
    return sum(kube_api.count_requests(verb=v, resource="servicel2statuses") for v in ("create", "patch", "update"))


def settled(world: dict[str, Any], kube_api, seconds: float = 2.5) -> int:
    """Writes so far, once none came for ``seconds`` (the reconciler ticks every second meanwhile)."""
    last, since = writes(kube_api), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.1)
        if (now := writes(kube_api)) != last:
            last, since = now, time.monotonic()
    return last


def test_interfaces_in_use_are_published_once_and_follow_link_changes(world, kube_api):
    cluster, ctl, announcer = world["cluster"], world["ctl"], world["announcer"]
    wait_for("a ServiceL2Status naming eth0", lambda: interfaces(cluster) == [["eth0"]], timeout=10)
    [obj] = objects(cluster)
    assert obj["status"] == {
        "node": "node-1",
        "serviceName": "web",
        "serviceNamespace": "default",
        "interfaces": [{"name": "eth0"}],
    }
    assert ctl.snapshot()["addresses"][0]["interfaces"] == ["eth0"]  # the same source as /status
    assert settled(world, kube_api) == 2, "create + status, nothing more"

    # More passes with nothing changed (the Service is touched: every reconciler recomputes): no write.
    for i in range(3):
        cluster.core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"touch": str(i)}}})
    ctl.poke()
    assert settled(world, kube_api) == 2, "rewrote an unchanged ServiceL2Status"

    announcer.links = ["eth0", "eth1"]  # a link comes up (no API event: the controller's tick notices)
    wait_for("eth1 published", lambda: interfaces(cluster) == [["eth0", "eth1"]], timeout=5)
    assert settled(world, kube_api) == 3
    announcer.links = ["eth1"]  # and eth0 goes away
    wait_for("eth0 removed", lambda: interfaces(cluster) == [["eth1"]], timeout=5)
    assert settled(world, kube_api) == 4
