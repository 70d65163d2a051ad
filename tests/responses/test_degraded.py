"""A background response answered by the route's degraded message says so (`corral.degraded`),
since it has no response header to carry `x-corral-degraded`; a model's answer carries no mark."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, serve_in_thread, settings_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("degraded")
    fake = {"provider": "fake"}
    settings = settings_for(tmp, {"fake": {"type": "fake"}}, {
        "busy": {"deployments": [{**fake, "model": "fail-429"}], "retry": {"max_attempts": 1},
                 "cache_fallback": False, "degraded_message": "Busy, retry later."},
        "fine": {"deployments": [{**fake, "model": "echo"}]}}, jobs={"poll_interval_s": 0.05})
    yield from serve_in_thread(create_app(settings, warmup=False))


def _finished(client: openai.OpenAI, model: str) -> openai.types.responses.Response:
    answer = client.responses.create(model=model, input="hi", background=True)
    deadline = time.monotonic() + 10
    while answer.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.05)
        answer = client.responses.retrieve(answer.id)
    return answer


def test_a_degraded_background_answer_is_marked(server: RunningServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)
    busy = _finished(client, "busy")
    assert busy.status == "completed" and busy.output_text == "Busy, retry later."
    assert (busy.model_extra or {}).get("corral") == {"degraded": "message"}
    fine = _finished(client, "fine")
    assert fine.status == "completed" and "corral" not in (fine.model_extra or {})
