"""The daemon's typed wiring: every kind a controller reacts to is a watched cache, and signals are not kinds."""

from __future__ import annotations

import pytest

from speaker.controllers.allocation import CONFIG_KINDS
from speaker.controllers.bgp import BGPController
from speaker.controllers.layer2 import Layer2Controller
from speaker.controllers.reconciler import Reconciler, Signal
from speaker.controllers.statusgc import StatusCollector
from speaker.kube.kinds import KIND_NAMES, METALLB_VERSIONS, Caches, speaker_kinds


@pytest.mark.parametrize("controller", [Layer2Controller, BGPController, StatusCollector])
def test_every_relevant_kind_is_a_cache(controller: type[Reconciler]) -> None:
    assert controller.relevant <= KIND_NAMES


def test_the_allocation_controllers_config_kinds_are_caches() -> None:
    assert CONFIG_KINDS <= KIND_NAMES


def test_every_watched_kind_has_a_field_and_every_field_a_watch() -> None:
    watched = {k.name for k in speaker_kinds("metallb-system")} | {"leases"}
    assert watched == KIND_NAMES
    assert set(METALLB_VERSIONS) <= KIND_NAMES


def test_a_missing_informer_is_refused_by_name() -> None:
    informers = {name: object() for name in KIND_NAMES - {"secrets"}}
    with pytest.raises(ValueError, match="no informer for secrets"):
        Caches.of(informers)  # type: ignore[arg-type]


def test_synced_wakes_a_reconciler_and_no_kind_named_like_the_old_sentinel_does() -> None:
    r = Reconciler(synced=lambda: True)
    r.notify("__synced__", None, "")
    assert not r._dirty.is_set()
    r.signal(Signal.SYNCED)
    assert r._dirty.is_set()


def test_a_wake_event_built_before_the_reconciler_is_its_poke() -> None:
    import threading

    wake = threading.Event()
    r = Reconciler(synced=lambda: True, wake=wake)
    wake.set()  # what the membership view does before the controller exists
    assert r._dirty.is_set()
