"""CacheStage: stores answers in the background, streams only on clean completion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from corral.cache.exact import ExactCache
from corral.cache.keys import cache_key
from corral.cache.stage import CacheStage
from corral.config import ModelSettings
from corral.core.context import RequestContext
from corral.core.errors import ModelNotFound, UpstreamConnectionError
from corral.core.pipeline import Pipeline, Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, Message, ToolCallDelta, Usage
from corral.routing.table import Route, RouteTable
from corral.store import KV, MemoryKV


def _routes() -> RouteTable:
    def route(name: str, **settings: Any) -> Route:
        data = {"deployments": [{"provider": "p", "model": "m"}], **settings}
        return Route(name, [], settings=ModelSettings.model_validate(data))

    return RouteTable({"gpt": route("gpt"), "private": route("private", cache_fallback=False)},
                      {"g": "gpt"}, {})


def _ctx(model: str = "gpt", stream: bool = False, text: str = "capital of France?") -> RequestContext:
    return RequestContext("req_1", ChatRequest(model, [Message("user", text)], stream=stream))


def _chunks(*chunks: ChatChunk, fail: bool = False) -> Any:
    async def gen() -> AsyncIterator[ChatChunk]:
        for c in chunks:
            yield c
        if fail:
            raise UpstreamConnectionError("reset", provider="p")

    return gen


STREAM = (
    ChatChunk(role="assistant", content="Par"),
    ChatChunk(content="is."),
    ChatChunk(finish_reason="stop"),
    ChatChunk(usage=Usage(5, 2)),
)


class Terminal:
    def __init__(self, result: Any) -> None:
        self.result = result

    async def __call__(self, ctx: RequestContext) -> Result:
        ctx.public_model = _routes().lookup(ctx.request.model).public_name
        if callable(self.result):
            return ChatStream(self.result(), model="gpt-4o")
        return self.result


def _stage(kv: KV | None = None) -> CacheStage:
    return CacheStage(ExactCache(kv or MemoryKV()), _routes())


async def _run(stage: CacheStage, result: Any, ctx: RequestContext) -> Result:
    return await Pipeline([stage], Terminal(result))(ctx)


async def test_non_stream_answer_is_stored_and_found_by_lookup(kv: KV) -> None:
    stage = _stage(kv)
    ctx = _ctx("g")  # alias: stored under the public name's key
    result = await _run(stage, ChatResponse("r1", "gpt-4o", "Paris."), ctx)
    assert isinstance(result, ChatResponse)
    assert ctx.cache_key == cache_key(ctx.request, "gpt", scope=("", ""))
    result.content = "changed by an outer stage"  # serialised before this: no effect
    await stage.drain()
    later = _ctx("gpt")
    later.cache_key = ctx.cache_key
    cached = await stage.lookup(later)
    assert cached is not None and cached.content == "Paris."
    assert await stage.lookup(_ctx("gpt")) is not None  # no key in extras: computed again
    assert await stage.lookup(_ctx("gpt", text="other")) is None


async def test_the_response_does_not_wait_for_the_write() -> None:
    gate = asyncio.Event()

    class SlowKV(MemoryKV):
        local = False  # slow like a network KV: exercises the background-write path

        async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
            await gate.wait()
            await super().set(key, value, ttl_s)

    stage = _stage(SlowKV())
    result = await asyncio.wait_for(_run(stage, ChatResponse("r1", "m", "Paris."), _ctx()), 1)
    assert isinstance(result, ChatResponse)
    assert stage.cache.counters["stores"] == 0
    gate.set()
    await stage.drain()
    assert stage.cache.counters["stores"] == 1


async def test_clean_stream_is_reassembled_and_stored(kv: KV) -> None:
    stage = _stage(kv)
    stream = await _run(stage, _chunks(*STREAM), _ctx(stream=True))
    assert isinstance(stream, ChatStream)
    assert [c.content async for c in stream] == ["Par", "is.", None, None]
    await stage.drain()
    cached = await stage.lookup(_ctx())  # a non-stream request shares the streamed answer
    assert cached is not None
    assert (cached.id, cached.model, cached.content) == ("req_1", "gpt-4o", "Paris.")
    assert cached.finish_reason == "stop"
    assert cached.usage == Usage(5, 2)


async def test_failed_stream_is_not_stored() -> None:
    stage = _stage()
    stream = await _run(stage, _chunks(*STREAM[:2], fail=True), _ctx(stream=True))
    assert isinstance(stream, ChatStream)
    with pytest.raises(UpstreamConnectionError):
        async for _ in stream:
            pass
    await stage.drain()
    assert await stage.lookup(_ctx()) is None


async def test_abandoned_stream_is_not_stored() -> None:
    stage = _stage()
    stream = await _run(stage, _chunks(*STREAM), _ctx(stream=True))
    assert isinstance(stream, ChatStream)
    chunks = stream.__aiter__()
    await anext(chunks)
    await chunks.aclose()  # the client went away after the first chunk
    await stage.drain()
    assert await stage.lookup(_ctx()) is None
    assert stage.cache.counters["stores"] == 0


@pytest.mark.parametrize("chunks", [
    (ChatChunk(content="Par"), ChatChunk(finish_reason="content_filter")),
    (ChatChunk(content="Par"),),  # ended without a finish reason: truncated upstream
    (ChatChunk(tool_calls=[ToolCallDelta(0, "c1", "send", '{"to"')]),
     ChatChunk(tool_calls=[ToolCallDelta(0, arguments=': "x"}')]), ChatChunk(finish_reason="tool_calls")),
])
async def test_streams_that_must_not_be_replayed_are_not_stored(chunks: tuple[ChatChunk, ...]) -> None:
    stage = _stage()
    stream = await _run(stage, _chunks(*chunks), _ctx(stream=True))
    assert isinstance(stream, ChatStream)
    assert len([c async for c in stream]) == len(chunks)
    await stage.drain()
    assert await stage.lookup(_ctx()) is None
    assert stage.cache.counters["skipped_uncacheable"] == 1


async def test_degraded_answers_are_not_stored() -> None:
    async def degraded(ctx: RequestContext) -> Result:
        ctx.degraded = "content_policy_fallback"
        return ChatResponse("r1", "other-model", "Paris.")

    stage = _stage()
    await Pipeline([stage], degraded)(_ctx())
    await stage.drain()
    assert await stage.lookup(_ctx()) is None
    assert stage.cache.counters["skipped_degraded"] == 1


async def test_routes_without_cache_fallback_store_and_serve_nothing() -> None:
    stage = _stage()
    ctx = _ctx("private")
    await _run(stage, ChatResponse("r1", "m", "secret"), ctx)
    await stage.drain()
    assert stage.cache.counters["stores"] == 0
    assert await stage.cache.put(ctx.cache_key, ChatResponse("r1", "m", "secret"))
    assert await stage.lookup(ctx) is None  # even if an entry exists


async def test_unknown_model_passes_through_without_a_key() -> None:
    async def terminal(ctx: RequestContext) -> Result:
        raise ModelNotFound("no such model")

    stage = _stage()
    ctx = _ctx("nope")
    with pytest.raises(ModelNotFound):
        await Pipeline([stage], terminal)(ctx)
    assert "cache_key" not in ctx.extras
    assert await stage.lookup(ctx) is None


async def test_backlog_of_writes_is_shed_not_queued_forever() -> None:
    gate = asyncio.Event()

    class SlowKV(MemoryKV):
        local = False  # slow like a network KV: exercises the background-write path

        async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
            await gate.wait()

    stage = CacheStage(ExactCache(SlowKV()), _routes(), max_pending=2)
    for n in range(4):
        await _run(stage, ChatResponse("r", "m", "a"), _ctx(text=f"q{n}"))
    assert stage.cache.counters["skipped_busy"] == 2
    gate.set()
    await stage.drain()
    assert stage.cache.counters["stores"] == 2
