"""OpenAI chat-completions translation, tested as pure functions on dicts shaped like the API docs."""

from __future__ import annotations

from typing import Any

import pytest

from corral.core.errors import UpstreamBadResponse
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from corral.providers.openai import parse_chunk, parse_response, request_body

WEATHER = Tool(name="get_weather", description="Weather for a city",
               parameters={"type": "object", "properties": {"city": {"type": "string"}}},
               strict=True)


def req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=list(messages) or [Message("user", "Hi")], **kw)


# --- request_body ----------------------------------------------------------------------

def test_minimal_request_sends_only_model_and_messages() -> None:
    assert request_body(req(), stream=False) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_every_canonical_field_is_sent_under_its_openai_name() -> None:
    body = request_body(req(
        max_tokens=256, temperature=0.0, top_p=0.5, stop=["END", "\n\n"], seed=0, user="u-42",
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        tools=[WEATHER, Tool(name="noop")],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    ), stream=False)
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 256,
        "temperature": 0.0,  # falsy values are still sent
        "top_p": 0.5,
        "stop": ["END", "\n\n"],
        "seed": 0,
        "user": "u-42",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "tools": [
            {"type": "function", "function": {
                "name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True}},
            {"type": "function", "function": {"name": "noop"}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
    }


def test_string_tool_choice_passes_through() -> None:
    assert request_body(req(tools=[WEATHER], tool_choice="required"),
                        stream=False)["tool_choice"] == "required"


def test_messages_with_images_tool_calls_and_tool_results() -> None:
    body = request_body(req(
        Message("system", "Be brief."),
        Message("developer", "Answer in French."),
        Message("user", [
            TextPart("What is in these?"),
            ImagePart("https://example.com/cat.png", detail="low"),
            ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ], name="alice"),
        Message("assistant", None, tool_calls=[
            ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
            ToolCall("call_2", "get_weather", '{"city":"Lyon"}'),
        ]),
        Message("tool", '{"temp": 21}', tool_call_id="call_1"),
        Message("tool", [TextPart("18C")], tool_call_id="call_2"),
        Message("assistant", "Paris 21C, Lyon 18C."),
    ), stream=False)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "name": "alice", "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png",
                                                "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'}},
        ]},
        {"role": "tool", "content": '{"temp": 21}', "tool_call_id": "call_1"},
        {"role": "tool", "content": [{"type": "text", "text": "18C"}], "tool_call_id": "call_2"},
        {"role": "assistant", "content": "Paris 21C, Lyon 18C."},
    ]


def test_extra_parameters_pass_through_verbatim() -> None:
    extra = {"logit_bias": {"50256": -100}, "presence_penalty": 0.5, "logprobs": True,
             "top_logprobs": 3, "reasoning_effort": "low", "metadata": {"k": "v"}}
    body = request_body(req(temperature=0.3, extra=extra), stream=False)
    assert {k: body[k] for k in extra} == extra
    assert body["temperature"] == 0.3 and body["model"] == "gpt-4o-mini"


def test_stream_always_asks_for_usage() -> None:
    plain = request_body(req(max_tokens=5), stream=False)
    assert "stream" not in plain and "stream_options" not in plain
    for include_usage in (False, True):  # usage feeds cost records even if the client did not ask
        body = request_body(req(max_tokens=5, include_usage=include_usage), stream=True)
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert body["max_tokens"] == 5


def test_request_body_does_not_alias_the_request() -> None:
    r = req(stop=["x"], extra={"logit_bias": {"1": 1}})
    body = request_body(r, stream=True)
    body["messages"].append({"role": "user", "content": "injected"})
    assert len(r.messages) == 1 and "stream" not in r.extra


# --- parse_response --------------------------------------------------------------------

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "Hello there!", "refusal": None,
                    "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }],
    "usage": {
        "prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 12, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 4, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_abc",
}


def with_choice(**fields: Any) -> dict[str, Any]:
    choice = {**COMPLETION["choices"][0], **fields}
    return {**COMPLETION, "choices": [choice]}


def test_parse_response_content_and_usage_details() -> None:
    resp = parse_response(COMPLETION, "oa")
    assert (resp.id, resp.model, resp.created) == ("chatcmpl-123", "gpt-4o-mini-2024-07-18",
                                                    1741569952)
    assert resp.content == "Hello there!" and resp.tool_calls is None
    assert resp.finish_reason == "stop"
    assert resp.usage == Usage(input_tokens=19, output_tokens=10, cached_tokens=12,
                               reasoning_tokens=4)


