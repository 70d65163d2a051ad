"""`corral budgets` through click's CliRunner, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.cli import main
from corral.store import Database, migrate
from corral.store.testing import run_sync
from tests.limits.records import add_key, insert, record

CONFIG = """\
providers:
  oai: {type: openai}
models:
  gpt-4o: {deployments: [{provider: oai, model: gpt-4o}]}
limits:
  keys:
    app: {usd_per_day: 10}
  teams:
    research: {usd_per_month: {soft: 4, hard: 5}}
  routes:
    gpt-4o: {rpm: 100}
"""


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CORRAL_CONFIG", raising=False)
    (tmp_path / "corral.yaml").write_text(CONFIG)
    (tmp_path / "empty.yaml").write_text("server: {port: 8081}\n")
    return CliRunner()


def seed(url: str) -> None:
    async def go() -> None:
        db = await Database.connect(url)
        try:
            await migrate(db)
            await add_key(db, "key_a1", "app")
            await insert(db, record("2026-05-10 09:00", 2.5, key="key_a1"),
                         record("2026-05-10 10:00", 4.5, key="key_b", team="research"))
        finally:
            await db.close()

    run_sync(go())


def test_table_and_json(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    config = str(tmp_path / "corral.yaml")
    result = runner.invoke(main, ["budgets", "-c", config, "--at", "2026-05-10T12:00:00Z"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "As of 2026-05-10 12:00:00 UTC"
    assert lines[1].split() == ["SCOPE", "LIMIT", "PERIOD", "SPENT", "SOFT", "HARD", "USED", "%", "FORECAST",
                                "STATE"]
    rows = {line.split()[1]: line.split() for line in lines[3:]}
    assert rows["app"] == ["key", "app", "usd_per_day", "2026-05-10", "$2.5000", "$8.0000", "$10.0000",
                           "25.0%", "$7.5000", "ok"]  # $2.5 in the 6 h look-back, $0.417/h for 12 h: 2.5 + 5
    assert rows["research"][2:5] == ["usd_per_month", "2026-05", "$4.5000"] and rows["research"][-1] == "soft"
    assert rows["gpt-4o"][2:4] == ["rpm", "last"] and rows["gpt-4o"][-1] == "ok"

    as_json = runner.invoke(main, ["budgets", "--config", config, "--json", "--at", "2026-05-10 12:00"])
    doc = json.loads(as_json.output)
    assert doc["configured"] is True and doc["at"] == "2026-05-10T12:00:00+00:00"
    app = next(line for line in doc["data"] if line["value"] == "app")
    assert app["key_ids"] == ["key_a1"] and app["spent"] == pytest.approx(2.5)
    assert app["forecast"] == pytest.approx(7.5)
    assert app["start"] == "2026-05-10T00:00:00+00:00" and app["state"] == "ok"


def test_no_limits_and_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["budgets", "-c", str(tmp_path / "empty.yaml")])
    assert result.exit_code == 0 and "No limits are configured" in result.output
    assert "docs/limits.md" in result.output
    doc = json.loads(runner.invoke(main, ["budgets", "-c", str(tmp_path / "empty.yaml"), "--json"]).output)
    assert doc["configured"] is False and doc["data"] == []
    bad = runner.invoke(main, ["budgets", "-c", str(tmp_path / "corral.yaml"), "--at", "teatime"])
    assert bad.exit_code == 2 and "--at" in bad.output
    help_text = runner.invoke(main, ["budgets", "--help"]).output
    assert "forecast-over" in help_text and "--at" in help_text
