"""What the budgets stand at, from the durable request records (``requests``).

The enforcement keeps fast counters (Redis or in-process); this module reads the records,
which survive a flushed Redis and a restart. ``spent()`` seeds a missing counter, and
``budget_status()`` feeds `corral budgets`, the dashboard's Budgets view and the ``budget``
alert. Records are written a moment after a request ends, so a report lags the counters by
about a second; a record's time is when its request started.

Forecast of a dollar budget at the period's end, the run rate method::

    forecast = spent + rate x hours left,  rate = dollars of the last L hours / L

with L = 6 h for a daily budget and 7 days for a monthly one (a whole weekly cycle, so a
quiet weekend does not hide busy weekdays), both cut to the time elapsed in the period
when that is shorter. It is never below what is already spent, and at the period's start
(nothing elapsed) it is the spend itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, or_, select

from corral.limits.settings import METRICS, LimitRule, LimitSettings, Metric
from corral.store.db import Database
from corral.store.schema import api_keys, requests

Period = Literal["day", "month", "minute"]
Scope = Literal["key", "team", "route"]
State = Literal["ok", "soft", "hard", "forecast-over"]
DOLLARS: dict[Metric, Period] = {"usd_per_day": "day", "usd_per_month": "month"}
PERIODS: dict[Metric, Period] = {"rpm": "minute", "tpm": "minute", **DOLLARS}
ALL_METRICS: tuple[Metric, ...] = tuple(PERIODS)  # settings.METRICS, typed
assert ALL_METRICS == METRICS
#: How far back the run rate looks (cut to the time elapsed in the period).
LOOKBACK = {"day": timedelta(hours=6), "month": timedelta(days=7)}
_COLUMNS = {"key": requests.c.key_id, "team": requests.c.team, "route": requests.c.route}


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """The UTC period holding ``now``: [start, end). A minute is the sliding one ending now."""
    now = now.astimezone(UTC)
    if period == "minute":
        return now - timedelta(seconds=60), now
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)


def _where(since: datetime, until: datetime | None, key_ids: Sequence[str] | None, team: str | None,
           route: str | None) -> list[ColumnElement[bool]]:
    c = requests.c
    where = [c.created_at >= since]
    if until is not None:
        where.append(c.created_at < until)
    if key_ids is not None:
        where.append(c.key_id.in_(list(key_ids)) if len(key_ids) != 1 else c.key_id == key_ids[0])
    if team is not None:
        where.append(c.team == team)
    if route is not None:
        where.append(c.route == route)
    return where


async def spent(db: Database, *, since: datetime, key_ids: Sequence[str] | None = None,
                team: str | None = None, route: str | None = None, until: datetime | None = None) -> float:
    """Dollars recorded since ``since`` (before ``until``) for the scope; unpriced counts as 0.

    One aggregate over the ``requests`` indexes: on SQLite the planner takes ``ix_requests_key_id``,
    ``ix_requests_team`` or ``ix_requests_route`` when the scope names one, else
    ``ix_requests_created_at`` (tests/limits/test_spend.py checks the plan). An empty
    ``key_ids`` (a key name no key has) is $0 without a query.
    """
    if key_ids is not None and not key_ids:
        return 0.0
    return float(await db.fetch_val(spent_query(since, until, key_ids, team, route)))


def spent_query(since: datetime, until: datetime | None = None, key_ids: Sequence[str] | None = None,
                team: str | None = None, route: str | None = None) -> Select[tuple[float]]:
    """The statement ``spent()`` runs (apart, so its query plan can be checked)."""
    return select(func.coalesce(func.sum(requests.c.cost_usd), 0.0)).where(
        *_where(since, until, key_ids, team, route))


@dataclass(frozen=True)
class Usage:
    """What a scope used in a window: requests, prompt + answer tokens and dollars."""

    requests: int = 0
    tokens: int = 0
    usd: float = 0.0

    def of(self, metric: Metric) -> float:
        return {"rpm": self.requests, "tpm": self.tokens}.get(metric, self.usd)


_USAGE = (func.count().label("requests"),
          func.coalesce(func.sum(requests.c.input_tokens + requests.c.output_tokens), 0).label("tokens"),
          func.coalesce(func.sum(requests.c.cost_usd), 0.0).label("usd"))


def _usage(row: Any) -> Usage:
    return Usage(int(row["requests"]), int(row["tokens"]), float(row["usd"]))


async def usage(db: Database, since: datetime, until: datetime, *, key_ids: Sequence[str] | None = None,
                team: str | None = None, route: str | None = None) -> Usage:
    if key_ids is not None and not key_ids:
        return Usage()
    row = await db.fetch_one(select(*_USAGE).where(*_where(since, until, key_ids, team, route)))
    return Usage() if row is None else _usage(row)


async def usage_by(db: Database, scope: Scope, since: datetime, until: datetime) -> dict[str, Usage]:
    """Usage per key, team or route with records in the window (one GROUP BY)."""
    column = _COLUMNS[scope]
    rows = await db.fetch_all(select(column.label("v"), *_USAGE).where(
        *_where(since, until, None, None, None), column.is_not(None)).group_by(column))
    return {str(r["v"]): _usage(r) for r in rows}


@dataclass(frozen=True)
class BudgetLine:
    """One limit of one scope against what the records show."""

    scope: Scope
    value: str  # key id or key name (as the rule names it), team, route
    metric: Metric
    start: datetime
    end: datetime
    spent: float  # dollars, requests or tokens
    soft: float | None
    hard: float | None
    used: float | None  # spent as a share of hard (of soft when there is no hard)
    forecast: float | None  # dollars at the period's end; None for rpm and tpm
    state: State
    rule: str  # where the limit comes from: keys, teams, routes, every_key, every_team
    key_name: str | None = None
    key_ids: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(start=self.start.isoformat(), end=self.end.isoformat(), key_ids=list(self.key_ids))
        return data


def forecast(spent_usd: float, recent_usd: float, recent: timedelta, left: timedelta) -> float:
    """The run rate method (module docstring): ``recent_usd`` was spent over the last ``recent``."""
    if recent <= timedelta(0):
        return spent_usd
    return spent_usd + max(0.0, recent_usd * (left / recent))


def state_of(spent_value: float, soft: float | None, hard: float | None, projected: float | None) -> State:
    if hard is not None and spent_value >= hard:
        return "hard"
    if soft is not None and spent_value >= soft:
        return "soft"
    limit = hard if hard is not None else soft
    if projected is not None and limit is not None and projected >= limit:
        return "forecast-over"
    return "ok"


@dataclass(frozen=True)
class _Target:
    """A scope a rule applies to, with the filter that selects its records."""

    scope: Scope
    value: str
    rule: str
    key_name: str | None = None
    key_ids: tuple[str, ...] = ()

    def filters(self) -> dict[str, Any]:
        if self.scope == "key":
            return {"key_ids": self.key_ids}
        return {self.scope: self.value}


async def resolve_keys(db: Database, names: Sequence[str]) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """Each key rule's name -> (key ids, key name): an id of a key, else every key of that name.

    A ``key_...`` that is no stored key still selects records by that id (a key deleted
    since); any other name no key has selects nothing.
    """
    if not names:
        return {}
    rows = await db.fetch_all(select(api_keys.c.id, api_keys.c.name).where(
        or_(api_keys.c.id.in_(list(names)), api_keys.c.name.in_(list(names)))).order_by(api_keys.c.id))
    out: dict[str, tuple[tuple[str, ...], str | None]] = {}
    for name in names:
        by_id = [r["name"] for r in rows if r["id"] == name]
        if by_id:
            out[name] = ((name,), by_id[0])
        else:
            ids = tuple(r["id"] for r in rows if r["name"] == name)
            out[name] = (ids, name) if ids or not name.startswith("key_") else ((name,), None)
    return out


async def key_names(db: Database, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await db.fetch_all(select(api_keys.c.id, api_keys.c.name).where(api_keys.c.id.in_(list(ids))))
    return {r["id"]: r["name"] for r in rows}


async def budget_status(db: Database, settings: LimitSettings, now: datetime | None = None, *,
                        metrics: Collection[Metric] = ALL_METRICS) -> list[BudgetLine]:
    """Every configured limit (of ``metrics``) of every scope at ``now`` (default: now), in the
    order of the file.

    Rules under ``every_key`` / ``every_team`` give one line per key / team that has records
    in the limit's period and no rule of its own. Dollar lines carry the forecast (module
    docstring); rpm and tpm lines count the last 60 s of records.
    """
    at = (now or datetime.now(UTC)).astimezone(UTC)
    resolved = await resolve_keys(db, list(settings.keys))
    targets: list[tuple[_Target, LimitRule]] = [
        (_Target("key", name, "keys", resolved[name][1], resolved[name][0]), rule)
        for name, rule in settings.keys.items()]
    targets += [(_Target("team", t, "teams"), rule) for t, rule in settings.teams.items()]
    targets += [(_Target("route", r, "routes"), rule) for r, rule in settings.routes.items()]
    lines = [await _line(db, target, rule, metric, at)
             for target, rule in targets for metric in _limited(rule, metrics)]
    ruled_keys = {key_id for ids, _ in resolved.values() for key_id in ids}
    if settings.every_key is not None:
        lines += await _every(db, "key", settings.every_key, metrics, ruled_keys, at)
    if settings.every_team is not None:
        lines += await _every(db, "team", settings.every_team, metrics, set(settings.teams), at)
    return lines


async def _line(db: Database, target: _Target, rule: LimitRule, metric: Metric, at: datetime,
                used: Usage | None = None, recent: Usage | None = None) -> BudgetLine:
    """One line; ``used`` and ``recent`` when a GROUP BY already has them (every_key/team)."""
    period = PERIODS[metric]
    start, end = period_bounds(period, at)
    if used is None:
        used = await usage(db, start, at, **target.filters())
    projected = None
    if period != "minute":
        since = max(start, at - LOOKBACK[period])
        if recent is None:
            recent = await usage(db, since, at, **target.filters())
        projected = forecast(used.usd, recent.usd, at - since, end - at)
    value, soft, hard = used.of(metric), rule.soft(metric), rule.hard(metric)
    limit = hard if hard is not None else soft
    return BudgetLine(
        scope=target.scope, value=target.value, metric=metric, start=start, end=end,
        spent=value, soft=soft, hard=hard, used=value / limit if limit else None, forecast=projected,
        state=state_of(value, soft, hard, projected), rule=target.rule, key_name=target.key_name,
        key_ids=target.key_ids)


async def _every(db: Database, scope: Scope, rule: LimitRule, metrics: Collection[Metric], ruled: set[str],
                 at: datetime) -> list[BudgetLine]:
    """The lines of an every_key / every_team rule: two GROUP BYs per period, not two queries a scope."""
    lines: list[BudgetLine] = []
    names: dict[str, str] = {}
    for metric in _limited(rule, metrics):
        period = PERIODS[metric]
        start, _ = period_bounds(period, at)
        used = {v: u for v, u in (await usage_by(db, scope, start, at)).items() if v not in ruled}
        recent: dict[str, Usage] = {}
        if period != "minute" and used:
            recent = await usage_by(db, scope, max(start, at - LOOKBACK[period]), at)
        if scope == "key":
            names.update(await key_names(db, [k for k in used if k not in names]))
        for value in sorted(used):
            target = _Target(scope, value, f"every_{scope}", names.get(value),
                             (value,) if scope == "key" else ())
            lines.append(await _line(db, target, rule, metric, at, used[value], recent.get(value, Usage())))
    return lines


BudgetCheck = Callable[[datetime], Awaitable[float | None]]


def budget_check(db: Database, settings: LimitSettings) -> BudgetCheck | None:
    """For the ``budget`` alert: the largest spent/soft ratio (spent/hard without a soft level)
    among the dollar budgets, None when no dollar budget is configured (the rule stays unknown)."""
    rules = [*settings.keys.values(), *settings.teams.values(), *settings.routes.values(),
             *(r for r in (settings.every_key, settings.every_team) if r is not None)]
    if not any(_limited(rule, DOLLARS) for rule in rules):
        return None

    async def check(now: datetime) -> float | None:
        ratios = [line.spent / level for line in await budget_status(db, settings, now, metrics=DOLLARS)
                  if (level := line.soft or line.hard)]
        return max(ratios, default=None)

    return check


def _limited(rule: LimitRule, metrics: Collection[Metric]) -> list[Metric]:
    """The metrics of ``metrics`` the rule sets a level for, in METRICS order."""
    return [m for m in ALL_METRICS if m in metrics and (rule.hard(m) is not None or rule.soft(m) is not None)]


def report(lines: Sequence[BudgetLine], at: datetime, configured: bool) -> dict[str, Any]:
    """The JSON document of `corral budgets --json` and ``GET /admin/dashboard/budgets``."""
    return {"at": at.astimezone(UTC).isoformat(), "configured": configured, "docs": "docs/limits.md",
            "data": [line.to_dict() for line in lines]}
