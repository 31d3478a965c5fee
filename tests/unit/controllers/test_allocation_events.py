"""The allocation controller's config Events: only real errors, and the config it reads includes the Secrets."""

from __future__ import annotations

from speaker.controllers.allocation import AllocationController
from speaker.controllers.reconciler import Signal
from speaker.controllers.views import ViewSource
from tests.unit.controllers.world import NS, Cache, Recorder, peer, pool, secret, service, world


def leader(caches) -> tuple[AllocationController, Recorder]:
    rec = Recorder()
    ctl = AllocationController(
        caches=caches,
        views=ViewSource(caches, load_balancer_class=None),
        synced=lambda: True,
        status=rec,
        pool_status=Recorder(),
        events=rec,  # type: ignore[arg-type]
        namespace=NS,
    )
    ctl.handle([(Signal.LEADER, True)])
    return ctl, rec


def test_no_invalid_config_warning_for_a_peer_whose_password_secret_exists() -> None:
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        bgppeers=Cache(peer("r1", "192.0.2.1", passwordSecret={"name": "bgp-auth"})),
        secrets=Cache(secret("bgp-auth", "s3cret")),
        services=Cache(service("web")),
    )
    ctl, rec = leader(caches)
    assert [(e.reason, e.involved[1]) for e in rec.events] == [("IPAllocated", "Service")]
    assert ctl.snapshot()["config_errors"] == []


def test_a_peer_whose_secret_is_missing_gets_one_invalid_config_warning_naming_it() -> None:
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        bgppeers=Cache(peer("r1", "192.0.2.1", passwordSecret={"name": "bgp-auth"})),
    )
    ctl, rec = leader(caches)
    ctl.handle([("bgppeers", f"{NS}/r1")])  # seen again: not said twice
    assert [(e.type, e.reason, e.involved[:4], e.message) for e in rec.events] == [
        (
            "Warning",
            "InvalidConfig",
            ("metallb.io/v1beta2", "BGPPeer", NS, "r1"),
            "BGPPeer r1: spec.passwordSecret.name: Secret 'bgp-auth' not found",
        )
    ]


def test_allocation_failed_is_said_once_while_it_lasts_and_again_after_a_success() -> None:
    services = Cache(service("web", loadBalancerIP="192.0.2.9"))  # outside every pool
    caches = world(ipaddresspools=Cache(pool("lan", "198.51.100.240/29")), services=services)
    ctl, rec = leader(caches)
    services.put(service("web", loadBalancerIP="192.0.2.9"))  # any change: decided again, same failure
    ctl.handle([("services", "default/web")])
    assert [e.reason for e in rec.events] == ["AllocationFailed"]
    services.put(service("web"))  # fixed: allocated
    ctl.handle([("services", "default/web")])
    services.put(service("web", "198.51.100.240", pool_name="lan", loadBalancerIP="192.0.2.9"))  # broken again
    ctl.handle([("services", "default/web")])
    assert [e.reason for e in rec.events] == ["AllocationFailed", "IPAllocated", "AllocationFailed", "ClearAssignment"]
    assert ctl.snapshot()["unallocated"] == ["default/web"]


def test_a_pool_running_out_is_said_once_on_the_pool_and_again_after_it_had_room() -> None:
    """The Service that takes a pool's last address succeeds: without the pool's own Event nothing says the pool
    is full until a later Service stays pending."""
    services = Cache(service("a"))
    caches = world(ipaddresspools=Cache(pool("tiny", "198.51.100.240/31")), services=services)  # two addresses
    ctl, rec = leader(caches)
    assert [e.reason for e in rec.events] == ["IPAllocated"]
    services.put(service("b"))
    ctl.handle([("services", "default/b")])
    services.put(service("a", "198.51.100.240", pool_name="tiny"))  # our own status write coming back
    ctl.handle([("services", "default/a")])
    full = [e for e in rec.events if e.reason == "PoolExhausted"]
    assert [(e.type, e.involved[:4], e.message) for e in full] == [
        (
            "Warning",
            ("metallb.io/v1beta1", "IPAddressPool", NS, "tiny"),
            "IPAddressPool tiny: every IPv4 address (2 of 2) is assigned: the next Service asking for one "
            "stays pending "
            "(add addresses to the pool, or free some)",
        )
    ]
    services.delete("default/b")  # room again
    ctl.handle([("services", "default/b")])
    services.put(service("c"))  # full again: news again
    ctl.handle([("services", "default/c")])
    assert [e.reason for e in rec.events if e.reason == "PoolExhausted"] == ["PoolExhausted", "PoolExhausted"]
