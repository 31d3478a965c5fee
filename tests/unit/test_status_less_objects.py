"""Status objects listed between their create and their status write, as a real API server shows them.

A CRD with a status subresource drops ``status`` on create, so the speaker creates a ServiceL2Status /
ServiceBGPStatus first and writes its status second, and every watch cache sees the object without ``status`` in
between. Every speaker-side reader must take that world as it is: identity from the labels (set at create),
nothing from a status that is not there yet.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.statusgc import StatusCollector
from speaker.controllers.views import ViewSource
from speaker.kube import writer
from speaker.kube.kinds import Caches
from speaker.kube.writer import announcement_status_applier, l2_status_name, publish_announcements
from speaker.plan.announce import L2Choice


def status_less(name: str, node: str, service: str, rv: str = "7") -> dict[str, Any]:
    ns, svc = service.split("/")
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": name,
            "namespace": "metallb-system",
            "resourceVersion": rv,
            "labels": {"metallb.io/node": node, "metallb.io/service-name": svc, "metallb.io/service-namespace": ns},
        },
    }


class Cache:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = list(objs)

    def items(self) -> list[dict[str, Any]]:
        return list(self.objs)

    def keys(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.objs]

    def get(self, key: str) -> dict[str, Any] | None:
        return next((o for o in self.objs if f"metallb-system/{o['metadata']['name']}" == key), None)


class RecordingApplier:
    def __init__(self) -> None:
        self.wishes: dict[str, Any] = {}

    def desire(self, key: str, want: Any) -> None:
        self.wishes[key] = want


def test_status_gc_sweeps_a_gone_nodes_object_that_has_no_status_yet():
    objs = Cache(status_less("l2-b", "node-b", "default/web"), status_less("l2-a", "node-a", "default/web"))
    applier = RecordingApplier()
    gc = StatusCollector(
        caches=Caches(servicel2statuses=objs, nodes=Cache()),
        synced=lambda: True,
        is_leader=lambda: True,
        gone=lambda node, exists: node == "node-b",
        appliers={"servicel2statuses": applier},
    )  # type: ignore[dict-item]
    gc.tick()
    assert applier.wishes == {"l2-b": None}


def test_publishing_reads_owners_from_labels_not_from_a_missing_status():
    existing = [
        status_less("ours-stale", "node-a", "default/old"),
        status_less("theirs", "node-b", "default/web"),
        status_less(l2_status_name("node-a", "default/web"), "node-a", "default/web"),
    ]
    applier = RecordingApplier()
    publish_announcements(
        applier,
        existing,
        "node-a",
        {"default/web": ("eth0",)},
        l2_status_name,  # type: ignore[arg-type]
        exclusive=True,
    )
    assert applier.wishes == {
        "ours-stale": None,
        "theirs": None,
        l2_status_name("node-a", "default/web"): ("node-a", "default/web", ("eth0",)),
    }


class NoAnnouncer:
    def snapshot(self) -> dict[str, Any]:
        return {"addresses": []}


def controller(objs: Cache) -> Layer2Controller:
    ctl = Layer2Controller(
        node="node1",
        caches=Caches(servicel2statuses=objs),
        synced=lambda: True,
        views=ViewSource(Caches(servicel2statuses=objs), load_balancer_class=None),
        announcer=NoAnnouncer(),
        events=None,  # type: ignore[arg-type]
        alive=lambda: frozenset({"node1", "node2"}),
    )
    ctl._plan = {"198.51.100.240": L2Choice(node="node1", services=("default/web",), interfaces=None)}
    return ctl


def test_a_planned_stop_does_not_count_a_takeover_whose_status_is_not_written_yet():
    obj = status_less("l2-2", "node2", "default/web")
    objs = Cache(obj)
    ctl = controller(objs)
    assert not ctl.handed_over()  # the peer created its object; it says nothing yet
    obj["status"] = {
        "node": "node2",
        "serviceName": "web",
        "serviceNamespace": "default",
        "interfaces": [{"name": "eth0"}],
    }
    assert ctl.handed_over()


class FakeCustom:
    """Just enough of CustomObjectsApi for the applier: records the calls, answers like the API server."""

    calls: list[tuple[str, str, Any]] = []

    def __init__(self, api: Any) -> None:
        pass

    class _Resp:
        def __init__(self, body: Any) -> None:
            self.data = json.dumps(body).encode()

        def release_conn(self) -> None:
            pass

    def create_namespaced_custom_object(self, group, version, ns, plural, body, **kw):
        FakeCustom.calls.append(("create", body["metadata"]["name"], body))
        return self._Resp({**body, "metadata": {**body["metadata"], "resourceVersion": "8"}})

    def patch_namespaced_custom_object_status(self, group, version, ns, plural, name, body, **kw):
        FakeCustom.calls.append(("patch-status", name, body))
        return self._Resp({"metadata": {"name": name, "resourceVersion": "9"}, **body})


@pytest.fixture
def fake_custom(monkeypatch: pytest.MonkeyPatch) -> type[FakeCustom]:
    FakeCustom.calls = []
    monkeypatch.setattr(writer.client, "CustomObjectsApi", FakeCustom)
    return FakeCustom


def test_the_applier_writes_the_status_of_an_object_listed_without_one(fake_custom):
    name = l2_status_name("node-a", "default/web")
    live = Cache(status_less(name, "node-a", "default/web"))  # created, status not written (a failed second write)
    applier = announcement_status_applier(
        None,
        "metallb-system",
        live.get,
        kind="ServiceL2Status",  # type: ignore[arg-type]
        plural="servicel2statuses",
        detail="interfaces",
    )
    applier._apply(name, ("node-a", "default/web", ("eth0",)))
    assert fake_custom.calls == [
        (
            "patch-status",
            name,
            {
                "status": {
                    "node": "node-a",
                    "serviceName": "web",
                    "serviceNamespace": "default",
                    "interfaces": [{"name": "eth0"}],
                }
            },
        )
    ]
