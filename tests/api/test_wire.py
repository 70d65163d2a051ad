"""Wire parsing keeps every parameter: canonical ones typed, the rest in `extra`."""

from __future__ import annotations

import orjson
import pytest

from corral.api.wire import parse_chat_request
from corral.core.errors import InvalidRequest
from corral.core.types import ImagePart, TextPart


def _parse(**body: object):  # type: ignore[no-untyped-def]
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return parse_chat_request(orjson.dumps({**base, **body}))


def test_full_request_maps_to_canonical() -> None:
    req = _parse(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:x", "detail": "low"}},
            ]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        max_completion_tokens=50, max_tokens=10, temperature=0.5, top_p=0.9, stop="END", seed=7,
        user="u1", response_format={"type": "json_object"},
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="auto", stream=True, stream_options={"include_usage": True},
        presence_penalty=0.1, top_k=5,
    )
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool"]
    assert req.messages[1].content == [TextPart("look"), ImagePart("data:x", "low")]
    assert req.messages[2].tool_calls[0].name == "f"
    assert req.messages[3].tool_call_id == "c1"
    assert req.max_tokens == 50, "max_completion_tokens wins over the legacy max_tokens"
    assert req.stop == ["END"]
    assert req.include_usage and req.stream
    assert req.tools[0].parameters == {"type": "object"}
    assert req.extra == {"presence_penalty": 0.1, "top_k": 5}


@pytest.mark.parametrize(("body", "param"), [
    ({"max_tokens": 0}, "max_tokens"),
    ({"top_p": 1.5}, "top_p"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"tool_choice": "sometimes", "tools": []}, "tool_choice"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
])
def test_invalid_fields_are_named(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        _parse(**body)
    assert info.value.param == param


def test_a_message_field_corral_does_not_read_is_refused_by_name_not_dropped() -> None:
    """Before 2026-12-05 it was dropped in silence: a vLLM `reasoning_content` or a DeepSeek
    `prefix` never reached the model, and the answer said nothing of it."""
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "The answer", "prefix": True}]
    with pytest.raises(InvalidRequest) as bad:
        _parse(messages=messages)
    assert bad.value.param == "messages[1].prefix" and "remove it" in bad.value.message


def test_an_sdk_replayed_assistant_message_with_empty_fields_parses() -> None:
    """`messages.append(completion.choices[0].message)` sends these back, empty."""
    replayed = {"role": "assistant", "content": "Hello", "refusal": None, "annotations": [], "audio": None,
                "function_call": None, "tool_calls": None}
    request = _parse(messages=[{"role": "user", "content": "hi"}, replayed])
    assert request.messages[1].content == "Hello"


def test_a_replayed_refusal_is_what_the_assistant_said() -> None:
    refused = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    request = _parse(messages=[{"role": "user", "content": "hi"}, refused, {"role": "user", "content": "ok"}])
    assert request.messages[1].content == "I can't help with that."


@pytest.mark.parametrize(("part", "param"), [
    ({"type": "text", "text": "hi", "lang": "en"}, "messages[0].content[0].lang"),
    ({"type": "image_url", "image_url": {"url": "https://x.example/a.png", "format": "png"}},
     "messages[0].content[0].image_url.format"),
])
def test_a_content_part_field_corral_does_not_read_is_refused_by_name(part: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as bad:
        _parse(messages=[{"role": "user", "content": [part]}])
    assert bad.value.param == param
