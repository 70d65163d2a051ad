"""`Gateway.handle`: the one entry every operation goes through (issue 9).

Driven in-process, the way a batch worker or a background response will call it: no HTTP
edge records anything, so a record here is the lifecycle's own doing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from corral.core.context import Caller, RequestContext
from corral.core.errors import ContextLengthExceeded, ModelNotFound
from corral.core.stream import ChatStream
from corral.core.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Message
from corral.gateway import Gateway
from corral.observe.queries import recent
from corral.routing.table import RouteTable
from tests.conftest import settings_for

CALLER = Caller("key_1", "app", "team-a", frozenset({"inference"}))
FAKE = {"fake": {"type": "fake"}}


async def _records(gateway: Gateway) -> list[dict[str, Any]]:
    await gateway.recorder.sink.flush()
    return list(reversed(await recent(gateway.db, limit=50)))


def _chat(model: str, *, stream: bool = False, text: str = "hello there") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", text)], stream=stream, include_usage=stream)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = settings_for(tmp_path, FAKE, {
        "chat": {"deployments": [{"provider": "fake", "model": "echo"}], "aliases": ["chat-alias"]},
        "emb": {"deployments": [{"provider": "fake", "model": "embed"}]},
        "tiny": {"deployments": [{"provider": "fake", "model": "echo", "context_window": 64}],
                 "context": {"policy": "error", "reserve_output_tokens": 16}},
    })
    gw = await Gateway.start(settings, warmup=False)
    try:
        yield gw
    finally:
        await gw.stop()


async def test_every_operation_is_recorded_by_the_lifecycle_itself(gateway: Gateway) -> None:
    answer = await gateway.handle(RequestContext("req_a", _chat("chat-alias"), caller=CALLER))
    assert isinstance(answer, ChatResponse)
    stream = await gateway.handle(RequestContext("req_b", _chat("chat", stream=True), caller=CALLER))
    assert isinstance(stream, ChatStream)
    text = "".join([chunk.content async for chunk in stream if chunk.content])
    assert text
    vectors = await gateway.handle(RequestContext("req_c", EmbeddingRequest("emb", ["one", "two"]),
                                                  caller=CALLER, operation="embeddings"))
    assert isinstance(vectors, EmbeddingResponse) and len(vectors.vectors) == 2
    rows = {r["request_id"]: r for r in await _records(gateway)}
    assert set(rows) == {"req_a", "req_b", "req_c"}, "one record each, none twice"
    assert (rows["req_a"]["route"], rows["req_a"]["requested_model"]) == ("chat", "chat-alias")
    assert rows["req_b"]["stream"] is True and rows["req_b"]["output_tokens"] > 0
    assert rows["req_b"]["ttft_client_ms"] is not None
    assert (rows["req_c"]["operation"], rows["req_c"]["input_tokens"] > 0) == ("embeddings", True)
    assert all(r["status"] == "ok" and r["team"] == "team-a" for r in rows.values())


async def test_errors_are_recorded_with_their_status_then_raised(gateway: Gateway) -> None:
    with pytest.raises(ModelNotFound):
        await gateway.handle(RequestContext("req_404", _chat("nope"), caller=CALLER))
    with pytest.raises(ContextLengthExceeded):
        await gateway.handle(RequestContext("req_400", _chat("tiny", text="word " * 400), caller=CALLER))
    rows = {r["request_id"]: r for r in await _records(gateway)}
    assert (rows["req_404"]["http_status"], rows["req_404"]["error_type"]) == (404, "ModelNotFound")
    assert (rows["req_400"]["http_status"], rows["req_400"]["status"]) == (400, "error")


async def test_a_stream_closed_early_is_recorded_once_as_abandoned(gateway: Gateway) -> None:
    ctx = RequestContext("req_gone", _chat("chat", stream=True, text="a longer prompt " * 20), caller=CALLER)
    stream = await gateway.handle(ctx)
    assert isinstance(stream, ChatStream)
    chunks = aiter(stream)
    await anext(chunks)
    ctx.client_disconnected = True  # what the endpoint sets when the client goes away
    await chunks.aclose()  # type: ignore[attr-defined]
    [row] = [r for r in await _records(gateway) if r["request_id"] == "req_gone"]
    assert row["extras"]["client_disconnected"] is True and row["error_type"] is None


async def test_the_route_is_looked_up_once_per_request(gateway: Gateway,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = RouteTable.lookup

    def counting(self: RouteTable, model: str) -> Any:
        calls.append(model)
        return real(self, model)

    monkeypatch.setattr(RouteTable, "lookup", counting)
    await gateway.handle(RequestContext("req_once", _chat("chat-alias"), caller=CALLER))
    stream = await gateway.handle(RequestContext("req_twice", _chat("chat", stream=True), caller=CALLER))
    assert isinstance(stream, ChatStream)
    async for _ in stream:
        pass
    assert calls == ["chat-alias", "chat"], "cache, context, content policy and router reuse ctx.route"
