"""The pure lease rule: expiry is judged by our own clock since we last saw the record change."""

from speaker.kube.lease import Observation, may_acquire


def test_free_or_released_or_ours_is_taken_at_once():
    assert may_acquire(None, "a", now=0, duration=15)
    assert may_acquire(Observation("", "7", seen_at=100), "a", now=100, duration=15)
    assert may_acquire(Observation("a", "7", seen_at=100), "a", now=100, duration=15)


def test_someone_elses_lease_waits_for_the_full_duration_on_our_clock():
    obs = Observation("b", "7", seen_at=100)
    assert not may_acquire(obs, "a", now=114.9, duration=15)
    assert may_acquire(obs, "a", now=115, duration=15)
