"""One view of the cluster per generation: the config built once (with the Secrets, one last-good memory), every
Service parsed once and shared, the view handed out again while nothing changed."""

from __future__ import annotations

from speaker.controllers import views as view_source
from speaker.controllers.views import ViewSource
from speaker.ipam.service import ServiceStatus
from speaker.plan import clusterview
from tests.unit.controllers.world import Cache, node, peer, pool, secret, service, world


def test_a_password_secret_peer_is_accepted_when_its_secret_exists() -> None:
    caches = world(
        ipaddresspools=Cache(pool("lan", "198.51.100.240/29")),
        bgppeers=Cache(peer("r1", "192.0.2.1", passwordSecret={"name": "bgp-auth"})),
        secrets=Cache(secret("bgp-auth", "s3cret")),
    )
    cfg = ViewSource(caches, load_balancer_class=None).config()
    assert cfg.errors == ()
    assert cfg.peers["r1"].password.reveal() == "s3cret"  # type: ignore[union-attr]


def test_the_config_is_built_again_only_when_an_input_changed(monkeypatch) -> None:
    built = []
    real = view_source.build_config
    monkeypatch.setattr(view_source, "build_config", lambda *a, **kw: built.append(1) or real(*a, **kw))
    pools = Cache(pool("lan", "198.51.100.240/29"))
    views = ViewSource(world(ipaddresspools=pools), load_balancer_class=None)
    first = views.config()
    assert views.config() is first and views.view().config is first
    assert len(built) == 1
    pools.put(pool("lan", "198.51.100.248/29"))
    assert views.config() is not first and len(built) == 2


def test_a_pool_edited_into_an_error_keeps_its_last_good_definition_for_everyone() -> None:
    pools = Cache(pool("lan", "198.51.100.240/29"))
    views = ViewSource(world(ipaddresspools=pools), load_balancer_class=None)
    good = views.config().pools["lan"]
    pools.put(pool("lan", "198.51.100.250-198.51.100.240"))  # ends before it starts
    cfg = views.config()
    assert cfg.pools["lan"] == good and cfg.errors
    assert views.view().config.pools["lan"] == good  # the Layer 2 / BGP view: the same memory


def test_the_same_view_while_nothing_changed_and_each_service_parsed_once(monkeypatch) -> None:
    parsed = []
    real = clusterview.service_view
    counting = lambda svc, lb: parsed.append(svc) or real(svc, lb)  # noqa: E731
    monkeypatch.setattr(clusterview, "service_view", counting)  # a view's parse
    monkeypatch.setattr(view_source, "service_view", counting)  # ViewSource.service's own
    services = Cache(*(service(f"s{i}", f"198.51.100.{240 + i}", pool_name="lan") for i in range(3)))
    views = ViewSource(world(services=services, nodes=Cache(node("n1", "192.0.2.11"))), load_balancer_class=None)
    v1 = views.view()
    assert [a.key for a in v1.addressed] == ["default/s0", "default/s1", "default/s2"]
    assert views.view() is v1 and len(parsed) == 3
    changed = service("s1", "198.51.100.250", pool_name="lan")
    services.put(changed)
    v2 = views.view()
    assert v2 is not v1 and [a.ips for a in v2.addressed if a.key == "default/s1"] == [("198.51.100.250",)]
    assert parsed[3:] == [changed]  # only the changed one parsed again
    assert views.service("default/s1").live == ServiceStatus(("198.51.100.250",), "lan")  # type: ignore[union-attr]
    assert parsed[4:] == []  # a per-key read reuses the view's parse
    assert views.service("default/gone") is None


def test_services_of_another_class_are_seen_but_not_ours() -> None:
    services = Cache(service("mine", "198.51.100.240"), service("theirs", "198.51.100.241", loadBalancerClass="x"))
    view = ViewSource(world(services=services), load_balancer_class=None).view()
    assert {k: s.ours for k, s in view.services.items()} == {"default/mine": True, "default/theirs": False}
    assert [a.key for a in view.addressed] == ["default/mine"]
    assert view.services["default/theirs"].live.ips == ("198.51.100.241",)
