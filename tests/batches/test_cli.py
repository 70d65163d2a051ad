"""`corral batch` through click's CliRunner against a real gateway (fake provider, SQLite).

The client speaks only the public API, so one backend is enough here; the queries behind
`corral costs --by batch` run on both in tests/cost/test_batch_totals.py.
"""

from __future__ import annotations

import asyncio
import io
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from corral.batches.cli import _follow, batch
from corral.cost.cli import costs
from tests.batches.gateway import batch_gateway, batch_records, chat_line
from tests.conftest import RunningServer
from tests.fakes import FakeProvider
from tests.files.server import new_key


class Gateway:
    def __init__(self, server: RunningServer, database_url: str, tmp: Path) -> None:
        self.server = server
        self.database_url = database_url
        self.tmp = tmp

    def run(self, *args: str, key: str | None = None) -> Result:
        """`corral batch ARGS` against this gateway with the default app key."""
        connection = ["--url", self.server.url, "--key", key or self.server.app_key]
        return CliRunner().invoke(batch, [*args, *connection],
                                  env={"CORRAL_URL": None, "CORRAL_API_KEY": None, "OPENAI_API_KEY": None})

    def jsonl(self, name: str, lines: list[dict[str, Any]]) -> str:
        path = self.tmp / name
        path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        return str(path)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("batch-cli")
    with batch_gateway("sqlite", tmp, ("echo", "slow", "fail-context")) as (server, database_url):
        yield Gateway(server, database_url, tmp)


def _status(gateway: Gateway, batch_id: str) -> dict[str, Any]:
    result = gateway.run("status", batch_id, "--json")
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = orjson.loads(result.stdout)
    return found


def test_submit_wait_then_status_list_results_and_costs(gateway: Gateway) -> None:
    # too-hot: refused by the chat parser (no record); too-long: an upstream error (a record)
    lines = [*(chat_line(f"q{i}") for i in range(6)), chat_line("too-hot", temperature=5),
             chat_line("too-long", "fail-context")]
    path = gateway.jsonl("requests.jsonl", lines)
    result = gateway.run("submit", path, "--wait", "--interval", "0.05", "-m", "job=nightly", "-m", "n=7")
    assert result.exit_code == 0, result.output
    batch_id = result.stdout.splitlines()[0]
    assert batch_id.startswith("batch_")
    assert f"{batch_id} completed: 6 answered, 2 failed of 8" in result.stdout
    assert f"corral batch results {batch_id} --errors" in result.stdout

    shown = gateway.run("status", batch_id)
    assert shown.exit_code == 0 and "completed" in shown.output
    assert "6 answered, 2 failed of 8" in shown.output and "job=nightly, n=7" in shown.output
    assert _status(gateway, batch_id)["metadata"] == {"job": "nightly", "n": "7"}
    listed = gateway.run("list", "--limit", "100")
    assert listed.exit_code == 0 and batch_id in listed.output and "ANSWERED" in listed.output

    out = gateway.tmp / "answers.jsonl"
    saved = gateway.run("results", batch_id, "-o", str(out))
    assert saved.exit_code == 0, saved.output
    answers = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [a["custom_id"] for a in answers] == [f"q{i}" for i in range(6)], "input order"
    assert not (gateway.tmp / "answers.jsonl.part").exists()
    errors = gateway.run("results", batch_id, "--errors")
    assert errors.exit_code == 0
    failed = [orjson.loads(line) for line in errors.stdout.splitlines()]
    assert [(e["custom_id"], e["response"]["status_code"]) for e in failed] == [("too-hot", 400),
                                                                                ("too-long", 400)]

    # corral costs --by batch: the records' own sums (six priced answers, one error)
    records = batch_records(gateway.database_url, batch_id, 7)
    assert len(records) == 7
    totals = CliRunner().invoke(costs, ["--by", "batch", "--since", "1h", "--json"],
                                env={"CORRAL_DATABASE_URL": gateway.database_url})
    assert totals.exit_code == 0, totals.output
    [row] = [r for r in map(orjson.loads, totals.stdout.splitlines()) if r["batch"] == batch_id]
    assert row["requests"] == len(records) and row["errors"] == 1
    assert row["input_tokens"] == sum(r["input_tokens"] for r in records)
    assert row["output_tokens"] == sum(r["output_tokens"] for r in records)
    assert row["cost_usd"] == pytest.approx(sum(r["cost_usd"] or 0 for r in records), abs=1e-8)
    assert row["cost_usd"] > 0 and row["unpriced_requests"] == 0
    table = CliRunner().invoke(costs, ["--by", "batch", "--since", "1h"],
                               env={"CORRAL_DATABASE_URL": gateway.database_url})
    assert batch_id in table.output, "the table shows whole batch ids"


