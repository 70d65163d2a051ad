"""Anthropic dialect of the simulator over real HTTP: messages, SSE events, tool_use, keys."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from corral.simulator import SimSettings, running_simulator, sim_text
from corral.simulator.generate import estimate_tokens
from tests.simulator.helpers import PROMPT, chat_request, parse_sse

pytestmark = pytest.mark.asyncio

TOOLS = [
    {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
    {
        "name": "lookup",
        "description": "find a thing",
        "input_schema": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": "number"},
                "exact": {"type": "boolean"},
            },
            "required": ["query", "limit", "exact"],
        },
    },
]


async def test_message_non_stream() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "anthropic", system="Be brief.")
        async with s.post(url, json=body) as r:
            assert r.status == 200
            assert r.headers["x-corral-simulator"] == "1"
            assert r.headers["request-id"].startswith("req_")
            data = await r.json()
    assert data["type"] == "message" and data["role"] == "assistant"
    assert data["id"].startswith("msg_")
    assert data["content"] == [{"type": "text", "text": sim_text(PROMPT, 16)}]
    assert data["stop_reason"] == "end_turn" and data["stop_sequence"] is None
    usage = data["usage"]
    assert usage["input_tokens"] == estimate_tokens("Be brief.", body["messages"])
    assert usage["output_tokens"] == 16
    assert usage["cache_read_input_tokens"] == 0 and usage["cache_creation_input_tokens"] == 0


async def test_message_stream_event_sequence() -> None:
    async with running_simulator(SimSettings(output_tokens=4)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "anthropic", stream=True)
        async with s.post(url, json=body, headers={"x-sim-cached-tokens": "2"}) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            events = parse_sse(await r.read())
    names = [e for e, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [orjson.loads(d) for _, d in events]
    assert all(p["type"] == name for p, name in zip(payloads, names, strict=True))
    start = payloads[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    prompt = estimate_tokens(body["messages"])
    assert start["usage"]["input_tokens"] == prompt - 2
    assert start["usage"]["cache_read_input_tokens"] == 2
    assert payloads[1]["content_block"] == {"type": "text", "text": ""}
    text = "".join(p["delta"]["text"] for p in payloads[3:7])
    assert all(p["delta"]["type"] == "text_delta" and p["index"] == 0 for p in payloads[3:7])
    assert text == sim_text(PROMPT, 4)
    delta = payloads[-2]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 4


async def test_max_tokens_stop_reason_and_required() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "anthropic", max_tokens=2)
        async with s.post(url, json=body) as r:
            data = await r.json()
        assert data["stop_reason"] == "max_tokens"
        assert data["usage"]["output_tokens"] == 2
        del body["max_tokens"]
        async with s.post(url, json=body) as r:
            assert r.status == 400
            err = await r.json()
        assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
        assert "max_tokens" in err["error"]["message"]


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "lookup"}])
async def test_forced_tool_use_non_stream(choice: dict[str, str]) -> None:
    tools = TOOLS[::-1] if choice["type"] == "any" else TOOLS
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "anthropic", tools=tools, tool_choice=choice)
        async with s.post(url, json=body) as r:
            data = await r.json()
    assert data["stop_reason"] == "tool_use"
    (block,) = data["content"]
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
    assert block["name"] == "lookup"
    assert block["input"] == {"query": "x", "limit": 1, "exact": True}


async def test_tool_use_stream_input_json_delta() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(
            base, "anthropic", stream=True, tools=TOOLS, tool_choice={"type": "tool", "name": "lookup"}
        )
        async with s.post(url, json=body) as r:
            events = [orjson.loads(d) for _, d in parse_sse(await r.read())]
    block = events[1]["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "lookup" and block["input"] == {}
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert len(deltas) > 1 and all(d["type"] == "input_json_delta" for d in deltas)
    assert orjson.loads("".join(d["partial_json"] for d in deltas)) == {
        "query": "x",
        "limit": 1,
        "exact": True,
    }
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["output_tokens"] == len(deltas)


async def test_tool_call_header_without_tool_choice() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "anthropic", tools=TOOLS)
        async with s.post(url, json=body, headers={"x-sim-tool-call": "1"}) as r:
            data = await r.json()
        assert data["content"][0]["name"] == "noop" and data["content"][0]["input"] == {}
        async with s.post(url, json=body) as r:
            assert (await r.json())["content"][0]["type"] == "text"


async def test_api_key_check() -> None:
    async with running_simulator(SimSettings(require_key="ant-key")) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "anthropic")
        for headers in ({}, {"x-api-key": "nope"}, {"Authorization": "Bearer ant-key"}):
            async with s.post(url, json=body, headers=headers) as r:
                assert r.status == 401
                err = await r.json()
            assert err["type"] == "error" and err["error"]["type"] == "authentication_error"
        async with s.post(url, json=body, headers={"x-api-key": "ant-key"}) as r:
            assert r.status == 200
