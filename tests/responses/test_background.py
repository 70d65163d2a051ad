"""`background: true` on the job queue, through the SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from openai.types.responses import Response

from corral.core.context import Caller
from corral.jobs.queue import JobQueue
from corral.responses import background
from corral.responses.items import normalize_input
from corral.responses.service import Prepared
from corral.responses.store import ResponseStore, StoredResponse
from corral.store import Database
from tests.conftest import RunningServer
from tests.fakes import FakeProvider
from tests.files.server import new_key
from tests.responses.server import client, serve


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve(tmp_path_factory, request.param)


def settled(sdk: openai.OpenAI, response_id: str, timeout_s: float = 10.0) -> Response:
    deadline = time.monotonic() + timeout_s
    while True:
        found = sdk.responses.retrieve(response_id)
        if found.status not in ("queued", "in_progress") or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_background_response_is_queued_then_completed(server: RunningServer) -> None:
    sdk = client(server)
    made = sdk.responses.create(model="echo", input="later please", background=True, metadata={"job": "1"})
    assert made.status == "queued" and made.background is True and made.output == []
    done = settled(sdk, made.id)
    assert done.status == "completed" and done.output_text == "echo: later please"
    assert done.usage is not None and done.metadata == {"job": "1"} and done.background is True
    [item] = sdk.responses.input_items.list(made.id).data
    assert item.type == "message"
    follow = sdk.responses.create(model="echo", input="and now", previous_response_id=made.id)
    assert follow.output_text == "echo: and now"
    assert [m.text() for m in FakeProvider.calls[-1].messages] == [
        "later please", "echo: later please", "and now"]
    again = sdk.responses.create(model="echo", input="in the back", previous_response_id=follow.id,
                                 background=True)
    assert settled(sdk, again.id).output_text == "echo: in the back"


def test_cancel_while_in_progress_stops_the_upstream_call(server: RunningServer) -> None:
    sdk = client(server)
    FakeProvider.cancelled.clear()
    FakeProvider.delay_s = 5.0
    made = sdk.responses.create(model="slow", input="take your time", background=True)
    deadline = time.monotonic() + 5
    while sdk.responses.retrieve(made.id).status == "queued" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # the upstream call is under way
    cancelled = sdk.responses.cancel(made.id)
    assert cancelled.status == "cancelled"
    for _ in range(100):
        if FakeProvider.cancelled:
            break
        time.sleep(0.05)
    assert FakeProvider.cancelled, "the upstream call kept running after cancel"
    time.sleep(0.2)
    assert sdk.responses.retrieve(made.id).status == "cancelled"
    assert sdk.responses.cancel(made.id).status == "cancelled", "cancelling again changes nothing"
    with pytest.raises(openai.BadRequestError):
        sdk.responses.create(model="echo", input="x", previous_response_id=made.id)


def test_a_finished_background_response_stays_as_it_is(server: RunningServer) -> None:
    sdk = client(server)
    made = sdk.responses.create(model="echo", input="quick", background=True)
    assert settled(sdk, made.id).status == "completed"
    assert sdk.responses.cancel(made.id).status == "completed"


def test_an_upstream_failure_fails_the_response(server: RunningServer) -> None:
    sdk = client(server)
    made = sdk.responses.create(model="fail-429", input="no luck", background=True)
    failed = settled(sdk, made.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "rate_limit_exceeded" and failed.output == []


def test_another_team_cannot_cancel_or_read_it(server: RunningServer) -> None:
    made = client(server).responses.create(model="echo", input="mine", background=True)
    intruder = client(server, new_key(server, "bg-intruder"))
    for call in (intruder.responses.cancel, intruder.responses.retrieve):
        with pytest.raises(openai.NotFoundError):
            call(made.id)
    assert settled(client(server), made.id).status == "completed"


@pytest.mark.asyncio
async def test_a_queued_response_cancelled_never_runs(migrated_db: Database) -> None:
    store, jobs = ResponseStore(migrated_db), JobQueue(migrated_db)
    body = {"id": "resp_q", "status": "in_progress", "background": True, "store": True,
            "previous_response_id": None, "output": []}
    caller = Caller("key_1", "k", "blue", frozenset({"inference"}))
    prepared = Prepared(StoredResponse(body, normalize_input("x"), "blue"))
    made = await background.submit(store, jobs, prepared, caller)
    assert made["status"] == "queued"
    job = await jobs.get("resp_q")
    assert job is not None and job.status == "queued" and job.kind == "response" and job.team == "blue"
    assert "x" not in str(job.payload), "the job holds ids, not content"
    cancelled = await background.cancel(store, jobs, await store.get("resp_q", "blue"))
    assert cancelled["status"] == "cancelled"
    job = await jobs.get("resp_q")
    assert job is not None and job.status == "cancelled"
