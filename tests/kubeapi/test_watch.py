"""Watch conformance: initial state, resume, 410 Expired, timeouts, bookmarks, selectors."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from tests.kubeapi import ApiServer, api_client


def raw_watch(core: client.CoreV1Api, n: int | None = None, on_event: Any = None, **kw: Any) -> list[dict[str, Any]]:
    """Events of one watch request on default/configmaps: ``n`` of them, or until the server ends it.

    ``on_event(events)`` runs after each event arrives (on this thread), e.g. to write once the watch has shown
    it is streaming — ordering by what was seen, not by a sleep."""
    kw.setdefault("timeout_seconds", 5)
    resp = core.list_namespaced_config_map("default", watch=True, _preload_content=False, **kw)
    events: list[dict[str, Any]] = []
    try:
        for line in iter_resp_lines(resp):
            if line:
                events.append(json.loads(line))
                if on_event is not None:
                    on_event(events)
            if n is not None and len(events) >= n:
                break
        return events
    finally:
        resp.close()
        resp.release_conn()


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def test_watch_without_version_starts_with_synthetic_added(core):
    """No resourceVersion: ADDED for every existing object, then live events."""
    core.create_namespaced_config_map("default", cm("a"))
    core.create_namespaced_config_map("default", cm("b"))

    def after_initial_state(events: list[dict[str, Any]]) -> None:
        if len(events) == 2:  # both synthetic ADDED seen: the watch is live, now change things
            core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
            core.delete_namespaced_config_map("b", "default")

    events = raw_watch(core, 4, on_event=after_initial_state)
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert sorted(seen[:2]) == [("ADDED", "a"), ("ADDED", "b")]
    assert seen[2:] == [("MODIFIED", "a"), ("DELETED", "b")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events[2:]]
    assert versions == sorted(versions) and events[2]["object"]["kind"] == "ConfigMap"


def test_watch_resumes_after_resource_version(core):
    """resourceVersion=N replays exactly the changes after N, in order, then streams."""
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("x"))
    core.patch_namespaced_config_map("x", "default", {"data": {"a": "1"}})
    core.delete_namespaced_config_map("x", "default")
    events = raw_watch(core, 3, resource_version=rv)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) > int(
        events[1]["object"]["metadata"]["resourceVersion"]
    )


def test_watch_from_compacted_version_is_410_expired(kube_api, core):
    """A version older than the retained history: one ERROR event with a 410 Expired Status."""
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("y"))
    kube_api.compact()
    events = raw_watch(core, resource_version=rv, timeout_seconds=5)
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith(f"too old resource version: {rv} (")
    # the official Watch surfaces it as ApiException(410) when it may not retry
    with pytest.raises(ApiException) as info:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5))
    assert info.value.status == 410
    # resuming from the current version still works after compaction
    current = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("z"))
    assert raw_watch(core, 1, resource_version=current)[0]["object"]["metadata"]["name"] == "z"


def test_history_is_bounded():
    """history=N keeps the last N events: resuming from before them is 410."""
    with ApiServer(history=10).start() as server:
        core = client.CoreV1Api(api_client(server.url))
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(40):
            core.create_namespaced_config_map("default", cm(f"h{i}"))
        assert raw_watch(core, resource_version=rv)[0]["type"] == "ERROR"
        recent = str(server.store.rv - 5)
        assert [e["type"] for e in raw_watch(core, 5, resource_version=recent)] == ["ADDED"] * 5


def test_timeout_seconds_ends_the_stream_cleanly(core):
    """timeoutSeconds closes the stream at the deadline with a clean chunked end."""
    start = time.monotonic()
    assert raw_watch(core, timeout_seconds=1) == []  # returns: the server ended the stream (else pytest-timeout)
    assert time.monotonic() - start >= 0.9  # not before the deadline (load only makes it later)


def test_bookmarks_periodic_and_at_timeout():
    """allowWatchBookmarks: BOOKMARKs carry only kind/apiVersion/metadata.resourceVersion,
    periodically and when the stream times out."""
    with ApiServer(bookmark_interval=0.2).start() as server:
        core = client.CoreV1Api(api_client(server.url))
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespace({"metadata": {"name": "elsewhere"}})  # an event this watch filters out
        events = raw_watch(core, resource_version=rv, timeout_seconds=1, allow_watch_bookmarks=True)
        marks = [e for e in events if e["type"] == "BOOKMARK"]
        assert len(marks) >= 3
        assert set(marks[-1]["object"]) == {"kind", "apiVersion", "metadata"}
        assert marks[-1]["object"]["kind"] == "ConfigMap"
        # the bookmark moves past events the watcher did not see
        assert int(marks[-1]["object"]["metadata"]["resourceVersion"]) == server.store.rv
        # the official Watch remembers the bookmark's version for its retry
        w = watch.Watch()
        got = list(
            w.stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=1,
            )
        )
        assert got and w.resource_version == str(server.store.rv)


def test_send_initial_events_ends_with_marked_bookmark(core):
    """sendInitialEvents=true: ADDED for the current state then a bookmark annotated initial-events-end."""
    core.create_namespaced_config_map("default", cm("i"))
    events = raw_watch(
        core, 2, send_initial_events=True, resource_version_match="NotOlderThan", allow_watch_bookmarks=True
    )
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_label_selector_transitions(core):
    """With a labelSelector, an object that starts matching is ADDED and one that stops is DELETED."""
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("l", app="x"))
    core.create_namespaced_config_map("default", cm("other", app="y"))
    core.patch_namespaced_config_map("l", "default", {"data": {"a": "1"}})
    core.patch_namespaced_config_map("l", "default", {"metadata": {"labels": {"app": "y"}}})
    core.patch_namespaced_config_map("l", "default", {"metadata": {"labels": {"app": "x"}}})
    events = raw_watch(core, 4, resource_version=rv, label_selector="app=x")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "l"),
        ("MODIFIED", "l"),
        ("DELETED", "l"),
        ("ADDED", "l"),
    ]


def test_single_object_watch_by_field_selector(core):
    """fieldSelector=metadata.name=X watches one object (how client-go watches a single object)."""
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("one"))
    core.create_namespaced_config_map("default", cm("two"))
    core.create_namespaced_config_map("default", cm("three"))
    core.patch_namespaced_config_map("two", "default", {"data": {"a": "b"}})
    events = raw_watch(core, 2, resource_version=rv, field_selector="metadata.name=two")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "two"), ("MODIFIED", "two")]


def test_watch_all_namespaces_and_custom_resources(kube_api, kube_client):
    """Watch across namespaces (/apis/g/v/plural?watch) works for custom resources too."""
    core = client.CoreV1Api(kube_client)
    core.create_namespace({"metadata": {"name": "metallb-system"}})
    custom = client.CustomObjectsApi(kube_client)
    rv = str(kube_api.store.rv)
    for ns in ("default", "metallb-system"):
        custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            ns,
            "l2advertisements",
            {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": {"name": "l2"}},
        )
    got = []
    w = watch.Watch()
    for event in w.stream(
        custom.list_cluster_custom_object,
        "metallb.io",
        "v1beta1",
        "l2advertisements",
        resource_version=rv,
        timeout_seconds=5,
    ):
        got.append(event)
        if len(got) == 2:
            w.stop()
    assert sorted(e["object"]["metadata"]["namespace"] for e in got) == ["default", "metallb-system"]


def test_close_watches_and_stop_end_streams_promptly(kube_api, core):
    """Fault hook close_watches() ends open streams; stop() cuts them at once."""
    results: list[Any] = []

    def watcher() -> None:
        try:
            results.append(raw_watch(core, resource_version="1", timeout_seconds=60))
        except Exception as exc:  # noqa: BLE001 - the abrupt cut surfaces as a protocol error
            results.append(exc)

    t = threading.Thread(target=watcher)
    t.start()
    deadline = time.monotonic() + 5
    while kube_api.open_watches == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert kube_api.close_watches() == 1
    t.join(5)
    assert not t.is_alive() and isinstance(results[0], list)

    t = threading.Thread(target=watcher)
    t.start()
    while kube_api.open_watches == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    kube_api.stop()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - start < 2
