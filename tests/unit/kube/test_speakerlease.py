"""The pure Lease view (speaker/kube/speakerlease.py): who is alive, whose speaker is gone — with a fake clock — and the
config knobs that set its timers."""

from __future__ import annotations

import pytest

from speaker.config.node import ConfigError, build_speaker_config
from speaker.kube.speakerlease import LAYER2_LABEL, LeaseView, lease_name, node_of


def lease(node: str, rv: int, *, holder: str | None = None, duration: int = 6, layer2: bool = True) -> dict:
    return {
        "metadata": {
            "name": lease_name(node),
            "resourceVersion": str(rv),
            "labels": {LAYER2_LABEL: "true" if layer2 else "false"},
        },
        "spec": {"holderIdentity": node if holder is None else holder, "leaseDurationSeconds": duration},
    }


def test_names_round_trip_and_other_leases_are_ignored():
    assert node_of(lease_name("worker-1")) == "worker-1"
    assert node_of("baremetal-lb-allocator") is None
    v = LeaseView("a")
    v.observe(
        [
            {
                "metadata": {"name": "baremetal-lb-allocator", "resourceVersion": "1"},
                "spec": {"holderIdentity": "b", "leaseDurationSeconds": 15},
            }
        ],
        now=0,
    )
    assert v.alive(0) == {"a"}


def test_alive_until_the_duration_passes_without_a_change_by_our_clock():
    v = LeaseView("a")
    v.observe([lease("a", 1), lease("b", 2)], now=100)
    assert v.alive(105.9) == {"a", "b"}
    v.observe([lease("a", 3), lease("b", 2)], now=105.9)  # b's record unchanged: its clock keeps running
    assert v.alive(106) == {"a"}
    v.observe([lease("a", 3), lease("b", 4)], now=107)  # b renews again: alive at once
    assert v.alive(107) == {"a", "b"} and v.alive(112.9) == {"a", "b"} and v.alive(113) == {"a"}
    assert v.next_expiry(107) == 113


def test_the_holders_duration_counts_not_ours():
    v = LeaseView("a")
    v.observe([lease("b", 1, duration=20)], now=0)
    assert "b" in v.alive(19.9) and "b" not in v.alive(20)


def test_released_lease_is_dead_at_once_and_leaving_drops_ourselves():
    v = LeaseView("a")
    v.observe([lease("b", 1)], now=0)
    v.observe([lease("b", 2, holder="")], now=1)
    assert v.alive(1) == {"a"}
    v.leave()
    assert v.alive(1) == frozenset()


def test_layer2_only_counts_speakers_that_answer_arp():
    v = LeaseView("a")
    v.observe([lease("b", 1), lease("c", 2, layer2=False)], now=0)
    assert v.alive(1, layer2_only=True) == {"a", "b"}
    assert v.alive(1) == {"a", "b", "c"}


def test_blind_freezes_the_view_and_sight_regained_gives_everyone_a_fresh_duration():
    v = LeaseView("a")
    v.observe([lease("b", 1)], now=0)
    v.lose_sight(2)  # the API went away: nobody renews, nobody can see it
    assert v.alive(60) == {"a", "b"}, "a death declared while blind"
    assert not v.gone("b", 60, node_exists=False, grace=6)
    v.observe([lease("b", 1)], now=60)  # back; b has not renewed yet
    assert v.alive(65.9) == {"a", "b"}
    assert v.alive(66) == {"a"}  # a full duration after sight came back, b really is silent


def test_before_the_first_observation_only_ourselves_and_nobody_gone():
    v = LeaseView("a")
    assert not v.observed and v.blind
    assert v.alive(100) == {"a"}
    assert not v.gone("b", 100, node_exists=False, grace=6)


def test_gone_expired_released_missing_node_deleted_and_restart_within_the_duration():
    v = LeaseView("a")
    v.observe([lease("b", 1), lease("c", 1), lease("d", 1)], now=0)
    # b: killed -9, its Node still there → gone when its Lease runs out
    # c: restarts within the duration → never gone
    # d: stops cleanly (released) → gone a duration after the release, at once if its Node is deleted
    v.observe([lease("b", 1), lease("c", 2), lease("d", 2, holder="")], now=3)
    assert not v.gone("b", 5.9, node_exists=True, grace=6) and v.gone("b", 6, node_exists=True, grace=6)
    assert v.gone("b", 1, node_exists=False, grace=6) is False  # still renewing: a deleted Node is not enough
    assert v.gone("d", 3, node_exists=False, grace=6)
    assert not v.gone("d", 8.9, node_exists=True, grace=6) and v.gone("d", 9, node_exists=True, grace=6)
    v.observe([lease("b", 1), lease("c", 3, holder="")], now=4)  # c stops cleanly...
    v.observe([lease("b", 1), lease("c", 4)], now=6)  # ...and is back 2 s later
    assert not any(v.gone("c", t, node_exists=True, grace=6) for t in (6, 9, 11.9))
    assert not v.gone("a", 100, node_exists=False, grace=6), "never ourselves"
    # e: no Lease at all (deleted, or never had one): a grace from when we could first see
    assert not v.gone("e", 5, node_exists=True, grace=6) and v.gone("e", 6, node_exists=True, grace=6)
    v.observe([lease("b", 1)], now=7)  # c's Lease deleted at 7
    assert not v.gone("c", 12.9, node_exists=True, grace=6) and v.gone("c", 13, node_exists=True, grace=6)


def test_config_knobs_and_errors_name_field_and_value():
    cfg = build_speaker_config({"membership": {"lease_duration": "10s", "lease_renew_interval": "3s"}})
    assert (cfg.membership.lease_duration, cfg.membership.lease_renew_interval) == (10, 3)
    default = build_speaker_config({}).membership
    assert (default.lease_duration, default.lease_renew_interval) == (6, 2)
    for raw, message in [
        ({"lease_duration": "2500ms"}, "membership.lease_duration: '2500ms' must be whole seconds"),
        ({"lease_duration": "0s"}, "membership.lease_duration: '0s' must be positive"),
        (
            {"lease_renew_interval": "3s"},
            "membership.lease_renew_interval: 3s must be at most a third of membership.lease_duration (6s)",
        ),
        ({"lease_renew_interval": "soon"}, "membership.lease_renew_interval: 'soon' is not a duration"),
        ({"lease_durations": "6s"}, "membership.lease_durations: unknown setting"),
    ]:
        with pytest.raises(ConfigError) as exc:
            build_speaker_config({"membership": raw})
        assert message in str(exc.value)
