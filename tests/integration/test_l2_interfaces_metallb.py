"""MetalLB's Layer 2 interface rules end to end: a real speaker in a node namespace, the API emulator, a client.

- An address no interface of the node holds (a VLAN the node joins at Layer 2 only) is answered on every usable
  interface, as MetalLB does, and the Service gets one ``AnnouncedOnAllInterfaces`` Event per change.
- MetalLB's ``metallb-excludel2`` ConfigMap is read and watched: an edit takes the excluded interfaces out within
  seconds, a bad edit is refused (said in ``/status``) and the list in force stays, and excluding the last
  interface leaves the address unanswered.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import NS, Cluster, wait_for
from tests.l2world import ROOT, L2Lab, speakers_stopped
from tests.netlab import Lab

VLAN_POOL = "192.0.2.240-192.0.2.250"


@pytest.fixture
def world(kube_api, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[L2Lab]:
    with Lab() as lab:
        w = L2Lab(lab, kube_api, cluster, tmp_path, nodes=1)
        with speakers_stopped(w, request):
            yield w


def excludel2(cluster: Cluster, text: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "metallb-excludel2", "namespace": NS},
        "data": {"excludel2.yaml": text},
    }
    try:
        cluster.core.replace_namespaced_config_map("metallb-excludel2", NS, body)
    except Exception:  # noqa: BLE001 - not there yet
        cluster.core.create_namespaced_config_map(NS, body)


def row(world: L2Lab, ip: str) -> dict[str, Any] | None:
    l2 = ((world.nodes["node1"].status() or {}).get("layer2")) or {}
    return next((r for r in l2.get("addresses", []) if r["ip"] == ip), None)


def interfaces(world: L2Lab, ip: str) -> list[str] | None:
    r = row(world, ip)
    return r["interfaces"] if r and r["state"] == "announced" else None


def arping(world: L2Lab, ip: str) -> str | None:
    out = world.client.run(f"arping -c1 -w1 -I eth0 {ip}", check=False).stdout
    return out.split("bytes from ", 1)[1][:17] if "bytes from " in out else None


def test_every_interface_when_none_holds_the_vip_and_the_excludel2_configmap(world: L2Lab, cluster: Cluster):
    node = world.nodes["node1"]
    node.host.run("ip link add vx0 type veth peer name vx1")
    node.host.run("ip link set vx0 up")
    node.host.run("ip link set vx1 up")
    world.client.add_address("192.0.2.20/24")
    cluster.pool("vlan", [VLAN_POOL])
    cluster.custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        NS,
        "l2advertisements",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "vlan"},
            "spec": {"ipAddressPools": ["vlan"]},
        },
    )
    world.start(backends=False)
    ex = (node.status() or {})["layer2"]["excluded_interfaces"]
    assert ex["source"].startswith("built-in default") and "^veth.*" in ex["patterns"] and ex["error"] is None

    cluster.service("web", annotations={"metallb.io/address-pool": "vlan"})
    vip = cluster.wait_ips("web")[0]
    assert vip == "192.0.2.240"
    # node1 has no address in 192.0.2.0/24: every usable interface answers, and the Service is told once
    wait_for("every interface to answer", lambda: interfaces(world, vip) == ["eth0", "vx0", "vx1"], timeout=15)
    assert row(world, vip)["all_interfaces"] is True
    ev = cluster.wait_event("web", "AnnouncedOnAllInterfaces")
    assert ev["type"] == "Normal" and "(eth0, vx0, vx1)" in ev["message"] and 'node "node1"' in ev["message"]
    assert arping(world, vip) == node.host.mac
    shown = node.host.run(
        [sys.executable, "-m", "speaker", "status", "--url", f"http://127.0.0.1:{node.port}"], cwd=ROOT
    ).stdout
    assert "eth0, vx0, vx1  (default/web)  (every interface: none holds its subnet)" in shown, shown
    assert "never on interfaces matching: ^docker.*, ^cbr.*" in shown and "(built-in default" in shown, shown
    wait_for(
        "the ServiceL2Status to name them",
        lambda: [n for _, _, n in cluster.announcements("servicel2statuses", "web")] == [["eth0", "vx0", "vx1"]],
    )

    # MetalLB's ConfigMap, created: the listed interfaces stop answering, the Event says the new set once
    excludel2(cluster, 'announcedInterfacesToExclude: ["^vx"]\n')
    wait_for("vx0, vx1 excluded", lambda: interfaces(world, vip) == ["eth0"], timeout=10)
    wait_for(
        "a second Event naming eth0 alone",
        lambda: any("(eth0)" in e["message"] for e in cluster.events("web", reason="AnnouncedOnAllInterfaces")),
        timeout=10,
    )
    assert len(cluster.events("web", reason="AnnouncedOnAllInterfaces")) == 2
    assert arping(world, vip) == node.host.mac
    ex = (node.status() or {})["layer2"]["excluded_interfaces"]
    assert ex == {"source": f"ConfigMap {NS}/metallb-excludel2", "patterns": ["^vx"], "error": None}

    # a pattern Go's regexp (and Python's) refuses: refused whole, said, the list in force stays
    excludel2(cluster, 'announcedInterfacesToExclude: ["^vx", "^eth0$", "eth[0"]\n')
    wait_for(
        "the error in /status", lambda: (node.status() or {})["layer2"]["excluded_interfaces"]["error"], timeout=10
    )
    err = (node.status() or {})["layer2"]["excluded_interfaces"]["error"]
    assert (
        "ConfigMap metallb-system/metallb-excludel2: data.excludel2.yaml: announcedInterfacesToExclude[2]: "
        "'eth[0' is not a valid regular expression"
    ) in err
    assert interfaces(world, vip) == ["eth0"] and arping(world, vip) == node.host.mac
    assert node.log.read_text().count("'eth[0' is not a valid regular expression") == 1, "not said once"

    # the last interface excluded: nobody answers for the address any more
    excludel2(cluster, 'announcedInterfacesToExclude: ["^vx", "^eth0$"]\n')
    wait_for("eth0 excluded too", lambda: (r := row(world, vip)) is not None and r["state"] == "pending", timeout=10)
    assert (node.status() or {})["layer2"]["excluded_interfaces"]["error"] is None
    assert arping(world, vip) is None
