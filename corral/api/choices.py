"""`n > 1` on chat completions: n requests through the lifecycle, one answer with n choices.

Each answer is a request of its own (n = 1), so it is private, limited, routed with failover,
recorded and priced like any other, and every provider serves it, including those without an
`n` (Anthropic, Gemini, the local model). The price: the prompt is sent, and billed, n times;
forwarding `n` natively to OpenAI deployments is not done yet. Answer 0 may come from the
exact cache; the others skip it (`no-store`), or all n would be the same stored answer. Their
records carry the request id with `:n1`, `:n2`, ... appended.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from corral.core.context import RequestContext
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, Usage, expect


def contexts(first: RequestContext) -> list[RequestContext]:
    """`first` and its n - 1 siblings, each asking for one answer."""
    request = expect(first.request, ChatRequest)
    single = dataclasses.replace(request, n=1)
    first.request = first.original = single
    return [first, *(first.sibling(f"n{i}") for i in range(1, request.n))]


async def run_all(gateway: Any, ctxs: list[RequestContext]) -> list[Any]:
    """Every context's answer (a ChatResponse or a ChatStream). If one fails, the streams the
    others opened are closed and the first error is raised; a cancelled caller cancels all."""
    results = await asyncio.gather(*(gateway.handle(c) for c in ctxs), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        for result in results:
            if isinstance(result, ChatStream):
                await result.aclose()
        raise failed[0]
    return results


def total_usage(usages: list[Usage | None]) -> Usage | None:
    known = [u for u in usages if u is not None]
    if not known:
        return None
    return Usage(input_tokens=sum(u.input_tokens for u in known),
                 output_tokens=sum(u.output_tokens for u in known),
                 cached_tokens=sum(u.cached_tokens for u in known),
                 reasoning_tokens=sum(u.reasoning_tokens for u in known),
                 estimated=any(u.estimated for u in known),
                 cache_write_tokens=sum(u.cache_write_tokens for u in known),
                 cache_write_1h_tokens=sum(u.cache_write_1h_tokens for u in known))


def merge_answers(body: dict[str, Any], others: list[dict[str, Any]], usages: list[Usage | None],
                  usage_wire: Any) -> dict[str, Any]:
    """Answer 0's wire body with the others' choices appended (index 1..n-1) and usage summed."""
    for i, other in enumerate(others, start=1):
        choice = dict(other["choices"][0])
        choice["index"] = i
        body["choices"].append(choice)
    usage = total_usage(usages)
    if usage is not None:
        body["usage"] = usage_wire(usage)
    return body


def merged_stream(streams: list[ChatStream], model: str) -> ChatStream:
    """One stream of every answer's chunks as they arrive, each tagged with its `choice`; their
    usage is held back and sent once, summed, at the end."""
    return ChatStream(_interleave(streams), model=model)


_END = object()


async def _interleave(streams: list[ChatStream]) -> AsyncIterator[ChatChunk]:
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

    async def pump(index: int, stream: ChatStream) -> None:
        try:
            async for chunk in stream:
                await queue.put((index, chunk))
            await queue.put((index, _END))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            await queue.put((index, exc))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    usages: list[Usage | None] = [None] * len(streams)
    try:
        running = len(streams)
        while running:
            index, item = await queue.get()
            if item is _END:
                running -= 1
                continue
            if isinstance(item, Exception):
                raise item
            chunk: ChatChunk = item
            if chunk.usage is not None:
                usages[index] = chunk.usage
                if chunk.content is None and not chunk.tool_calls and chunk.finish_reason is None:
                    continue
                chunk = dataclasses.replace(chunk, usage=None)
            yield dataclasses.replace(chunk, choice=index) if index else chunk
        usage = total_usage(usages)
        if usage is not None:
            yield ChatChunk(usage=usage)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in streams:
            await stream.aclose()  # a no-op for those consumed to the end
