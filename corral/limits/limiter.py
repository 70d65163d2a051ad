"""Reserve before the provider call, settle after the record: limits that hold across replicas.

Before a request goes further, :meth:`Limiter.reserve` takes, in one atomic step on the shared
meters (corral.store.meters), one request, its estimated tokens and its estimated dollars from
every limit that applies (corral.limits.rules), or nothing when any of them is full: the
request is refused with a 429 that says which limit, by how much and when to come back. When
the request's record is written, the lifecycle calls :meth:`Reservation.settle` with the
recorded cost and tokens, and each meter moves from the estimate to what was used. Because
reservations are at or above a request's real cost (corral.limits.estimate), concurrent
requests on any number of replicas cannot spend past a budget; only a request that costs more
than it reserved (no max_tokens) overshoots, by its own excess.

Dollar counters live per calendar period and are seeded from the request records the first
time a process (or, with Redis, any replica) needs one, so a restart or a flushed Redis
starts from what was really spent. Batch lines and background responses (``ctx.job_id``) are
held to ``background_share`` of each limit, so live traffic keeps the rest.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.limits.errors import BudgetExhausted, LimitExceeded
from corral.limits.estimate import Estimate, Estimator
from corral.limits.headers import limit_headers
from corral.limits.rules import (
    PERIOD_OF,
    SETTLE_MARGIN_S,
    Period,
    Subject,
    period_bounds,
    period_tag,
    subjects_for,
)
from corral.limits.settings import METRICS, LimitSettings, Metric
from corral.routing.table import Route
from corral.store.kv import KVUnavailable
from corral.store.meters import Adjustment, Meter, MeterStore, Verdict, bucket_of

log = logging.getLogger("corral.limits")
UNLIMITED = 1e300  # a soft-only limit: counted for warnings, never refusing
UNIT = {"rpm": "requests", "tpm": "tokens", "usd_per_day": "usd", "usd_per_month": "usd"}
SpendFn = Callable[[Subject, datetime], Awaitable[float]]  # dollars recorded since a time
COUNTERS = ("reserved", "refused_requests", "refused_tokens", "refused_usd", "settled", "seeded",
            "soft_warnings", "outages")


class LimitsUnavailable(CorralError):
    status_code = 503
    openai_type = "server_error"
    code = "limits_unavailable"


@dataclass(frozen=True, slots=True)
class Planned:
    """One meter of one rule, as this request is held to it."""

    subject: Subject
    metric: Metric
    meter: Meter
    hard: float | None  # the configured limit (None: soft only)
    soft: float | None
    period_end: datetime | None = None


# (subject, metric, meter key, limit, period end (None: a sliding minute), hard, soft)
Template = tuple[Subject, Metric, str, float, datetime | None, float | None, float | None]


class Reservation:
    """What a request holds on the meters until its record settles it (once)."""

    __slots__ = ("bucket", "done", "estimate", "limiter", "planned", "route")

    def __init__(self, limiter: Limiter, planned: list[Planned], estimate: Estimate, bucket: int,
                 route: str) -> None:
        self.limiter = limiter
        self.planned = planned
        self.estimate = estimate
        self.bucket = bucket  # the window bucket the tokens were reserved in
        self.route = route
        self.done = False

    def settle(self, cost_usd: float | None, input_tokens: int, output_tokens: int) -> None:
        """Replace the estimates with what the request used (a failure: nothing, released)."""
        if self.done:
            return
        self.done = True
        self.limiter.estimator.learn(self.route, self.estimate.prompt_tokens, input_tokens)
        tokens = input_tokens + output_tokens
        adjustments: list[Adjustment] = []
        for p in self.planned:
            if p.metric == "tpm" and tokens != self.estimate.tokens:
                delta = tokens - p.meter.amount
                adjustments.append(Adjustment(p.meter.key, self.bucket, delta, p.meter.window_s))
            elif p.metric in PERIOD_OF:
                delta = (cost_usd or 0.0) - p.meter.amount
                if delta:
                    adjustments.append(Adjustment(p.meter.key, None, delta, 0.0))
        self.limiter.apply(adjustments)


class Limiter:
    def __init__(self, settings: LimitSettings, meters: MeterStore, estimator: Estimator, spent: SpendFn,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.meters = meters
        self.estimator = estimator
        self.spent = spent
        self.clock = clock
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self._subjects: dict[tuple[str, str, str, str], tuple[Subject, ...]] = {}
        self._templates: dict[tuple[object, ...], tuple[list[Template], float]] = {}
        self._seeding: dict[str, asyncio.Future[None]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._last_outage_log = 0.0

    def subjects(self, ctx: RequestContext, route: str) -> tuple[Subject, ...]:
        caller = ctx.caller
        cache_key = (caller.key_id, caller.key_name, caller.team, route) if caller else ("", "", "", route)
        found = self._subjects.get(cache_key)
        if found is None:
            if len(self._subjects) > 10_000:
                self._subjects.clear()
            found = self._subjects[cache_key] = subjects_for(self.settings, caller, route)
        return found

    async def reserve(self, ctx: RequestContext, route: Route,
                      subjects: tuple[Subject, ...]) -> Reservation | None:
        """Reserve for `ctx` on every limit of `subjects`, or raise the 429 of the one that is full.
        None when the meters are unreachable and the policy is to serve anyway."""
        now = self.clock()
        answering = ctx.deferred is not None and ctx.deferred.pinned is not None  # provider already ran it
        background = ctx.job_id is not None
        needs_tokens = any(s.rule.tpm is not None or s.rule.usd_per_day is not None
                           or s.rule.usd_per_month is not None for s in subjects)
        estimate = (await self.estimator.estimate(ctx, route, with_cost=self._has_money(subjects))
                    if needs_tokens else Estimate(0, 0, 0.0))
        planned = self._plan(subjects, estimate, now, counts_request=ctx.parent is None and not answering,
                             share=self.settings.background_share if background else 1.0, force=answering)
        try:
            verdict = await self._reserve_seeded(planned, now)
        except KVUnavailable as exc:
            self._outage(exc)
            return None
        if not verdict.ok:
            raise self._refusal(planned, verdict, estimate, now, background)
        self.counters["reserved"] += 1
        ctx.response_headers.update(self._headers(planned, verdict, now))
        return Reservation(self, planned, estimate, bucket_of(now, 60.0), route.public_name)

    @staticmethod
    def _has_money(subjects: tuple[Subject, ...]) -> bool:
        return any(s.rule.usd_per_day is not None or s.rule.usd_per_month is not None for s in subjects)

    def _plan(self, subjects: tuple[Subject, ...], estimate: Estimate, now: float, *, counts_request: bool,
              share: float, force: bool) -> list[Planned]:
        amounts: dict[str, float] = {"rpm": 1.0 if counts_request else 0.0, "tpm": float(estimate.tokens),
                                     "usd_per_day": estimate.usd, "usd_per_month": estimate.usd}
        planned: list[Planned] = []
        for subject, metric, key, limit, end, hard, soft in self._template(subjects, now, share, force):
            if end is None:
                meter = Meter(key, limit, amounts[metric])
            else:
                meter = Meter(key, limit, amounts[metric], 0.0, end.timestamp() - now + SETTLE_MARGIN_S)
            planned.append(Planned(subject, metric, meter, hard, soft, end))
        return planned

    def _template(self, subjects: tuple[Subject, ...], now: float, share: float,
                  force: bool) -> list[Template]:
        """What a request of these subjects reserves on, but for the amounts: built once per
        subjects, share and period (the dollar counters' keys name their day and month)."""
        cache_key = (tuple((s.kind, s.name) for s in subjects), share, force)
        cached = self._templates.get(cache_key)
        if cached is not None and now < cached[1]:
            return cached[0]
        template: list[Template] = []
        valid_until = math.inf
        for subject in subjects:
            for metric in METRICS:
                if getattr(subject.rule, metric) is None:
                    continue
                hard, soft = subject.rule.hard(metric), subject.rule.soft(metric)
                limit = UNLIMITED if hard is None or force else hard * share
                period: Period | None = PERIOD_OF.get(metric)
                if period is None:
                    template.append((subject, metric, subject.key(metric), limit, None, hard, soft))
                    continue
                start, end = period_bounds(period, now)
                valid_until = min(valid_until, end.timestamp())
                key = subject.key(f"usd:{period_tag(period, start)}")
                template.append((subject, metric, key, limit, end, hard, soft))
        if len(self._templates) > 10_000:
            self._templates.clear()
        self._templates[cache_key] = (template, valid_until)
        return template

    async def _reserve_seeded(self, planned: list[Planned], now: float) -> Verdict:
        meters = [p.meter for p in planned]
        for _ in range(3):  # a counter seeded and then expired in between is asked for again
            verdict = await self.meters.reserve(meters, now)
            if not verdict.missing:
                return verdict
            await asyncio.gather(*(self._seed(planned[i]) for i in verdict.missing))
        return verdict

    async def _seed(self, p: Planned) -> None:
        """Start a period counter at what the records say was spent (one query per counter at a time)."""
        running = self._seeding.get(p.meter.key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seeding[p.meter.key] = future
        try:
            assert p.period_end is not None
            period = PERIOD_OF[p.metric]
            start, _ = period_bounds(period, p.period_end.timestamp() - 1)
            await self.meters.seed(p.meter.key, await self.spent(p.subject, start), p.meter.ttl_s)
            self.counters["seeded"] += 1
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it; nobody logs "never retrieved"
            raise
        finally:
            del self._seeding[p.meter.key]

    def _outage(self, exc: KVUnavailable) -> None:
        self.counters["outages"] += 1
        now = time.monotonic()
        if now - self._last_outage_log > 30:
            self._last_outage_log = now
            log.warning("limits: counters unreachable (%s); policy %s", exc, self.settings.on_counter_outage)
        if self.settings.on_counter_outage == "closed":
            raise LimitsUnavailable(
                "Corral cannot reach its rate-limit counters (Redis) and is set to refuse requests "
                "meanwhile (limits.on_counter_outage: closed); retry shortly.") from exc

    def _refusal(self, planned: list[Planned], verdict: Verdict, estimate: Estimate, now: float,
                 background: bool) -> LimitExceeded:
        assert verdict.refused is not None
        p = planned[verdict.refused]
        level = verdict.used[0] if verdict.used else 0.0
        unit = UNIT[p.metric]
        share = f" (batch and background work may use {self.settings.background_share:.0%} of it)" \
            if background else ""
        if p.period_end is not None:
            self.counters["refused_usd"] += 1
            retry = p.period_end.timestamp() - now
            headers = limit_headers("usd", p.meter.limit, level, retry)
            word = {"day": "daily", "month": "monthly"}[PERIOD_OF[p.metric]]
            left = max(p.meter.limit - level, 0.0)
            return BudgetExhausted(
                f"The {word} budget of {p.subject.label} is spent: ${level:.4f} of ${p.hard:g}{share} used "
                f"or held by requests in flight, and this request may cost up to ${p.meter.amount:.4f}, more "
                f"than the ${left:.4f} left. It resets at {p.period_end:%Y-%m-%d %H:%M} UTC; the operator "
                f"can raise {p.subject.setting}.{p.metric} in corral.yaml.",
                retry_after=retry, headers=headers)
        self.counters["refused_requests" if p.metric == "rpm" else "refused_tokens"] += 1
        what = "requests" if p.metric == "rpm" else "tokens"
        headers = limit_headers(unit, p.meter.limit, level, verdict.retry_after_s or 0.0)
        if p.meter.amount > p.meter.limit:
            return LimitExceeded(
                f"This request alone needs about {p.meter.amount:,.0f} tokens (prompt "
                f"{estimate.prompt_tokens:,} + up to {estimate.output_tokens:,} for the answer), more "
                f"than the {p.meter.limit:,.0f} tokens per minute allowed for {p.subject.label}{share}: "
                "send a shorter prompt or a lower max_tokens.",
                retry_after=None, headers=headers, retryable=False)
        retry = max(verdict.retry_after_s or 0.0, 0.001)
        return LimitExceeded(
            f"Rate limit reached for {p.subject.label}: {p.hard:,.0f} {what} per minute{share}, "
            f"{level:,.0f} used. Retry in {math.ceil(retry)} s (Retry-After); the operator can raise "
            f"{p.subject.setting}.{p.metric} in corral.yaml.",
            retry_after=retry, headers=headers)

    def _headers(self, planned: list[Planned], verdict: Verdict, now: float) -> dict[str, str]:
        """x-ratelimit-* of the meter of each unit closest to its limit, and soft warnings."""
        tightest: dict[str, tuple[float, int]] = {}
        warnings: list[str] = []
        for i, (p, used) in enumerate(zip(planned, verdict.used, strict=True)):
            if p.soft is not None and used >= p.soft:
                warnings.append(f"{p.subject.label} {p.metric} {used / (p.hard or p.soft):.0%}")
            if p.hard is None:
                continue
            unit = UNIT[p.metric]
            room = (p.meter.limit - used) / p.meter.limit
            if unit not in tightest or room < tightest[unit][0]:
                tightest[unit] = (room, i)
        headers: dict[str, str] = {}
        for unit, (_, i) in tightest.items():
            p = planned[i]
            reset = verdict.reset_s[i] if p.period_end is None else p.period_end.timestamp() - now
            headers.update(limit_headers(unit, p.meter.limit, verdict.used[i], reset))
        if warnings:
            self.counters["soft_warnings"] += 1
            headers["x-corral-limit-warning"] = "; ".join(warnings)
        return headers

    def apply(self, adjustments: list[Adjustment]) -> None:
        """Settle on the meters: now for this process's own, in the background for Redis."""
        self.counters["settled"] += 1
        if not adjustments:
            return
        if self.meters.local:
            self.meters.adjust_now(adjustments)
            return
        task = asyncio.get_running_loop().create_task(self._adjust(adjustments))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _adjust(self, adjustments: list[Adjustment]) -> None:
        try:
            await self.meters.adjust(adjustments)
        except KVUnavailable as exc:  # the reservation stays until its window or period ends
            self.counters["outages"] += 1
            log.warning("limits: could not settle a reservation: %s", exc)

    async def drain(self) -> None:
        """Wait for the settlements still in flight (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def stats(self) -> dict[str, int]:
        return dict(self.counters)
