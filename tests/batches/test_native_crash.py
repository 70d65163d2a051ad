"""A native batch's submit job killed after the provider created the batch: the job runs
again in a fresh process over the same database, finds that batch by the metadata Corral
tagged it with, and polls it; no second provider batch, every line answered once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from corral.batches.native.chunks import POLL, SUBMIT
from corral.batches.runner import BatchRunner
from corral.batches.types import FINAL, Batch, Submitter
from corral.config import Settings
from corral.gateway import Gateway
from corral.jobs.control import JobControl
from corral.jobs.leases import Leases
from corral.jobs.types import NewJob
from corral.simulator import SimulatorThread
from corral.store.schema import utcnow
from tests.conftest import settings_for

TEAM = "team-a"


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in that process."""


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread() as simulator:
        yield simulator


def _settings(tmp_path: Path, sim: SimulatorThread) -> Settings:
    return settings_for(
        tmp_path, {"sim": {"type": "openai", "base_url": sim.url + "/v1", "api_key_env": "CORRAL_NO_KEY"}},
        {"gpt-4o-mini": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "batch": "native"}},
        database_url=f"sqlite:///{tmp_path / 'corral.db'}", jobs={"poll_interval_s": 0.05, "lease_s": 1.0},
        batches={"check_interval_s": 0.05, "native_poll_interval_s": 0.05},
    )


async def _new_batch(runner: BatchRunner, n: int) -> Batch:
    lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"line {i}"}]}}
             for i in range(n)]
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    uploaded = await runner.files.create_from_bytes(TEAM, "batch", "in.jsonl", data)
    now = utcnow()
    batch = Batch(id="batch_nativecrash", submitter=Submitter("key_1", "app", TEAM, ("inference",)),
                  endpoint="/v1/chat/completions", input_file_id=uploaded.id, completion_window="24h",
                  status="validating", created_at=now, expires_at=now + timedelta(days=1))
    await runner.submit(batch)
    return batch


async def _run_one(leases: Leases, runner: BatchRunner, kind: str) -> Any:
    [job] = await leases.claim("w1", [kind], 1)
    result = await runner.handlers()[kind](job, JobControl(job, "w1"))
    assert await leases.complete(job, result)
    return result


@pytest.mark.parametrize("killed", ["before its first look is queued", "before its result is stored"])
async def test_a_submit_killed_after_the_provider_created_its_batch_is_not_submitted_twice(
        tmp_path: Path, sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch, killed: str) -> None:
    settings = _settings(tmp_path, sim)
    first = await Gateway.start(settings, warmup=False, run_jobs=False)
    try:
        runner = first.batches
        assert runner is not None
        batch = await _new_batch(runner, 5)
        leases = Leases(first.db, first.jobs.settings)
        await _run_one(leases, runner, "batch_plan")
        [submit] = await leases.claim("w1", [SUBMIT], 1)
        enqueue = runner.queue.enqueue

        async def killed_before_its_first_look(new: NewJob) -> Any:
            if new.kind == POLL:
                raise Killed  # the provider's batch exists; the job's result was never stored
            return await enqueue(new)

        if killed == "before its first look is queued":
            monkeypatch.setattr(runner.queue, "enqueue", killed_before_its_first_look)
            with pytest.raises(Killed):
                await runner.handlers()[SUBMIT](submit, JobControl(submit, "w1"))
        else:  # the handler returned, the process died before the worker stored the result
            await runner.handlers()[SUBMIT](submit, JobControl(submit, "w1"))
    finally:
        await first.stop()
    assert sim.state.batches.created == 1

    second = await Gateway.start(settings, warmup=False, run_jobs=False)  # a fresh process, same database
    try:
        await second.worker.start()  # its recovery pass requeues the killed worker's job after lease_s
        runner = second.batches
        assert runner is not None
        deadline = time.monotonic() + 20
        while (done := await runner.store.load(batch.id)) is not None and not done.final:
            assert time.monotonic() < deadline, done.status
            await asyncio.sleep(0.05)
        assert done is not None and done.status == "completed" and done.status in FINAL
        assert sim.state.batches.created == 1, "the re-run found the provider's batch: none submitted again"
        output = (await runner.files.read(done.output_file_id or "", TEAM)).splitlines()
        assert sorted(orjson.loads(line)["custom_id"] for line in output) == [f"c{i}" for i in range(5)]
        assert done.error_file_id is None
    finally:
        await second.stop()