def test_parse_response_tool_calls() -> None:
    resp = parse_response(with_choice(finish_reason="tool_calls", message={
        "role": "assistant", "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_b", "type": "function",
             "function": {"name": "get_time", "arguments": None}},
        ]}), "oa")
    assert resp.content is None and resp.finish_reason == "tool_calls"
    assert resp.tool_calls == [ToolCall("call_a", "get_weather", '{"city":"Paris"}'),
                               ToolCall("call_b", "get_time", "")]


@pytest.mark.parametrize("reason", ["stop", "length", "tool_calls", "content_filter", None])
def test_parse_response_finish_reasons(reason: str | None) -> None:
    assert parse_response(with_choice(finish_reason=reason), "oa").finish_reason == reason


@pytest.mark.parametrize("usage", [None, {}])
def test_parse_response_without_usage(usage: Any) -> None:
    assert parse_response({**COMPLETION, "usage": usage}, "oa").usage is None


def test_parse_response_usage_with_null_details() -> None:
    """Older and OpenAI-compatible servers send no (or null) token details."""
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
             "prompt_tokens_details": None, "completion_tokens_details": None}
    assert parse_response({**COMPLETION, "usage": usage}, "oa").usage == Usage(5, 2)


def test_parse_response_tolerates_missing_optional_fields() -> None:
    resp = parse_response({"choices": [{"message": {"content": "x"}, "finish_reason": "length"}]},
                          "oa")
    assert (resp.id, resp.model, resp.created, resp.content, resp.finish_reason) == (
        "", "", 0, "x", "length")


@pytest.mark.parametrize("payload", [
    {"id": "x", "object": "chat.completion"},
    {"choices": []},
    {"choices": None},
    {"choices": [None]},
    [],
    "just a string",
])
def test_parse_response_without_choices_is_bad_response(payload: Any) -> None:
    with pytest.raises(UpstreamBadResponse) as exc:
        parse_response(payload, "oa")
    assert exc.value.provider == "oa" and "'oa'" in exc.value.message and exc.value.retryable


@pytest.mark.parametrize("message", [
    {"tool_calls": [{"id": "c", "type": "function"}]},
    {"tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]},
    {"tool_calls": ["call_1"]},
    "not an object",
])
def test_parse_response_malformed_message_is_bad_response(message: Any) -> None:
    with pytest.raises(UpstreamBadResponse):
        parse_response(with_choice(message=message), "oa")


# --- parse_chunk -----------------------------------------------------------------------

def chunk(delta: dict[str, Any], finish_reason: str | None = None, **top: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini", "system_fingerprint": "fp",
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}],
            "usage": None, **top}


def FP(**fields: Any) -> ChatChunk:
    """A chunk of `chunk(...)`: it carries the backend's fingerprint, which reaches the client."""
    return ChatChunk(system_fingerprint="fp", **fields)


def test_parse_chunk_role_and_content_deltas() -> None:
    assert parse_chunk(chunk({"role": "assistant", "content": "", "refusal": None})) == [
        FP(content="", role="assistant")]
    assert parse_chunk(chunk({"content": "Hel"})) == [FP(content="Hel")]
    assert parse_chunk(chunk({}, "stop")) == [FP(finish_reason="stop")]


def test_parse_chunk_tool_call_deltas() -> None:
    first = chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_a", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]})
    more = chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]})
    second = chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                    "function": {"name": "get_time", "arguments": "{}"}}]})
    assert parse_chunk(first) == [FP(role="assistant", tool_calls=[
        ToolCallDelta(0, id="call_a", name="get_weather", arguments="")])]
    assert parse_chunk(more) == [FP(tool_calls=[ToolCallDelta(0, arguments="{\"ci")])]
    assert parse_chunk(second)[0].tool_calls == [
        ToolCallDelta(1, id="call_b", name="get_time", arguments="{}")]
    assert parse_chunk(chunk({}, "tool_calls")) == [FP(finish_reason="tool_calls")]


