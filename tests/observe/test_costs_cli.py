"""`corral costs`: totals by team and by model from stored records, unpriced kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.cost.cli import costs
from tests.observe.test_logs_cli import put


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    return CliRunner()


def test_costs_by_team_and_unpriced(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    put(db_url, range(3), tmp_path, team="alpha", cost_usd=0.25, priced=True)
    put(db_url, range(3, 5), tmp_path, team="beta", cost_usd=None, priced=False)
    result = runner.invoke(costs, ["--by", "team", "--since", "1d", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["team"]: r for r in map(json.loads, result.output.splitlines())}
    assert rows["alpha"]["cost_usd"] == pytest.approx(0.75) and rows["alpha"]["requests"] == 3
    assert rows["beta"]["cost_usd"] is None and rows["beta"]["unpriced_requests"] == 2
    table = runner.invoke(costs, ["--by", "team"]).output
    assert "unpriced" in table and "0.750000" in table


def test_costs_rejects_a_bad_window(runner: CliRunner) -> None:
    result = runner.invoke(costs, ["--since", "yesterday-ish"])
    assert result.exit_code == 2 and "--since" in result.output
