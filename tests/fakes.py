"""An in-process fake provider scripted by model name, for unit tests.

  echo            answers with the last user message (usage reported)
  no-usage        like echo, but reports no usage (Corral must count)
  fail-429        raises UpstreamRateLimited(retry_after=3)
  fail-context    raises UpstreamContextLength
  fail-policy     raises ContentPolicyViolation (a refusal)
  break-after-2   streams two chunks then the connection breaks
  brief           answers "a brief summary" (a summarizer whose output fits)
  flaky           like echo, but unavailable (503) while FakeProvider.down is set
  slow            like echo after FakeProvider.delay_s; notes cancellations in FakeProvider.cancelled;
                  streamed: 200 words, 20 ms apart, no usage reported
  tool-call       with tools: calls the first one (arguments {"city": "Paris"}, streamed in two
                  pieces); once the last message is a tool result: "tool said: <result>"
  (embeddings)    every model embeds (fail-embed: 503); inputs are kept in FakeProvider.embedded
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamConnectionError,
    UpstreamContextLength,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from corral.providers.base import Capabilities, Provider


def _last_user(request: ChatRequest) -> str:
    users = [m for m in request.messages if m.role == "user"]
    return users[-1].text() if users else ""


TOOL_ARGUMENTS = ('{"city": ', '"Paris"}')


def _calls_tool(request: ChatRequest) -> bool:
    """tool-call: call a tool unless the model has just been given a tool's result."""
    return bool(request.tools) and not (request.messages and request.messages[-1].role == "tool")


def _answer(request: ChatRequest) -> str:
    """The text of an answer that is not a tool call."""
    if request.model == "tool-call" and request.messages and request.messages[-1].role == "tool":
        return f"tool said: {request.messages[-1].text()}"
    return f"echo: {_last_user(request)}"


class FakeProvider(Provider):
    capabilities = Capabilities(tools=True, response_format=True)
    calls: list[ChatRequest] = []
    embedded: list[EmbeddingRequest] = []
    cancelled: list[ChatRequest] = []
    down = False
    delay_s = 5.0

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        FakeProvider.embedded.append(request)
        if request.model == "fail-embed":
            raise UpstreamUnavailable("embeddings down for the test", provider=self.name, upstream_status=503)
        vectors = [[float(len(text)), 1.0] for text in request.inputs]
        return EmbeddingResponse(request.model, vectors, Usage(sum(len(t) for t in request.inputs), 0))

    def _raise_scripted(self, request: ChatRequest) -> None:
        FakeProvider.calls.append(request)
        if request.model == "flaky" and FakeProvider.down:
            raise UpstreamUnavailable("down for the test", provider=self.name, upstream_status=503)
        if request.model == "fail-429":
            raise UpstreamRateLimited("slow down", retry_after=3, provider=self.name, upstream_status=429)
        if request.model == "fail-policy":
            raise ContentPolicyViolation("refused by policy", provider=self.name, upstream_status=400)
        if request.model == "fail-context":
            raise UpstreamContextLength("too long", provider=self.name, upstream_status=400)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self._raise_scripted(request)
        if request.model == "slow":
            try:
                await asyncio.sleep(FakeProvider.delay_s)
            except asyncio.CancelledError:
                FakeProvider.cancelled.append(request)
                raise
        usage = None if request.model == "no-usage" else Usage(7, 3, cached_tokens=2)
        if request.model == "tool-call" and _calls_tool(request):
            assert request.tools is not None
            call = ToolCall("call_fake_1", request.tools[0].name, "".join(TOOL_ARGUMENTS))
            return ChatResponse(id="fake-1", model=request.model, content=None, tool_calls=[call],
                                finish_reason="tool_calls", usage=usage)
        text = "a brief summary" if request.model == "brief" else _answer(request)
        return ChatResponse(id="fake-1", model=request.model, content=text, usage=usage)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self._raise_scripted(request)
        if request.model == "slow":
            for i in range(200):
                await asyncio.sleep(0.02)
                yield ChatChunk(content=f" word{i}")
            yield ChatChunk(finish_reason="stop")
            return
        if request.model == "tool-call" and _calls_tool(request):
            assert request.tools is not None
            name = request.tools[0].name
            yield ChatChunk(tool_calls=[ToolCallDelta(0, "call_fake_1", name, TOOL_ARGUMENTS[0])])
            yield ChatChunk(tool_calls=[ToolCallDelta(0, arguments=TOOL_ARGUMENTS[1])])
            yield ChatChunk(finish_reason="tool_calls")
            yield ChatChunk(usage=Usage(7, 5))
            return
        words = _answer(request).split(" ")
        for i, word in enumerate(words):
            if request.model == "break-after-2" and i == 2:
                raise UpstreamConnectionError("connection reset", provider=self.name)
            yield ChatChunk(content=word if i == 0 else " " + word)
        yield ChatChunk(finish_reason="stop")
        if request.model != "no-usage":
            yield ChatChunk(usage=Usage(7, len(words)))
