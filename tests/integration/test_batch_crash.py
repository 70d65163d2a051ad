"""Issue 10's crash test: a running batch survives SIGKILL of the process that runs it.

A real `corral serve` (a subprocess, so SIGKILL is real: no `finally`, no graceful stop, no
buffered write flushed) runs a 1,000-line batch against the simulator. Once some lines are
done it is killed, then started again on the same database. The batch must complete with
every custom_id exactly once in the output and no error file, and the simulator must have
received at most 1,000 + the lines that were in flight at the kill: those are the only
ones whose upstream request may have been sent but whose answer was not yet committed.

"In flight" is read from the database after the kill: `batch_item` jobs still leased
(`in_progress`). The dead process can no longer change anything, so that count is exact,
and it includes lines whose answer had arrived but was waiting to be committed. The
simulator's own in-flight gauge just before the kill is reported beside it.
"""

from __future__ import annotations

import io
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import yaml
from sqlalchemy import func, select

from corral.simulator import SimSettings, SimulatorThread
from corral.store import Database
from corral.store.schema import jobs
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_url_with_schema, run_sync
from tests.integration.processes import banner_key, free_port, serve, wait_ready

LINES = 1000
KILL_AFTER = 250  # completed lines when the process is killed: some, but far from all
MODEL = "gpt-sim"


@dataclass
class Setup:
    config: Path
    db_url: str
    log: Path


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    schema = None
    db_url = f"sqlite:///{tmp_path / 'corral.db'}"
    if request.param == "postgresql":
        schema = run_sync(create_pg_schema())  # skips only when PostgreSQL is unreachable (fails in CI)
        db_url = pg_url_with_schema(schema)
    try:
        yield Setup(tmp_path / "corral.yaml", db_url, tmp_path / "serve.log")
    finally:
        if schema is not None:
            run_sync(drop_pg_schema(schema))


def _write_config(setup: Setup, sim_url: str, port: int) -> None:
    setup.config.write_text(yaml.safe_dump({
        "home": str(setup.config.parent / "home"),
        "database_url": setup.db_url,
        "server": {"port": port},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {MODEL: {"deployments": [{"provider": "sim", "model": MODEL}]}},
        # A short lease so the dead process's lines are given back within seconds.
        "jobs": {"lease_s": 2.0, "poll_interval_s": 0.05, "concurrency": 16},
        "batches": {"check_interval_s": 0.2},
    }))


def _submit(client: openai.OpenAI) -> str:
    lines = [{"custom_id": f"line-{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": f"n {i}"}]}}
             for i in range(LINES)]
    data = io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    uploaded = client.files.create(file=("crash.jsonl", data), purpose="batch")
    return client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                 completion_window="24h").id


def _wait_until(client: openai.OpenAI, batch_id: str, done: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        batch = client.batches.retrieve(batch_id)
        if done(batch):
            return batch
        assert time.monotonic() < deadline, f"batch stuck: {batch.status} {batch.request_counts}"
        time.sleep(0.05)


async def _leased_items(db_url: str, batch_id: str) -> dict[str, int]:
    db = await Database.connect(db_url)
    try:
        rows = await db.fetch_all(select(jobs.c.status, func.count().label("n"))
                                  .where(jobs.c.parent_id == batch_id, jobs.c.kind == "batch_item")
                                  .group_by(jobs.c.status))
        return {r["status"]: int(r["n"]) for r in rows}
    finally:
        await db.close()


def test_a_batch_survives_sigkill_with_every_line_answered_once(setup: Setup) -> None:
    with SimulatorThread(SimSettings(latency_ms=50, output_tokens=4)) as sim:
        port = free_port()
        _write_config(setup, sim.url, port)
        proc = serve(setup.config, setup.log)
        try:
            wait_ready(proc, setup.log, port)
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=banner_key(setup.log),
                                   max_retries=0)
            batch_id = _submit(client)
            at_kill = _wait_until(client, batch_id, lambda b: b.request_counts.completed >= KILL_AFTER, 40)
            sim_in_flight = sim.state.stats.in_flight
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            statuses = run_sync(_leased_items(setup.db_url, batch_id))
            in_flight = statuses.get("in_progress", 0)
            assert statuses.get("completed", 0) < LINES, f"the batch had finished before the kill: {statuses}"
            assert in_flight > 0, f"nothing was running at the kill: {statuses}"
            sent_before_restart = sim.state.stats.models[MODEL]

            proc = serve(setup.config, setup.log)  # the same database, which holds the batch and its queue
            wait_ready(proc, setup.log, port)
            final = _wait_until(client, batch_id, lambda b: b.status not in ("in_progress", "finalizing"), 60)
            output_file = client.files.content(final.output_file_id).read() if final.output_file_id else b""
        finally:
            proc.kill()
            proc.wait(timeout=10)
        sent = sim.state.stats.models[MODEL]

    report = (f"at kill: {at_kill.request_counts.completed} completed, items {statuses}, simulator in flight "
              f"{sim_in_flight}, {sent_before_restart} requests sent; in all {sent} requests")
    print(report)
    assert final.status == "completed", report
    assert (final.request_counts.completed, final.request_counts.failed) == (LINES, 0), report
    assert final.error_file_id is None, report
    output = [orjson.loads(line) for line in output_file.splitlines()]
    seen = Counter(line["custom_id"] for line in output)
    assert sorted(seen) == sorted(f"line-{i}" for i in range(LINES)), "every line answered"
    assert set(seen.values()) == {1}, f"answered more than once: {[c for c, n in seen.items() if n > 1]}"
    assert all(line["response"]["status_code"] == 200 for line in output)
    assert LINES <= sent <= LINES + in_flight, report
