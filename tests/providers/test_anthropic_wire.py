"""Anthropic request translation (chat request -> Messages API body), tested as pure functions.

Responses, stream events and errors are in test_anthropic_responses.py."""

from __future__ import annotations

from typing import Any

import pytest

from corral.core.errors import InvalidRequest, UnsupportedParameter
from corral.core.types import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall
from corral.providers.anthropic import AnthropicProvider, register_providers, request_body
from corral.providers.base import ProviderConfig

WEATHER = Tool(name="get_weather", description="Weather for a city",
               parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="claude-sonnet-4-5", messages=list(messages), **kw)


def test_system_developer_and_sampling_parameters() -> None:
    body = request_body(req(
        Message("system", "Be brief."),
        Message("developer", "Answer in French."),
        Message("user", "Hi"),
        Message("user", [TextPart("there")]),
        temperature=0.2, top_p=0.9, stop=["END"], user="u-42",
    ), stream=False, default_max_tokens=1000)
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1000,
        "system": "Be brief.\n\nAnswer in French.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                  {"type": "text", "text": "there"}]}],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-42"},
    }


def test_client_max_tokens_wins_and_stream_flag() -> None:
    body = request_body(req(Message("user", "Hi"), max_tokens=50), stream=True)
    assert body["max_tokens"] == 50 and body["stream"] is True


def test_tool_round_trip_becomes_tool_use_and_tool_result() -> None:
    body = request_body(req(
        Message("user", "Weather in Paris and Rome?"),
        Message("assistant", "Checking.", tool_calls=[
            ToolCall("toolu_01", "get_weather", '{"city": "Paris"}'),
            ToolCall("call:abc/2", "get_weather", '{"city": "Rome"}'),
        ]),
        Message("tool", "18C", tool_call_id="toolu_01"),
        Message("tool", [TextPart("21C")], tool_call_id="call:abc/2"),
        Message("user", "Thanks"),
    ), stream=False)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_abc_2", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_abc_2",
             "content": [{"type": "text", "text": "21C"}]},
            {"type": "text", "text": "Thanks"},
        ]},
    ]


def test_assistant_with_only_tool_calls_and_empty_arguments() -> None:
    body = request_body(req(
        Message("user", "time?"),
        Message("assistant", None, tool_calls=[ToolCall("toolu_9", "now", "")]),
        Message("tool", "12:00", tool_call_id="toolu_9"),
    ), stream=False)
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}}]}


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_arguments_must_be_a_json_object(arguments: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        request_body(req(Message("assistant", None, tool_calls=[ToolCall("t", "f", arguments)])),
                     stream=False)
    assert exc.value.status_code == 400


def test_tool_message_needs_its_call_id() -> None:
    with pytest.raises(InvalidRequest):
        request_body(req(Message("tool", "x")), stream=False)


def test_images_data_url_and_https() -> None:
    body = request_body(req(Message("user", [
        TextPart("What is this?"),
        ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ImagePart("https://example.com/cat.jpg", detail="high"),
    ])), stream=False)
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize("url", ["ftp://x/y.png", "data:image/png,raw", "data:;base64,AAA"])
def test_bad_image_urls_are_400(url: str) -> None:
    with pytest.raises(InvalidRequest):
        request_body(req(Message("user", [ImagePart(url)])), stream=False)


def test_image_in_system_prompt_is_rejected() -> None:
    with pytest.raises(UnsupportedParameter):
        request_body(req(Message("system", [ImagePart("https://x/y.png")])), stream=False)


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    (None, None, None),
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None,
     {"type": "tool", "name": "get_weather"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    (None, True, None),
])
def test_tools_and_tool_choice(choice: Any, parallel: bool | None, expected: Any) -> None:
    body = request_body(req(Message("user", "x"), tools=[WEATHER, Tool(name="ping")],
                            tool_choice=choice, parallel_tool_calls=parallel), stream=False)
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body.get("tool_choice") == expected


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in request_body(req(Message("user", "x"), tool_choice="auto"),
                                             stream=False)


def test_unknown_tool_choice_is_400() -> None:
    with pytest.raises(UnsupportedParameter) as exc:
        request_body(req(Message("user", "x"), tools=[WEATHER],
                         tool_choice={"type": "allowed_tools"}), stream=False)
    assert exc.value.param == "tool_choice"


@pytest.mark.parametrize(("kw", "param"), [
    ({"seed": 7}, "seed"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
     "response_format"),
    ({"temperature": 1.5}, "temperature"),
])
def test_unsupported_parameters_are_400(kw: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameter) as exc:
        request_body(req(Message("user", "x"), **kw), stream=False)
    assert exc.value.status_code == 400 and exc.value.param == param
    provider = AnthropicProvider(ProviderConfig(name="claude", type="anthropic"))
    with pytest.raises(UnsupportedParameter) as exc:
        provider.check_supported(req(Message("user", "x"), **kw))
    assert exc.value.param == param and "claude" in exc.value.message


def test_check_supported_keeps_base_checks() -> None:
    provider = AnthropicProvider(ProviderConfig(name="claude", type="anthropic"))
    with pytest.raises(UnsupportedParameter) as exc:
        provider.check_supported(req(Message("user", "x"), extra={"logit_bias": {}}))
    assert exc.value.param == "logit_bias"
    provider.check_supported(req(Message("user", [ImagePart("https://x/y.png")]),
                                 response_format={"type": "text"}))


def test_structured_outputs_opt_in_sends_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    strict_tool = Tool(name="f", parameters=schema, strict=True)
    body = request_body(req(Message("user", "x"), response_format=rf, tools=[strict_tool]),
                        stream=False, structured_outputs=True)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert body["tools"][0]["strict"] is True
    provider = AnthropicProvider(ProviderConfig(name="c", type="anthropic",
                                                options={"structured_outputs": True}))
    provider.check_supported(req(Message("user", "x"), response_format=rf))
    with pytest.raises(UnsupportedParameter):
        provider.check_supported(req(Message("user", "x"), response_format={"type": "json_object"}))


def test_register_providers() -> None:
    found: dict[str, Any] = {}
    register_providers(lambda name, factory: found.__setitem__(name, factory))
    assert found == {"anthropic": AnthropicProvider}
