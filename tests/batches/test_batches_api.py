"""The Batch API through the official openai SDK, on a real server (SQLite and PostgreSQL).

Every line runs through the lifecycle as the batch's creator: the records and the output
file are what these tests look at, with other teams, bad input and cancellation beside.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from corral.api.app import create_app
from corral.observe.queries import recent
from corral.store import Database
from corral.store.schema import jobs
from corral.store.testing import run_sync
from tests.conftest import RunningServer, database_on, serve_in_thread, settings_for
from tests.fakes import FakeProvider
from tests.files.server import new_key

MODELS = ("echo", "slow", "embed")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp(f"batches-{request.param}")
    with database_on(request.param, tmp) as url:
        settings = settings_for(
            Path(tmp), {"fake": {"type": "fake"}},
            {m: {"deployments": [{"provider": "fake", "model": m}]} for m in MODELS},
            database_url=url, jobs={"poll_interval_s": 0.05, "concurrency": 4},
            batches={"check_interval_s": 0.1},
        )
        yield from serve_in_thread(create_app(settings, warmup=False))


def _client(server: RunningServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key or server.app_key, max_retries=0)


def _jsonl(lines: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def _chat_line(custom_id: str, model: str = "echo", text: str = "hello") -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}]}}


def _wait(client: openai.OpenAI, batch_id: str, statuses: tuple[str, ...], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses or time.monotonic() > deadline:
            return batch
        time.sleep(0.1)


async def _records(server: RunningServer, request_ids: set[str]) -> list[dict[str, Any]]:
    """Request records of `request_ids` (written behind the requests: wait up to 10 s)."""
    db = await Database.connect(server.gateway.db.url)
    try:
        deadline = time.monotonic() + 10
        while True:
            rows = [r for r in await recent(db, limit=500) if r["request_id"] in request_ids]
            if len(rows) >= len(request_ids) or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.1)
    finally:
        await db.close()


async def _purge_items(server: RunningServer, batch_id: str) -> None:
    db = await Database.connect(server.gateway.db.url)
    try:
        await db.execute(jobs.delete().where(jobs.c.parent_id == batch_id))
    finally:
        await db.close()


def _lines(client: openai.OpenAI, file_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in client.files.content(file_id).read().splitlines()]


def test_a_chat_batch_runs_every_line_through_the_gateway(server: RunningServer) -> None:
    client = _client(server)
    lines = [_chat_line(f"line-{i}", text=f"question {i}") for i in range(12)]
    bad = _chat_line("bad-temperature")
    bad["body"]["temperature"] = 5  # the chat endpoint's own parser refuses it: a 400 for this line only
    lines.insert(5, bad)
    uploaded = client.files.create(file=("in.jsonl", _jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h", metadata={"job": "nightly"})
    assert batch.status == "validating" and batch.metadata == {"job": "nightly"}
    done = _wait(client, batch.id, ("completed", "failed", "expired", "cancelled"))
    assert done.status == "completed", done
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (13, 12, 1)
    assert done.completed_at and done.in_progress_at and done.finalizing_at
    assert done.usage is not None and done.usage.input_tokens == 12 * 7  # the fake model's usage
    output = _lines(client, done.output_file_id)
    assert [o["custom_id"] for o in output] == [f"line-{i}" for i in range(12)], "input order"
    first = output[0]["response"]
    assert first["status_code"] == 200 and "question 0" in first["body"]["choices"][0]["message"]["content"]
    [error] = _lines(client, done.error_file_id)
    assert error["custom_id"] == "bad-temperature" and error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["param"] == "temperature"
    request_ids = {o["response"]["request_id"] for o in output}
    rows = run_sync(_records(server, request_ids))
    assert len(rows) == 12, "one request record per line"
    assert all(r["extras"].get("job_id") == batch.id and r["client_request_id"].startswith("line-")
               for r in rows)
    with pytest.raises(openai.BadRequestError, match="only a validating or in-progress"):
        client.batches.cancel(batch.id)
    run_sync(_purge_items(server, batch.id))  # what jobs.retention_s does, 30 days on
    kept = client.batches.retrieve(batch.id).request_counts
    assert (kept.total, kept.completed, kept.failed) == (13, 12, 1), "counts outlive the items' jobs"


def test_a_chat_line_asking_for_several_answers_fails_naming_n(server: RunningServer) -> None:
    """`n` fans out only on the live endpoint: a batch line with n > 1 is an error for that line,
    not one answer where it asked for two."""
    client = _client(server)
    several = _chat_line("two")
    several["body"]["n"] = 2
    uploaded = client.files.create(file=("n.jsonl", _jsonl([_chat_line("one"), several])), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    done = _wait(client, batch.id, ("completed", "failed"))
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)
    [error] = _lines(client, done.error_file_id)
    assert error["custom_id"] == "two" and error["response"]["body"]["error"]["param"] == "n"


def test_an_embeddings_batch(server: RunningServer) -> None:
    client = _client(server)
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "embed", "input": [f"text {i}", "more"]}} for i in range(3)]
    uploaded = client.files.create(file=("emb.jsonl", _jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings",
                                  completion_window="24h")
    done = _wait(client, batch.id, ("completed", "failed"))
    assert done.status == "completed" and done.error_file_id is None
    output = _lines(client, done.output_file_id)
    assert [len(o["response"]["body"]["data"]) for o in output] == [2, 2, 2]


def test_a_responses_batch_stores_each_answer_as_a_response(server: RunningServer) -> None:
    client = _client(server)
    ask = [{"model": "echo", "input": f"tell me {i}", "instructions": "Be brief."} for i in range(3)]
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/responses", "body": body}
             for i, body in enumerate(ask)]
    lines.append({"custom_id": "streamed", "method": "POST", "url": "/v1/responses",
                  "body": {"model": "echo", "input": "x", "stream": True}})
    uploaded = client.files.create(file=("resp.jsonl", _jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/responses",
                                  completion_window="24h")
    done = _wait(client, batch.id, ("completed", "failed"))
    counts = done.request_counts
    assert done.status == "completed" and (counts.completed, counts.failed) == (3, 1)
    output = _lines(client, done.output_file_id)
    bodies = [o["response"]["body"] for o in output]
    assert [(b["object"], b["status"]) for b in bodies] == [("response", "completed")] * 3
    assert "tell me 1" in bodies[1]["output"][0]["content"][0]["text"]
    again = client.responses.retrieve(bodies[0]["id"])  # stored, like a live response
    assert again.id == bodies[0]["id"] and again.status == "completed"
    [error] = _lines(client, done.error_file_id)
    assert error["custom_id"] == "streamed" and error["response"]["body"]["error"]["param"] == "stream"


def test_a_line_for_another_endpoint_or_model_fails_the_batch_naming_it(server: RunningServer) -> None:
    client = _client(server)
    lines = [_chat_line("a"), {"custom_id": "b", "method": "POST", "url": "/v1/embeddings",
                               "body": {"model": "embed", "input": "x"}}, _chat_line("c", model="nope")]
    uploaded = client.files.create(file=("mixed.jsonl", _jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    done = _wait(client, batch.id, ("failed", "completed"))
    assert done.status == "failed" and done.errors is not None
    assert [(e.code, e.line) for e in done.errors.data] == [("invalid_url", 2), ("model_not_found", 3)]
    assert "'nope'" in done.errors.data[1].message
    assert done.request_counts.completed == 0, "nothing ran"


def test_cancel_stops_queued_lines_and_reports_them(server: RunningServer) -> None:
    client = _client(server)
    FakeProvider.delay_s = 0.3
    lines = [_chat_line(f"s{i}", model="slow") for i in range(40)]
    uploaded = client.files.create(file=("slow.jsonl", _jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    _wait(client, batch.id, ("in_progress",))
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = _wait(client, batch.id, ("cancelled",))
    assert done.status == "cancelled" and done.cancelled_at
    ran = done.request_counts.completed
    assert ran < 40, "queued lines did not run after the cancel"
    errors = _lines(client, done.error_file_id) if done.error_file_id else []
    cancelled = [e for e in errors if e["error"] and e["error"]["code"] == "batch_cancelled"]
    assert len(cancelled) + ran + done.request_counts.failed >= 40 - 4, "every line is accounted for"
    assert client.batches.cancel(batch.id).status == "cancelled", "cancelling twice is no error"
    FakeProvider.delay_s = 5.0


def test_other_teams_see_nothing(server: RunningServer) -> None:
    mine = _client(server)
    theirs = _client(server, new_key(server, "other-team"))
    uploaded = mine.files.create(file=("in.jsonl", _jsonl([_chat_line("x")])), purpose="batch")
    batch = mine.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        theirs.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        theirs.batches.cancel(batch.id)
    with pytest.raises(openai.NotFoundError):  # nor build a batch from another team's file
        theirs.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                              completion_window="24h")
    assert batch.id not in [b.id for b in theirs.batches.list()]
    assert batch.id in [b.id for b in mine.batches.list(limit=100)]


@pytest.mark.parametrize(("change", "param"), [
    ({"endpoint": "/v1/completions"}, "endpoint"),
    ({"completion_window": "1h"}, "completion_window"),
    ({"completion_window": {}}, "completion_window"),  # unhashable: was a 500 (fuzz seed 3)
    ({"endpoint": ["/v1/embeddings"]}, "endpoint"),
    ({"input_file_id": ""}, "input_file_id"),
    ({"metadata": {"k": 5}}, "metadata"),
])
def test_bad_batch_requests_get_a_400_that_names_the_field(server: RunningServer, change: dict[str, Any],
                                                           param: str) -> None:
    client = _client(server)
    uploaded = client.files.create(file=("in.jsonl", _jsonl([_chat_line("x")])), purpose="batch")
    body = {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h",
            **change}
    with pytest.raises(openai.BadRequestError) as info:
        client.batches.create(**body)
    assert info.value.body["param"] == param  # type: ignore[index]


def test_a_file_uploaded_for_another_purpose_is_refused(server: RunningServer) -> None:
    client = _client(server)
    uploaded = client.files.create(file=("notes.txt", io.BytesIO(b"hello")), purpose="user_data")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                              completion_window="24h")
