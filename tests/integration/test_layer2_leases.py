"""Layer 2 without a membership key: liveness from the speakers' Leases, end to end (tests/l2world.py).

The same world as test_layer2_e2e.py — real speakers in node namespaces, a client on the LAN — but the speakers
have no ``membership.key_file`` and no memberlist Secret (``create_secret: false``), so no heartbeats: a node is
alive while its Lease (``baremetal-lb-speaker-<node>``) is renewed, at the default timers (renewed every 2 s,
expires after 6 s). The figure printed here is the one
docs/speaker.md quotes.
"""

from __future__ import annotations

import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Cluster, wait_for
from tests.l2world import L2Lab, speakers_stopped
from tests.netlab import Lab


@pytest.fixture
def l2lab(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[L2Lab]:
    with Lab() as lab:
        world = L2Lab(lab, kube_api, cluster, tmp_path)
        for n in world.nodes.values():  # no key (no file, no memberlist Secret): Leases decide who is alive
            n.config.write_text(
                re.sub(r"^membership: .*\n", "membership: {create_secret: false}\n", n.config.read_text(), flags=re.M)
            )
        with speakers_stopped(world, request):
            yield world


def _vip(l2lab: L2Lab) -> str:
    l2lab.cluster.service("traefik", ports=[("TCP", 80)])
    ip = l2lab.cluster.wait_ips("traefik")[0]
    wait_for(f"{ip} to be announced by one node", lambda: len(l2lab.announcer_of(ip)) == 1, timeout=20)
    return ip


def _l2_statuses(l2lab: L2Lab) -> list[tuple[str, list[str] | None]]:
    return [(node, names) for node, _, names in l2lab.cluster.announcements("servicel2statuses")]


def _sees_everyone(l2lab: L2Lab) -> bool:
    names = sorted(l2lab.nodes)
    return all((st := n.status()) and st["layer2"]["alive"] == names for n in l2lab.nodes.values())


def test_kill9_vip_moves_after_the_lease_runs_out(l2lab: L2Lab):
    l2lab.start()
    ip = _vip(l2lab)
    st = next(iter(l2lab.nodes.values())).status()
    assert st["liveness"]["layer2_source"] == "leases"
    wait_for("every speaker to see every other", lambda: _sees_everyone(l2lab), timeout=20)
    samples = []
    for _ in range(4):
        [owner] = l2lab.announcer_of(ip)
        assert wait_for("curl", lambda: l2lab.curl(ip)) == owner
        wait_for("the ServiceL2Status", lambda: _l2_statuses(l2lab) == [(owner, ["eth0"])], timeout=10)
        time.sleep(random.uniform(0, 2))  # anywhere in the owner's renewal cycle (waits end just after a renewal)
        l2lab.nodes[owner].kill()
        t0 = time.monotonic()
        new = wait_for(
            "another node to answer", lambda: (who := l2lab.curl(ip, 0.3)) and who != owner and who, 15, interval=0.02
        )
        samples.append(time.monotonic() - t0)
        assert l2lab.neigh_mac(ip) == l2lab.nodes[new].host.mac
        wait_for("the ServiceL2Status to follow", lambda: _l2_statuses(l2lab) == [(new, ["eth0"])], timeout=10)
        l2lab.nodes[owner].start()
        wait_for("the killed node back in every view", lambda: _sees_everyone(l2lab), timeout=20)
    print(
        "kill -9 → answered by another node after "
        + ", ".join(f"{s:.2f}" for s in samples)
        + f" s (median {statistics.median(samples):.2f} s; Lease 6 s, renewed every 2 s)"
    )
    # not before the Lease can have run out (its last renewal was at most 2 s before the kill), and soon after
    assert all(3.5 <= s <= 8.5 for s in samples), samples


def test_sigterm_hands_over_at_once_without_losing_a_request(l2lab: L2Lab):
    l2lab.start()
    ip = _vip(l2lab)
    wait_for("every speaker to see every other", lambda: _sees_everyone(l2lab), timeout=20)
    [owner] = l2lab.announcer_of(ip)
    script = (
        f"import urllib.request,time\nok=bad=0\nend=time.time()+3\n"
        f"while time.time()<end:\n"
        f"  try:\n    urllib.request.urlopen('http://{ip}/',timeout=1).read(); ok+=1\n"
        f"  except Exception: bad+=1\n"
        f"  time.sleep(0.02)\nprint(ok,bad)\n"
    )
    client = l2lab.client.popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    t0 = time.monotonic()
    assert l2lab.nodes[owner].terminate() == 0
    stopped = time.monotonic() - t0
    out, _ = client.communicate(timeout=20)
    ok, bad = map(int, out.split())
    print(f"planned stop of {owner} (Leases): stopped in {stopped:.2f}s; {ok} requests answered, {bad} lost")
    assert ok > 50 and bad == 0
    assert "they took over" in l2lab.nodes[owner].log.read_text()  # released Lease → peers took over, seen
    assert stopped < 3, "waited for the grace period: the takeover was not seen"
    [new] = l2lab.announcer_of(ip)
    assert new != owner
