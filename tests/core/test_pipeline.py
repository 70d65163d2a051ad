"""The pipeline orders stages by STAGE_ORDER and stages can wrap streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from corral.core.context import RequestContext
from corral.core.pipeline import Next, Pipeline, Result
from corral.core.stream import ChatStream, StreamConsumed
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, Message


class Recorder:
    def __init__(self, name: str, log: list[str]):
        self.name = name
        self.log = log

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        self.log.append(f"enter {self.name}")
        result = await call_next(ctx)
        self.log.append(f"leave {self.name}")
        return result


def _ctx(stream: bool = False) -> RequestContext:
    return RequestContext("req_1", ChatRequest("m", [Message("user", "hi")], stream=stream))


@pytest.mark.asyncio
async def test_stages_run_in_declared_order_regardless_of_list_order() -> None:
    log: list[str] = []

    async def terminal(ctx: RequestContext) -> Result:
        log.append("terminal")
        return ChatResponse("1", "m", "ok")

    pipeline = Pipeline([Recorder("usage", log), Recorder("privacy", log)], terminal)
    await pipeline(_ctx())
    assert log == ["enter privacy", "enter usage", "terminal", "leave usage", "leave privacy"]


def test_unknown_stage_rejected() -> None:
    async def terminal(ctx: RequestContext) -> Result:
        raise AssertionError

    with pytest.raises(ValueError, match="bogus"):
        Pipeline([Recorder("bogus", [])], terminal)


async def _chunks() -> AsyncIterator[ChatChunk]:
    for word in ("a", "b"):
        yield ChatChunk(content=word)


@pytest.mark.asyncio
async def test_stream_consumed_once_and_done_callbacks_fire() -> None:
    done: list[BaseException | None] = []
    stream = ChatStream(_chunks())
    stream.on_done(lambda s, err: done.append(err))
    stream.map(lambda it: _upper(it))
    assert [c.content async for c in stream] == ["A", "B"]
    assert done == [None]
    with pytest.raises(StreamConsumed):
        async for _ in stream:
            pass


async def _upper(chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    async for c in chunks:
        yield ChatChunk(content=(c.content or "").upper())


@pytest.mark.asyncio
async def test_done_callback_sees_error() -> None:
    async def failing() -> AsyncIterator[ChatChunk]:
        yield ChatChunk(content="a")
        raise RuntimeError("boom")

    errors: list[BaseException | None] = []
    stream = ChatStream(failing())
    stream.on_done(lambda s, err: errors.append(err))
    with pytest.raises(RuntimeError):
        async for _ in stream:
            pass
    assert isinstance(errors[0], RuntimeError)


@pytest.mark.asyncio
async def test_each_operation_runs_only_the_stages_that_take_part_in_it() -> None:
    log: list[str] = []
    both = Recorder("privacy", log)
    both.operations = frozenset({"chat", "embeddings"})  # type: ignore[attr-defined]
    chat_only = Recorder("cache", log)  # says nothing: chat alone

    async def terminal(ctx: RequestContext) -> Result:
        log.append(f"terminal {ctx.operation}")
        return ChatResponse("1", "m", "ok")

    pipeline = Pipeline([chat_only, both], terminal)
    await pipeline(RequestContext("req_e", EmbeddingRequest("m", ["hi"]), operation="embeddings"))
    assert log == ["enter privacy", "terminal embeddings", "leave privacy"]
    log.clear()
    await pipeline(_ctx())
    assert log == ["enter privacy", "enter cache", "terminal chat", "leave cache", "leave privacy"]
    assert [s.name for s in pipeline.stages_for("embeddings")] == ["privacy"]


def test_a_tally_adds_up_text_tool_calls_finish_and_usage() -> None:
    from corral.core.stream import Tally
    from corral.core.types import ToolCallDelta, Usage

    tally = Tally()
    for chunk in (ChatChunk(content="Hel"), ChatChunk(content="lo"),
                  ChatChunk(tool_calls=[ToolCallDelta(0, id="c1", name="f", arguments='{"a"')]),
                  ChatChunk(tool_calls=[ToolCallDelta(0, arguments=": 1}")]),
                  ChatChunk(finish_reason="tool_calls"), ChatChunk(usage=Usage(3, 4))):
        tally.add(chunk)
    answer = tally.response("r1", "m", 7)
    assert (answer.content, answer.finish_reason, answer.usage, answer.created) == ("Hello", "tool_calls",
                                                                                    Usage(3, 4), 7)
    assert answer.tool_calls is not None and answer.tool_calls[0].arguments == '{"a": 1}'
    assert tally.generated() == 'Hellof{"a": 1}'
