"""Circuit breakers per deployment, shared by every replica through the KV.

A deployment that keeps failing costs each request a timeout or an error before the
fallback; the breaker stops sending it traffic for ``open_s`` so requests go straight to
healthy deployments, then lets a few probe requests test it before closing again.

States (per deployment name)::

    closed    -- failures/total >= failure_rate over window_s, with total >= min_requests --> open
    open      -- open_s elapsed                                                           --> half_open
    half_open -- a probe succeeds --> closed (counters reset);  a probe fails --> open again

Contract with the router:

* Call :meth:`CircuitBreaker.allow` right before sending an attempt, not to plan: in
  half-open it takes one of the ``half_open_probes`` slots. Use :meth:`state` or
  :meth:`states` to order deployments.
* Call :meth:`record` once per allowed attempt. Pass ``success=False`` only for errors
  that say something about the deployment's health: retryable upstream errors (429,
  5xx, 529, timeouts, connection failures, malformed responses). A rejection of the
  request itself (other 4xx) proves the deployment answered, so record it as a success.
  An attempt cancelled before any answer need not be recorded; its probe slot (if any)
  frees itself after ``probe_timeout_s``.

State lives in the KV: one key holding ``open:<until>`` or ``closed:<since>``, window
counters in :class:`~corral.routing.budget.WindowedCounts`, and a probe counter per open
period (``INCR`` with a TTL, so admission is atomic across replicas). KV cost:
``states`` is one ``GET`` per deployment (none on the local coordinator, which keeps a copy
current: :meth:`~corral.store.kv.KV.get_cached`); ``allow`` is one ``GET`` (plus one
``INCR`` when half-open); ``record`` is a ``GET`` and one ``INCR`` (two on failure) sent
concurrently, and on a failure while closed a few concurrent ``GET`` s to sum the window;
a success of an attempt sent while closed is one ``INCR`` whose answer nobody reads
(``was_closed``). KV errors (``KVUnavailable`` when the store is unreachable) propagate to
the caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

from corral.config import BreakerSettings
from corral.routing.budget import Clock, WindowedCounts
from corral.store.kv import KV

BreakerState = Literal["closed", "open", "half_open"]

# A tripped breaker that sees no traffic at all for this long after open_s is forgotten
# (its key expires and it starts closed with an empty window). Only garbage collection.
FORGET_AFTER_S = 3600.0


@dataclass(frozen=True, slots=True)
class _Stored:
    """The decoded state key: ``open_until`` when tripped, ``closed_since`` after a reset."""

    open_until: float | None = None
    closed_since: float | None = None

    @classmethod
    def decode(cls, raw: bytes | None) -> _Stored:
        if raw is None:
            return cls()
        kind, _, value = raw.decode().partition(":")
        try:
            stamp = float(value)
        except ValueError:
            return cls()  # unreadable (foreign writer): treat as closed rather than fail requests
        return cls(open_until=stamp) if kind == "open" else cls(closed_since=stamp)

    def state(self, now: float) -> BreakerState:
        if self.open_until is None:
            return "closed"
        return "open" if now < self.open_until else "half_open"


class CircuitBreaker:
    """Per-deployment breakers for one route's settings; all state is in ``kv``.

    ``probe_timeout_s`` bounds how long a half-open probe holds its slot when it never
    reports back (a cancelled request); pass the route's ``timeouts.total_s`` to never
    admit a second probe while the first may still be running.
    """

    def __init__(self, kv: KV, settings: BreakerSettings, clock: Clock = time.time, *,
                 probe_timeout_s: float = 60.0, namespace: str = "breaker") -> None:
        if probe_timeout_s <= 0:
            raise ValueError("probe_timeout_s must be positive")
        self.kv = kv
        self.settings = settings
        self.clock = clock
        self.probe_timeout_s = probe_timeout_s
        self.namespace = namespace
        self._counts: dict[str, WindowedCounts] = {}

    def _key(self, deployment: str, part: str) -> str:
        return f"{self.namespace}:{deployment}:{part}"

    def _window(self, deployment: str) -> WindowedCounts:
        counts = self._counts.get(deployment)
        if counts is None:
            counts = WindowedCounts(self.kv, self._key(deployment, "calls"), self.settings.window_s,
                                    self.clock)
            self._counts[deployment] = counts
        return counts

    async def _all(self, ops: list[Coroutine[Any, Any, Any]]) -> list[Any]:
        """Run KV operations: concurrently over the network, in sequence in-process (cheaper).

        In sequence, a failure leaves the later operations unstarted: they are closed, not
        left for the garbage collector to warn about.
        """
        if not (self.kv.local or len(ops) == 1):
            return list(await asyncio.gather(*ops))
        results: list[Any] = []
        try:
            for op in ops:
                results.append(await op)
        finally:
            for op in ops[len(results) + 1:]:
                op.close()
        return results

    async def _load(self, deployment: str, cached: bool = False) -> _Stored:
        key = self._key(deployment, "state")
        return _Stored.decode(await (self.kv.get_cached(key) if cached else self.kv.get(key)))

    async def state(self, deployment: str) -> BreakerState:
        """The deployment's state now (no side effects)."""
        return (await self._load(deployment)).state(self.clock())

    async def states(self, deployments: Iterable[str]) -> dict[str, BreakerState]:
        """Several states with concurrent reads, e.g. to build the router's excluded set (from
        the KV's copy when it keeps one current: :meth:`~corral.store.kv.KV.get_cached`)."""
        names = list(deployments)
        loaded = await self._all([self._load(name, cached=True) for name in names])
        now = self.clock()
        return {name: stored.state(now) for name, stored in zip(names, loaded, strict=True)}

    async def allow(self, deployment: str) -> bool:
        """Whether an attempt may go to ``deployment`` now (half-open: takes a probe slot)."""
        now = self.clock()
        stored = await self._load(deployment)
        state = stored.state(now)
        if state != "half_open":
            return state == "closed"
        probes = self._key(deployment, f"probes:{stored.open_until!r}")
        taken = await self.kv.incr(probes, ttl_s=self.probe_timeout_s)
        return taken <= self.settings.half_open_probes

    async def record(self, deployment: str, success: bool, *, was_closed: bool = False) -> None:
        """Report an allowed attempt's outcome (see the module doc for what counts as failure).

        ``was_closed``: the caller read the breaker closed (:meth:`states`) when it chose the
        deployment, so the attempt was no probe. Its success then moves no state whatever the
        breaker says now (open: sent before the trip; half-open: only a probe closes it), so it
        only counts in the window, without reading the state or waiting for the count.
        """
        now = self.clock()
        window = self._window(deployment)
        bucket = window.bucket(now)
        if success and was_closed:
            await window.add_unread("total", bucket=bucket)
            return
        ops = [self.kv.get(self._key(deployment, "state")), window.add("total", bucket=bucket)]
        if not success:
            ops.append(window.add("failed", bucket=bucket))
        raw, *counts = await self._all(ops)
        stored = _Stored.decode(cast("bytes | None", raw))
        state = stored.state(now)
        if state == "open":
            return  # an attempt sent before the trip; the verdict is already in
        if state == "half_open":
            await (self._close(deployment, now) if success else self._trip(deployment, now))
            return
        if success:
            return  # a success only lowers the rate: the next failure re-evaluates
        total, failed = int(counts[0]), int(counts[1])
        sums = await window.totals(
            ("total", "failed"), now=now, since=stored.closed_since,
            fresh={("total", bucket): total, ("failed", bucket): failed},
        )
        if sums["total"] >= self.settings.min_requests and (
            sums["failed"] / sums["total"] >= self.settings.failure_rate
        ):
            await self._trip(deployment, now)

    async def _trip(self, deployment: str, now: float) -> None:
        """Open for ``open_s``; a new ``open_until`` also starts a fresh probe counter."""
        until = now + self.settings.open_s
        await self.kv.set(self._key(deployment, "state"), f"open:{until!r}",
                          ttl_s=self.settings.open_s + FORGET_AFTER_S)

    async def _close(self, deployment: str, now: float) -> None:
        """Close and ignore the counts recorded before ``now`` (no keys to delete).

        The successful probe itself stays counted: it is the first sample of the new window.
        """
        window = self._window(deployment)
        await self.kv.set(self._key(deployment, "state"), f"closed:{now!r}",
                          ttl_s=self.settings.window_s + 2 * window.bucket_s)