def test_cancel_and_a_wait_that_ends_cancelled(gateway: Gateway) -> None:
    FakeProvider.delay_s = 0.3
    try:
        # Enough lines that the batch cannot finish before the cancel, however loaded the machine.
        slow = gateway.jsonl("slow.jsonl", [chat_line(f"s{i}", "slow") for i in range(200)])
        submitted = gateway.run("submit", slow)
        assert submitted.exit_code == 0, submitted.output
        batch_id = submitted.stdout.strip()
        assert f"corral batch status {batch_id} --wait" in submitted.output
        deadline = time.monotonic() + 10
        while _status(gateway, batch_id)["status"] == "validating" and time.monotonic() < deadline:
            time.sleep(0.05)
        cancelled = gateway.run("cancel", batch_id)
        assert cancelled.exit_code == 0, cancelled.output
        assert cancelled.output.startswith(f"{batch_id} cancel")
        waited = gateway.run("status", batch_id, "--wait", "--interval", "0.05")
        assert waited.exit_code == 1, "a wait that does not end completed exits 1"
        assert f"{batch_id} cancelled:" in waited.output
        again = gateway.run("cancel", batch_id)
        assert again.exit_code == 0 and "cancelled" in again.output
    finally:
        FakeProvider.delay_s = 5.0


def test_results_of_an_unfinished_batch_say_to_wait(gateway: Gateway) -> None:
    FakeProvider.delay_s = 2.0
    try:
        batch_id = gateway.run("submit", gateway.jsonl("one.jsonl", [chat_line("x", "slow")])).stdout.strip()
        result = gateway.run("results", batch_id)
        assert result.exit_code == 1
        assert "files are written when it finishes" in result.output
        assert f"corral batch status {batch_id} --wait" in result.output
        gateway.run("cancel", batch_id)
    finally:
        FakeProvider.delay_s = 5.0


def test_errors_say_what_to_do(gateway: Gateway) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = CliRunner().invoke(batch, ["list", "--url", closed, "--key", "sk-corral-x"])
    assert down.exit_code == 1
    assert f"No Corral gateway is reachable at {closed}" in down.output and "corral serve" in down.output
    assert "Traceback" not in down.output

    refused = gateway.run("list", key="sk-corral-not-a-real-key")
    assert refused.exit_code == 1 and "CORRAL_API_KEY" in refused.output and "refused" in refused.output

    missing = gateway.run("status", "batch_" + "0" * 32)
    assert missing.exit_code == 1 and "No batch 'batch_0000" in missing.output
    assert "for your team" in missing.output and "corral batch list" in missing.output

    mine = gateway.run("submit", gateway.jsonl("mine.jsonl", [chat_line("m")])).stdout.strip()
    theirs = new_key(gateway.server, "other-team")
    for command in ("status", "cancel", "results"):
        other = gateway.run(command, mine, key=theirs)
        assert other.exit_code == 1 and "No batch" in other.output, (command, other.output)

    no_key = CliRunner().invoke(batch, ["list", "--url", gateway.server.url],
                                env={"CORRAL_API_KEY": None, "OPENAI_API_KEY": "sk-proj-an-openai-key"})
    assert no_key.exit_code == 1 and "No API key. Set CORRAL_API_KEY" in no_key.output
    in_openai_var = {"CORRAL_API_KEY": None, "OPENAI_API_KEY": gateway.server.app_key}
    from_openai_var = CliRunner().invoke(batch, ["list", "--url", gateway.server.url], env=in_openai_var)
    assert from_openai_var.exit_code == 0, from_openai_var.output

    bad_metadata = gateway.run("submit", gateway.jsonl("m2.jsonl", [chat_line("m")]), "-m", "novalue")
    assert bad_metadata.exit_code == 2 and "KEY=VALUE" in bad_metadata.output


def test_help_reads_well() -> None:
    result = CliRunner().invoke(batch, ["--help"])
    assert result.exit_code == 0
    for command in ("submit", "list", "status", "cancel", "results"):
        assert command in result.output
    assert "CORRAL_API_KEY" in result.output and "CORRAL_URL" in result.output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wait_draws_a_progress_bar_with_an_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    def state(status: str, done: int, failed: int = 0, total: int = 10) -> dict[str, Any]:
        return {"id": "batch_x", "status": status,
                "request_counts": {"total": total, "completed": done, "failed": failed}}

    polls = [state("validating", 0, total=0), state("in_progress", 0), state("in_progress", 1),
             state("in_progress", 2), state("in_progress", 3, 1), state("in_progress", 4, 1),
             state("in_progress", 5, 1), state("in_progress", 6, 1), state("in_progress", 7, 1),
             state("finalizing", 8, 2), state("completed", 8, 2)]

    class Polled:
        async def get(self, batch_id: str) -> dict[str, Any]:
            return polls.pop(0)

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    # click estimates at most once a second: the bar lives 1.6 s before it is full
    done = asyncio.run(_follow(Polled(), polls.pop(0), 0.2))  # type: ignore[arg-type]
    assert done["status"] == "completed"
    drawn = terminal.getvalue()
    assert "batch_x: validating" in drawn
    assert re.search(r"batch_x\s+\[#+-+\]\s+\d/10\s+00:00:\d\d\s+1 failed", drawn), drawn
    assert "1 failed" in drawn and "10/10" in drawn
