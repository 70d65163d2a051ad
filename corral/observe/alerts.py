"""Alert rules over the ``requests`` table, evaluated in the background, with webhook delivery.

Why here and not in Prometheus: many Corral deployments run without a metrics stack, and
the request table already holds every number a rule needs (``queries.summary`` gives the
same percentiles the dashboard shows, so an alert and the chart never disagree). Each rule
is evaluated every ``interval_s`` over its own trailing window; a rule changes state only
on a transition (ok -> firing, firing -> resolved), and only transitions are delivered, so
a webhook receiver gets one message per incident rather than one per tick. Delivery is
best effort: a webhook failure is logged and never stops evaluation. Among replicas only the
leader (corral.store.leader) evaluates, so a receiver gets each transition once; a follower's
``GET /admin/alerts`` says ``"leader": false`` and shows no states of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp

from corral.core.tasks import cancel_and_wait
from corral.observe import queries
from corral.observe.settings import AlertRule, AlertSettings
from corral.store.db import Database

log = logging.getLogger("corral.alerts")

#: Returns a quality score for the window (higher is better), or None when unknown.
QualityCheck = Callable[[int], Awaitable[float | None]]
#: The largest spent/soft ratio of the dollar budgets at a time (corral.limits.spend.budget_check),
#: None when no budget is configured. A callable, so this module never imports corral.limits.
BudgetCheck = Callable[[datetime], Awaitable[float | None]]
SCORE_KINDS = ("quality", "consistency")  # rules on a score: they fire when it drops below the threshold


@dataclass
class AlertState:
    """A rule's current state, as ``GET /admin/alerts`` shows it."""

    rule: AlertRule
    state: Literal["ok", "firing", "unknown"] = "unknown"
    value: float | None = None
    since: float | None = None  # unix time of the last transition
    evaluated_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.rule.name, "kind": self.rule.kind, "threshold": self.rule.threshold,
                "window_s": self.rule.window_s, "state": self.state, "value": self.value,
                "since": self.since, "evaluated_at": self.evaluated_at}


def _ms(value: Any) -> float | None:
    """A percentile from the summary query: a number of milliseconds, or None without data."""
    return None if value is None else float(value)


def measure(rule: AlertRule, summary: dict[str, Any]) -> float | None:
    """The rule's observed value from a ``queries.summary`` result (None: not enough data)."""
    if summary["count"] < max(rule.min_requests, 1 if rule.kind != "cost_burn" else 0):
        return None
    if rule.kind == "latency_p99":
        return _ms(summary["latency_ms"]["p99"])
    if rule.kind == "ttft_p99":
        ttft = summary["ttft_client_ms"]["p99"]
        return _ms(ttft if ttft is not None else summary["ttft_upstream_ms"]["p99"])
    if rule.kind == "error_rate":
        return float(summary["error_rate"])
    if rule.kind == "cost_burn":
        return (summary["cost_usd"] or 0.0) * 86400 / rule.window_s
    raise ValueError(f"no summary measure for {rule.kind}")


def breached(rule: AlertRule, value: float) -> bool:
    if rule.kind == "budget":
        return value >= rule.threshold  # spent reached the soft level: that is the alert
    return value < rule.threshold if rule.kind in SCORE_KINDS else value > rule.threshold


class AlertEngine:
    """Evaluates the rules every ``interval_s``; ``start()`` / ``aclose()`` bracket the task.

    ``evaluate()`` runs one pass and returns the transitions, so tests (and a CLI) can
    drive it without the timer.
    """

    def __init__(self, db: Database, settings: AlertSettings, *, quality: QualityCheck | None = None,
                 consistency: QualityCheck | None = None, budget: BudgetCheck | None = None,
                 clock: Callable[[], float] = time.time, leads: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        self.leads = leads  # whether this process is the system's leader, now
        self.settings = settings
        self.quality = quality
        self.consistency = consistency  # grounded answers against their sources (quality_scores)
        self.budget = budget  # the `limits:` dollar budgets against the records
        self.clock = clock
        self.states = {r.name: AlertState(r) for r in settings.rules}
        self.history: list[dict[str, Any]] = []  # recent transitions, newest last
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if self._task is None and self.settings.rules:
            self._task = asyncio.create_task(self._run(), name="corral-alerts")

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def snapshot(self) -> dict[str, Any]:
        return {"rules": [s.to_dict() for s in self.states.values()], "history": self.history[-50:],
                "interval_s": self.settings.interval_s, "leader": self.leads()}

    async def _run(self) -> None:
        while True:
            try:
                if self.leads():
                    await self.evaluate()
            except Exception:  # a database hiccup must not end alerting for good
                log.exception("alert evaluation failed")
            await asyncio.sleep(self.settings.interval_s)

    async def evaluate(self) -> list[dict[str, Any]]:
        """One pass over every rule; returns (and delivers) the state transitions."""
        now = self.clock()
        summaries: dict[int, dict[str, Any]] = {}
        events: list[dict[str, Any]] = []
        for state in self.states.values():
            rule = state.rule
            value = await self._value(rule, summaries, now)
            state.evaluated_at, state.value = now, value
            if value is None:
                continue  # no data keeps the previous state: silence is not recovery
            firing = breached(rule, value)
            new: Literal["ok", "firing"] = "firing" if firing else "ok"
            if new == state.state:
                continue
            first_ok = state.state == "unknown" and not firing  # a quiet start is not a "resolved"
            state.state, state.since = new, now
            if first_ok:
                continue
            events.append({"alert": rule.name, "kind": rule.kind,
                           "status": "firing" if firing else "resolved", "value": value,
                           "threshold": rule.threshold, "window_s": rule.window_s,
                           "at": datetime.fromtimestamp(now, UTC).isoformat()})
        for event in events:
            await self._deliver(event)
        self.history = (self.history + events)[-200:]
        return events

    async def _value(self, rule: AlertRule, cache: dict[int, dict[str, Any]], now: float) -> float | None:
        if rule.kind in SCORE_KINDS:
            check = self.quality if rule.kind == "quality" else self.consistency
            return None if check is None else await check(rule.window_s)
        if rule.kind == "budget":
            return None if self.budget is None else await self.budget(datetime.fromtimestamp(now, UTC))
        if rule.window_s not in cache:
            since = datetime.fromtimestamp(now, UTC) - timedelta(seconds=rule.window_s)
            cache[rule.window_s] = await queries.summary(self.db, since)
        return measure(rule, cache[rule.window_s])

    async def _deliver(self, event: dict[str, Any]) -> None:
        level = logging.WARNING if event["status"] == "firing" else logging.INFO
        log.log(level, "alert %s %s: value=%s threshold=%s", event["alert"], event["status"],
                event["value"], event["threshold"])
        url = self.settings.webhook_url
        if not url:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s))
        try:
            async with self._session.post(url, json=event) as resp:
                if resp.status >= 400:
                    log.warning("alert webhook answered %s for %s", resp.status, event["alert"])
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("alert webhook failed for %s: %s", event["alert"], exc)
