"""Atomic check-and-reserve over several counters at once: what rate limits and budgets stand on.

A request reserves on every meter that applies to it (its key's requests per minute, its
team's dollars today, its route's tokens per minute...) all at once or not at all, so two
replicas can never both take the last dollar: with Redis, one Lua script does the check and
the increments in one step on the server; in process, no ``await`` separates them.

Two kinds of meter:

* **Sliding window** (``window_s`` > 0): the window is cut into ``BUCKETS`` buckets and the
  meter counts the buckets still inside it, so at any moment the last ``window_s`` seconds
  hold at most the limit (within one bucket's share at the window's trailing edge: 1/60).
* **Period** (``window_s`` == 0): one counter per calendar period (the caller puts the
  period in the key), which must exist before it can be reserved on: a missing one (a new
  day, a Redis that lost its data, a new process) is reported in ``Verdict.missing`` and
  nothing is reserved, so the caller can seed it from the durable request records
  (:meth:`MeterStore.seed`, set only if still missing) and ask again.

Settling (:meth:`MeterStore.adjust`) adds the difference between what was reserved and
what was used to the same bucket or period counter.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NamedTuple

BUCKETS = 60


class Meter(NamedTuple):  # a tuple: one is built per limit per request, on the hot path
    key: str  # without the store's prefix; a period meter's key names its period
    limit: float  # the hard limit this request is held to (a background request: a share of it)
    amount: float  # what this request reserves
    window_s: float = 60.0  # 0: a period counter
    ttl_s: float = 120.0  # a period counter's life when seeded: past the period's end, for settling


class Verdict(NamedTuple):
    ok: bool
    used: tuple[float, ...] = ()  # per meter, its level after the reservation; refused: the refusing one's
    reset_s: tuple[float, ...] = ()  # per meter: seconds until a window's usage has all expired (0: period)
    refused: int | None = None  # the first meter that refused
    retry_after_s: float | None = None  # a refused window: seconds until the request would fit
    missing: tuple[int, ...] = ()  # period meters to seed first (nothing was reserved)


class Adjustment(NamedTuple):
    key: str
    bucket: int | None  # a window's bucket (as reserved); None for a period counter
    delta: float
    window_s: float = 60.0


def bucket_of(now: float, window_s: float) -> int:
    return math.floor(now / (window_s / BUCKETS))


def _window_retry(buckets: dict[int, float], need: float, first: int, width: float, now: float) -> float:
    """Seconds until enough of the window's oldest buckets expire to free ``need``."""
    freed = 0.0
    for b in sorted(k for k in buckets if k >= first):
        freed += buckets[b]
        if freed >= need:
            return max(0.0, (b + BUCKETS) * width - now)
    return 0.0


class MeterStore(ABC):
    local: bool = False  # True: adjust_now may be called without awaiting (no I/O)

    @abstractmethod
    async def reserve(self, meters: Sequence[Meter], now: float | None = None) -> Verdict: ...

    @abstractmethod
    async def adjust(self, adjustments: Sequence[Adjustment]) -> None: ...

    def adjust_now(self, adjustments: Sequence[Adjustment]) -> None:
        """Settle without awaiting: only a store with no I/O (``local``) can."""
        raise NotImplementedError(f"{type(self).__name__} settles with `await adjust(...)`")

    def adjust_unread(self, adjustments: Sequence[Adjustment]) -> Coroutine[Any, Any, None] | None:
        """:meth:`adjust` with nobody waiting for it. None: already sent (the local coordinator: in
        order, unanswered); else the operation to await or run as a task (what other stores do)."""
        return self.adjust(adjustments)

    def reserve_now(self, meters: Sequence[Meter], now: float | None = None) -> Verdict:
        """Reserve without awaiting: only a store with no I/O (``local``) can."""
        raise NotImplementedError(f"{type(self).__name__} reserves with `await reserve(...)`")

    @abstractmethod
    async def seed(self, key: str, value: float, ttl_s: float) -> None:
        """Set a period counter to ``value`` unless another process set it first."""

    @abstractmethod
    async def level(self, meter: Meter, now: float | None = None) -> float:
        """A meter's current level, reserving nothing (for reports)."""


class _Window:
    """One sliding window in process: its buckets, their running total, the oldest bucket kept."""

    __slots__ = ("buckets", "oldest", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, float] = {}
        self.total = 0.0
        self.oldest = 0

    def advance(self, first: int) -> None:
        """Drop the buckets that left the window (amortised O(1): each bucket leaves once)."""
        if self.oldest >= first:
            return
        if first - self.oldest > BUCKETS or not self.buckets:
            self.buckets.clear()
            self.total = 0.0
        else:
            for b in range(self.oldest, first):
                gone = self.buckets.pop(b, None)
                if gone is not None:
                    self.total -= gone
            if not self.buckets:
                self.total = 0.0  # no float drift survives an empty window
        self.oldest = first


