"""One attempt: one call to one deployment, under the route's timeouts.

Time to first token bounds the wait for the whole answer (non-streamed) or for the
first chunk (streamed); after that, the idle timeout bounds each gap between chunks
and the request's deadline bounds the rest. A stream is handed back only once its
first chunk has arrived, so any failure before that can still be retried elsewhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from corral.config import TimeoutSettings
from corral.core.context import Attempt, RequestContext
from corral.core.deferred import DeferredCall
from corral.core.errors import CorralError, UpstreamTimeout
from corral.core.forward import ForwardRequest, ForwardResponse
from corral.core.pipeline import Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, EmbeddingRequest
from corral.providers.base import CONNECT_TIMEOUT, Provider
from corral.providers.native_batch import NativeBatchAPI
from corral.routing.params import fit
from corral.routing.table import Deployment

C = TypeVar("C", ChatChunk, bytes)  # a chat stream's chunks, or a pass-through stream's events


async def run_attempt(
    ctx: RequestContext, deployment: Deployment, timeouts: TimeoutSettings, deadline: float,
    unsupported_params: str = "error",
) -> Result:
    """Call `deployment` once; raises a CorralError on any failure before the first chunk.

    Embeddings are one call bounded like a non-streamed answer (`first_token_s`). A chat
    request's parameters the provider cannot honour are refused, dropped or translated by the
    route's `unsupported_params` (corral/routing/params.py)."""
    provider = deployment.provider
    work = ctx.request
    if isinstance(work, ChatRequest):
        fitted = fit(work, provider, unsupported_params)
        work = fitted.request
        ctx.routing.dropped_params = fitted.dropped or None
        ctx.routing.translated_params = fitted.translated or None
    upstream = dataclasses.replace(work, model=deployment.model)
    streamed = isinstance(upstream, (ChatRequest, ForwardRequest)) and upstream.stream
    attempt = Attempt(deployment.name, provider.name, deployment.model)
    ctx.attempts.append(attempt)
    ctx.response_headers["x-corral-attempts"] = str(len(ctx.attempts))
    began = time.perf_counter()
    first_token_s = min(timeouts.first_token_s, max(0.0, deadline - time.monotonic()))
    CONNECT_TIMEOUT.set(timeouts.connect_s)  # this task's attempt: adapters read it when connecting
    deferred = ctx.deferred if ctx.deferred is not None and ctx.deferred.takes(deployment.name) else None
    native = provider.native_batch if deferred is not None and not streamed else None
    result: Result
    try:
        if native is not None and deferred is not None and not isinstance(upstream, ForwardRequest):
            result = await _deferred(ctx, deferred, native, upstream, deployment.name)
        elif isinstance(upstream, EmbeddingRequest):
            async with asyncio.timeout(first_token_s):
                result = await provider.embed(upstream)
        elif isinstance(upstream, ForwardRequest):
            result = await _forward(provider, upstream, deployment, timeouts, first_token_s, deadline)
        elif not streamed:
            async with asyncio.timeout(first_token_s):
                result = await provider.complete(upstream)
        else:
            chunks = provider.stream(upstream)
            try:
                async with asyncio.timeout(first_token_s):
                    first = await anext(chunks)
            except StopAsyncIteration:
                first = None
            except BaseException:
                await _close(chunks)
                raise
            result = ChatStream(
                _guarded(first, chunks, deployment, timeouts.idle_s, deadline), model=deployment.model
            )
        ctx.upstream_first_byte_at = time.perf_counter()
        attempt.status = "ok"
        ctx.deployment = deployment.name
        ctx.served_model = deployment.model
        ctx.routing.provider_type = provider.config.type
        return result
    except TimeoutError:
        attempt.status = "error"
        attempt.error_type = "UpstreamTimeout"
        raise UpstreamTimeout(
            f"Deployment '{deployment.name}' sent no {'first token' if streamed else 'answer'} "
            f"within {first_token_s:.3g} s (timeouts.first_token_s).",
            provider=provider.name,
        ) from None
    except CorralError as exc:
        attempt.status = "error"
        attempt.error_type = type(exc).__name__
        raise
    finally:
        attempt.duration_ms = (time.perf_counter() - began) * 1000


async def _forward(provider: Provider, upstream: ForwardRequest, deployment: Deployment,
                   timeouts: TimeoutSettings, first_token_s: float, deadline: float) -> ForwardResponse:
    """A pass-through call: the answer (or a stream's first event) within `first_token_s`, and a
    stream's later events under the same idle timeout and deadline as a chat stream's chunks."""
    async with asyncio.timeout(first_token_s):
        answer = await provider.forward(upstream)
        if answer.chunks is None:
            return answer
        try:
            first: bytes | None = await anext(answer.chunks)
        except StopAsyncIteration:
            first = None
        except BaseException:
            await _close(answer.chunks)
            raise
    answer.chunks = _guarded(first, answer.chunks, deployment, timeouts.idle_s, deadline)
    return answer


async def _deferred(ctx: RequestContext, call: DeferredCall, native: NativeBatchAPI,
                    upstream: ChatRequest | EmbeddingRequest, deployment: str) -> Result:
    """The attempt of a batch line forwarded to the provider's batch API: the adapter's wire
    body goes to the deferred call (collecting: it raises RequestDeferred, and the request
    leaves unrecorded), and the answer it gives back is parsed as a synchronous one would be."""
    line = await call.send(deployment, native.line(upstream))
    ctx.routing.native_batch = line.batch_id  # set before parsing: an error answer is final too
    return native.parse(upstream, line)


async def _guarded(
    first: C | None,
    chunks: AsyncIterator[C],
    deployment: Deployment,
    idle_s: float,
    deadline: float,
) -> AsyncIterator[C]:
    """Yield the stream, failing with UpstreamTimeout on a long gap or past the deadline."""
    try:
        if first is None:
            return
        yield first
        while True:
            budget = min(idle_s, deadline - time.monotonic())
            if budget <= 0:
                raise UpstreamTimeout(
                    f"Stream from '{deployment.name}' passed the request deadline (timeouts.total_s).",
                    provider=deployment.provider.name,
                )
            try:
                async with asyncio.timeout(budget):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UpstreamTimeout(
                    f"Stream from '{deployment.name}' stalled: no chunk for {budget:.3g} s "
                    "(timeouts.idle_s or timeouts.total_s).",
                    provider=deployment.provider.name,
                ) from None
            yield chunk
    finally:
        await _close(chunks)


async def _close(chunks: AsyncIterator[Any]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
