"""One request's life, the same for every operation: resolve the route, run the stages, record.

Every caller that asks a model for something goes through `Lifecycle.handle`: the chat
and embeddings endpoints today, background responses and batch items next. That is what
makes each of them private (the privacy stage), routed with failover, recorded, priced
and counted in the metrics without the caller doing any of it itself.

The record is the outermost step. An answer is recorded when it is returned; a stream
when it ends, fails or is closed (its text is kept, when capture is on, by a tap here
rather than by the endpoint); an error when it is raised; a request whose client left
before any answer (`ctx.client_disconnected`, set by the endpoint) with status 499. A batch
line whose upstream call was handed to a provider's batch API (`RequestDeferred`, see
`corral.core.deferred`) is not recorded then: it runs through here again with the
provider's answer, and that run is recorded, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from corral.context.usage import estimate_usage
from corral.core.context import RequestContext
from corral.core.deferred import RequestDeferred
from corral.core.errors import CorralError
from corral.core.forward import ForwardResponse
from corral.core.pipeline import Pipeline, Result
from corral.core.stream import ChatStream, Tally
from corral.core.types import ChatChunk, ChatResponse
from corral.cost.units import forward_units
from corral.observe.record import RequestRecord
from corral.observe.recorder import Recorder
from corral.routing.table import RouteTable

CLIENT_CLOSED = 499  # nginx's "client closed request": the record's status, never sent


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was complete."""


class Lifecycle:
    def __init__(self, routes: RouteTable, pipeline: Pipeline, recorder: Recorder) -> None:
        self.routes = routes
        self.pipeline = pipeline
        self.recorder = recorder

    async def handle(self, ctx: RequestContext) -> Result:
        """Serve `ctx` and record it (a stream: once it is over). Errors are recorded, then raised."""
        try:
            self.routes.resolve(ctx)  # once: the stages and the router reuse ctx.route
            result = await self.pipeline(ctx)
        except asyncio.CancelledError:
            if ctx.client_disconnected:
                self._abandoned(ctx)
            raise
        except RequestDeferred:
            _settle(ctx, None)  # handed to a provider's batch: recorded (and charged) when it runs again
            raise
        except Exception as exc:
            status = exc.status_code if isinstance(exc, CorralError) else 500
            _settle(ctx, self.recorder.finish(ctx, http_status=status, error=exc,
                                              client_first_byte_at=time.perf_counter()))
            raise
        if isinstance(result, ChatStream):
            return self._recorded(ctx, result)
        if isinstance(result, ForwardResponse):
            return self._forwarded(ctx, result)
        text = result.content if isinstance(result, ChatResponse) else None
        _settle(ctx, self.recorder.finish(ctx, http_status=200, error=None,
                                          client_first_byte_at=time.perf_counter(), response_text=text))
        return result

    def _recorded(self, ctx: RequestContext, stream: ChatStream) -> ChatStream:
        """The stream, tapped: the first chunk's time, the text when it may be kept, and the
        record once the stream is over (ended, failed, or closed because the client left)."""
        tally = Tally() if self.recorder.capture_for(ctx) else None

        async def tap(chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
            async for chunk in chunks:
                if ctx.first_byte_out_at is None:
                    ctx.first_byte_out_at = time.perf_counter()
                if tally is not None:
                    tally.add(chunk)
                yield chunk

        def done(_: ChatStream, error: BaseException | None) -> None:
            if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
                error = None  # closed early: the client left (ctx.client_disconnected) or the server stopped
            _settle(ctx, self.recorder.finish(ctx, http_status=200, error=error,
                                              client_first_byte_at=ctx.first_byte_out_at,
                                              response_text=tally.text if tally is not None else None))

        stream.on_done(done)
        return stream.map(tap)

    def _forwarded(self, ctx: RequestContext, answer: ForwardResponse) -> ForwardResponse:
        """A pass-through answer, recorded with the usage it reports (none: the prompt's tokens,
        estimated); an event stream once it is over, with what its events reported."""
        units = forward_units(ctx.request, answer)
        ctx.units = units.to_record() if units is not None else None
        if answer.chunks is None:
            ctx.usage = answer.usage or estimate_usage(ctx.request, "")
            _settle(ctx, self.recorder.finish(ctx, http_status=200, error=None,
                                              client_first_byte_at=time.perf_counter()))
            return answer
        def record(error: BaseException | None) -> None:
            ctx.usage = answer.usage or estimate_usage(ctx.request, "")
            status = error.status_code if isinstance(error, CorralError) else 500 if error else 200
            _settle(ctx, self.recorder.finish(ctx, http_status=status, error=error,
                                              client_first_byte_at=ctx.first_byte_out_at))

        answer.chunks = _RecordedEvents(answer.chunks, ctx, record)
        return answer

    def _abandoned(self, ctx: RequestContext) -> None:
        """The client left before any answer went out: recorded as 499, with the prompt's
        tokens estimated when no usage came back, since the provider may still bill for them."""
        if ctx.usage is None and ctx.attempts:
            ctx.usage = estimate_usage(ctx.request, "")
        _settle(ctx, self.recorder.finish(ctx, http_status=CLIENT_CLOSED, error=ClientDisconnected(),
                                          client_first_byte_at=None))


def _settle(ctx: RequestContext, record: RequestRecord | None) -> None:
    """Move the request's limits from what it reserved to what its record says it used (the
    cost, children included, and the tokens of it and of the calls made for it)."""
    if ctx.limits is None:
        return
    if record is None:
        ctx.limits.settle(None, 0, 0)
        return
    output = record.output_tokens
    for child in ctx.children:  # a summarizer's tokens are the request's too
        if child.usage is not None:
            output += child.usage.input_tokens + child.usage.output_tokens
    ctx.limits.settle(record.cost_usd, record.input_tokens, output)


class _RecordedEvents:
    """A pass-through event stream that records its request exactly once: at its end, on an
    error, or when closed. A class, not an async generator: a generator closed before it
    started runs no `finally`, so a client that left before the first event went unrecorded
    and the upstream stream stayed open."""

    def __init__(self, events: AsyncIterator[bytes], ctx: RequestContext,
                 record: Callable[[BaseException | None], None]) -> None:
        self._events = events
        self._ctx = ctx
        self._record: Callable[[BaseException | None], None] | None = record

    def __aiter__(self) -> _RecordedEvents:
        return self

    async def __anext__(self) -> bytes:
        if self._record is None:
            raise StopAsyncIteration
        try:
            event = await anext(self._events)
        except StopAsyncIteration:
            await self._end(None)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            await self._end(None)  # the client left, or the server stopped
            raise
        except BaseException as exc:
            await self._end(exc)
            raise
        if self._ctx.first_byte_out_at is None:
            self._ctx.first_byte_out_at = time.perf_counter()
        return event

    async def aclose(self) -> None:
        await self._end(None)

    async def _end(self, error: BaseException | None) -> None:
        record, self._record = self._record, None
        if record is None:
            return
        try:
            aclose: Any = getattr(self._events, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            record(error)
