"""An in-process fake provider scripted by model name, for unit tests.

  echo            answers with the last user message (usage reported)
  no-usage        like echo, but reports no usage (Corral must count)
  fail-429        raises UpstreamRateLimited(retry_after=3)
  fail-context    raises UpstreamContextLength
  break-after-2   streams two chunks then the connection breaks
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from corral.core.errors import UpstreamConnectionError, UpstreamContextLength, UpstreamRateLimited
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, Usage
from corral.providers.base import Capabilities, Provider


def _last_user(request: ChatRequest) -> str:
    users = [m for m in request.messages if m.role == "user"]
    return users[-1].text() if users else ""


class FakeProvider(Provider):
    capabilities = Capabilities(tools=True, response_format=True)
    calls: list[ChatRequest] = []

    def _raise_scripted(self, request: ChatRequest) -> None:
        FakeProvider.calls.append(request)
        if request.model == "fail-429":
            raise UpstreamRateLimited("slow down", retry_after=3, provider=self.name, upstream_status=429)
        if request.model == "fail-context":
            raise UpstreamContextLength("too long", provider=self.name, upstream_status=400)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self._raise_scripted(request)
        text = f"echo: {_last_user(request)}"
        usage = None if request.model == "no-usage" else Usage(7, 3, cached_tokens=2)
        return ChatResponse(id="fake-1", model=request.model, content=text, usage=usage)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self._raise_scripted(request)
        words = f"echo: {_last_user(request)}".split(" ")
        for i, word in enumerate(words):
            if request.model == "break-after-2" and i == 2:
                raise UpstreamConnectionError("connection reset", provider=self.name)
            yield ChatChunk(content=word if i == 0 else " " + word)
        yield ChatChunk(finish_reason="stop")
        if request.model != "no-usage":
            yield ChatChunk(usage=Usage(7, len(words)))
