"""`corral feedback list`: the CLI reads back what POST /v1/feedback stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.cli import main
from corral.observe.quality.feedback import Feedback, FeedbackStore
from corral.store import open_database_from_env


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path))
    monkeypatch.delenv("CORRAL_DATABASE_URL", raising=False)

    async def seed() -> None:
        db = await open_database_from_env()
        try:
            store = FeedbackStore(db)
            await store.add(Feedback(request_id="req_1", rating="down", comment="wrong  year", team="search"))
            await store.add(Feedback(request_id="req_2", rating="up", score=0.9, team="ops"))
        finally:
            await db.close()

    asyncio.run(seed())
    return tmp_path


def test_list_prints_a_table_and_json_with_filters(home: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(main, ["feedback", "list"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["when", "(UTC)", "request", "team", "rating", "score", "comment"]
    assert "req_2" in lines[2] and "0.90" in lines[2] and "wrong year" in lines[3]  # newest first
    down = runner.invoke(main, ["feedback", "list", "--rating", "down", "--json"])
    assert [item["request_id"] for item in json.loads(down.output)] == ["req_1"]
    none = runner.invoke(main, ["feedback", "list", "--team", "nobody"])
    assert "No feedback matches" in none.output


def test_bad_options_are_refused_with_the_choices(home: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["feedback", "list", "--rating", "meh"])
    assert bad.exit_code == 2 and "'meh' is not one of 'up', 'down'" in bad.output
    since = runner.invoke(main, ["feedback", "list", "--since", "yesterday"])
    assert since.exit_code == 2 and "--since" in since.output
