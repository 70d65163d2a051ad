"""BatchRunner's item handler alone: pacing per route, and which failures are retried."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from corral.batches.runner import BatchRunner, LineOutcome, LineRequest
from corral.batches.settings import BatchSettings
from corral.batches.store import BatchStore
from corral.batches.types import Batch, Submitter
from corral.jobs.control import JobControl
from corral.jobs.errors import JobFailed, QueueFull
from corral.jobs.queue import JobQueue
from corral.jobs.settings import JobSettings
from corral.jobs.types import Job
from corral.store import Database
from corral.store.schema import utcnow


def _job(n: int, model: str = "m", attempts: int = 1, max_attempts: int = 3) -> Job:
    payload = {"batch_id": "batch_x", "endpoint": "/v1/chat/completions", "line": n, "custom_id": f"c{n}",
               "body": {"model": model}, "who": ["key_1", "app", "team-a", ["inference"]]}
    return Job(id=f"batch_x-{n:07d}", kind="batch_item", team="team-a", key_id="key_1", payload=payload,
               status="in_progress", priority=0, attempts=attempts, max_attempts=max_attempts,
               not_before=utcnow(), created_at=utcnow())


class Upstream:
    """A LineServer that answers after a pause, noting how many lines it serves at once."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.now = self.most = 0
        self.seen: list[LineRequest] = []

    async def __call__(self, line: LineRequest) -> LineOutcome:
        self.seen.append(line)
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.01)
        self.now -= 1
        error = {"error": {"message": "no", "code": "x"}}
        body: dict[str, Any] = {"ok": True} if self.status < 400 else error
        return LineOutcome(self.status, line.request_id, body, retryable=self.status >= 500)


def _runner(serve: Any, **settings: Any) -> BatchRunner:
    return BatchRunner(store=None, queue=None, files=None, serve=serve,  # type: ignore[arg-type]
                       route_of=lambda m: {"m": "route-m", "alias": "route-m"}.get(m),
                       settings=BatchSettings(**settings))


async def _run(runner: BatchRunner, jobs: list[Job]) -> list[Any]:
    return await asyncio.gather(*(runner.item(j, JobControl(j, "w")) for j in jobs), return_exceptions=True)


async def test_a_routes_batch_lines_are_paced_by_its_concurrency_limit() -> None:
    serve = Upstream()
    runner = _runner(serve, route_concurrency={"route-m": 2})
    jobs = [_job(i, model="m" if i % 2 else "alias") for i in range(10)]  # an alias shares its route's limit
    results = await _run(runner, jobs)
    assert all(r == {"response": {"status_code": 200, "request_id": f"req_x-{i:07d}", "body": {"ok": True}}}
               for i, r in enumerate(results))
    assert serve.most == 2


async def test_without_a_limit_lines_run_as_the_worker_allows() -> None:
    serve = Upstream()
    await _run(_runner(serve), [_job(i) for i in range(6)])
    assert serve.most == 6


async def test_an_error_answer_is_final_and_a_failing_upstream_is_retried_until_the_last_attempt() -> None:
    refused = await _run(_runner(Upstream(400)), [_job(1)])
    assert isinstance(refused[0], JobFailed) and not refused[0].retryable
    assert refused[0].details["response"]["status_code"] == 400
    failing = await _run(_runner(Upstream(503)), [_job(1, attempts=1), _job(2, attempts=3)])
    assert [f.retryable for f in failing] == [True, False], "retried while attempts remain"


@pytest.mark.parametrize("model", ["unknown", 5, None])
async def test_lines_without_a_known_route_are_not_paced(model: Any) -> None:
    serve = Upstream()
    await _run(_runner(serve, default_route_concurrency=1), [_job(i, model=model) for i in range(3)])
    assert serve.most == 3


async def test_a_429_with_retry_after_pauses_the_whole_routes_lines() -> None:
    """The upstream's rate-limit answer paces the batch: the next lines wait it out too."""
    starts: list[float] = []

    async def serve(line: LineRequest) -> LineOutcome:
        starts.append(time.monotonic())
        if len(starts) == 1:
            return LineOutcome(429, line.request_id, {"error": {"message": "slow down"}}, retryable=True,
                               retry_after_s=0.3)
        return LineOutcome(200, line.request_id, {"ok": True})

    runner = _runner(serve, route_concurrency={"route-m": 1})
    results = await _run(runner, [_job(i) for i in range(3)])
    assert isinstance(results[0], JobFailed) and results[0].retryable
    assert starts[1] - starts[0] >= 0.29, "the second line waited for the Retry-After"


def _batch(batch_id: str) -> Batch:
    now = utcnow()
    return Batch(id=batch_id, submitter=Submitter("key_1", "app", "team-a", ("inference",)),
                 endpoint="/v1/chat/completions", input_file_id="file-x", completion_window="24h",
                 status="validating", created_at=now, expires_at=now + timedelta(hours=24))


async def test_a_batch_the_queue_refuses_is_not_left_behind(migrated_db: Database) -> None:
    """The batch row and its first jobs commit together. Before, a full queue (429) left a
    batch `validating` for ever, with no job to plan it."""
    store = BatchStore(migrated_db)
    queue = JobQueue(migrated_db, JobSettings(max_queued_per_team=2))
    runner = BatchRunner(store=store, queue=queue, files=None, serve=Upstream(),  # type: ignore[arg-type]
                         route_of=lambda m: None)
    await runner.submit(_batch("batch_first"))
    assert {j.kind for j in await queue.list(team="team-a")} == {"batch_plan", "batch_check"}
    with pytest.raises(QueueFull):
        await runner.submit(_batch("batch_second"))
    assert await store.load("batch_second") is None
    assert (await store.load("batch_first")) is not None
