"""The free-interval list against a brute-force model of a small range, and the buggy-IP arithmetic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.ipam.freelist import FreeList, buggy_count
from speaker.ipam.ranges import is_buggy_ip

BASE = 0x0A000000 + 250  # 10.0.0.250: ranges below cross .255/.0 boundaries


@st.composite
def owned_intervals(draw: st.DrawFn) -> list[tuple[int, int]]:
    cuts = sorted(draw(st.sets(st.integers(0, 700), min_size=2, max_size=12)))
    pairs = [(BASE + cuts[i], BASE + cuts[i + 1] - 1) for i in range(0, len(cuts) - 1, 2) if cuts[i] < cuts[i + 1]]
    return pairs


@settings(max_examples=300, deadline=None)
@given(
    owned=owned_intervals(),
    avoid=st.booleans(),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), max_size=60),
)
def test_freelist_matches_a_set_model(owned: list[tuple[int, int]], avoid: bool, ops: list[tuple[bool, int]]) -> None:
    usable = sorted(v for a, b in owned for v in range(a, b + 1) if not (avoid and is_buggy_ip(v, 4)))
    free = FreeList(4, owned, avoid)
    model = set(usable)
    assert free.capacity == len(usable)
    for take, pick in ops:
        if take:
            lowest = free.lowest()
            assert lowest == (min(model) if model else None)
            if lowest is not None:
                free.take(lowest)
                model.discard(lowest)
        elif usable:
            value = usable[pick % len(usable)]
            if value in model:
                free.take(value)
                model.discard(value)
            else:
                free.give(value)
                model.add(value)
        assert [v for a, b in free.intervals() for v in range(a, b + 1) if not (avoid and is_buggy_ip(v, 4))] == sorted(
            model
        )
        for a, b in free.intervals():  # the invariant that keeps lowest() O(1)
            assert any(not (avoid and is_buggy_ip(v, 4)) for v in range(a, b + 1))


@given(first=st.integers(0, 2**32 - 1), span=st.integers(0, 2000))
def test_buggy_count_is_arithmetic_and_exact(first: int, span: int) -> None:
    last = min(first + span, 2**32 - 1)
    assert buggy_count(first, last, 4) == sum(1 for v in range(first, last + 1) if is_buggy_ip(v, 4))
    assert buggy_count(first, last, 6) == 0


def test_huge_ranges_cost_nothing_to_build() -> None:
    free = FreeList(6, [(0, 2**64 - 1)], avoid_buggy=False)
    assert free.capacity == 2**64
    free.take(0)
    assert free.lowest() == 1
    eight = FreeList(4, [(0x0A000000, 0x0AFFFFFF)], avoid_buggy=True)
    assert eight.capacity == 2**24 - 2 * 2**16
    assert eight.lowest() == 0x0A000001
