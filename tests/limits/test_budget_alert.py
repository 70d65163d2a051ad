"""The `budget` alert kind: the largest spent/soft ratio of the dollar budgets, against its threshold."""

from __future__ import annotations

from pathlib import Path

from corral.limits.settings import LimitSettings
from corral.limits.spend import budget_check
from corral.observe.alerts import AlertEngine, AlertRule, AlertSettings
from corral.store import Database
from tests.limits.records import at, insert, record

T0 = at("2026-05-10 12:00").timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_threshold_defaults_to_the_soft_level_for_budget_only() -> None:
    assert AlertRule.model_validate({"name": "b", "kind": "budget"}).threshold == 1.0
    assert AlertRule.model_validate({"name": "b", "kind": "budget", "threshold": 0.9}).threshold == 0.9
    try:
        AlertRule.model_validate({"name": "p", "kind": "latency_p99"})
    except ValueError as exc:
        assert "threshold" in str(exc)
    else:
        raise AssertionError("latency_p99 without a threshold was accepted")


async def test_budget_fires_at_soft_then_resolves_next_day(migrated_db: Database, tmp_path: Path) -> None:
    limits = LimitSettings.model_validate({"teams": {"research": {"usd_per_day": {"soft": 4, "hard": 5}}}})
    clock = Clock()
    rule = AlertRule.model_validate({"name": "spend", "kind": "budget"})
    engine = AlertEngine(migrated_db, AlertSettings(rules=[rule]), budget=budget_check(migrated_db, limits),
                         clock=clock)
    await insert(migrated_db, record("2026-05-10 09:00", 2.0, team="research"))
    assert await engine.evaluate() == [] and engine.states["spend"].state == "ok"  # a quiet start
    assert engine.states["spend"].value == 0.5
    await insert(migrated_db, record("2026-05-10 11:00", 2.0, team="research"))  # $4: exactly soft
    events = await engine.evaluate()
    assert [(e["alert"], e["kind"], e["status"], e["value"], e["threshold"]) for e in events] == [
        ("spend", "budget", "firing", 1.0, 1.0)]
    clock.now = at("2026-05-11 00:30").timestamp()  # a new UTC day
    assert [e["status"] for e in await engine.evaluate()] == ["resolved"]
    await engine.aclose()


async def test_budget_rule_without_budgets_stays_unknown(migrated_db: Database) -> None:
    rule = AlertRule.model_validate({"name": "spend", "kind": "budget"})
    engine = AlertEngine(migrated_db, AlertSettings(rules=[rule]),
                         budget=budget_check(migrated_db, LimitSettings()), clock=Clock())
    assert await engine.evaluate() == [] and engine.states["spend"].state == "unknown"
    await engine.aclose()
