"""Retention (issue 13, item 2) on SQLite and PostgreSQL: each limit's edge, content nulled with
the row kept, the audit entry, dry runs, null (keep), batching, the hourly purge, the CLI and
the configuration's errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import Table, func, select

from corral.config import ConfigError, load_settings
from corral.files.settings import FileSettings
from corral.governance.audit import AuditLog
from corral.governance.cli import governance
from corral.governance.retention import ACTION, apply_retention, retention_purge
from corral.governance.settings import RetentionSettings
from corral.jobs.control import JobControl
from corral.jobs.queue import JobQueue
from corral.maintenance import Maintenance
from corral.store import Database, migrate
from corral.store.schema import feedback, policy_events, quality_scores, requests
from corral.store.testing import run_sync
from tests.governance.util import T0

NOW = T0 + timedelta(days=1000)
SECOND = timedelta(seconds=1)
KEEP_ALL = {"request_records_days": None, "captured_content_days": None, "policy_events_days": None,
            "feedback_days": None, "quality_scores_days": None, "closed_incidents_days": None}


def _request(n: int, at: datetime, content: bool = True) -> dict[str, Any]:
    return {
        "request_id": f"req_{n}", "created_at": at, "key_id": "key_a", "team": "t", "end_user": "u",
        "route": "gpt", "requested_model": "gpt", "status": "ok", "http_status": 200, "stream": False,
        "input_tokens": 3, "output_tokens": 4, "cached_tokens": 0, "reasoning_tokens": 0,
        "usage_estimated": False, "latency_ms": 1.0, "priced": False, "cache_hit": False,
        "attempts": "[]", "extras": "{}", "operation": "chat",
        "prompt": '[{"role": "user", "content": "hi"}]' if content else None,
        "response": "hello" if content else None,
    }


def _row(table: Table, n: int, at: datetime) -> dict[str, Any]:
    if table is requests:
        return _request(n, at)
    if table is policy_events:
        return {"created_at": at, "request_id": f"req_{n}", "route": "gpt", "category": "violence",
                "message": "refused", "prompt_excerpt": "x", "stream": False}
    if table is feedback:
        return {"created_at": at, "request_id": f"req_{n}", "rating": "up", "comment": "fine"}
    return {"created_at": at, "request_id": f"req_{n}", "route": "gpt", "kind": "similarity", "score": 0.5}


async def _insert(db: Database, table: Table, rows: list[dict[str, Any]]) -> None:
    await db.execute(table.insert(), rows)


async def _count(db: Database, table: Table) -> int:
    return int(await db.fetch_val(select(func.count()).select_from(table)))


async def _edges(db: Database, table: Table, days: int) -> None:
    """Two rows a second either side of the ``days`` limit at NOW."""
    limit = NOW - timedelta(days=days)
    await _insert(db, table, [_row(table, 1, limit - SECOND), _row(table, 2, limit + SECOND)])


@pytest.mark.parametrize(("table", "setting", "days"), [
    (requests, "request_records_days", 90), (policy_events, "policy_events_days", 365),
    (feedback, "feedback_days", 365), (quality_scores, "quality_scores_days", 90),
])
async def test_rows_just_outside_the_limit_go_and_just_inside_stay(
        migrated_db: Database, table: Table, setting: str, days: int) -> None:
    await _edges(migrated_db, table, days)
    counts = await apply_retention(migrated_db, RetentionSettings(), now=NOW)
    assert getattr(RetentionSettings(), setting) == days  # the documented default
    assert counts[table.name] == 1
    kept = await migrated_db.fetch_all(select(table.c.request_id))
    assert [r["request_id"] for r in kept] == ["req_2"]


async def test_content_is_nulled_and_the_row_kept(migrated_db: Database) -> None:
    limit = NOW - timedelta(days=30)
    await _insert(migrated_db, requests, [_request(1, limit - SECOND), _request(2, limit + SECOND),
                                          _request(3, limit - timedelta(days=5), content=False)])
    counts = await apply_retention(migrated_db, RetentionSettings(), now=NOW)
    assert counts["requests_content"] == 1 and counts["requests"] == 0
    rows = {r["request_id"]: r for r in await migrated_db.fetch_all(select(requests))}
    assert set(rows) == {"req_1", "req_2", "req_3"}
    assert rows["req_1"]["prompt"] is None and rows["req_1"]["response"] is None
    assert rows["req_1"]["input_tokens"] == 3 and rows["req_1"]["end_user"] == "u"  # telemetry stays
    assert rows["req_2"]["prompt"] is not None and rows["req_2"]["response"] == "hello"
    again = await apply_retention(migrated_db, RetentionSettings(), now=NOW)
    assert not any(again.values())  # nothing left to do


async def test_a_run_that_removed_something_is_audited_and_the_chain_verifies(migrated_db: Database) -> None:
    log = AuditLog(migrated_db)
    await log.append("cli:ops", "key.create", "key_a")
    await _edges(migrated_db, feedback, 365)
    await _insert(migrated_db, requests, [_request(9, NOW - timedelta(days=40))])
    counts = await apply_retention(migrated_db, RetentionSettings(), now=NOW)
    entries = await log.entries(action=ACTION)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor == "system" and entry.target == "governance.retention"
    assert entry.to_dict()["after"] == counts
    assert counts == {"requests": 0, "requests_content": 1, "policy_events": 0, "feedback": 1,
                      "quality_scores": 0, "incidents": 0}
    await apply_retention(migrated_db, RetentionSettings(), now=NOW)  # nothing to remove: no entry
    assert len(await log.entries(action=ACTION)) == 1
    result = await log.verify()
    assert result.ok and result.checked == 2, result


async def test_a_dry_run_counts_and_changes_nothing(migrated_db: Database) -> None:
    old = NOW - timedelta(days=100)
    await _insert(migrated_db, requests, [_request(1, old), _request(2, NOW - timedelta(days=40)),
                                          _request(3, NOW)])
    await _edges(migrated_db, policy_events, 365)
    counts = await apply_retention(migrated_db, RetentionSettings(), now=NOW, dry_run=True)
    # req_1 is deleted whole, so its content is not counted again
    assert counts == {"requests": 1, "requests_content": 1, "policy_events": 1, "feedback": 0,
                      "quality_scores": 0, "incidents": 0}
    assert await _count(migrated_db, requests) == 3 and await _count(migrated_db, policy_events) == 2
    assert await migrated_db.fetch_val(select(func.count()).where(requests.c.prompt.is_(None))) == 0
    assert await AuditLog(migrated_db).entries() == []
    assert await apply_retention(migrated_db, RetentionSettings(), now=NOW) == counts  # as predicted


async def test_null_keeps_everything(migrated_db: Database) -> None:
    ancient = NOW - timedelta(days=5000)
    for table in (requests, policy_events, feedback, quality_scores):
        await _insert(migrated_db, table, [_row(table, 1, ancient)])
    assert await apply_retention(migrated_db, RetentionSettings(**KEEP_ALL), now=NOW) == {}
    for table in (requests, policy_events, feedback, quality_scores):
        assert await _count(migrated_db, table) == 1
    assert await migrated_db.fetch_val(select(requests.c.prompt)) is not None
    # records kept forever, content still limited
    settings = RetentionSettings(**{**KEEP_ALL, "captured_content_days": 30})
    assert await apply_retention(migrated_db, settings, now=NOW) == {"requests_content": 1}
    assert await _count(migrated_db, requests) == 1
    assert await AuditLog(migrated_db).verify()


async def test_large_backlogs_go_in_bounded_batches(migrated_db: Database) -> None:
    old = NOW - timedelta(days=400)
    await _insert(migrated_db, feedback, [_row(feedback, i, old) for i in range(1200)])
    await _insert(migrated_db, requests, [_request(i, NOW - timedelta(days=40)) for i in range(1200)])
    await _insert(migrated_db, feedback, [_row(feedback, 5000, NOW)])
    statements: list[str] = []
    real = migrated_db.transaction

    def counting(**kw: Any) -> Any:
        statements.append("tx")
        return real(**kw)

    migrated_db.transaction = counting  # type: ignore[method-assign]
    try:
        counts = await apply_retention(migrated_db, RetentionSettings(), now=NOW, batch_size=500)
    finally:
        del migrated_db.transaction
    assert counts["feedback"] == 1200 and counts["requests_content"] == 1200
    # 3 batches each (500, 500, 200) for feedback and content, one each for the other four rules,
    # and the audit entry's transaction
    assert len(statements) == 3 + 3 + 4 + 1
    assert await _count(migrated_db, feedback) == 1
    assert await migrated_db.fetch_val(select(func.count()).where(requests.c.prompt.is_not(None))) == 0
    with pytest.raises(ValueError, match="batch_size"):
        await apply_retention(migrated_db, RetentionSettings(), batch_size=0)


async def test_the_hourly_purge_reports_retention(migrated_db: Database) -> None:
    maintenance = Maintenance(migrated_db, JobQueue(migrated_db), FileSettings())
    maintenance.purges["retention"] = retention_purge(migrated_db, RetentionSettings(feedback_days=1))
    await _insert(migrated_db, feedback, [_row(feedback, 1, datetime.now(NOW.tzinfo) - timedelta(days=2))])
    job = await maintenance.offer()
    report = await maintenance.purge(job, JobControl(job, "w"))
    assert isinstance(report, dict) and report["retention"]["feedback"] == 1  # type: ignore[index,call-overload]
    assert "files" in report and await _count(migrated_db, feedback) == 0


def test_the_cli_runs_it_now_and_dry(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corral.yaml").write_text("governance:\n  retention:\n    feedback_days: 1\n")

    async def fill() -> None:
        db = await Database.connect(db_url)
        try:
            await migrate(db)
            await _insert(db, feedback, [_row(feedback, 1, datetime.now(NOW.tzinfo) - timedelta(days=2))])
        finally:
            await db.close()

    run_sync(fill())
    runner = CliRunner()
    dry = runner.invoke(governance, ["retention", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert orjson.loads(dry.output) == {"dry_run": True, "counts": {
        "requests": 0, "requests_content": 0, "policy_events": 0, "feedback": 1, "quality_scores": 0,
        "incidents": 0}}
    done = runner.invoke(governance, ["retention"])
    assert done.exit_code == 0, done.output
    assert "Removed or nulled 1 rows" in done.output and "feedback_days" in done.output
    assert "audit_log_days" in done.output and "keep" in done.output
    again = runner.invoke(governance, ["retention", "--json"])
    assert orjson.loads(again.output)["counts"]["feedback"] == 0


@pytest.mark.parametrize(("yaml", "expected"), [
    ("captured_content_days: 120", "governance.retention: captured_content_days (120) must not be longer "
                                   "than request_records_days (90)"),
    ("audit_log_days: 3650", "governance.retention: audit_log_days must be null (got 3650)"),
    ("feedback_days: 0", "governance.retention.feedback_days: Input should be greater than or equal to 1"),
    ("feedback_days: 1.5", "governance.retention.feedback_days: Input should be a valid integer"),
    ("feedback_days: '30'", "governance.retention.feedback_days: Input should be a valid integer"),
    ("keep_forever: true", "governance.retention.keep_forever: unknown key"),
])
def test_configuration_errors_name_the_keys(tmp_path: Path, yaml: str, expected: str) -> None:
    path = tmp_path / "corral.yaml"
    path.write_text(f"governance:\n  retention:\n    {yaml}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert expected in str(info.value)


def test_defaults_and_allowed_values(tmp_path: Path) -> None:
    assert RetentionSettings().model_dump() == {
        "request_records_days": 90, "captured_content_days": 30, "policy_events_days": 365,
        "feedback_days": 365, "quality_scores_days": 90, "closed_incidents_days": 730, "audit_log_days": None}
    path = tmp_path / "corral.yaml"
    path.write_text("governance:\n  retention:\n    request_records_days: null\n"
                    "    captured_content_days: 400\n")
    retention = load_settings(path).governance.retention
    assert retention.request_records_days is None and retention.captured_content_days == 400


async def test_closed_incidents_age_from_closing_and_open_ones_stay(migrated_db: Database) -> None:
    """An incident opened three years ago and still open is the review queue's: never purged."""
    from corral.incidents.store import IncidentStore, Report
    from corral.store.schema import incident_notes, incidents

    store = IncidentStore(migrated_db)
    ids = [(await store.report(Report("wrong", None, f"req_{i}", None, "key_a", "t", None))).incident.id
           for i in range(3)]
    old, recent = NOW - timedelta(days=731), NOW - timedelta(days=700)
    long_ago = NOW - timedelta(days=3 * 365)
    for incident_id, created, resolved, state in [(ids[0], long_ago, old, "resolved"),
                                                  (ids[1], long_ago, recent, "dismissed"),
                                                  (ids[2], long_ago, None, "open")]:
        await migrated_db.execute(incidents.update().where(incidents.c.id == incident_id)
                                  .values(created_at=created, resolved_at=resolved, state=state))
    counts = await apply_retention(migrated_db, RetentionSettings(), now=NOW)
    assert counts["incidents"] == 1
    left = {r["id"] for r in await migrated_db.fetch_all(select(incidents.c.id))}
    assert left == {ids[1], ids[2]}
    notes = {r["incident_id"] for r in await migrated_db.fetch_all(select(incident_notes.c.incident_id))}
    assert notes == {ids[1], ids[2]}  # the purged incident's notes went with it
