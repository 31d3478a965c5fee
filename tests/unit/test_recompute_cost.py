"""What made allocation 3.7x slower (issue 10) stays fixed: work per batch of changes follows what changed.

These check *which* work is done (counted calls, identical results), never how long it takes; the figures are
in bench/allocate_services.py and bench/quick.py.
"""

from __future__ import annotations

import ipaddress

from speaker.bgp.rib import Route
from speaker.config.cluster import build_config
from speaker.controllers.allocation import AllocationController
from speaker.controllers.reconciler import Signal
from speaker.controllers.views import ViewSource
from speaker.kube.kinds import Caches
from speaker.plan.announce import addressed_services, advertised_peers, bgp_plan

NS = "metallb-system"


def meta(name, ns=NS, **extra):
    return {"name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z", "resourceVersion": "1", **extra}


def pool(name, addresses, status=None):
    obj = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": meta(name),
        "spec": {"addresses": addresses},
    }
    if status is not None:
        obj["status"] = status
    return obj


def bgp_adv(name, **spec):
    return {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": meta(name), "spec": spec}


def peer(name, address):
    return {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": meta(name),
        "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": address},
    }


def service(name, ips=(), pool_name="p", local=False):
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, ns="default"),
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local" if local else "Cluster",
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]} if ips else {}},
    }
    if ips:
        svc["metadata"]["annotations"] = {"metallb.io/ip-allocated-from-pool": pool_name}
    return svc


class Cache:
    def __init__(self, objs=()):
        self.objs = {
            f"{o['metadata'].get('namespace')}/{o['metadata']['name']}"
            if o["metadata"].get("namespace")
            else o["metadata"]["name"]: o
            for o in objs
        }
        self.listed = 0

    def get(self, key):
        return self.objs.get(key)

    def items(self):
        self.listed += 1
        return list(self.objs.values())

    def keys(self):
        return list(self.objs)


class Recorder:
    """Stands in for an Applier / EventRecorder: records wishes."""

    def __init__(self):
        self.wishes = []

    def desire(self, key, want):
        self.wishes.append((key, want))

    def forget(self, key):
        pass

    def set_enabled(self, enabled):
        pass

    def record(self, event):
        self.wishes.append(event)


def controller(caches):
    status, pool_status, events = Recorder(), Recorder(), Recorder()
    ctl = AllocationController(
        caches=Caches(**caches),
        views=ViewSource(Caches(**caches), load_balancer_class=None),
        synced=lambda: True,
        status=status,
        pool_status=pool_status,
        events=events,
        namespace=NS,
    )
    ctl.handle([(Signal.LEADER, True)])
    return ctl, status


def caches_with(services, pools):
    kinds = (
        "ipaddresspools",
        "l2advertisements",
        "bgpadvertisements",
        "bgppeers",
        "communities",
        "namespaces",
        "services",
    )
    c = {k: Cache() for k in kinds}
    c["services"] = Cache(services)
    c["ipaddresspools"] = Cache(pools)
    return c


def test_our_own_pool_status_write_does_not_recheck_every_service():
    c = caches_with([service(f"s{i}") for i in range(20)], [pool("p", ["198.18.0.0/24"])])
    ctl, status = controller(c)
    assert len(status.wishes) == 20  # every Service got its address at the rebuild
    status.wishes.clear()
    # The pool status write (what the controller does after every batch) comes back as a MODIFIED pool.
    c["ipaddresspools"].objs[f"{NS}/p"] = pool("p", ["198.18.0.0/24"], status={"assignedIPv4": 20})
    ctl.handle([("ipaddresspools", f"{NS}/p")])
    assert status.wishes == []


def test_a_real_pool_change_still_rechecks_every_service():
    c = caches_with([service(f"s{i}") for i in range(20)], [pool("p", ["198.18.0.0/24"])])
    ctl, status = controller(c)
    status.wishes.clear()
    c["ipaddresspools"].objs[f"{NS}/p"] = pool("p", ["198.18.1.0/24"])  # every address now outside the pool
    ctl.handle([("ipaddresspools", f"{NS}/p")])
    moved = {key: want.ips for key, want in status.wishes}
    assert len(moved) == 20
    assert all(ipaddress.ip_address(ips[0]) in ipaddress.ip_network("198.18.1.0/24") for ips in moved.values())


