"""OpenAI dialect of the simulator over real HTTP: chat, streaming, tools, JSON, embeddings."""

from __future__ import annotations

import math
import time

import aiohttp
import orjson
import pytest

from corral.simulator import SimSettings, running_simulator, sim_text
from corral.simulator.generate import embedding_vector, estimate_tokens
from tests.simulator.helpers import PROMPT, chat_request, sse_json

pytestmark = pytest.mark.asyncio

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string"},
            },
            "required": ["city", "days"],
        },
    },
}
OTHER_TOOL = {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}}


async def test_chat_non_stream_shape_and_usage() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai")
        async with s.post(url, json=body) as r:
            assert r.status == 200
            assert r.headers["x-corral-simulator"] == "1"
            assert r.headers["x-request-id"].startswith("req_")
            data = await r.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["model"] == "sim-model"
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == sim_text(PROMPT, 16)
    assert choice["message"]["content"].startswith("Hello there world ")
    usage = data["usage"]
    assert usage["prompt_tokens"] == estimate_tokens(body["messages"]) == math.ceil((len(PROMPT) + 4) / 4)
    assert usage["completion_tokens"] == 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + 16
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


async def test_chat_stream_include_usage() -> None:
    async with running_simulator(SimSettings(output_tokens=5)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", stream=True, stream_options={"include_usage": True})
        async with s.post(url, json=body) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")
            raw = await r.read()
    assert raw.endswith(b"data: [DONE]\n\n")
    chunks = sse_json(raw)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert len(deltas) == 5
    assert "".join(deltas) == sim_text(PROMPT, 5)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    final = chunks[-1]
    assert final["choices"] == []
    assert final["usage"]["completion_tokens"] == 5
    assert final["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert final["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


async def test_stream_without_include_usage_has_no_usage_field() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", stream=True)
        async with s.post(url, json=body) as r:
            chunks = sse_json(await r.read())
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


async def test_max_tokens_caps_output_and_reports_length() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        for field in ("max_tokens", "max_completion_tokens"):
            url, body = chat_request(base, "openai", **{field: 3})
            async with s.post(url, json=body) as r:
                data = await r.json()
            assert data["choices"][0]["finish_reason"] == "length"
            assert data["usage"]["completion_tokens"] == 3
            assert data["choices"][0]["message"]["content"] == "Hello there world"
        url, body = chat_request(base, "openai", max_tokens=0)
        async with s.post(url, json=body) as r:
            assert r.status == 400
            assert (await r.json())["error"]["param"] == "max_tokens"


async def test_header_overrides_output_cached_and_reasoning() -> None:
    headers = {"x-sim-output-tokens": "4", "x-sim-cached-tokens": "3", "x-sim-reasoning-tokens": "7"}
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai")
        async with s.post(url, json=body, headers=headers) as r:
            data = await r.json()
    usage = data["usage"]
    assert usage["completion_tokens"] == 4 + 7
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 7
    assert usage["prompt_tokens_details"]["cached_tokens"] == 3
    assert data["choices"][0]["message"]["content"] == sim_text(PROMPT, 4)


async def test_invalid_override_header_is_a_dialect_400() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai")
        async with s.post(url, json=body, headers={"x-sim-tps": "fast"}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["type"] == "invalid_request_error"
        async with s.post(url, json=body, headers={"x-sim-fault": "gremlins"}) as r:
            assert r.status == 400
        async with s.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400
        async with s.post(url, json={"model": "m"}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["param"] == "messages"


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
async def test_forced_tool_call_non_stream(choice: object) -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", tools=[OTHER_TOOL, WEATHER_TOOL], tool_choice=choice)
        if choice == "required":
            body["tools"] = [WEATHER_TOOL, OTHER_TOOL]
        async with s.post(url, json=body) as r:
            data = await r.json()
    choice0 = data["choices"][0]
    assert choice0["finish_reason"] == "tool_calls"
    msg = choice0["message"]
    assert msg["content"] is None
    (call,) = msg["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "x", "days": 1}
    assert data["usage"]["completion_tokens"] == math.ceil(len(call["function"]["arguments"]) / 4)


async def test_tool_call_stream_via_header() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", stream=True, tools=[OTHER_TOOL, WEATHER_TOOL])
        async with s.post(url, json=body, headers={"x-sim-tool-call": "get_weather"}) as r:
            chunks = sse_json(await r.read())
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"] is None
    head = first["tool_calls"][0]
    assert head["index"] == 0 and head["type"] == "function"
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    parts = [c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[1:-1]]
    assert len(parts) > 1
    assert orjson.loads("".join(parts)) == {"city": "x", "days": 1}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_auto_tool_choice_answers_text() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", tools=[WEATHER_TOOL], tool_choice="auto")
        async with s.post(url, json=body) as r:
            data = await r.json()
    assert data["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in data["choices"][0]["message"]


async def test_response_format_json() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array"}},
        "required": ["name", "age", "tags"],
        "additionalProperties": False,
    }
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", response_format={"type": "json_object"})
        async with s.post(url, json=body) as r:
            content = (await r.json())["choices"][0]["message"]["content"]
        assert orjson.loads(content) == {"text": sim_text(PROMPT, 16)}
        fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
        url, body = chat_request(base, "openai", stream=True, response_format=fmt)
        async with s.post(url, json=body) as r:
            chunks = sse_json(await r.read())
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert orjson.loads(text) == {"name": "x", "age": 1, "tags": []}


async def test_stream_timing_ttft_and_tps() -> None:
    settings = SimSettings(ttft_ms=150, tokens_per_second=50, output_tokens=6)
    async with running_simulator(settings) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", stream=True)
        start = time.perf_counter()
        arrivals: list[float] = []
        async with s.post(url, json=body) as r:
            headers_at = time.perf_counter() - start
            async for _chunk in r.content.iter_any():
                arrivals.append(time.perf_counter() - start)
        total = time.perf_counter() - start
    assert arrivals[0] - headers_at >= 0.14  # headers first, then the TTFT wait
    assert arrivals[0] >= 0.14
    assert total >= 0.14 + 5 / 50 - 0.01
    assert len(arrivals) >= 5  # chunks were flushed one by one, not buffered
    assert arrivals[-1] - arrivals[0] >= 5 / 50 - 0.01


async def test_latency_and_non_stream_generation_time() -> None:
    async with running_simulator(SimSettings(output_tokens=6)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai")
        headers = {"x-sim-latency-ms": "100", "x-sim-ttft-ms": "50", "x-sim-tps": "100"}
        start = time.perf_counter()
        async with s.post(url, json=body, headers=headers) as r:
            await r.read()
        assert time.perf_counter() - start >= 0.1 + 0.05 + 5 / 100 - 0.01
        start = time.perf_counter()
        async with s.post(url, json=body) as r:
            await r.read()
        assert time.perf_counter() - start < 0.15  # overrides are per request, not sticky


async def test_embeddings_deterministic_unit_vectors() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url = f"{base}/v1/embeddings"
        async with s.post(url, json={"model": "sim-embed", "input": ["alpha", "beta", "alpha"]}) as r:
            data = await r.json()
        assert data["object"] == "list" and data["model"] == "sim-embed"
        vecs = [d["embedding"] for d in data["data"]]
        assert [d["index"] for d in data["data"]] == [0, 1, 2]
        assert all(d["object"] == "embedding" for d in data["data"])
        assert len(vecs[0]) == 8
        assert vecs[0] == vecs[2] != vecs[1]
        assert vecs[0] == embedding_vector("alpha", 8)
        assert all(abs(sum(v * v for v in vec) - 1) < 1e-9 for vec in vecs)
        assert data["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
        async with s.post(url, json={"model": "e", "input": "alpha", "dimensions": 32}) as r:
            vec = (await r.json())["data"][0]["embedding"]
        assert len(vec) == 32 and abs(math.fsum(v * v for v in vec) - 1) < 1e-9
        async with s.post(url, json={"model": "e", "input": "alpha", "encoding_format": "base64"}) as r:
            b64 = (await r.json())["data"][0]["embedding"]
        assert isinstance(b64, str) and len(b64) == 44  # 8 float32 values
        async with s.post(url, json={"model": "e", "input": []}) as r:
            assert r.status == 400


async def test_models_endpoint_and_key_check() -> None:
    async with running_simulator(SimSettings(require_key="sk-test")) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai")
        async with s.post(url, json=body) as r:
            assert r.status == 401
            err = (await r.json())["error"]
            assert err["type"] == "invalid_request_error"
        async with s.post(url, json=body, headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "invalid_api_key"
        async with s.post(url, json=body, headers={"Authorization": "Bearer sk-test"}) as r:
            assert r.status == 200
        async with s.get(f"{base}/v1/models") as r:
            assert r.status == 401
        async with s.get(f"{base}/v1/models", headers={"Authorization": "Bearer sk-test"}) as r:
            models = await r.json()
        assert models["object"] == "list"
        assert all(m["object"] == "model" for m in models["data"])
        async with s.post(f"{base}/v1/embeddings", json={"model": "e", "input": "x"}) as r:
            assert r.status == 401
        async with s.get(f"{base}/sim/stats") as r:
            assert (await r.json())["rejected"] == 3
