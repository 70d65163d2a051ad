"""A retry budget per route, shared by every replica through the KV.

Retries multiply load exactly when an upstream is struggling: with 3 attempts per
request an outage triples the traffic hitting it. The budget lets retries through only
while, over a sliding window, they stay below ``budget_ratio`` of the requests seen plus
a small floor (``budget_min_per_s``) so a quiet route can still retry at all. During an
outage retries are capped; as fresh requests keep arriving and old retries leave the
window, the allowance comes back on its own.

Counts live in time-bucketed KV keys (see :class:`WindowedCounts`), so replicas sharing
Redis share the budget. KV cost: :meth:`RetryBudget.record_request` is one ``INCR`` per
request; :meth:`RetryBudget.try_spend` (only on retries, which already wait a backoff)
is one ``INCR`` followed by a few concurrent ``GET`` s of the youngest buckets, and one
more ``INCR`` to hand the retry back when it is refused. KV errors propagate: the
caller picks one policy for a KV outage (``KVUnavailable``: fail open or closed) for all
its features.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from corral.config import RetrySettings
from corral.store.kv import KV

Clock = Callable[[], float]

# Enough buckets that the window slides smoothly, few enough that summing a cold window
# stays a handful of reads. Buckets are no shorter than a second unless the window is.
MAX_BUCKETS = 10


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Sums over the window, and the bucket an increment (if any) landed in."""

    totals: dict[str, int]
    bucket: int


class WindowedCounts:
    """Named integer counters in the KV, bucketed by time and summed over a sliding window.

    Each bucket is one key with a TTL, so replicas add into the same buckets and stale
    ones vanish without cleanup. Correctness never depends on the TTL: a bucket's index
    comes from the clock, and only the indices inside the window are read. Buckets that
    ended more than one bucket ago are "settled" (tolerating modest clock skew between
    replicas) and cached in-process, so a warm sum reads only the two youngest buckets
    of each field plus any bucket that settled since the last call.
    """

    def __init__(self, kv: KV, key: str, window_s: float, clock: Clock = time.time,
                 max_buckets: int = MAX_BUCKETS) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.kv = kv
        self.key = key
        self.clock = clock
        self.buckets = max(1, min(max_buckets, math.floor(window_s)))
        self.bucket_s = window_s / self.buckets
        self.ttl_s = window_s + 2 * self.bucket_s
        self._settled: dict[tuple[str, int], int] = {}

    def bucket(self, now: float) -> int:
        """Index of the bucket holding time ``now``."""
        return math.floor(now / self.bucket_s)

    def _key(self, field: str, bucket: int) -> str:
        # The bucket size is part of the key: two users of one key with different windows
        # (a deployment shared by routes with different breaker settings) must not mix
        # bucket indices that mean different times.
        return f"{self.key}:{field}:{self.bucket_s:g}s:{bucket}"

    async def add(self, field: str, amount: int = 1, *, bucket: int | None = None) -> int:
        """Add to ``field`` in the current (or given) bucket; returns that bucket's new count."""
        index = self.bucket(self.clock()) if bucket is None else bucket
        return await self.kv.incr(self._key(field, index), amount, ttl_s=self.ttl_s)

    async def add_unread(self, field: str, amount: int = 1, *, bucket: int | None = None) -> None:
        """:meth:`add` when the new count is not needed: nothing to wait for on the local
        coordinator or Redis (corral.store.kv.KV.incr_unread)."""
        index = self.bucket(self.clock()) if bucket is None else bucket
        op = self.kv.incr_unread(self._key(field, index), amount, ttl_s=self.ttl_s)
        if op is not None:
            await op

    async def totals(
        self,
        fields: Iterable[str],
        *,
        now: float | None = None,
        since: float | None = None,
        fresh: Mapping[tuple[str, int], int] | None = None,
    ) -> dict[str, int]:
        """Each field summed over the window ending at ``now``.

        ``since`` drops buckets that ended before that time (a counter reset without
        deleting keys); ``fresh`` supplies ``(field, bucket)`` counts the caller just got
        back from :meth:`add`, saving their reads.
        """
        now = self.clock() if now is None else now
        current = self.bucket(now)
        first = current - self.buckets + 1
        if since is not None:
            first = max(first, self.bucket(since))
        known = dict(fresh or {})
        wanted = [(f, b) for f in fields for b in range(first, current + 1)]
        missing = [fb for fb in wanted if fb not in known and fb not in self._settled]
        values = await asyncio.gather(*(self.kv.get(self._key(f, b)) for f, b in missing))
        for fb, raw in zip(missing, values, strict=True):
            known[fb] = int(raw) if raw is not None else 0
            if fb[1] <= current - 2:
                self._settled[fb] = known[fb]
        self._prune(current)
        sums: dict[str, int] = {}
        for f, b in wanted:
            value = known[(f, b)] if (f, b) in known else self._settled[(f, b)]
            sums[f] = sums.get(f, 0) + value
        return sums

    def _prune(self, current: int) -> None:
        oldest = current - self.buckets
        for fb in [fb for fb in self._settled if fb[1] <= oldest]:
            del self._settled[fb]


class RetryBudget:
    """Caps retries on one route to a fraction of its recent requests, across replicas.

    Call :meth:`record_request` once per request (on its first attempt) and
    :meth:`try_spend` before each retry; a ``False`` means "do not retry, fail now".
    """

    def __init__(self, kv: KV, route: str, settings: RetrySettings, clock: Clock = time.time) -> None:
        self.route = route
        self.settings = settings
        self.clock = clock
        self.counts = WindowedCounts(kv, f"retry-budget:{route}", settings.budget_window_s, clock)

    def allowance(self, requests: int) -> float:
        """Retries the window may hold given ``requests`` first attempts in it."""
        s = self.settings
        return s.budget_ratio * requests + s.budget_min_per_s * s.budget_window_s

    async def record_request(self) -> None:
        """Count a first attempt: one KV ``INCR`` (its answer unread)."""
        await self.counts.add_unread("requests")

    async def try_spend(self) -> bool:
        """Take one retry from the budget if the window still allows it.

        The retry is counted first and checked after, so concurrent spenders on any
        replica each see a distinct total and at most the allowance get through; a
        refused retry is handed back.
        """
        now = self.clock()
        bucket = self.counts.bucket(now)
        spent = await self.counts.add("retries", bucket=bucket)
        sums = await self.counts.totals(
            ("requests", "retries"), now=now, fresh={("retries", bucket): spent}
        )
        if sums["retries"] - 1 < self.allowance(sums["requests"]):
            return True
        await self.counts.add("retries", -1, bucket=bucket)
        return False

    async def remaining(self) -> float:
        """Retries still allowed in the window right now (for metrics and headers)."""
        sums = await self.counts.totals(("requests", "retries"))
        return max(0.0, self.allowance(sums["requests"]) - sums["retries"])