def _brute_force_advertised(services, routes):
    """The definition: a Service is advertised to a peer when a route to that peer covers one of its addresses."""
    out = {}
    for svc in services:
        peers = tuple(
            sorted(
                p for p, rs in routes.items() if any(ipaddress.ip_address(ip) in r.prefix for ip in svc.ips for r in rs)
            )
        )
        if peers:
            out[svc.key] = peers
    return out


def test_bgp_plan_and_advertised_peers_agree_with_the_definition_with_aggregates_and_memo():
    cfg = build_config(
        [pool("p", ["198.18.0.0/24", "2001:db8::/120"])],
        (),
        [bgp_adv("host", peers=["r1"]), bgp_adv("agg", aggregationLength=28, aggregationLengthV6=124, peers=["r2"])],
        [peer("r1", "192.0.2.1"), peer("r2", "192.0.2.2"), peer("r3", "192.0.2.3")],
    )
    assert not cfg.errors, cfg.errors
    services = addressed_services(
        [
            service("a", ["198.18.0.1"]),
            service("b", ["198.18.0.20", "2001:db8::20"]),
            service("c", ["198.18.0.2"], local=True),  # no ready endpoint here: advertises nothing itself
            service("d", ["198.18.0.200"], local=True),
        ],
        None,
    )
    peers = list(cfg.peers.values())
    plain = bgp_plan(services, cfg, "n1", {}, {}, peers)
    memo: dict = {}
    first = bgp_plan(services, cfg, "n1", {}, {}, peers, previous={}, memo=memo)
    again = bgp_plan(services, cfg, "n1", {}, {}, peers, previous=memo, memo={})
    assert plain == first == again
    assert {str(r.prefix) for r in plain["r2"]} == {"198.18.0.0/28", "198.18.0.16/28", "2001:db8::20/124"}
    assert plain["r3"] == frozenset()
    got = advertised_peers(services, plain)
    assert got == _brute_force_advertised(services, plain)
    # c is covered by a's and b's /28 aggregate at r2 (and nothing at r1); d by nothing.
    assert got["default/c"] == ("r2",) and "default/d" not in got
    assert advertised_peers(services, {}) == {}
    assert advertised_peers(services, {"r1": [Route(ipaddress.ip_network("198.18.0.1/32"))]}) == {"default/a": ("r1",)}


def test_no_bgp_peer_means_no_route_and_no_service_read():
    cfg = build_config([pool("p", ["198.18.0.0/24"])], (), [bgp_adv("host")])
    services = addressed_services([service("a", ["198.18.0.1"])], None)
    assert bgp_plan(services, cfg, "n1", {}, {}, []) == {}


def test_the_rebuild_reads_each_service_once(monkeypatch):
    """Ordering the replay needs each Service's request, and deciding uses that same reading: reading every
    Service twice was a twentieth of a cold start at 10,000 Services."""
    from speaker.controllers import allocation

    read = []
    real = allocation.request_for
    monkeypatch.setattr(allocation, "request_for", lambda svc, labels: read.append(svc) or real(svc, labels))
    held = [service(f"held{i}", [f"198.18.0.{i + 1}"]) for i in range(5)]
    new = [service(f"new{i}") for i in range(5)]
    c = caches_with(held + new, [pool("p", ["198.18.0.0/24"])])
    ctl, status = controller(c)
    assert sorted(s["metadata"]["name"] for s in read) == sorted(s["metadata"]["name"] for s in held + new)
    wished = dict(status.wishes)
    assert all(wished[f"default/held{i}"].ips == (f"198.18.0.{i + 1}",) for i in range(5))  # kept
    assert len({w.ips for w in wished.values()}) == 10
