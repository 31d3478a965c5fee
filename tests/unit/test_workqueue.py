"""The write queue: one wish per key, never two writers on one key, nothing lost when dirtied mid-write."""

import threading

from speaker.ipam.service import ServiceStatus, live_status
from speaker.kube.writer import Applier, WorkQueue, service_status_applier
from tests.waiting import wait_for


def test_dedup_and_order():
    q = WorkQueue()
    for k in ["a", "b", "a", "c", "b"]:
        q.add(k)
    got = [q.get() for _ in range(3)]
    assert got == ["a", "b", "c"]
    for k in got:
        q.done(k)
    assert q.idle()


def test_key_dirtied_while_processing_comes_back_once_done():
    q = WorkQueue()
    q.add("a")
    assert q.get() == "a"
    q.add("a")  # changed while being written
    got = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    t.join(0.2)
    assert got == []  # not handed to a second worker while the first holds it
    q.done("a")
    t.join(2)
    assert got == ["a"]


def test_close_wakes_workers():
    q = WorkQueue()
    out = []
    t = threading.Thread(target=lambda: out.append(q.get()))
    t.start()
    q.close()
    t.join(2)
    assert out == [None]


# --- the Applier: a wish the live object already shows is not handed to a worker, unless a worker holds its key ---


def test_a_wish_the_live_object_already_shows_is_not_queued():
    live = {"default/web": "A"}
    ap = Applier("test", lambda key, want: None, workers=1, satisfied=lambda key, want: live.get(key) == want)
    ap.set_enabled(True)
    ap.desire("default/web", "A")  # e.g. our own status write, come back as a MODIFIED Service
    assert ap.idle()
    ap.desire("default/web", "B")
    assert not ap.idle()


def test_a_satisfied_wish_for_a_key_being_written_is_looked_at_again():
    """A worker holding the key may be writing an older wish: the newer one must still be applied after it."""
    live = {"k": "A"}
    applied = []
    writing, release = threading.Event(), threading.Event()

    def apply(key, want):
        applied.append(want)
        if want == "B":
            writing.set()
            release.wait(10)
            live[key] = "B"

    ap = Applier("test", apply, workers=1, satisfied=lambda key, want: live.get(key) == want)
    ap.set_enabled(True)
    ap.start()
    try:
        ap.desire("k", "B")
        wait_for("the write of B under way", writing.is_set)
        ap.desire("k", "A")  # the cache still shows A, but B is being written
        release.set()
        wait_for("A applied after B", lambda: applied == ["B", "A"])
    finally:
        release.set()
        ap.stop()


def test_the_service_status_applier_queues_nothing_for_a_status_the_service_shows():
    """The allocation controller wishes a Service's status again when its own write comes back."""
    svc = {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "annotations": {"metallb.io/ip-allocated-from-pool": "lan"},
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}},
    }
    ap = service_status_applier(None, {"default/web": svc}.get)  # no worker started: nothing is written
    ap.set_enabled(True)
    ap.desire("default/web", live_status(svc))
    assert ap.idle()
    ap.desire("default/web", ServiceStatus(("192.0.2.11",), "lan"))
    assert not ap.idle()
