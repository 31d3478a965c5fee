"""The ARP/NDP responder process on a namespace LAN: who holds the sockets, what happens when it dies or hangs,
and that it never outlives (nor goes quiet before) the speaker that owns it. docs/design/0011.

Two ways of running the owner: an ``Announcer`` in this process, started inside the node's namespace (so this
test process is the child's parent and can watch it being reaped), and ``python -m speaker.layer2`` as its
own process (to kill -9 it, or SIGTERM its whole process group as ``systemctl stop`` does). Bounds on
recovery are generous functional ones (the measured times are printed; bench/ is for performance).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from speaker.layer2 import Announcement, Announcer, Layer2Settings
from speaker.layer2.gratuitous import DEFAULT_BURST
from speaker.layer2.metrics import Layer2Metrics
from tests.integration.conftest import wait_for
from tests.integration.test_layer2_responder import arping, ndisc
from tests.netlab import Host, Lab, require_root

ROOT = Path(__file__).resolve().parents[2]
VIP4 = "198.51.100.240"
VIP6 = "2001:db8:100::240"
NODE = ("198.51.100.10/24", "2001:db8:100::10/64")
CLIENT = ("198.51.100.20/24", "2001:db8:100::20/64")
RECOVERY_BOUND = 5.0  # generous: a restart takes ~0.05-0.2 s here


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        yield lab


@pytest.fixture
def announcers() -> Iterator[list[Announcer]]:
    started: list[Announcer] = []
    yield started
    for a in started:
        a.stop()


def start_announcer(announcers: list[Announcer], host: Host, **settings) -> tuple[Announcer, Layer2Metrics]:
    metrics = Layer2Metrics()
    ann = Announcer(host.name, settings=Layer2Settings(probe=False, **settings), metrics=metrics)
    host.call(ann.start)
    announcers.append(ann)
    ann.set_desired({VIP4: Announcement("default/web"), VIP6: Announcement("default/web")})
    wait_for(
        "the addresses to be announced", lambda: {r["state"] for r in ann.snapshot()["addresses"]} == {"announced"}
    )
    return ann, metrics


def child_pid(ann: Announcer) -> int | None:
    r = ann.snapshot()["responder"]
    return r["pid"] if r["up"] else None


def gone(pid: int) -> bool:
    """Exited (and reaped, or a zombie waiting for an init that does not reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def socket_inodes(pid: int) -> set[int]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def packet_sockets(host: Host) -> dict[int, str]:
    """The namespace's AF_PACKET sockets: inode → bound protocol (hex, e.g. 0806)."""

    def read() -> str:
        with open("/proc/thread-self/net/packet") as f:
            return f.read()

    out = {}
    for line in host.call(read).splitlines()[1:]:
        f = line.split()
        out[int(f[8])] = f[3].lower()
    return out


class GarpWatch:
    """tcpdump on the client for gratuitous ARP from the node (sender IP = target IP = the VIP)."""

    def __init__(self, client: Host, node_mac: str) -> None:
        self.proc = client.popen(
            [
                "tcpdump",
                "-nli",
                "eth0",
                "-c",
                "1",
                "--immediate-mode",
                f"arp and ether src {node_mac} and arp[14:4] == arp[24:4]",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5):  # "listening on eth0 ..." once the capture runs
            line = self.proc.stderr.readline()
            if "listening" in line or not line:
                break
        assert "listening" in line, line

    def seen(self, timeout: float) -> str:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return ""
        return out


# --- in this process: the Announcer is the child's parent ---------------------------------------------------------
def test_replies_come_from_the_child_which_holds_the_packet_sockets(lab, announcers):
    node = lab.host("node", *NODE)
    client = lab.host("client", *CLIENT)
    ann, metrics = start_announcer(announcers, node)
    pid = child_pid(ann)
    assert pid is not None and pid != os.getpid()
    assert arping(client, VIP4) == node.mac
    assert ndisc(client, VIP6) == node.mac
    # the child is ours, runs in the node's namespace, and holds the ARP and NDP sockets; this process none
    with open(f"/proc/{pid}/status") as f:
        assert f"PPid:\t{os.getpid()}" in f.read()
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{node.ns}").st_ino
    listening = {inode for inode, proto in packet_sockets(node).items() if proto in ("0806", "86dd")}
    assert len(listening) == 2
    assert listening <= socket_inodes(pid)
    assert not listening & socket_inodes(os.getpid())
    # what it counted reached the speaker's metrics (reports every 0.2 s)
    wait_for("the child's counts", lambda: metrics.responses.get(VIP4, 0) >= 1 and metrics.responses.get(VIP6, 0) >= 1)
    assert metrics.responder_up == 1 and metrics.responder_restarts == 0
    # a stopped Announcer leaves no process behind (reaped: no zombie)
    ann.stop()
    assert gone(pid) and not os.path.exists(f"/proc/{pid}")
    assert arping(client, VIP4) is None


def test_a_killed_child_is_noticed_restarted_and_the_addresses_reasserted(lab, announcers, caplog):
    node = lab.host("node", *NODE)
    client = lab.host("client", *CLIENT)
    ann, metrics = start_announcer(announcers, node)
    old = child_pid(ann)
    assert old is not None and arping(client, VIP4) == node.mac
    # the announcement burst is over (every round sent and counted: two ARP frames each): a gratuitous ARP from
    # now on is the re-assertion
    wait_for(
        "the announcement burst to finish",
        lambda: metrics.gratuitous.get(VIP4, 0) >= 2 * len(DEFAULT_BURST),
        timeout=15,
    )
    watch = GarpWatch(client, node.mac)
    with caplog.at_level(logging.INFO, logger="speaker.layer2"):
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        new = wait_for(
            "a new responder process",
            lambda: (p := child_pid(ann)) not in (None, old) and p,
            timeout=RECOVERY_BOUND,
            interval=0.005,
        )
        restarted = time.monotonic() - t0
        asked: list[float] = []

        def answered() -> bool:
            asked.append(time.monotonic() - t0)
            return arping(client, VIP4) == node.mac  # (arping itself takes its whole -w1 second)

        wait_for("ARP answered again", answered, timeout=RECOVERY_BOUND)
    print(
        f"kill -9 of the responder: a new one answering after {restarted * 1000:.0f} ms; the ARP request "
        f"sent {asked[-1] * 1000:.0f} ms after the kill was answered ({len(asked)} tries)"
    )
    garp = watch.seen(RECOVERY_BOUND)
    assert VIP4 in garp, "no gratuitous ARP re-asserted the address after the restart"
    assert ndisc(client, VIP6) == node.mac
    assert f"responder process (pid {old}) was killed by SIGKILL; restarting it" in caplog.text
    assert "re-announcing 2 addresses after the responder restart" in caplog.text
    wait_for("the dead child to be reaped", lambda: not os.path.exists(f"/proc/{old}"), timeout=2)
    assert metrics.responder_restarts == 1 and metrics.responder_up == 1
    assert ann.snapshot()["responder"]["restarts"] == 1 and ann.healthy()
    assert new != old


def test_a_hung_child_is_killed_and_replaced(lab, announcers, caplog):
    node = lab.host("node", *NODE)
    client = lab.host("client", *CLIENT)
    ann, _metrics = start_announcer(announcers, node)
    old = child_pid(ann)
    assert old is not None
    with caplog.at_level(logging.ERROR, logger="speaker.layer2"):
        t0 = time.monotonic()
        os.kill(old, signal.SIGSTOP)  # alive, holding its sockets, answering nothing
        assert arping(client, VIP4) is None
        wait_for("a new responder process", lambda: child_pid(ann) not in (None, old), timeout=10)
        print(f"SIGSTOP of the responder: replaced after {time.monotonic() - t0:.2f} s")
    assert f"responder process (pid {old}) sent nothing for 3s; killing it" in caplog.text
    wait_for("ARP answered again", lambda: arping(client, VIP4) == node.mac, timeout=RECOVERY_BOUND)
    wait_for("the hung child to be reaped", lambda: not os.path.exists(f"/proc/{old}"), timeout=2)


def test_realtime_priority_applies_to_the_child_only(lab, announcers):
    node = lab.host("node", *NODE)
    client = lab.host("client", *CLIENT)
    ann, _metrics = start_announcer(announcers, node, realtime_priority=10)
    pid = child_pid(ann)
    assert pid is not None and ann.snapshot()["responder"]["realtime"] is True
    assert os.sched_getscheduler(pid) == os.SCHED_FIFO and os.sched_getparam(pid).sched_priority == 10
    for tid in os.listdir("/proc/self/task"):  # none of this (the parent's) threads is real-time
        assert os.sched_getscheduler(int(tid)) == os.SCHED_OTHER
    assert arping(client, VIP4) == node.mac


# --- the owner as its own process ------------------------------------------------------------------------------------
def debug_speaker(host: Host, *extra: str, **popen) -> tuple[subprocess.Popen[str], int]:
    """``python -m speaker.layer2`` answering for VIP4; returns it and its responder child's pid."""
    proc = host.popen(
        [
            sys.executable,
            "-m",
            "speaker.layer2",
            "--node",
            host.name,
            "--no-probe",
            "--log-level",
            "warning",
            *extra,
            f"{VIP4}@eth0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        **popen,
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGUSR1)
    snap = json.loads(proc.stdout.readline())
    return proc, snap["responder"]["pid"]


def test_the_child_dies_with_its_speaker(lab):
    node = lab.host("node", *NODE)
    client = lab.host("client", *CLIENT)
    proc, pid = debug_speaker(node)
    try:
        wait_for("an answer", lambda: arping(client, VIP4) == node.mac, timeout=RECOVERY_BOUND)
        t0 = time.monotonic()
        proc.kill()
        proc.wait(5)
        wait_for("the responder to exit with its speaker", lambda: gone(pid), timeout=2, interval=0.005)
        print(f"kill -9 of the speaker: responder gone after {(time.monotonic() - t0) * 1000:.1f} ms")
        assert arping(client, VIP4) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_sigterm_to_the_whole_group_leaves_answering_to_the_speaker(lab):
    """``systemctl stop`` signals every process of the unit: the child must keep answering until its speaker,
    done with its planned-stop grace period (here ``--linger``), closes it."""
    node = lab.host("node", *NODE)
    client = lab.host("client", *CLIENT)
    proc, pid = debug_speaker(node, "--linger", "3", start_new_session=True)
    try:
        assert wait_for("an answer", lambda: arping(client, VIP4) == node.mac, timeout=RECOVERY_BOUND)
        os.killpg(proc.pid, signal.SIGTERM)
        t0 = time.monotonic()
        time.sleep(0.3)
        assert proc.poll() is None and not gone(pid)
        assert arping(client, VIP4) == node.mac  # still answering during the grace period
        assert time.monotonic() - t0 < 2.5, "the check above must fall inside the grace period"
        assert proc.wait(10) == 0
        wait_for("the responder to exit after its speaker", lambda: gone(pid), timeout=2)
        assert arping(client, VIP4) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_a_child_started_in_another_namespace_refuses_to_answer(lab):
    node = lab.host("node", *NODE)
    ours, theirs = __import__("socket").socketpair()
    try:
        proc = node.popen(
            [
                sys.executable,
                "-m",
                "speaker.layer2.child",
                "--fd",
                str(theirs.fileno()),
                "--parent",
                str(os.getpid()),
                "--netns",
                "1",
            ],
            pass_fds=(theirs.fileno(),),
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 3
        assert "refusing to answer here" in err
        assert packet_sockets(node) == {}
    finally:
        ours.close()
        theirs.close()
