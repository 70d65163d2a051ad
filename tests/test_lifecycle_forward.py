"""A pass-through event stream is recorded exactly once, however it ends: read to the end,
failed, or closed by a client that left, even before the first event was read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from corral.core.context import RequestContext
from corral.core.errors import UpstreamBadResponse
from corral.core.forward import ForwardRequest, ForwardResponse
from corral.lifecycle import Lifecycle
from corral.observe.recorder import Recorder


class Events:
    """An upstream event stream that can fail after its first event; knows if it was closed."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent = 0
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self.sent == 2 or (self.fail and self.sent == 1):
            if self.fail:
                raise UpstreamBadResponse("the upstream sent half an event")
            raise StopAsyncIteration
        self.sent += 1
        return b"data: {}\n\n"

    async def aclose(self) -> None:
        self.closed = True


class Finishes:
    """The recorder's `finish`, counted."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def finish(self, ctx: RequestContext, *, http_status: int, **_: Any) -> None:
        self.statuses.append(http_status)


def relayed(upstream: Events) -> tuple[AsyncIterator[bytes], Finishes]:
    recorder = Finishes()
    lifecycle = Lifecycle(cast(Any, None), cast(Any, None), cast(Recorder, recorder))
    ctx = RequestContext("req_f", ForwardRequest("/completions", "m", fields={"prompt": "hi"}),
                         operation="forward")
    answer = lifecycle._forwarded(ctx, ForwardResponse(b"", "text/event-stream", chunks=upstream))
    assert answer.chunks is not None
    return answer.chunks, recorder


async def test_a_stream_read_to_the_end_is_recorded_once() -> None:
    upstream = Events()
    chunks, recorder = relayed(upstream)
    assert [e async for e in chunks] == [b"data: {}\n\n"] * 2
    await chunks.aclose()  # type: ignore[attr-defined]  # the edge closes it again: no second record
    assert recorder.statuses == [200] and upstream.closed


async def test_a_stream_closed_before_its_first_event_is_recorded_and_closes_upstream() -> None:
    """The client left while the first event was on its way: the edge closes the relay
    without ever reading it. The provider may bill for the prompt, so it is recorded."""
    upstream = Events()
    chunks, recorder = relayed(upstream)
    await chunks.aclose()  # type: ignore[attr-defined]
    assert recorder.statuses == [200] and upstream.closed
    with pytest.raises(StopAsyncIteration):
        await anext(aiter(chunks))


async def test_a_stream_that_fails_is_recorded_with_the_error_status() -> None:
    upstream = Events(fail=True)
    chunks, recorder = relayed(upstream)
    with pytest.raises(UpstreamBadResponse):
        async for _ in chunks:
            pass
    await chunks.aclose()  # type: ignore[attr-defined]
    assert recorder.statuses == [UpstreamBadResponse.status_code] and upstream.closed
