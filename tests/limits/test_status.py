"""`budget_status()`: lines per rule, key names, every_key / every_team, forecasts and states."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from corral.limits.settings import LimitSettings
from corral.limits.spend import BudgetLine, budget_check, budget_status, forecast, state_of
from corral.store import Database
from tests.limits.records import add_key, at, insert, record

NOW = at("2026-05-10 12:00")
H = timedelta(hours=1)


def limits(**data: Any) -> LimitSettings:
    return LimitSettings.model_validate(data)


def by(lines: list[BudgetLine]) -> dict[tuple[str, str], BudgetLine]:
    return {(line.value, line.metric): line for line in lines}


def test_forecast_is_spent_plus_the_recent_run_rate_times_what_is_left() -> None:
    assert forecast(6.0, 4.0, 6 * H, 12 * H) == pytest.approx(14.0)  # $4 in 6 h: $0.667/h for 12 h
    assert forecast(5.0, 0.0, 6 * H, 12 * H) == 5.0  # nothing lately: stays at what is spent
    assert forecast(0.0, 0.0, timedelta(0), 24 * H) == 0.0  # the period's first instant
    assert forecast(3.0, 3.0, 6 * H, timedelta(0)) == 3.0  # the period's end


def test_states() -> None:
    assert state_of(12, 8, 12, 20) == "hard"
    assert state_of(8, 8, 12, 9) == "soft"
    assert state_of(6, 8, 12, 12) == "forecast-over"
    assert state_of(6, 8, 12, 11.9) == "ok"
    assert state_of(6, 8, None, 8) == "forecast-over"  # soft only: the forecast against soft
    assert state_of(2, None, None, None) == "ok"


async def test_dollar_lines_forecast_by_hand(migrated_db: Database) -> None:
    await insert(
        migrated_db,
        record("2026-05-02 10:00", 10.0, team="research"),  # this month, before the 7-day look-back
        record("2026-05-05 10:00", 8.0, team="research"),
        record("2026-05-10 03:00", 2.0, team="research"),  # today, before the 6-hour look-back
        record("2026-05-10 09:00", 3.0, team="research"),
        record("2026-05-10 11:00", 1.0, team="research"),
        record("2026-05-10 13:00", 50.0, team="research"),  # after the reviewed moment
    )
    settings = limits(teams={"research": {"usd_per_day": {"soft": 8, "hard": 12}, "usd_per_month": 100}})
    lines = by(await budget_status(migrated_db, settings, NOW))
    day = lines[("research", "usd_per_day")]
    # today $6; the last 6 h (06:00-12:00) $4, $0.667/h for the 12 h left: 6 + 8 = $14 >= hard $12
    assert (day.spent, day.soft, day.hard) == (pytest.approx(6.0), 8, 12)
    assert day.forecast == pytest.approx(14.0) and day.state == "forecast-over"
    assert day.used == pytest.approx(0.5)
    assert (day.start, day.end) == (at("2026-05-10 00:00"), at("2026-05-11 00:00"))
    month = lines[("research", "usd_per_month")]
    # month $24; the last 7 days (from 3 May 12:00) $14, $2/day for the 21.5 days left: 24 + 43 = $67
    assert month.spent == pytest.approx(24.0) and month.soft == pytest.approx(80.0) and month.hard == 100
    assert month.forecast == pytest.approx(67.0) and month.state == "ok"
    assert (month.scope, month.rule, month.key_name) == ("team", "teams", None)


async def test_early_in_the_day_the_rate_is_over_the_elapsed_time(migrated_db: Database) -> None:
    await insert(migrated_db, record("2026-05-09 23:00", 9.0, team="night"),
                 record("2026-05-10 01:00", 1.0, team="night"))
    settings = limits(teams={"night": {"usd_per_day": 20}})
    (line,) = await budget_status(migrated_db, settings, at("2026-05-10 02:00"))
    assert line.spent == pytest.approx(1.0)  # yesterday's $9 is not today's
    assert line.forecast == pytest.approx(12.0)  # $1 in the 2 h elapsed, $0.5/h for 22 h: 1 + 11
    assert line.state == "ok" and line.used == pytest.approx(0.05)


async def test_key_rules_by_id_or_name_and_every_key(migrated_db: Database) -> None:
    for key_id, name in (("key_a1", "app"), ("key_a2", "app"), ("key_c", "ci"), ("key_x", "batch-job")):
        await add_key(migrated_db, key_id, name)
    await insert(
        migrated_db,
        record("2026-05-10 08:00", 1.0, key="key_a1"), record("2026-05-10 09:00", 2.0, key="key_a2"),
        record("2026-05-10 10:00", 0.9, key="key_c"), record("2026-05-10 10:00", 3.0, key="key_x"),
        record("2026-05-10 10:00", 0.25, key="key_y"),  # a key no longer stored
        record(NOW - timedelta(seconds=5), 0.0, key="key_gone"),
        record(NOW - timedelta(seconds=61), 0.0, key="key_gone"),  # outside the minute
    )
    settings = limits(keys={"app": {"usd_per_day": 10}, "key_c": {"usd_per_day": 1},
                            "ghost": {"usd_per_day": 1}, "key_gone": {"rpm": 5}},
                      every_key={"usd_per_day": 2})
    lines = by(await budget_status(migrated_db, settings, NOW))
    app = lines[("app", "usd_per_day")]
    assert app.key_ids == ("key_a1", "key_a2") and app.key_name == "app" and app.spent == pytest.approx(3.0)
    ci = lines[("key_c", "usd_per_day")]
    assert ci.key_ids == ("key_c",) and ci.key_name == "ci" and ci.state == "soft"  # $0.9 >= soft $0.8
    ghost = lines[("ghost", "usd_per_day")]
    assert ghost.key_ids == () and ghost.spent == 0 and ghost.state == "ok"
    gone = lines[("key_gone", "rpm")]
    assert gone.key_ids == ("key_gone",) and gone.key_name is None
    assert gone.spent == 1 and gone.forecast is None
    every = {v: line for (v, m), line in lines.items() if line.rule == "every_key"}
    assert sorted(every) == ["key_x", "key_y"]  # keys with records today and no rule of their own
    assert every["key_x"].key_name == "batch-job" and every["key_x"].state == "hard"  # $3 >= $2
    assert every["key_y"].spent == pytest.approx(0.25) and every["key_y"].scope == "key"


async def test_every_team_and_routes_and_the_last_minute(migrated_db: Database) -> None:
    await insert(
        migrated_db,
        record(NOW - timedelta(seconds=30), 0.1, team="ml", tokens=(100, 20)),
        record(NOW - timedelta(seconds=10), 0.1, team="ml", tokens=(50, 10)),
        record(NOW - timedelta(seconds=90), 0.1, team="research", tokens=(1000, 0)),
        record("2026-05-01 00:00", 40.0, team="ops", route="mini"),
    )
    settings = limits(teams={"research": {"usd_per_month": 5}},
                      routes={"gpt-4o": {"rpm": 3, "tpm": {"soft": 100, "hard": 1000}}},
                      every_team={"usd_per_month": {"soft": 30}, "rpm": 10})
    lines = by(await budget_status(migrated_db, settings, NOW))
    rpm, tpm = lines[("gpt-4o", "rpm")], lines[("gpt-4o", "tpm")]
    assert (rpm.spent, rpm.soft, rpm.hard, rpm.state) == (2, pytest.approx(2.4), 3, "ok")
    assert (tpm.spent, tpm.state, tpm.used) == (180, "soft", pytest.approx(0.18))
    assert (rpm.start, rpm.end) == (NOW - timedelta(seconds=60), NOW)
    every = {(v, m): line for (v, m), line in lines.items() if line.rule == "every_team"}
    assert set(every) == {("ml", "usd_per_month"), ("ops", "usd_per_month"), ("ml", "rpm")}  # not research
    ops = every[("ops", "usd_per_month")]
    assert ops.state == "soft" and ops.hard is None and ops.used == pytest.approx(40 / 30)
    assert every[("ml", "rpm")].spent == 2


async def test_budget_check_is_the_largest_spent_over_soft(migrated_db: Database) -> None:
    assert budget_check(migrated_db, limits(routes={"gpt-4o": {"rpm": 5}})) is None  # no dollar budget
    await insert(migrated_db, record("2026-05-10 10:00", 3.0, team="a"),
                 record("2026-05-10 10:00", 1.0, team="b"))
    check = budget_check(migrated_db, limits(teams={"a": {"usd_per_day": 10},
                                                    "b": {"usd_per_day": {"hard": 2}}}))
    assert check is not None
    assert await check(NOW) == pytest.approx(0.5)  # b: $1 of hard $2 (no soft) beats a: $3 of soft $8
    assert await check(at("2026-05-11 09:00")) == 0.0  # a new day
