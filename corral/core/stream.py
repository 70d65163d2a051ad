"""`ChatStream`: a typed stream of chunks, consumed once, with done-callbacks.

Stages wrap streams instead of buffering them, so a chunk leaves for the client as
soon as it arrives. Follow-up work (usage accounting, records) runs in `on_done`
callbacks after the last chunk, or after the client went away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from corral.core.drain import ShuttingDown, cut_here
from corral.core.types import ChatChunk, ChatResponse, FinishReason, ToolCall, Usage, reasoning_block

DoneCallback = Callable[["ChatStream", BaseException | None], Awaitable[None] | None]


class StreamConsumed(RuntimeError):
    """A ChatStream can be iterated only once."""


class ChatStream:
    def __init__(self, chunks: AsyncIterator[ChatChunk], *, model: str = ""):
        self._chunks = chunks
        self._consumed = False
        self._callbacks: list[DoneCallback] = []
        self.model = model

    def on_done(self, callback: DoneCallback) -> None:
        """Run `callback(stream, error)` once the stream ends, fails or is closed."""
        self._callbacks.append(callback)

    def map(self, wrap: Callable[[AsyncIterator[ChatChunk]], AsyncIterator[ChatChunk]]) -> ChatStream:
        """Wrap the chunk iterator (a stage transforming chunks as they pass)."""
        self._chunks = wrap(self._chunks)
        return self

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if self._consumed:
            raise StreamConsumed("this stream has already been consumed")
        self._consumed = True
        error: BaseException | None = None
        try:
            async for chunk in self._chunks:
                yield chunk
        except asyncio.CancelledError as exc:
            if not cut_here():
                error = exc
                raise
            error = ShuttingDown()  # the stop's deadline (corral.core.drain): an error event, recorded
            raise error from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            await self._close_source()
            for callback in self._callbacks:
                result = callback(self, error)
                if result is not None:
                    await result

    async def aclose(self) -> None:
        """Close without consuming (the client left before reading)."""
        if not self._consumed:
            self._consumed = True
            await self._close_source()
            for callback in self._callbacks:
                result = callback(self, None)
                if result is not None:
                    await result

    async def _close_source(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class Tally:
    """What a stream has said so far: text, tool calls, finish reason, usage.

    The one accumulator for every stage that watches a stream pass (the cache keeps the
    whole answer, usage estimates tokens, the summarizer collects a reply); feed it each
    chunk with `add`.
    """

    __slots__ = ("_calls", "_logprobs", "_parts", "_reasoning", "_refusal", "backend", "finish", "usage")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._logprobs: dict[str, list[Any]] = {}  # "content"/"refusal" -> token entries, in order
        self._refusal: list[str] = []
        self._reasoning: dict[int, dict[str, Any]] = {}  # index -> thinking block, as it grows
        self.backend: tuple[str | None, str | None] = (None, None)  # system_fingerprint, service_tier
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None

    def add(self, chunk: ChatChunk) -> None:
        if chunk.content:
            self._parts.append(chunk.content)
        for delta in chunk.tool_calls or ():
            call = self._calls.setdefault(delta.index, ["", "", ""])
            call[0] = delta.id or call[0]
            call[1] = delta.name or call[1]
            call[2] += delta.arguments or ""
        if chunk.finish_reason is not None:
            self.finish = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.logprobs:
            for key, entries in chunk.logprobs.items():
                if isinstance(entries, list):
                    self._logprobs.setdefault(key, []).extend(entries)
        if chunk.refusal:
            self._refusal.append(chunk.refusal)
        if chunk.reasoning is not None:
            piece = chunk.reasoning
            block = self._reasoning.get(piece.index)
            if block is None:
                block = self._reasoning[piece.index] = reasoning_block(piece)
            if block["type"] == "thinking":
                block["thinking"] += piece.text or ""
                block["signature"] += piece.signature or ""
        if chunk.system_fingerprint is not None or chunk.service_tier is not None:
            fingerprint, tier = self.backend
            self.backend = (chunk.system_fingerprint or fingerprint, chunk.service_tier or tier)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def generated(self) -> str:
        """Everything the model produced, tool-call names and arguments included (for token counts)."""
        return self.text + "".join(name + arguments for _, name, arguments in self._calls.values())

    def response(self, id: str, model: str, created: int = 0) -> ChatResponse:
        """The answer the chunks add up to."""
        calls = [ToolCall(*self._calls[i]) for i in sorted(self._calls)]
        return ChatResponse(id=id, model=model, content=self.text or None, tool_calls=calls or None,
                            finish_reason=self.finish, usage=self.usage, created=created,
                            logprobs=dict(self._logprobs) or None, refusal="".join(self._refusal) or None,
                            system_fingerprint=self.backend[0], service_tier=self.backend[1],
                            reasoning=[self._reasoning[i] for i in sorted(self._reasoning)] or None)


async def prepend(first: ChatChunk, rest: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    """Yield an already-read chunk, then the rest (used after peeking the first chunk)."""
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
