"""Gemini dialect of the simulator over real HTTP: generate, SSE and array streams, tools, embeddings."""

from __future__ import annotations

import math

import aiohttp
import orjson
import pytest

from corral.simulator import SimSettings, running_simulator, sim_text
from corral.simulator.generate import embedding_vector, estimate_tokens
from tests.simulator.helpers import PROMPT, chat_request, sse_json

pytestmark = pytest.mark.asyncio

TOOLS = [
    {
        "functionDeclarations": [
            {"name": "noop", "parameters": {"type": "OBJECT", "properties": {}}},
            {
                "name": "book",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"room": {"type": "STRING"}, "nights": {"type": "INTEGER"}},
                    "required": ["room", "nights"],
                },
            },
        ]
    }
]


async def test_generate_content() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "gemini", systemInstruction={"parts": [{"text": "Be kind."}]})
        async with s.post(url, json=body) as r:
            assert r.status == 200
            assert r.headers["x-corral-simulator"] == "1"
            data = await r.json()
    (cand,) = data["candidates"]
    assert cand["content"] == {"parts": [{"text": sim_text(PROMPT, 16)}], "role": "model"}
    assert cand["finishReason"] == "STOP" and cand["index"] == 0
    usage = data["usageMetadata"]
    prompt = estimate_tokens(body["contents"], body["systemInstruction"])
    assert usage["promptTokenCount"] == prompt
    assert usage["candidatesTokenCount"] == 16
    assert usage["totalTokenCount"] == prompt + 16
    assert "cachedContentTokenCount" not in usage and "thoughtsTokenCount" not in usage
    assert data["modelVersion"] == "sim-model" and data["responseId"]


async def test_stream_sse_crlf_and_cumulative_usage() -> None:
    headers = {"x-sim-cached-tokens": "1", "x-sim-reasoning-tokens": "5"}
    async with running_simulator(SimSettings(output_tokens=3)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "gemini", stream=True)
        async with s.post(url, json=body, headers=headers) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            raw = await r.read()
    assert raw.count(b"\r\n\r\n") == 3 and raw.endswith(b"\r\n\r\n")
    chunks = sse_json(raw)
    assert len(chunks) == 3
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == sim_text(PROMPT, 3)
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None, None, "STOP"]
    assert [c["usageMetadata"]["candidatesTokenCount"] for c in chunks] == [1, 2, 3]
    last = chunks[-1]["usageMetadata"]
    assert last["cachedContentTokenCount"] == 1 and last["thoughtsTokenCount"] == 5
    assert last["totalTokenCount"] == last["promptTokenCount"] + 3 + 5
    assert len({c["responseId"] for c in chunks}) == 1


async def test_stream_json_array_without_alt_sse() -> None:
    async with running_simulator(SimSettings(output_tokens=3)) as base, aiohttp.ClientSession() as s:
        url = f"{base}/v1beta/models/sim-model:streamGenerateContent"
        _, body = chat_request(base, "gemini")
        async with s.post(url, json=body) as r:
            assert r.headers["Content-Type"].startswith("application/json")
            items = orjson.loads(await r.read())
    assert isinstance(items, list) and len(items) == 3
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_max_output_tokens() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "gemini", generationConfig={"maxOutputTokens": 2})
        async with s.post(url, json=body) as r:
            data = await r.json()
    assert data["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert data["usageMetadata"]["candidatesTokenCount"] == 2


@pytest.mark.parametrize("stream", [False, True])
async def test_function_call_mode_any(stream: bool) -> None:
    config = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["book"]}}
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "gemini", stream=stream, tools=TOOLS, toolConfig=config)
        async with s.post(url, json=body) as r:
            raw = await r.read()
    data = sse_json(raw)[-1] if stream else orjson.loads(raw)
    cand = data["candidates"][0]
    assert cand["content"]["parts"] == [
        {"functionCall": {"name": "book", "args": {"room": "x", "nights": 1}}}
    ]
    assert cand["finishReason"] == "STOP"
    args_len = len(orjson.dumps({"room": "x", "nights": 1}))
    assert data["usageMetadata"]["candidatesTokenCount"] == math.ceil(args_len / 4)


async def test_json_response_schema() -> None:
    config = {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"ok": {"type": "BOOLEAN"}}},
    }
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "gemini", generationConfig=config)
        async with s.post(url, json=body) as r:
            data = await r.json()
    assert orjson.loads(data["candidates"][0]["content"]["parts"][0]["text"]) == {"ok": True}


async def test_embed_and_batch_embed() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url = f"{base}/v1beta/models/sim-embedding:embedContent"
        async with s.post(url, json={"content": {"parts": [{"text": "alpha"}]}}) as r:
            one = await r.json()
        assert one == {"embedding": {"values": embedding_vector("alpha", 8)}}
        url = f"{base}/v1beta/models/sim-embedding:batchEmbedContents"
        reqs = [
            {"model": "models/sim-embedding", "content": {"parts": [{"text": t}]}, "outputDimensionality": 4}
            for t in ("alpha", "beta")
        ]
        async with s.post(url, json={"requests": reqs}) as r:
            batch = await r.json()
        vecs = [e["values"] for e in batch["embeddings"]]
        assert vecs == [embedding_vector("alpha", 4), embedding_vector("beta", 4)]
        async with s.post(url, json={"requests": []}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["status"] == "INVALID_ARGUMENT"


async def test_count_tokens_models_and_unknown_method() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        _, body = chat_request(base, "gemini")
        async with s.post(f"{base}/v1beta/models/m:countTokens", json=body) as r:
            assert (await r.json())["totalTokens"] == estimate_tokens(body["contents"])
        async with s.get(f"{base}/v1beta/models") as r:
            assert all(m["name"].startswith("models/") for m in (await r.json())["models"])
        async with s.post(f"{base}/v1beta/models/m:fly", json=body) as r:
            assert r.status == 404
            assert (await r.json())["error"]["status"] == "NOT_FOUND"
        async with s.post(f"{base}/v1/models/m:generateContent", json=body) as r:
            assert r.status == 200


async def test_api_key_header_or_query() -> None:
    async with running_simulator(SimSettings(require_key="g-key")) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "gemini")
        async with s.post(url, json=body) as r:
            assert r.status == 401
            err = (await r.json())["error"]
        assert err["code"] == 401 and err["status"] == "UNAUTHENTICATED"
        assert err["details"][0]["reason"] == "API_KEY_INVALID"
        async with s.post(url, json=body, headers={"x-goog-api-key": "bad"}) as r:
            assert r.status == 401
        async with s.post(url, json=body, headers={"x-goog-api-key": "g-key"}) as r:
            assert r.status == 200
        async with s.post(url + "?key=g-key", json=body) as r:
            assert r.status == 200