def test_parse_chunk_usage_only_final_chunk() -> None:
    final = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
             "model": "gpt-4o-mini", "choices": [],
             "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                       "prompt_tokens_details": {"cached_tokens": 8},
                       "completion_tokens_details": {"reasoning_tokens": 2}}}
    assert parse_chunk(final) == [ChatChunk(usage=Usage(9, 3, cached_tokens=8,
                                                        reasoning_tokens=2))]


def test_parse_chunk_with_choice_and_usage_yields_both_in_order() -> None:
    """Some compatible servers put the usage on the chunk that carries finish_reason."""
    got = parse_chunk(chunk({"content": "!"}, "stop",
                            usage={"prompt_tokens": 4, "completion_tokens": 1}))
    assert got == [FP(content="!", finish_reason="stop"), ChatChunk(usage=Usage(4, 1))]


def test_parse_chunk_without_choices_or_usage_is_empty() -> None:
    assert parse_chunk({"choices": [], "usage": None}) == []
    assert parse_chunk({}) == []


@pytest.mark.parametrize("payload", [
    {"choices": ["oops"]},
    {"choices": [{"delta": "oops"}]},
    {"choices": [{"delta": {"tool_calls": [1]}}]},
    {"choices": [], "usage": ["oops"]},
])
def test_parse_chunk_malformed_is_bad_response(payload: dict[str, Any]) -> None:
    with pytest.raises(UpstreamBadResponse) as exc:
        parse_chunk(payload, "oa")
    assert exc.value.provider == "oa"


def test_max_tokens_field_follows_provider_type() -> None:
    from corral.core.types import ChatRequest, Message
    from corral.providers.base import ProviderConfig
    from corral.providers.openai import OpenAIProvider, request_body

    req = ChatRequest("m", [Message("user", "hi")], max_tokens=5)
    assert OpenAIProvider(ProviderConfig("o", "openai")).max_tokens_field == "max_completion_tokens"
    assert OpenAIProvider(ProviderConfig("v", "vllm")).max_tokens_field == "max_tokens"
    options = {"max_tokens_field": "max_completion_tokens"}
    custom = OpenAIProvider(ProviderConfig("c", "vllm", options=options))
    assert custom.max_tokens_field == "max_completion_tokens"
    body = request_body(req, stream=False, max_tokens_field="max_completion_tokens")
    assert body["max_completion_tokens"] == 5 and "max_tokens" not in body


def test_refusal_annotations_logprobs_and_backend_fields_survive_parse_and_render() -> None:
    from corral.api.render import ChunkEncoder, completion_wire
    from corral.core.stream import Tally

    citation = {"type": "url_citation", "url_citation": {"url": "https://example.org", "title": "Ex",
                                                         "start_index": 0, "end_index": 2}}
    logprobs = {"content": [{"token": "No", "logprob": -0.1, "bytes": [78, 111], "top_logprobs": []}],
                "refusal": None}
    payload = {"id": "c1", "model": "m", "created": 5, "system_fingerprint": "fp_1", "service_tier": "flex",
               "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                            "message": {"role": "assistant", "content": "No", "refusal": "I can't help.",
                                        "annotations": [citation]}}]}
    response = parse_response(payload, "p")
    body = completion_wire(response, "chatcmpl-x", "m", 5)
    assert body["choices"][0]["logprobs"] == logprobs
    assert body["choices"][0]["message"]["refusal"] == "I can't help."
    assert body["choices"][0]["message"]["annotations"] == [citation]
    assert (body["system_fingerprint"], body["service_tier"]) == ("fp_1", "flex")
    # Streamed: per-chunk logprobs and refusal deltas add up to the same answer.
    tally = Tally()
    encoder = ChunkEncoder("chatcmpl-x", "m", 5)
    events = []
    for delta, lp in (({"refusal": "I can't "}, {"content": None, "refusal": logprobs["content"]}),
                      ({"refusal": "help."}, None)):
        payload = {"system_fingerprint": "fp_1", "choices": [{"delta": delta, "logprobs": lp}]}
        for chunk in parse_chunk(payload):
            tally.add(chunk)
            events.append(encoder.chunk(chunk))
    whole = tally.response("c1", "m")
    assert whole.refusal == "I can't help." and whole.logprobs == {"refusal": logprobs["content"]}
    assert whole.system_fingerprint == "fp_1"
    assert b'"refusal":"I can\'t "' in events[0] and b'"system_fingerprint":"fp_1"' in events[0]
    assert b'"logprobs":{"content":null,"refusal":[{"token":"No"' in events[0]
