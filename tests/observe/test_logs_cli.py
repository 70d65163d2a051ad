"""`corral logs` and `corral stats` through click's CliRunner, on both backends."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.observe.cli import logs, stats
from corral.observe.sink import RecordSink
from corral.store import Database, migrate
from corral.store.testing import run_sync
from tests.observe.test_sink_support import make_record


def put(url: str, numbers: range, tmp_path: Path, **kw: object) -> None:
    async def run() -> None:
        db = await Database.connect(url)
        try:
            await migrate(db)
            sink = RecordSink(db, tmp_path / "spool")
            for i in numbers:
                sink.submit(make_record(i, created_at=time.time() - (1000 - i), **kw))
            await sink.aclose()
        finally:
            await db.close()

    run_sync(run())


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    return CliRunner()


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_logs_prints_json_lines_oldest_first_with_filters(runner: CliRunner, db_url: str,
                                                          tmp_path: Path) -> None:
    put(db_url, range(10), tmp_path)
    put(db_url, range(10, 13), tmp_path, status="error", route="claude")
    result = runner.invoke(logs, ["--limit", "4"])
    assert result.exit_code == 0, result.output
    assert [r["request_id"] for r in lines(result.output)] == [f"req_{i:06d}" for i in (9, 10, 11, 12)]
    assert "prompt" not in lines(result.output)[0]
    result = runner.invoke(logs, ["--status", "error", "--route", "claude", "--since", "1h", "--content"])
    rows = lines(result.output)
    assert [r["request_id"] for r in rows] == ["req_000010", "req_000011", "req_000012"]
    assert rows[0]["response"] == "Hi 10"
    result = runner.invoke(logs, ["--key", "key_other"])
    assert result.exit_code == 0 and result.output == ""


def test_logs_follow_prints_new_records(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    put(db_url, range(3), tmp_path)
    outcome: dict[str, object] = {}

    def follow() -> None:
        outcome["result"] = runner.invoke(logs, ["--follow", "--interval", "0.1", "--polls", "15"])

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.5)
    put(db_url, range(3, 5), tmp_path)
    thread.join(10)
    result = outcome["result"]
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    ids = [r["request_id"] for r in lines(result.output)]  # type: ignore[attr-defined]
    assert ids == [f"req_{i:06d}" for i in range(5)]


def test_logs_rejects_a_bad_since(runner: CliRunner) -> None:
    result = runner.invoke(logs, ["--since", "yesterday"])
    assert result.exit_code == 2 and "--since" in result.output


def test_stats_summary_and_json(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    assert "No requests recorded" in runner.invoke(stats, []).output
    put(db_url, range(20), tmp_path)
    put(db_url, range(20, 22), tmp_path, status="error", cost_usd=None, priced=False)
    result = runner.invoke(stats, ["--since", "2h"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Requests   22 since" in text and "Errors     2 (9.1%)" in text
    assert "Latency    p50 200.0  p95 200.0  p99 200.0 ms" in text
    assert "$0.0240 (+2 unpriced)" in text and "gpt-main" in text
    data = json.loads(runner.invoke(stats, ["--json", "--key", "key_abc"]).output)
    assert data["count"] == 22 and data["unpriced"] == 2 and data["tokens"]["input"] == 22 * 120
