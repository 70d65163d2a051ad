"""`corral costs` beside the totals: cache hits and what exact-cache hits saved, on SQLite and
PostgreSQL (the saving is read from the records' extras JSON with each backend's function)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.cost.cli import costs
from tests.observe.test_logs_cli import put


def test_costs_show_cache_hits_and_savings(db_url: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    put(db_url, range(2), tmp_path, route="faq", cost_usd=0.5, priced=True)
    put(db_url, range(2, 5), tmp_path, route="faq", cost_usd=0.0, priced=True, cache_hit=True,
        extras={"cache": "hit", "cache_saved_usd": 0.25})
    put(db_url, range(5, 6), tmp_path, route="faq", cost_usd=0.0, priced=True, cache_hit=True,
        extras={"cache": "hit", "cache_saved_usd": None})  # the answer's model is unpriced
    put(db_url, range(6, 7), tmp_path, route="other", cost_usd=0.5, priced=True)
    result = CliRunner().invoke(costs, ["--by", "route", "--since", "1d", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["route"]: r for r in map(json.loads, result.output.splitlines())}
    assert rows["faq"]["cache_hits"] == 4 and rows["faq"]["saved_usd"] == pytest.approx(0.75)
    assert rows["other"]["cache_hits"] == 0 and rows["other"]["saved_usd"] is None
    table = CliRunner().invoke(costs, ["--by", "route"]).output
    assert "SAVED USD" in table and "0.750000" in table