class MemoryMeters(MeterStore):
    """One process's meters: the embedded default."""

    local = True

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._periods: dict[str, tuple[float, float]] = {}  # key -> (value, expires at)

    def _period(self, key: str, wall: float | None = None) -> float | None:
        """A period counter's value; its life runs on the real clock, like a Redis TTL."""
        item = self._periods.get(key)
        if item is None or item[1] <= (self.clock() if wall is None else wall):
            self._periods.pop(key, None)
            return None
        return item[0]

    def _window(self, key: str, current: int) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
            window.oldest = current - BUCKETS + 1
        window.advance(current - BUCKETS + 1)
        return window

    async def reserve(self, meters: Sequence[Meter], now: float | None = None) -> Verdict:
        return self.reserve_now(meters, now)

    def reserve_now(self, meters: Sequence[Meter], now: float | None = None) -> Verdict:
        """Check and reserve at once. The common case (every counter present, every limit with
        room) takes the first loop only; anything else goes the long way (`_reserve`)."""
        wall = self.clock()
        now = wall if now is None else now
        windows, periods = self._windows, self._periods
        levels: list[float] = []
        for m in meters:
            if m.window_s:
                window = windows.get(m.key)
                if window is None:
                    return self._reserve(meters, now, wall)  # a new window: set up the long way
                window.advance(math.floor(now / (m.window_s / BUCKETS)) - BUCKETS + 1)
                level = window.total
                if m.amount > 0 and level + m.amount > m.limit:
                    return self._reserve(meters, now, wall)
            else:
                item = periods.get(m.key)
                if item is None or item[1] <= wall:
                    return self._reserve(meters, now, wall)
                level = item[0]
                if level + m.amount > m.limit or level >= m.limit:
                    return self._reserve(meters, now, wall)
            levels.append(level)
        resets: list[float] = []
        for m, level in zip(meters, levels, strict=True):
            if m.window_s:
                width = m.window_s / BUCKETS
                bucket = math.floor(now / width)
                window = windows[m.key]
                window.buckets[bucket] = window.buckets.get(bucket, 0.0) + m.amount
                window.total += m.amount
                resets.append((bucket + BUCKETS) * width - now if window.total > 0 else 0.0)
            else:
                periods[m.key] = (level + m.amount, periods[m.key][1])
                resets.append(0.0)
        return Verdict(True, tuple(level + m.amount for m, level in zip(meters, levels, strict=True)),
                       tuple(resets))

    def _reserve(self, meters: Sequence[Meter], now: float, wall: float) -> Verdict:
        """The long way: new windows set up, missing counters reported, refusals explained."""
        found: list[tuple[_Window | None, float, int]] = []  # (window or None: a period, level, bucket)
        missing: list[int] = []
        refusal: Verdict | None = None
        for i, m in enumerate(meters):
            if m.window_s > 0:
                width = m.window_s / BUCKETS
                bucket = math.floor(now / width)
                window = self._window(m.key, bucket)
                level = window.total
                if refusal is None and level + m.amount > m.limit and m.amount > 0:
                    need = level + m.amount - m.limit
                    retry = _window_retry(window.buckets, need, window.oldest, width, now)
                    refusal = Verdict(False, (level,), refused=i, retry_after_s=retry)
                found.append((window, level, bucket))
                continue
            period = self._period(m.key, wall)
            if period is None:
                missing.append(i)
                continue
            if refusal is None and (period + m.amount > m.limit or period >= m.limit):
                refusal = Verdict(False, (period,), refused=i)
            found.append((None, period, 0))
        if missing:  # seeded first, then asked again: a refusal is only final once all are known
            return Verdict(False, missing=tuple(missing))
        if refusal is not None:
            return refusal
        used: list[float] = []
        resets: list[float] = []
        for m, (held, level, bucket) in zip(meters, found, strict=True):
            if held is not None:
                held.buckets[bucket] = held.buckets.get(bucket, 0.0) + m.amount
                held.total += m.amount
                resets.append((bucket + BUCKETS) * (m.window_s / BUCKETS) - now if held.total > 0 else 0.0)
            else:
                self._periods[m.key] = (level + m.amount, self._periods[m.key][1])
                resets.append(0.0)
            used.append(level + m.amount)
        return Verdict(True, tuple(used), tuple(resets))

    async def adjust(self, adjustments: Sequence[Adjustment]) -> None:
        self.adjust_now(adjustments)

    def adjust_now(self, adjustments: Sequence[Adjustment]) -> None:
        for a in adjustments:
            if a.bucket is None:
                level = self._period(a.key)
                if level is not None:
                    self._periods[a.key] = (level + a.delta, self._periods[a.key][1])
                continue
            window = self._windows.get(a.key)
            if window is not None and a.bucket in window.buckets:
                window.buckets[a.bucket] += a.delta
                window.total += a.delta

    async def seed(self, key: str, value: float, ttl_s: float) -> None:
        now = self.clock()
        if self._period(key) is None:
            self._periods[key] = (value, now + ttl_s)

    async def level(self, meter: Meter, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        if meter.window_s > 0:
            return self._window(meter.key, bucket_of(now, meter.window_s)).total
        return self._period(meter.key) or 0.0
