"""The official anthropic SDK through Corral's `/v1/messages` to every simulated dialect.

An Anthropic-SDK client must reach OpenAI, Anthropic and Gemini routes alike, through the same
lifecycle as a chat completion (recorded, priced), with Anthropic's shapes for answers,
stream events, usage and errors.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import anthropic
import httpx
import pytest

from corral.simulator import SimulatorThread, sim_text
from corral.simulator.anthropic_dialect import signature
from tests.conftest import RunningServer
from tests.integration.records import stored_records

DIALECT_MODELS = ["gpt-sim", "claude-sim", "gemini-sim"]
PROMPT = "Tell me about corrals please"
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"name": "get_weather", "description": "Weather for a city", "input_schema": CITY}
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def client(corral: RunningServer, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=corral.url, api_key=key or corral.app_key, max_retries=0)


def _user(text: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_create(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    message = client(corral).messages.create(model=model, max_tokens=6, system="You are terse.",
                                             messages=_user())
    assert message.type == "message" and message.role == "assistant" and message.model == model
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == sim_text(PROMPT, 6)  # type: ignore[union-attr]
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 6 and message.usage.input_tokens > 0
    assert message.id.startswith("msg_")


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_stream(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    with client(corral).messages.stream(model=model, max_tokens=50, messages=_user()) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == sim_text(PROMPT, 8)
    assert len(pieces) == 8, "one text_delta per upstream token"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 8 and final.usage.input_tokens > 0


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_tools_round_trip(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    """A forced tool call comes back as a tool_use block with an object input; its result goes
    back as a tool_result block and the model answers in text."""
    api = client(corral)
    first = api.messages.create(model=model, max_tokens=100, messages=_user("Weather in Paris?"),
                                tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"})
    assert first.stop_reason == "tool_use"
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    second = api.messages.create(model=model, max_tokens=20, tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"},
                                     {"type": "text", "text": "Summarise it"}]},
    ])
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"


@pytest.mark.parametrize("model", DIALECT_MODELS)
def test_streamed_tool_call(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    with client(corral).messages.stream(model=model, max_tokens=100, messages=_user("Weather?"),
                                        tools=[WEATHER], tool_choice={"type": "any"}) as stream:
        final = stream.get_final_message()
    [call] = [b for b in final.content if b.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    assert final.stop_reason == "tool_use"


def test_async_client(corral: RunningServer, sim: SimulatorThread) -> None:
    async def run() -> list[str]:
        api = anthropic.AsyncAnthropic(base_url=corral.url, api_key=corral.app_key, max_retries=0)
        async with api:
            answers = await asyncio.gather(*(api.messages.create(model=m, max_tokens=4, messages=_user())
                                             for m in DIALECT_MODELS))
        return [a.content[0].text for a in answers]  # type: ignore[union-attr]

    assert asyncio.run(run()) == [sim_text(PROMPT, 4)] * 3


def test_image_and_system_blocks(corral: RunningServer, sim: SimulatorThread) -> None:
    """A base64 image reaches an Anthropic upstream as an image block; system blocks are joined."""
    message = client(corral).messages.create(
        model="claude-sim", max_tokens=5,
        system=[{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in English."}],
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
            {"type": "text", "text": PROMPT}]}])
    assert message.content[0].text == sim_text(PROMPT, 5)  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_round_trip(corral: RunningServer, sim: SimulatorThread, stream: bool) -> None:
    """`thinking` reaches a Claude route; its signed thinking blocks come back whole (streamed as
    thinking and signature deltas) and, sent back in the history, reach the upstream unchanged
    (the simulator refuses an altered signature, as Anthropic does)."""
    api = client(corral)
    kwargs: dict[str, Any] = {"model": "claude-sim", "max_tokens": 2000, "messages": _user(),
                              "thinking": {"type": "enabled", "budget_tokens": 1024}}
    if stream:
        with api.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = api.messages.create(**kwargs)
    thought = message.content[0]
    assert thought.type == "thinking" and thought.thinking.startswith("The user asks")
    assert thought.signature == signature(thought.thinking)
    said = [b.model_dump(exclude_none=True) for b in message.content]
    history = [*_user(), {"role": "assistant", "content": said}, {"role": "user", "content": "And more?"}]
    again = api.messages.create(**{**kwargs, "messages": history})
    assert again.content[-1].type == "text"
    forged_block = {"type": "thinking", "thinking": "forged", "signature": thought.signature}
    forged = [*_user(), {"role": "assistant", "content": [forged_block]}, {"role": "user", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        api.messages.create(**{**kwargs, "messages": forged})


def test_count_tokens(corral: RunningServer) -> None:
    api = client(corral)
    short = api.messages.count_tokens(model="claude-sim", messages=_user("Hi"))
    longer = api.messages.count_tokens(model="claude-sim", messages=_user("Hi " * 200), tools=[WEATHER],
                                       system="You are terse.")
    assert 0 < short.input_tokens < longer.input_tokens
    assert longer.input_tokens > 200
    with pytest.raises(anthropic.NotFoundError) as missing:
        api.messages.count_tokens(model="no-such-model", messages=_user("Hi"))
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_record_and_user(corral: RunningServer, sim: SimulatorThread) -> None:
    """The request is recorded like a chat completion, with metadata.user_id as its end user."""
    message = client(corral).messages.create(model="gpt-sim", max_tokens=3, messages=_user(),
                                             metadata={"user_id": "user-anthropic-7"})
    raw_id = "req_" + message.id.removeprefix("msg_")
    [row] = asyncio.run(stored_records(corral, lambda r: r["request_id"] == raw_id))
    assert row["end_user"] == "user-anthropic-7" and row["status"] == "ok"
    assert row["output_tokens"] == 3 and row["route"] == "gpt-sim" and row["operation"] == "chat"


def test_errors_in_anthropic_shape(corral: RunningServer) -> None:
    with pytest.raises(anthropic.AuthenticationError) as bad_key:
        client(corral, "sk-corral-wrong").messages.create(model="gpt-sim", max_tokens=5, messages=_user())
    assert bad_key.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert bad_key.value.request_id and bad_key.value.request_id.startswith("req_")
    with pytest.raises(anthropic.NotFoundError):
        client(corral).messages.create(model="no-such-model", max_tokens=5, messages=_user())
    with pytest.raises(anthropic.BadRequestError, match="mcp_servers"):
        client(corral).messages.create(model="gpt-sim", max_tokens=5, messages=_user(),
                                       extra_body={"mcp_servers": [{"type": "url", "url": "https://x"}]})


def _post(corral: RunningServer, body: Any, path: str = "/v1/messages", **headers: str) -> httpx.Response:
    return httpx.post(corral.url + path, content=body if isinstance(body, bytes) else None,
                      json=None if isinstance(body, bytes) else body,
                      headers={"x-api-key": corral.app_key, "anthropic-version": "2023-06-01", **headers})


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "gpt-sim", "messages": _user()}, "max_tokens"),
    ({"model": "gpt-sim", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "gpt-sim", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
    ({"model": "gpt-sim", "max_tokens": 5, "messages": _user(), "temperature": 1.5}, "temperature"),
    ({"model": "gpt-sim", "max_tokens": 5, "messages": _user(), "max_budget": 3}, "max_budget"),
    ({"model": "gpt-sim", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
     "document"),
    ({"model": "gpt-sim", "max_tokens": 5, "messages": _user(), "tools": [{"type": "web_search_20250305"}]},
     "web_search"),
    ({"model": "gpt-sim", "max_tokens": 5, "messages": _user(), "thinking": {"type": "enabled"}},
     "budget_tokens"),
])
def test_bad_input_is_a_clear_400(corral: RunningServer, body: dict[str, Any], param: str) -> None:
    response = _post(corral, body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert param in error["error"]["message"]
    assert response.headers["request-id"] == response.headers["x-request-id"]


def test_resource_limits(corral: RunningServer) -> None:
    """Too large a body is a 413 and too deep a nesting a 400, both before any upstream call."""
    limit = corral.gateway.settings.server.max_body_bytes
    huge = _post(corral, {"model": "gpt-sim", "max_tokens": 5, "messages": _user("x" * (limit + 10))})
    assert huge.status_code == 413 and huge.json()["error"]["type"] == "request_too_large"
    deep = b'{"model":"gpt-sim","max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":' + \
        b'{"a":' * 200 + b"1" + b"}" * 201
    response = _post(corral, deep)
    assert response.status_code == 400 and "deep" in response.json()["error"]["message"]
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        assert _post(corral, b"not json", path).json()["error"]["type"] == "invalid_request_error"


def test_anthropic_only_parameter_is_refused_not_dropped(corral: RunningServer, sim: SimulatorThread) -> None:
    """`top_k` means something to Anthropic only: a Gemini route refuses it with a 400 naming it
    instead of dropping it; a Claude route receives it."""
    with pytest.raises(anthropic.BadRequestError, match="top_k"):
        client(corral).messages.create(model="gemini-sim", max_tokens=5, messages=_user(),
                                       extra_body={"top_k": 5})
    assert client(corral).messages.create(model="claude-sim", max_tokens=5, messages=_user(),
                                          extra_body={"top_k": 5}).content
