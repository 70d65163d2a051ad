"""Client JSON nested too deeply is a 400 naming the field, never a 500 (issue 8, item 9)."""

from __future__ import annotations

import json

import httpx
import pytest

from corral.api.wire import parse_chat_request, parse_json_object
from corral.core.errors import InvalidRequest
from corral.core.json_limits import MAX_JSON_DEPTH, check_depth, text_depth
from corral.core.types import ChatRequest, Message, ToolCall
from corral.privacy.redact import map_request_texts
from corral.providers._translate import tool_arguments_object
from tests.conftest import RunningServer


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return {"a": value} if depth else value


def deep_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def body(**extra: object) -> bytes:
    # json.dumps, not orjson: orjson itself refuses to write past 254 levels.
    return json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}],
                       **extra}).encode()


TOOL = {"type": "function", "function": {"name": "f"}}
DEEP_FIELDS = [
    ({"foo": nested(300)}, "foo"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": nested(300)}}]},
     "tools[0].function.parameters"),
    ({"response_format": {"type": "json_schema", "json_schema": nested(300)}},
     "response_format.json_schema"),
    ({"tool_choice": nested(300), "tools": [TOOL]}, "tool_choice"),
]


@pytest.mark.parametrize(("extra", "field"), DEEP_FIELDS)
def test_deep_chat_fields_are_refused_naming_the_field(extra: dict, field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body(**extra))
    assert info.value.param is not None and info.value.param.startswith(field)
    assert "nested too deeply" in info.value.message and str(MAX_JSON_DEPTH) in info.value.message


def test_the_limit_is_exactly_max_depth_levels() -> None:
    def tools(schema: object) -> bytes:
        return body(tools=[{"type": "function", "function": {"name": "f", "parameters": schema}}])

    schema = nested(MAX_JSON_DEPTH - 4)  # tools[0].function.parameters sits at level 4
    req = parse_chat_request(tools(schema))
    assert req.tools and req.tools[0].parameters == schema
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        parse_chat_request(tools(nested(MAX_JSON_DEPTH - 3)))


def test_past_orjsons_own_ceiling_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_json_object(b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert "nested too deeply" in info.value.message


def test_deep_tool_call_arguments_are_refused() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": deep_text(950)}}
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"}]
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body(messages=messages))
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_check_depth_and_text_depth_agree() -> None:
    text = '{"a": [1, "[[[[", {"b": {"c": []}}], "d": "}}}"}'
    assert text_depth(text) == 5
    check_depth(json.loads(text), 5)
    with pytest.raises(ValueError, match=r"a\[2\]\.b\.c"):
        check_depth(json.loads(text), 4)


def test_privacy_walk_treats_too_deep_arguments_as_text() -> None:
    """Requests built inside Corral skip the API's check; the walk must not recurse past it."""
    args = deep_text(5000)
    request = ChatRequest(model="m", messages=[
        Message("assistant", None, tool_calls=[ToolCall("c1", "f", args)])])
    seen: list[str] = []
    mapped = map_request_texts(request, lambda t: seen.append(t) or t)
    assert seen == [args]
    assert mapped.messages[0].tool_calls[0].arguments == args


def test_vendor_translation_refuses_arguments_it_could_not_serialize() -> None:
    args = json.dumps({"a": nested(300)})
    with pytest.raises(InvalidRequest, match="nest deeper"):
        tool_arguments_object(ToolCall("c1", "f", args), "Anthropic")


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "payload", "field"), [
    ("/v1/chat/completions", body(tools=[TOOL], tool_choice=nested(300)), "tool_choice"),
    ("/v1/feedback", json.dumps({"request_id": "r", "comment": nested(300)}).encode(), "comment"),
    ("/v1/embeddings", json.dumps({"model": "echo", "input": nested(300)}).encode(), "input"),
])
async def test_http_bodies_get_an_openai_400(fake_server: RunningServer, path: str, payload: bytes,
                                             field: str) -> None:
    async with httpx.AsyncClient(base_url=fake_server.url) as client:
        r = await client.post(path, content=payload,
                              headers={"authorization": f"Bearer {fake_server.app_key}"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"].startswith(field)
    assert "nested too deeply" in error["message"]


@pytest.mark.asyncio
async def test_admin_bodies_get_the_same_400(fake_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=fake_server.url) as client:
        r = await client.post("/admin/keys", content=json.dumps({"name": "k", "scopes": nested(300)}),
                              headers={"authorization": f"Bearer {fake_server.admin_key}"})
    assert r.status_code == 400 and r.json()["error"]["param"].startswith("scopes")
    assert "nested too deeply" in r.json()["error"]["message"]
