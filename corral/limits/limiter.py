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
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, NamedTuple

from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.limits.errors import BudgetExhausted, LimitExceeded
from corral.limits.estimate import Estimate, Estimator
from corral.limits.headers import duration, limit_headers
from corral.limits.rules import (
    PERIOD_OF,
    SETTLE_MARGIN_S,
    Subject,
    period_bounds,
    period_tag,
    subjects_for,
)
from corral.limits.settings import METRICS, LimitSettings, Metric
from corral.limits.spend import Period
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


class Planned(NamedTuple):
    """One limit of one rule as requests under it are held to it, but for the amount each reserves:
    built once per rules, background share and period, and shared by every such request."""

    subject: Subject
    metric: Metric
    key: str  # the meter's key (a dollar meter's names its period)
    limit: float  # the level this request may fill (a background request: a share of hard)
    hard: float | None  # the configured limit (None: soft only)
    soft: float | None
    period_end: datetime | None  # None: a sliding minute
    unit: str  # requests | tokens | usd (the x-ratelimit-* suffix)
    limit_text: str  # x-ratelimit-limit-<unit>, formatted once


class Applicable(NamedTuple):
    """The rules a request answers to, with what the hot path asks of them worked out once."""

    subjects: tuple[Subject, ...]
    names: tuple[tuple[str, str], ...]  # (kind, name) of each: a key for cached templates
    tokens: bool  # a tpm or dollar limit: the request's tokens must be estimated
    money: bool  # a dollar limit: and priced
    plans: dict[tuple[float, bool], tuple[list[Planned], float]]  # (share, force) -> plan, valid until


def applicable(subjects: tuple[Subject, ...]) -> Applicable:
    money = any(s.rule.usd_per_day is not None or s.rule.usd_per_month is not None for s in subjects)
    tokens = money or any(s.rule.tpm is not None for s in subjects)
    return Applicable(subjects, tuple((s.kind, s.name) for s in subjects), tokens, money, {})


class Reservation:
    """What a request holds on the meters until its record settles it (once)."""

    __slots__ = ("bucket", "done", "estimate", "limiter", "meters", "planned", "route")

    def __init__(self, limiter: Limiter, planned: list[Planned], meters: list[Meter], estimate: Estimate,
                 bucket: int, route: str) -> None:
        self.limiter = limiter
        self.planned = planned
        self.meters = meters
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
        for p, meter in zip(self.planned, self.meters, strict=True):
            if p.metric == "tpm":
                if tokens != meter.amount:
                    delta = tokens - meter.amount
                    adjustments.append(Adjustment(meter.key, self.bucket, delta, meter.window_s))
            elif p.period_end is not None:
                delta = (cost_usd or 0.0) - meter.amount
                if delta:
                    adjustments.append(Adjustment(meter.key, None, delta, 0.0))
        self.limiter.apply(adjustments)


def _meters(planned: list[Planned], estimate: Estimate, now: float, *, counts_request: bool) -> list[Meter]:
    """This request's meters: the plan with its amounts (a period's counter lives past its end)."""
    request = 1.0 if counts_request else 0.0
    tokens = float(estimate.tokens)
    meters: list[Meter] = []
    for p in planned:
        if p.period_end is not None:
            ttl = p.period_end.timestamp() - now + SETTLE_MARGIN_S
            meters.append(Meter(p.key, p.limit, estimate.usd, 0.0, ttl))
        else:
            meters.append(Meter(p.key, p.limit, request if p.metric == "rpm" else tokens, 60.0))
    return meters


NO_TOKENS = Estimate(0, 0, 0.0)
HEADER_NAMES = {unit: tuple(f"x-ratelimit-{part}-{unit}" for part in ("limit", "remaining", "reset"))
                for unit in ("requests", "tokens")}


