"""`n > 1` through the official openai SDK: n answers, each a request through the lifecycle."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import openai
import pytest

from corral.api.wire import MAX_CHOICES
from corral.simulator import SimulatorThread, sim_text
from tests.conftest import RunningServer
from tests.integration.records import stored_records
from tests.integration.test_openai_sdk import DIALECT_MODELS, PROMPT, _messages, client


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_n_answers_with_usage_summed(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    api = client(corral)
    one = api.chat.completions.create(model=model, messages=_messages(), max_tokens=6)
    raw = api.chat.completions.with_raw_response.create(model=model, messages=_messages(), max_tokens=6, n=3)
    three = raw.parse()
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert [c.message.content for c in three.choices] == [sim_text(PROMPT, 6)] * 3
    assert one.usage is not None and three.usage is not None
    assert three.usage.completion_tokens == 3 * one.usage.completion_tokens
    assert three.usage.prompt_tokens == 3 * one.usage.prompt_tokens  # the prompt is sent n times
    request_id = raw.headers["x-request-id"]
    rows = asyncio.run(stored_records(corral, lambda r: r["request_id"].startswith(request_id), expected=3))
    assert sorted(r["request_id"] for r in rows) == [request_id, f"{request_id}:n1", f"{request_id}:n2"]
    assert all(r["status"] == "ok" and r["output_tokens"] == 6 for r in rows)


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_streamed_n_answers_interleave(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    stream = client(corral).chat.completions.create(model=model, messages=_messages(), n=2, stream=True,
                                                    stream_options={"include_usage": True})
    texts: dict[int, str] = defaultdict(str)
    roles, finishes, usages = [], [], []
    for chunk in stream:
        if chunk.usage is not None:
            usages.append(chunk.usage)
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.delta.role:
                roles.append(choice.index)
            if choice.finish_reason:
                finishes.append(choice.index)
    assert dict(texts) == {0: sim_text(PROMPT, 8), 1: sim_text(PROMPT, 8)}
    assert sorted(roles) == [0, 1] and sorted(finishes) == [0, 1]
    assert len(usages) == 1 and usages[0].completion_tokens == 16, "one usage chunk, summed"


def test_other_answers_skip_the_cache(corral: RunningServer, sim: SimulatorThread) -> None:
    """Answer 0 may be the stored one; the others are fresh calls, or all n would be the same."""
    ask = {"model": "gpt-cached", "messages": [{"role": "user", "content": "cache n"}], "max_tokens": 4,
           "temperature": 0}
    client(corral).chat.completions.create(**ask)  # stored
    sim.state.stats.reset()
    raw = client(corral).chat.completions.with_raw_response.create(**ask, n=3)
    assert raw.headers["x-corral-cache"] == "hit"
    assert len(raw.parse().choices) == 3
    assert sum(sim.state.stats.models.values()) == 2, "answers 1 and 2 went upstream"


def test_n_out_of_range_is_a_400(corral: RunningServer) -> None:
    for n in (0, MAX_CHOICES + 1):
        with pytest.raises(openai.BadRequestError) as err:
            client(corral).chat.completions.create(model="gpt-sim", messages=_messages(), n=n)
        assert err.value.body["param"] == "n"  # type: ignore[index]


def test_a_failing_answer_fails_the_request(corral: RunningServer, sim: SimulatorThread) -> None:
    """One of two answers hits a rate limit (the route does not retry): the client gets the error,
    not one answer where it asked for two."""
    sim.state.schedule.replace([{"fault": "rate_limit", "first": 1}])
    with pytest.raises(openai.RateLimitError):
        client(corral).chat.completions.create(model="gpt-sim", messages=_messages(), n=2)
