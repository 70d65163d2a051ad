"""`corral costs` beside the totals: cache hits (exact and semantic) and what they saved in dollars and
in waiting time, on SQLite and PostgreSQL (read from the records' extras JSON with each backend's
functions)."""

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
    put(db_url, range(2, 5), tmp_path, route="faq", cost_usd=0.0, priced=True, cache_hit=True, latency_ms=2.0,
        extras={"cache": "hit", "cache_saved_usd": 0.25, "cache_original_latency_ms": 802.0})
    put(db_url, range(7, 8), tmp_path, route="faq", cost_usd=0.0, priced=True, cache_hit=True, latency_ms=5.0,
        extras={"cache": "hit", "cache_match": "semantic", "cache_saved_usd": 0.25,
                "cache_original_latency_ms": 3.0})  # faster to make than to find: saved no time
    put(db_url, range(5, 6), tmp_path, route="faq", cost_usd=0.0, priced=True, cache_hit=True,
        extras={"cache": "hit", "cache_saved_usd": None})  # the answer's model is unpriced
    put(db_url, range(6, 7), tmp_path, route="other", cost_usd=0.5, priced=True)
    result = CliRunner().invoke(costs, ["--by", "route", "--since", "1d", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["route"]: r for r in map(json.loads, result.output.splitlines())}
    assert rows["faq"]["cache_hits"] == 5 and rows["faq"]["saved_usd"] == pytest.approx(1.0)
    assert rows["faq"]["semantic_hits"] == 1 and rows["faq"]["saved_s"] == pytest.approx(2.4)  # 3 x 0.8 s
    assert rows["other"]["cache_hits"] == 0 and rows["other"]["saved_usd"] is None
    table = CliRunner().invoke(costs, ["--by", "route"]).output
    assert "SAVED USD" in table and "1.000000" in table and "SAVED S" in table and "2.4" in table


def test_costs_by_tag(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    put(db_url, range(3), tmp_path, route="reports", cost_usd=0.25, priced=True,
        extras={"tags": {"report_type": "credit-risk"}})
    put(db_url, range(3, 4), tmp_path, route="reports", cost_usd=0.5, priced=True)  # untagged
    result = CliRunner().invoke(costs, ["--by", "tag:report_type", "--since", "1d", "--json"])
    assert result.exit_code == 0, result.output
    [row] = map(json.loads, result.output.splitlines())
    assert row["tag"] == "credit-risk" and row["requests"] == 3 and row["cost_usd"] == pytest.approx(0.75)
    for bad in ("tag:a'b", "tag:", "nonsense"):
        refused = CliRunner().invoke(costs, ["--by", bad])
        assert refused.exit_code == 2 and ("tag:KEY" in refused.output or "tag key" in refused.output)
