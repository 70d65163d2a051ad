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
