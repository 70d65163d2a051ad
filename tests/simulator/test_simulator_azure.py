"""The simulator's Azure OpenAI dialect: the official SDK's AzureOpenAI client parses it, and its
key check, api-version rule, fault bodies and stream preamble are Azure's."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import orjson
import pytest

from corral.simulator import SimSettings, running_simulator, sim_text
from tests.simulator.helpers import parse_sse

PROMPT = "Tell me about owls"
KEY = "azure-sim-key"
VERSION = "2024-10-21"
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]


async def test_azure_sdk_unary_stream_tools_embeddings_and_errors() -> None:
    async with running_simulator(SimSettings(output_tokens=6, require_key=KEY)) as base:
        client = openai.AsyncAzureOpenAI(azure_endpoint=base, api_key=KEY, api_version=VERSION, max_retries=0)
        try:
            done = await client.chat.completions.create(model="prod-chat", messages=MESSAGES)
            assert done.choices[0].message.content == sim_text(PROMPT, 6)
            assert done.model == "prod-chat"
            stream = await client.chat.completions.create(
                model="prod-chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
            text = ""
            async for chunk in stream:
                text += chunk.choices[0].delta.content or "" if chunk.choices else ""
            assert text == sim_text(PROMPT, 6)
            tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
            called = await client.chat.completions.create(model="prod-chat", messages=MESSAGES, tools=tools,
                                                          tool_choice="required")
            assert called.choices[0].message.tool_calls[0].function.arguments == '{"city":"x"}'  # type: ignore[index,union-attr]
            emb = await client.embeddings.create(model="embed", input=["a", "b"], dimensions=16)
            assert [len(d.embedding) for d in emb.data] == [16, 16]
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="prod-chat", messages=MESSAGES,
                                                     extra_headers={"x-sim-fault": "rate_limit"})
            with pytest.raises(openai.BadRequestError) as refused:
                await client.chat.completions.create(model="prod-chat", messages=MESSAGES,
                                                     extra_headers={"x-sim-fault": "content_policy"})
            assert refused.value.code == "content_filter"
            bad = openai.AsyncAzureOpenAI(azure_endpoint=base, api_key="wrong", api_version=VERSION,
                                          max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                await bad.chat.completions.create(model="prod-chat", messages=MESSAGES)
            await bad.close()
        finally:
            await client.close()


async def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


async def test_key_header_or_bearer_and_api_version_rules() -> None:
    async with running_simulator(SimSettings(output_tokens=3, require_key=KEY)) as base:
        deployments = f"{base}/openai/deployments/d1/chat/completions"
        body = {"messages": MESSAGES}
        assert (await _post(f"{deployments}?api-version={VERSION}", body, {"api-key": KEY}))[0] == 200
        bearer = {"Authorization": f"Bearer {KEY}"}
        assert (await _post(f"{deployments}?api-version={VERSION}", body, bearer))[0] == 200
        status, _, raw = await _post(f"{deployments}?api-version={VERSION}", body, {"api-key": "nope"})
        assert status == 401 and orjson.loads(raw)["error"]["code"] == "401"
        status, _, raw = await _post(deployments, body, {"api-key": KEY})
        assert status == 400 and "api-version" in orjson.loads(raw)["error"]["message"]
        status, _, raw = await _post(f"{base}/openai/v1/chat/completions", {**body, "model": "d2"},
                                     {"api-key": KEY})
        assert status == 200 and orjson.loads(raw)["model"] == "d2"


async def test_azure_shapes_content_filter_429_and_stream_preamble() -> None:
    async with running_simulator(SimSettings(output_tokens=3, retry_after_s=1.5)) as base:
        url = f"{base}/openai/deployments/d1/chat/completions?api-version={VERSION}"
        status, _, raw = await _post(url, {"messages": MESSAGES}, {"x-sim-fault": "content_policy"})
        error = orjson.loads(raw)["error"]
        assert status == 400 and error["code"] == "content_filter"
        assert error["innererror"]["content_filter_result"]["violence"]["filtered"] is True
        status, headers, _ = await _post(url, {"messages": MESSAGES}, {"x-sim-fault": "rate_limit"})
        assert status == 429 and headers["retry-after-ms"] == "1500" and headers["retry-after"] == "2"
        status, _, raw = await _post(url, {"messages": MESSAGES}, {})
        assert "prompt_filter_results" in orjson.loads(raw)
        status, _, raw = await _post(url, {"messages": MESSAGES, "stream": True}, {})
        events = [data for _, data in parse_sse(raw)]
        first = orjson.loads(events[0])
        assert first["choices"] == [] and first["prompt_filter_results"]
        assert events[-1] == "[DONE]"


async def test_faults_and_stats_count_the_deployment_as_the_model() -> None:
    faults = [{"fault": "server_error", "model": "a-*"}]
    async with running_simulator(SimSettings(output_tokens=3), faults=faults) as base:
        for deployment, expected in (("a-1", 500), ("b-1", 200)):
            url = f"{base}/openai/deployments/{deployment}/chat/completions?api-version={VERSION}"
            assert (await _post(url, {"messages": MESSAGES}, {}))[0] == expected
        async with aiohttp.ClientSession() as s, s.get(f"{base}/sim/stats") as r:
            stats = await r.json()
    assert stats["models"] == {"a-1": 1, "b-1": 1} and stats["dialects"] == {"azure": 2}
