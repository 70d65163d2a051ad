"""`ChatStream`: a typed stream of chunks, consumed once, with done-callbacks.

Stages wrap streams instead of buffering them, so a chunk leaves for the client as
soon as it arrives. Follow-up work (usage accounting, records) runs in `on_done`
callbacks after the last chunk, or after the client went away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from corral.core.types import ChatChunk

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
