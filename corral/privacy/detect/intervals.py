"""Sorted, disjoint [start, end) intervals with logarithmic overlap queries.

Choosing non-overlapping spans by comparing each candidate with every span already chosen is
quadratic: 14,000 e-mail addresses in 100 KB took seconds. Bisecting sorted bounds keeps it
O(n log n) (the list insert is a memmove, microseconds even for tens of thousands of spans).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right


class Disjoint:
    """A set of non-overlapping intervals; `add` trusts the caller to keep them disjoint."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def _between(self, start: int, end: int) -> range:
        """Indexes of the intervals overlapping [start, end)."""
        return range(bisect_right(self._ends, start), bisect_left(self._starts, end))

    def overlaps(self, start: int, end: int) -> bool:
        return len(self._between(start, end)) > 0

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of [start, end) no interval covers, in order."""
        pieces: list[tuple[int, int]] = []
        pos = start
        for i in self._between(start, end):
            if self._starts[i] > pos:
                pieces.append((pos, self._starts[i]))
            pos = max(pos, self._ends[i])
        if pos < end:
            pieces.append((pos, end))
        return pieces

    def add(self, start: int, end: int) -> None:
        i = bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