class Limiter:
    def __init__(self, settings: LimitSettings, meters: MeterStore, estimator: Estimator, spent: SpendFn,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.meters = meters
        self.estimator = estimator
        self.spent = spent
        self.clock = clock
        self.counters: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self._subjects: dict[tuple[str, str, str, str], Applicable] = {}
        self._templates: dict[tuple[object, ...], tuple[list[Planned], float]] = {}
        self._seeding: dict[str, asyncio.Future[None]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._last_outage_log = 0.0

    def subjects(self, ctx: RequestContext, route: str) -> Applicable:
        """The rules that apply to `ctx` on `route` (cached per key, team and route)."""
        caller = ctx.caller
        cache_key = (caller.key_id, caller.key_name, caller.team, route) if caller else ("", "", "", route)
        found = self._subjects.get(cache_key)
        if found is None:
            if len(self._subjects) > 10_000:
                self._subjects.clear()
            found = self._subjects[cache_key] = applicable(subjects_for(self.settings, caller, route))
        return found

    async def reserve(self, ctx: RequestContext, route: Route, rules: Applicable) -> Reservation | None:
        """Reserve for `ctx` on every limit of `rules`, or raise the 429 of the one that is full.
        None when the meters are unreachable and the policy is to serve anyway."""
        now = self.clock()
        answering = ctx.deferred is not None and ctx.deferred.pinned is not None  # provider already ran it
        background = ctx.job_id is not None
        estimate = NO_TOKENS
        if rules.tokens:  # small plain prompts are estimated inline; others may tokenize on a thread
            estimate = (self.estimator.estimate_now(ctx.request, route, rules.money)
                        or await self.estimator.estimate(ctx, route, with_cost=rules.money))
        planned = self._template(rules, now, self.settings.background_share if background else 1.0, answering)
        meters = _meters(planned, estimate, now, counts_request=ctx.parent is None and not answering)
        try:
            verdict = self.meters.reserve_now(meters, now) if self.meters.local else None  # no awaits
            if verdict is None or verdict.missing:
                verdict = await self._reserve_seeded(planned, meters, now)
        except KVUnavailable as exc:
            self._outage(exc)
            return None
        if not verdict.ok:
            raise self._refusal(planned, meters, verdict, estimate, now, background)
        self.counters["reserved"] += 1
        ctx.response_headers.update(self._headers(planned, verdict))
        return Reservation(self, planned, meters, estimate, bucket_of(now, 60.0), route.public_name)

    def _template(self, rules: Applicable, now: float, share: float, force: bool) -> list[Planned]:
        """What a request under these rules reserves on, but for the amounts: built once per
        rules, share and period (the dollar counters' keys name their day and month)."""
        cached = rules.plans.get((share, force))  # the rules' own: no key to build and hash
        if cached is not None and now < cached[1]:
            return cached[0]
        cache_key = (rules.names, share, force)
        cached = self._templates.get(cache_key)
        if cached is not None and now < cached[1]:
            rules.plans[(share, force)] = cached
            return cached[0]
        template: list[Planned] = []
        valid_until = math.inf
        for subject in rules.subjects:
            for metric in METRICS:
                if getattr(subject.rule, metric) is None:
                    continue
                hard, soft = subject.rule.hard(metric), subject.rule.soft(metric)
                limit = UNLIMITED if hard is None or force else hard * share
                unit = UNIT[metric]
                text = limit_headers(unit, limit, 0.0, 0.0)[f"x-ratelimit-limit-{unit}"]
                period: Period | None = PERIOD_OF.get(metric)
                if period is None:
                    key = subject.key(metric)
                    template.append(Planned(subject, metric, key, limit, hard, soft, None, unit, text))
                    continue
                start, end = period_bounds(period, now)
                valid_until = min(valid_until, end.timestamp())
                key = subject.key(f"usd:{period_tag(period, start)}")
                template.append(Planned(subject, metric, key, limit, hard, soft, end, unit, text))
        if len(self._templates) > 10_000:
            self._templates.clear()
        self._templates[cache_key] = rules.plans[(share, force)] = (template, valid_until)
        return template

    async def _reserve_seeded(self, planned: list[Planned], meters: list[Meter], now: float) -> Verdict:
        for _ in range(3):  # a counter seeded and then expired in between is asked for again
            verdict = await self.meters.reserve(meters, now)
            if not verdict.missing:
                return verdict
            await asyncio.gather(*(self._seed(planned[i], meters[i]) for i in verdict.missing))
        return verdict

    async def _seed(self, p: Planned, meter: Meter) -> None:
        """Start a period counter at what the records say was spent (one query per counter at a time)."""
        running = self._seeding.get(p.key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seeding[p.key] = future
        try:
            assert p.period_end is not None
            period = PERIOD_OF[p.metric]
            start, _ = period_bounds(period, p.period_end.timestamp() - 1)
            await self.meters.seed(p.key, await self.spent(p.subject, start), meter.ttl_s)
            self.counters["seeded"] += 1
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it; nobody logs "never retrieved"
            raise
        finally:
            del self._seeding[p.key]

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

    def _refusal(self, planned: list[Planned], meters: list[Meter], verdict: Verdict, estimate: Estimate,
                 now: float, background: bool) -> LimitExceeded:
        assert verdict.refused is not None
        p, meter = planned[verdict.refused], meters[verdict.refused]
        level = verdict.used[0] if verdict.used else 0.0
        unit = UNIT[p.metric]
        share = f" (batch and background work may use {self.settings.background_share:.0%} of it)" \
            if background else ""
        if p.period_end is not None:
            self.counters["refused_usd"] += 1
            retry = p.period_end.timestamp() - now
            headers = limit_headers("usd", meter.limit, level, retry)
            word = {"day": "daily", "month": "monthly"}[PERIOD_OF[p.metric]]
            left = max(meter.limit - level, 0.0)
            return BudgetExhausted(
                f"The {word} budget of {p.subject.label} is spent: ${level:.4f} of ${p.hard:g}{share} used "
                f"or held by requests in flight, and this request may cost up to ${meter.amount:.4f}, more "
                f"than the ${left:.4f} left. It resets at {p.period_end:%Y-%m-%d %H:%M} UTC; the operator "
                f"can raise {p.subject.setting}.{p.metric} in corral.yaml.",
                retry_after=retry, headers=headers)
        self.counters["refused_requests" if p.metric == "rpm" else "refused_tokens"] += 1
        what = "requests" if p.metric == "rpm" else "tokens"
        headers = limit_headers(unit, meter.limit, level, verdict.retry_after_s or 0.0)
        if meter.amount > meter.limit:
            return LimitExceeded(
                f"This request alone needs about {meter.amount:,.0f} tokens (prompt "
                f"{estimate.prompt_tokens:,} + up to {estimate.output_tokens:,} for the answer), more "
                f"than the {meter.limit:,.0f} tokens per minute allowed for {p.subject.label}{share}: "
                "send a shorter prompt or a lower max_tokens.",
                retry_after=None, headers=headers, retryable=False)
        retry = max(verdict.retry_after_s or 0.0, 0.001)
        return LimitExceeded(
            f"Rate limit reached for {p.subject.label}: {p.hard:,.0f} {what} per minute{share}, "
            f"{level:,.0f} used. Retry in {math.ceil(retry)} s (Retry-After); the operator can raise "
            f"{p.subject.setting}.{p.metric} in corral.yaml.",
            retry_after=retry, headers=headers)

    def _headers(self, planned: list[Planned], verdict: Verdict) -> dict[str, str]:
        """x-ratelimit-* of the requests and tokens limits closest to their level, and soft warnings.
        (Dollar budgets' headers come with a refusal: OpenAI has none for them.)"""
        tightest: dict[str, tuple[float, int]] = {}
        warnings: list[str] | None = None
        for i, (p, used) in enumerate(zip(planned, verdict.used, strict=True)):
            if p.soft is not None and used >= p.soft:
                warnings = warnings or []
                warnings.append(f"{p.subject.label} {p.metric} {used / (p.hard or p.soft):.0%}")
            if p.hard is None or p.period_end is not None:
                continue
            room = (p.limit - used) / p.limit
            best = tightest.get(p.unit)
            if best is None or room < best[0]:
                tightest[p.unit] = (room, i)
        headers: dict[str, str] = {}
        for unit, (_, i) in tightest.items():
            left = planned[i].limit - verdict.used[i]
            limit, remaining, reset = HEADER_NAMES[unit]
            headers[limit] = planned[i].limit_text
            headers[remaining] = str(int(left)) if left > 0 else "0"
            headers[reset] = duration(verdict.reset_s[i])
        if warnings:
            self.counters["soft_warnings"] += 1
            headers["x-corral-limit-warning"] = "; ".join(warnings)
        return headers

    def apply(self, adjustments: list[Adjustment]) -> None:
        """Settle on the meters: now for this process's own, sent unanswered to the local
        coordinator, in the background for Redis."""
        self.counters["settled"] += 1
        if not adjustments:
            return
        if self.meters.local:
            self.meters.adjust_now(adjustments)
            return
        op = self.meters.adjust_unread(adjustments)  # None: sent, nothing to wait for (local coordinator)
        if op is None:
            return
        task = asyncio.get_running_loop().create_task(self._adjust(op))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _adjust(self, op: Coroutine[Any, Any, None]) -> None:
        try:
            await op
        except KVUnavailable as exc:  # the reservation stays until its window or period ends
            self.counters["outages"] += 1
            log.warning("limits: could not settle a reservation: %s", exc)

    async def drain(self) -> None:
        """Wait for the settlements still in flight (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def stats(self) -> dict[str, int]:
        return dict(self.counters)
