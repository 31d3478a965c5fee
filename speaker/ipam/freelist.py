"""Free space of one pool in one address family, as sorted disjoint integer intervals.

Why intervals and not a set of used addresses: the lowest free address must be found
without looking at addresses one by one. With a free-interval list it is simply the
start of the first interval (plus at most two steps to skip ``.255``/``.0`` when the pool
avoids buggy IPs), so a /64 costs the same as a /24 and the 5,000th allocation costs the
same as the first. Taking or returning one address is a ``bisect`` plus one list
insert/delete (a C-level ``memmove``).

Invariant: every interval in the list holds at least one *usable* address (for a pool
with ``avoid_buggy_ips``, an address not ending in .0/.255). Pieces that hold only buggy
addresses are dropped as soon as they appear, which is what keeps "lowest free" O(1).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable


def buggy_count(first: int, last: int, version: int) -> int:
    """How many IPv4 addresses in ``[first, last]`` end in .0 or .255, computed arithmetically."""
    if version != 4 or first > last:
        return 0

    def congruent(residue: int) -> int:
        return (last - residue) // 256 - (first - 1 - residue) // 256

    return congruent(0) + congruent(255)


def first_usable(first: int, last: int, version: int, avoid_buggy: bool) -> int | None:
    """The lowest address in ``[first, last]`` the pool may hand out, or None."""
    candidate = first
    if avoid_buggy and version == 4:
        low = candidate & 0xFF
        if low == 255:
            candidate += 2
        elif low == 0:
            candidate += 1
    return candidate if candidate <= last else None


class FreeList:
    """Free, usable addresses of one (pool, family); see the module docstring for the invariant."""

    __slots__ = ("version", "avoid_buggy", "_starts", "_ends", "capacity")

    def __init__(self, version: int, owned: Iterable[tuple[int, int]], avoid_buggy: bool) -> None:
        """``owned``: sorted, disjoint ``(first, last)`` intervals this pool owns in this family."""
        self.version = version
        self.avoid_buggy = avoid_buggy and version == 4
        self._starts: list[int] = []
        self._ends: list[int] = []
        capacity = 0
        for first, last in owned:
            capacity += last - first + 1
            if self.avoid_buggy:
                capacity -= buggy_count(first, last, version)
            self._append(first, last)
        #: usable addresses owned by the pool in this family (free or not); fixed for the list's life
        self.capacity = capacity

    def _usable(self, first: int, last: int) -> bool:
        return first_usable(first, last, self.version, self.avoid_buggy) is not None

    def _append(self, first: int, last: int) -> None:
        if not self._usable(first, last):
            return
        if self._ends and self._ends[-1] + 1 == first:
            self._ends[-1] = last
        else:
            self._starts.append(first)
            self._ends.append(last)

    def lowest(self) -> int | None:
        """The lowest free usable address, or None when the pool is full in this family."""
        if not self._starts:
            return None
        return first_usable(self._starts[0], self._ends[0], self.version, self.avoid_buggy)

    def is_free(self, value: int) -> bool:
        i = bisect_right(self._starts, value) - 1
        return i >= 0 and value <= self._ends[i]

    def take(self, value: int) -> None:
        """Mark ``value`` used. Taking an address that is not free is a caller bug (ValueError)."""
        i = bisect_right(self._starts, value) - 1
        if i < 0 or value > self._ends[i]:
            raise ValueError(f"address {value} is not free")
        first, last = self._starts[i], self._ends[i]
        del self._starts[i]
        del self._ends[i]
        pieces = []
        if first <= value - 1 and self._usable(first, value - 1):
            pieces.append((first, value - 1))
        if value + 1 <= last and self._usable(value + 1, last):
            pieces.append((value + 1, last))
        for offset, (a, b) in enumerate(pieces):
            self._starts.insert(i + offset, a)
            self._ends.insert(i + offset, b)

    def give(self, value: int) -> None:
        """Return ``value`` (which the pool owns and which is usable) to the free list, merging neighbours."""
        i = bisect_left(self._starts, value)
        if i < len(self._starts) and self._starts[i] == value or (i > 0 and self._ends[i - 1] >= value):
            raise ValueError(f"address {value} is already free")
        merge_left = i > 0 and self._ends[i - 1] == value - 1
        merge_right = i < len(self._starts) and self._starts[i] == value + 1
        if merge_left and merge_right:
            self._ends[i - 1] = self._ends[i]
            del self._starts[i]
            del self._ends[i]
        elif merge_left:
            self._ends[i - 1] = value
        elif merge_right:
            self._starts[i] = value
        else:
            self._starts.insert(i, value)
            self._ends.insert(i, value)

    def intervals(self) -> list[tuple[int, int]]:
        """A copy of the free intervals (for tests and debugging)."""
        return list(zip(self._starts, self._ends, strict=True))
