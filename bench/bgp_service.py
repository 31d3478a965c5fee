"""BGP end to end through the API: Service created → route at the peer, Service deleted → withdrawn at the peer.

Real ``baremetal-lb speaker`` processes in two node namespaces, the API emulator, and a BIRD router
(tests/bgplab.py ``BGPWorld``). Times are from the API call returning to the change being visible in BIRD's
table (polled with birdc every ~2 ms; birdc's own cost, ~1-2 ms, is included). Reference in the same run:
BIRD → BIRD one-prefix announce/withdraw via ``birdc configure`` is in bench/bgp_advertise.py.
Usage: python bench/bgp_service.py [--trials 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bgplab import BGPWorld  # noqa: E402
from tests.integration.conftest import Cluster, wait_for  # noqa: E402
from tests.kubeapi import ApiServer  # noqa: E402
from tests.netlab import Lab  # noqa: E402


def until(predicate, budget: float = 20.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < budget:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.002)
    return float("nan")


def fmt(xs: list[float]) -> str:
    xs = sorted(x for x in xs if x == x)
    return (
        f"p50 {statistics.median(xs) * 1000:7.1f} ms   max {xs[-1] * 1000:7.1f} ms   (n={len(xs)})"
        if xs
        else "no answer"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    created, deleted = [], []
    with (
        tempfile.TemporaryDirectory(prefix="bench-bgp-svc-") as tmp,
        ApiServer(port=0, crd_dirs=[ROOT / "speaker" / "crds"]) as api,
        Lab() as lab,
    ):
        cluster = Cluster(client.ApiClient(client.Configuration(host=api.url)))
        world = BGPWorld(lab, api, cluster, Path(tmp))
        try:
            for n in world.nodes.values():
                n.start()
            wait_for("sessions", lambda: all(world.bird.established(n.ip) for n in world.nodes.values()), 30)
            for i in range(args.trials):
                name = f"svc-{i}"
                ip = "192.0.2.5"
                t0 = time.monotonic()
                cluster.service(name, annotations={"metallb.io/loadBalancerIPs": ip})
                seen = until(lambda: len(world.next_hops(f"{ip}/32")) == 2)
                created.append(time.monotonic() - t0 if seen == seen else seen)
                t0 = time.monotonic()
                cluster.core.delete_namespaced_service(name, "default")
                gone = until(lambda: world.next_hops(f"{ip}/32") == [])
                deleted.append(time.monotonic() - t0 if gone == gone else gone)
        finally:
            for n in world.nodes.values():
                n.kill()
            world.bird.stop()
    print("\nBGP through the API (2 speaker nodes → BIRD; allocation, watch, UPDATE, BIRD's table)")
    print(f"  Service created → route from both nodes at BIRD   {fmt(created)}")
    print(f"  Service deleted → withdrawn at BIRD               {fmt(deleted)}")
    print("  goal: withdraw ≤ 50 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
