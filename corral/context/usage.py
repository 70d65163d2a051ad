"""The usage stage: every answer leaves with token usage, counted offline if needed.

Some servers (older vLLM, llama.cpp without flags, interrupted streams) report no
usage. Cost and records need it, so Corral counts with tiktoken and marks the
numbers as estimated rather than leaving them empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from corral.core.context import RequestContext, Work
from corral.core.forward import ForwardRequest, ForwardResponse
from corral.core.pipeline import Next, Result
from corral.core.stream import ChatStream, Tally
from corral.core.tokens import count_request, count_text, encoding_for_model, encoding_ready
from corral.core.types import (
    ChatChunk,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
)


def estimate_usage(request: Work, output_text: str) -> Usage:
    """Usage counted offline: the prompt (a chat's messages, or the texts to embed) and the output."""
    if isinstance(request, EmbeddingRequest):
        input_tokens = sum(count_text(t, request.model) for t in request.inputs)
    elif isinstance(request, ForwardRequest):
        input_tokens = sum(count_text(t, request.model) for t in request.texts())
    else:
        input_tokens = count_request(request)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=count_text(output_text, request.model),
        estimated=True,
    )


async def _tokenizer_ready(model: str) -> None:
    """Build the model's tokenizer off the event loop the first time (about a second)."""
    if not encoding_ready(model):
        await asyncio.to_thread(encoding_for_model, model)


class UsageStage:
    name = "usage"
    operations = frozenset({"chat", "embeddings"})

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        result = await call_next(ctx)
        if isinstance(result, EmbeddingResponse):
            if not result.usage.input_tokens and isinstance(ctx.request, EmbeddingRequest):
                counted = sum(count_text(t, ctx.request.model) for t in ctx.request.inputs)
                result.usage = Usage(input_tokens=counted, estimated=True)
            ctx.usage = result.usage
            return result
        if isinstance(result, ChatResponse):
            if result.usage is None:
                await _tokenizer_ready(ctx.request.model)
                text = (result.content or "") + "".join(
                    c.name + c.arguments for c in result.tool_calls or []
                )
                result.usage = estimate_usage(ctx.request, text)
            ctx.usage = result.usage
            return result
        if isinstance(result, ForwardResponse):
            return result  # not in the forward chain: the lifecycle reads a pass-through answer's usage
        return result.map(lambda chunks: self._watch(ctx, chunks))

    async def _watch(self, ctx: RequestContext, chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
        """Pass chunks through, counting; a stream the client abandoned still gets its usage
        (estimated from what was generated), since the provider bills for those tokens."""
        tally = Tally()
        try:
            async for chunk in chunks:
                tally.add(chunk)
                yield chunk
            if tally.usage is None:
                await _tokenizer_ready(ctx.request.model)
                tally.usage = estimate_usage(ctx.request, tally.generated())
                yield ChatChunk(usage=tally.usage)
        finally:
            usage = tally.usage  # an abandoned stream still gets what it generated, estimated
            if usage is None:
                usage = estimate_usage(ctx.request, tally.generated())
            ctx.usage = usage


__all__ = ["ChatStream", "UsageStage", "estimate_usage"]
