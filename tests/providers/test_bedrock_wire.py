"""Canonical <-> Converse translation and Bedrock's error types, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from corral.core.errors import (
    ContentPolicyViolation,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamBadResponse,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from corral.core.types import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall
from corral.providers._bedrock_errors import map_error
from corral.providers._bedrock_wire import parse_response, request_body

WEATHER = Tool("get_weather", "Weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="amazon.nova-pro-v1:0", messages=list(messages), **kw)


def test_system_messages_and_inference_config() -> None:
    body = request_body(req(Message("system", "Be brief."), Message("developer", "Use SI units."),
                            Message("user", "Hi"), max_tokens=100, temperature=0.2, top_p=0.9,
                            stop=["END"]))
    assert body == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "system": [{"text": "Be brief."}, {"text": "Use SI units."}],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
    }
    assert "inferenceConfig" not in request_body(req(Message("user", "Hi")))
    assert request_body(req(Message("user", "Hi")), default_max_tokens=64)["inferenceConfig"] == {
        "maxTokens": 64}


def test_tool_round_trip_merges_turns_and_rewrites_foreign_ids() -> None:
    call = ToolCall("call:1/x", "get_weather", '{"city": "Oslo"}')
    body = request_body(req(
        Message("user", "Weather in Oslo and Bergen?"),
        Message("assistant", "Checking.", tool_calls=[call]),
        Message("tool", "12C", tool_call_id="call:1/x"),
        Message("tool", '{"temp": 9}', tool_call_id="call_2"),
        Message("tool", "", tool_call_id="call_3"),
        Message("user", ""),  # an empty turn carries nothing; Converse rejects blank text
        tools=[WEATHER], tool_choice="auto",
    ))
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Oslo and Bergen?"}]},
        {"role": "assistant", "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "call_1_x", "name": "get_weather", "input": {"city": "Oslo"}}},
        ]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "call_1_x", "content": [{"text": "12C"}]}},
            {"toolResult": {"toolUseId": "call_2", "content": [{"text": '{"temp": 9}'}]}},
            {"toolResult": {"toolUseId": "call_3", "content": [{"json": {}}]}},
        ]},
    ]
    assert body["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather for a city",
                                "inputSchema": {"json": WEATHER.parameters}}}],
        "toolChoice": {"auto": {}},
    }


def test_tool_history_without_tools_is_sent_as_text() -> None:
    """Converse refuses toolUse/toolResult blocks without a toolConfig (a summary request, say)."""
    call = ToolCall("call_1", "get_weather", '{"city": "Oslo"}')
    body = request_body(req(Message("user", "Weather?"), Message("assistant", None, tool_calls=[call]),
                            Message("tool", "12C", tool_call_id="call_1"), Message("user", "Summarize.")))
    assert "toolConfig" not in body
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [{"text": '[Tool call call_1: get_weather({"city": "Oslo"})]'}]},
        {"role": "user", "content": [{"text": "[Result of tool call call_1]: 12C"}, {"text": "Summarize."}]},
    ]


@pytest.mark.parametrize(("choice", "wire"), [
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
    (None, None),
])
def test_tool_choice(choice: Any, wire: Any) -> None:
    body = request_body(req(Message("user", "x"), tools=[WEATHER], tool_choice=choice))
    assert body["toolConfig"].get("toolChoice") == wire


def test_images_as_bytes_or_s3_never_urls() -> None:
    parts: list[TextPart | ImagePart] = [TextPart("What is this?"), ImagePart("data:image/jpeg;base64,AAEC"),
                                         ImagePart("s3://bucket/cat.PNG")]
    body = request_body(req(Message("user", parts)))
    assert body["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "jpeg", "source": {"bytes": "AAEC"}}},
        {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/cat.PNG"}}}},
    ]
    with pytest.raises(UnsupportedParameter):
        request_body(req(Message("user", [ImagePart("https://example.com/cat.png")])))
    with pytest.raises(InvalidRequest):
        request_body(req(Message("user", [ImagePart("data:image/bmp;base64,AAEC")])))


def test_reasoning_blocks_go_back_as_reasoning_content() -> None:
    thinking = [{"type": "thinking", "thinking": "Hmm.", "signature": "sig1"},
                {"type": "redacted_thinking", "data": "ZW5j"}]
    body = request_body(req(Message("user", "q"), Message("assistant", "a", reasoning=thinking),
                            Message("user", "and?")))
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "sig1"}}},
        {"reasoningContent": {"redactedContent": "ZW5j"}},
        {"text": "a"},
    ]


@pytest.mark.parametrize(("kw", "param"), [
    ({"seed": 1}, "seed"),
    ({"tools": [WEATHER], "parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"tools": [WEATHER], "tool_choice": "none"}, "tool_choice"),
])
def test_what_converse_cannot_honour_is_a_400_naming_the_parameter(kw: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameter) as info:
        request_body(req(Message("user", "x"), **kw))
    assert info.value.param == param


def test_native_params_pass_through() -> None:
    extra = {"additionalModelRequestFields": {"top_k": 5}, "guardrailConfig": {"guardrailIdentifier": "g"}}
    body = request_body(req(Message("user", "x"), extra=extra))
    assert body["additionalModelRequestFields"] == {"top_k": 5}
    assert body["guardrailConfig"] == {"guardrailIdentifier": "g"}


def test_parse_response_text_tools_reasoning_and_usage() -> None:
    payload = {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "s"}}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Oslo"}}},
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 7, "totalTokens": 37, "cacheReadInputTokens": 15,
                  "cacheWriteInputTokens": 5},
        "metrics": {"latencyMs": 300},
    }
    r = parse_response(payload, "br", model="m", response_id="rid")
    assert (r.id, r.model, r.content, r.finish_reason) == ("rid", "m", "Let me check.", "tool_calls")
    assert r.tool_calls == [ToolCall("tooluse_1", "get_weather", '{"city":"Oslo"}')]
    assert r.reasoning == [{"type": "thinking", "thinking": "Think.", "signature": "s"}]
    assert r.usage is not None
    assert (r.usage.input_tokens, r.usage.cached_tokens, r.usage.output_tokens) == (30, 15, 7)


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("content_filtered", "content_filter"),
    ("guardrail_intervened", "content_filter"), ("tool_use", "tool_calls"),
])
def test_stop_reasons(stop: str, finish: str) -> None:
    payload = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": stop}
    assert parse_response(payload, "br").finish_reason == finish


def test_malformed_output_and_missing_content_are_bad_responses() -> None:
    with pytest.raises(UpstreamBadResponse):
        parse_response({"output": {"message": {"content": []}}, "stopReason": "malformed_tool_use"}, "br")
    with pytest.raises(UpstreamBadResponse):
        parse_response({"message": "?"}, "br")


def _error(status: int, etype: str, message: str) -> UpstreamError:
    headers = {"x-amzn-ErrorType": f"{etype}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return map_error("br", status, headers, f'{{"message": "{message}"}}'.encode())


def test_error_types_map_to_corral_errors() -> None:
    throttled = _error(429, "ThrottlingException", "Too many requests")
    assert isinstance(throttled, UpstreamRateLimited) and throttled.retryable
    not_ready = _error(429, "ModelNotReadyException", "not ready")
    assert isinstance(not_ready, UpstreamUnavailable) and not_ready.retryable
    assert isinstance(_error(408, "ModelTimeoutException", "slow"), UpstreamTimeout)
    for status, etype in ((500, "InternalServerException"), (503, "ServiceUnavailableException")):
        err = _error(status, etype, "down")
        assert isinstance(err, UpstreamUnavailable) and err.retryable
    assert isinstance(_error(424, "ModelErrorException", "oops"), UpstreamBadResponse)
    long = _error(400, "ValidationException", "Input is too long for requested model.")
    assert isinstance(long, UpstreamContextLength)
    plain = _error(400, "ValidationException", "messages: field required")
    assert type(plain) is UpstreamRejected and plain.status_code == 400
    missing = _error(404, "ResourceNotFoundException", "no such model")
    assert isinstance(missing, UpstreamRejected) and missing.status_code == 404
    denied = _error(403, "AccessDeniedException", "You don't have access to the model")
    assert type(denied) is UpstreamError and not denied.retryable and "AWS credentials" in denied.message
    blocked = _error(400, "ValidationException", "The guardrail blocked the input")
    assert isinstance(blocked, ContentPolicyViolation)


def test_error_type_from_body_and_exception_frames() -> None:
    body = b'{"__type": "com.amazon.bedrock#ThrottlingException", "message": "x"}'
    from_body = map_error("br", 429, {}, body)
    assert isinstance(from_body, UpstreamRateLimited)
    from_frame = map_error("br", None, {}, b'{"message": "slow down"}', "ThrottlingException")
    assert isinstance(from_frame, UpstreamRateLimited) and from_frame.upstream_status == 429
    garbage = map_error("br", 502, {}, b"<html>bad gateway</html>")
    assert isinstance(garbage, UpstreamUnavailable) and "bad gateway" in garbage.message
