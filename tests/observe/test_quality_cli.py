"""``corral golden`` add/list/remove through CliRunner (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from corral.observe.quality.cli import golden
from corral.store import ENV_DATABASE_URL


def test_golden_cli_round_trip(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DATABASE_URL, db_url)
    runner = CliRunner()

    result = runner.invoke(golden, ["list"])
    assert result.exit_code == 0 and "No golden examples" in result.output

    result = runner.invoke(golden, ["add", "--route", "support", "--question", "How do I reset my password?",
                                    "--answer", "Settings > Security > Reset password."])
    assert result.exit_code == 0, result.output
    assert "Added golden example" in result.output

    listed = json.loads(runner.invoke(golden, ["list", "--json"]).output)
    assert [(e["route"], e["question"]) for e in listed] == [("support", "How do I reset my password?")]
    assert "support" in runner.invoke(golden, ["list", "--route", "support"]).output

    result = runner.invoke(golden, ["remove", str(listed[0]["id"])])
    assert result.exit_code == 0 and "Removed" in result.output
    result = runner.invoke(golden, ["remove", str(listed[0]["id"])])
    assert result.exit_code == 1 and "No golden example" in result.output


def test_golden_cli_rejects_blank_values(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DATABASE_URL, db_url)
    result = CliRunner().invoke(golden, ["add", "--route", "support", "--question", " ", "--answer", "a"])
    assert result.exit_code == 2 and "question" in result.output
