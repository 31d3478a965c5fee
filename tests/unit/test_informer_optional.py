"""A kind read only to refuse its use (BFDProfile) may have no CRD in the cluster: a 404 is then an empty, synced
cache — the speaker syncs — while any other kind's 404 keeps the informer unsynced, as before (no API, no sockets)."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from speaker.kube.informer import Informer, ResourceKind
from speaker.kube.kinds import speaker_kinds


def not_found(api: Any) -> Any:
    def lister(**_: Any) -> Any:
        raise ApiException(status=404, reason="Not Found")

    return lister


def run_once(optional: bool) -> tuple[Informer, list[str], list[float]]:
    synced: list[str] = []
    slept: list[float] = []
    box: dict[str, Informer] = {}

    def sleep(seconds: float) -> bool:  # one round, then stop
        slept.append(seconds)
        box["inf"].stop()
        return True

    inf = box["inf"] = Informer(
        ResourceKind("bfdprofiles", not_found, optional=optional),
        None,  # type: ignore[arg-type]
        sink=lambda *a: None,
        on_synced=synced.append,
        sleep=sleep,
        backoff=(0.2, 30.0),
    )
    inf.run()
    return inf, synced, slept


def test_a_missing_optional_kind_is_an_empty_synced_cache():
    inf, synced, slept = run_once(optional=True)
    assert (inf.synced, inf.healthy, inf.items(), synced) == (True, True, [], ["bfdprofiles"])
    assert slept == [30.0]  # looked for again at the backoff maximum


def test_any_other_kind_stays_unsynced():
    inf, synced, _ = run_once(optional=False)
    assert (inf.synced, inf.healthy, synced) == (False, False, [])
    assert inf.last_error is not None and "404" in inf.last_error


def test_only_bfdprofiles_is_optional():
    assert [k.name for k in speaker_kinds("metallb-system") if k.optional] == ["bfdprofiles"]
