"""The write queue: one wish per key, never two writers on one key, nothing lost when dirtied mid-write."""

import threading

from speaker.kube.writer import WorkQueue


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
