"""One batch line served through the gateway in-process: what the worker's handler calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.api.batch_lines import line_server
from corral.batches.runner import LineRequest
from corral.batches.types import Submitter
from corral.gateway import Gateway
from tests.conftest import settings_for
from tests.fakes import FakeProvider

WHO = Submitter("key_1", "app", "team-a", ("inference",))


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = settings_for(tmp_path, {"fake": {"type": "fake"}},
                            {"echo": {"deployments": [{"provider": "fake", "model": "echo"}]}})
    gw = await Gateway.start(settings, warmup=False, run_jobs=False)
    try:
        yield gw
    finally:
        await gw.stop()


async def test_a_responses_line_run_again_answers_from_its_stored_response(gateway: Gateway) -> None:
    """After a crash the queue runs a line again: the model is not called a second time."""
    serve = line_server(gateway)
    line = LineRequest(WHO, "batch_1", "/v1/responses", "c1", {"model": "echo", "input": "hello"},
                       "req_1-0000001")
    before = len(FakeProvider.calls)
    first = await serve(line)
    again = await serve(line)
    assert first.status_code == again.status_code == 200
    assert again.body == first.body and first.body["id"] == "resp_1-0000001"
    assert len(FakeProvider.calls) - before == 1


async def test_an_unknown_endpoint_line_is_a_400_naming_url(gateway: Gateway) -> None:
    outcome = await line_server(gateway)(LineRequest(WHO, "b", "/v1/images", "c", {}, "req_x"))
    assert outcome.status_code == 400 and outcome.body["error"]["param"] == "url"
    assert not outcome.retryable
