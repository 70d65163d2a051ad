"""`corral cost plan` and `corral cost replay` through click: the worked example as docs/cost.md
prints it, clear errors with exit code 2, the HTML chart, and plans from recorded traffic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.cli import main
from corral.cost.plan_model import load_plan
from corral.store import Database
from corral.store.testing import run_sync
from tests.cost.plan_rows import first_day, insert, traffic_rows
from tests.cost.test_plan_math import DOC, doc_plan_text


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(doc_plan_text(), encoding="utf-8")
    return path


def test_prints_the_worked_example_of_the_docs(plan_file: Path) -> None:
    result = CliRunner().invoke(main, ["cost", "plan", str(plan_file)])
    assert result.exit_code == 0, result.output
    section = DOC.read_text(encoding="utf-8").split("## Planning", 1)[1]
    printed = re.search(r"prints the same figures:\n\n```\n(.*?)```", section, re.S)
    assert printed is not None and result.output == printed.group(1)


def test_html_chart_and_json(plan_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "plan.html"
    result = CliRunner().invoke(main, ["cost", "plan", str(plan_file), "--html", str(page), "--json"])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "<script" not in html and "http" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "$31,950.00" in html and "polyline" in html
    data = json.loads(result.output)
    assert data["result"]["costs"][0]["per_month"][0] == pytest.approx(452.25)
    assert data["plan"]["traffic"]["daily_active_users"] == 2000


@pytest.mark.parametrize(("text", "expected"), [
    ("traffic: [unclosed", "is not valid YAML"),
    ("traffic: {requests_per_day: 10}\ntokens: {prompt_tokens: 5, response_tokens: 1}\n"
     "candidates: [{name: gpu, self_hosted: {gpu_per_hour_usd: 1, tokens_per_second: 9, utilization: 1.5}}]",
     "candidates.0.self_hosted.utilization: Input should be less than or equal to 1"),
    ("traffic: {requests_per_day: 10}\ntokens: {prompt_tokens: 5, response_tokens: 1}\n"
     "candidates: [{model: gpt-9-turbo}]", "no catalog price for 'gpt-9-turbo'"),
])
def test_bad_plans_exit_2_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["cost", "plan", str(path)])
    assert result.exit_code == 2 and expected in result.output, result.output


@pytest.mark.parametrize("args", [[], ["plan.yaml", "--from-records"], ["--route", "x", "plan.yaml"]])
def test_plan_needs_one_source(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["cost", "plan", *args])
    assert result.exit_code == 2


def test_replay_bad_options_exit_2() -> None:
    result = CliRunner().invoke(main, ["cost", "replay", "--cache-hit-rate", "1.5"])
    assert result.exit_code == 2 and "--cache-hit-rate" in result.output


def _seed(db_url: str) -> None:
    async def go() -> None:
        db = await Database.connect(db_url)
        try:
            await insert(db, traffic_rows(first_day()))
        finally:
            await db.close()

    run_sync(go())


def test_plan_and_replay_from_records(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(db_url)
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    saved, page = tmp_path / "plan.yaml", tmp_path / "plan.html"
    result = CliRunner().invoke(main, ["cost", "plan", "--from-records", "--since", "30d", "--model",
                                       "claude-haiku-4-5", "--save", str(saved), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert "Requests per day: P50 6, P99 12, 10x 60" in result.output
    assert "prompt 1,000 (25% cached), response 200" in result.output
    plan = load_plan(saved)
    assert plan.traffic.requests_per_day == 6 and plan.traffic.peak_to_typical == 2.0
    assert [c.label for c in plan.candidates] == ["gpt-4o-mini", "claude-haiku-4-5"]
    assert "<svg" in page.read_text(encoding="utf-8")
    again = CliRunner().invoke(main, ["cost", "plan", str(saved)])  # the saved plan gives the same figures
    assert again.exit_code == 0 and result.output.startswith(again.output)

    replayed = CliRunner().invoke(main, ["cost", "replay", "--model", "claude-haiku-4-5", "--cache-hit-rate",
                                         "0.5", "--prompt-factor", "0.5", "--since", "30d", "--json"])
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.output)["replayed_usd"] == pytest.approx(36 * 1275e-6)
    table = CliRunner().invoke(main, ["cost", "replay", "--since", "30d"])
    assert "gpt-4o-mini" in table.output and "unpriced" in table.output
