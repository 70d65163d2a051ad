"""ConverseStream's answer: AWS event-stream frames, and their events as canonical chunks.

`application/vnd.amazon.eventstream` is binary: each message is a 12-byte prelude (total
length, headers length, CRC32 of those 8 bytes), typed headers (`:message-type`,
`:event-type`, `:exception-type`, `:content-type`), a JSON payload and a CRC32 of all that
precedes it. A frame whose checksum does not match is a corrupt answer, never guessed at:
it becomes UpstreamBadResponse (retryable, like any malformed upstream body).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from corral.core.errors import UpstreamBadResponse, UpstreamConnectionError, UpstreamTimeout
from corral.core.types import ChatChunk, FinishReason, ReasoningDelta, ToolCallDelta, Usage
from corral.providers._bedrock_wire import finish_reason, parse_usage
from corral.providers.transport.errors import ClientPayloadError, ResponseError, ServerDisconnectedError
from corral.providers.transport.response import Response

PRELUDE = 12
MAX_MESSAGE = 16 * 1024 * 1024 + 128 * 1024  # AWS's limits: 16 MiB payload, 128 KiB headers
HeaderValue = bool | int | bytes | str


@dataclass(slots=True)
class EventMessage:
    headers: dict[str, HeaderValue]
    payload: bytes


def _parse_headers(data: bytes) -> dict[str, HeaderValue]:
    """Typed header values: 0/1 bool, 2-5 ints, 6 bytes, 7 string, 8 timestamp (ms), 9 uuid
    (its 16 bytes, as botocore gives it)."""
    out: dict[str, HeaderValue] = {}
    i = 0
    while i < len(data):
        n = data[i]
        name = data[i + 1:i + 1 + n].decode()
        i += 1 + n
        kind = data[i]
        i += 1
        value: HeaderValue
        if kind in (0, 1):
            value = kind == 0
        elif kind in (2, 3, 4, 5, 8):
            fmt = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}[kind]
            size = struct.calcsize(fmt)
            value = struct.unpack_from(fmt, data, i)[0]
            i += size
        elif kind in (6, 7, 9):
            (size,) = struct.unpack_from(">H", data, i) if kind != 9 else (16,)
            start = i + 2 if kind != 9 else i
            raw = data[start:start + size]
            value = raw.decode() if kind == 7 else raw
            i = start + size
        else:
            raise ValueError(f"unknown header value type {kind}")
        if i > len(data):
            raise ValueError("header runs past its section")
        out[name] = value
    return out


class EventStreamDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole, checked messages back."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._buf = bytearray()

    def _bad(self, why: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(
            f"Stream from provider '{self.provider}' is corrupt ({why}); the answer is incomplete.",
            provider=self.provider,
        )

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message still waiting for the rest."""
        return len(self._buf)

    def feed(self, data: bytes) -> Iterator[EventMessage]:
        """Messages completed by `data`, one by one: those before a corrupt frame still come
        out before the error (consume the iterator fully before feeding more)."""
        self._buf += data
        buf = self._buf
        while len(buf) >= PRELUDE:
            total, headers_len, prelude_crc = struct.unpack_from(">III", buf, 0)
            if zlib.crc32(memoryview(buf)[:8]) != prelude_crc:
                raise self._bad("prelude checksum mismatch")
            if total < PRELUDE + 4 or total > MAX_MESSAGE or headers_len > total - PRELUDE - 4:
                raise self._bad(f"impossible lengths {total}/{headers_len}")
            if len(buf) < total:
                break
            frame = bytes(buf[:total])
            del buf[:total]
            (message_crc,) = struct.unpack_from(">I", frame, total - 4)
            if zlib.crc32(frame[:total - 4]) != message_crc:
                raise self._bad("message checksum mismatch")
            try:
                headers = _parse_headers(frame[PRELUDE:PRELUDE + headers_len])
            except (ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
                raise self._bad(f"bad headers: {exc}") from None
            yield EventMessage(headers, frame[PRELUDE + headers_len:total - 4])


async def iter_body(resp: Response, provider: str) -> AsyncIterator[bytes]:
    """The body as the bytes arrive. `async for` over a Response yields lines, which would hold
    a binary frame back until some later 0x0A byte; this reads the same buffer without splitting.
    (It uses the transport Response's buffer directly: corral/providers/transport/response.py.)"""
    try:
        buf = resp._buf
        while True:
            if buf:
                data = bytes(buf)
                buf.clear()
                yield data
            if resp._done:
                return
            if resp._exc is not None:
                raise resp._exc
            await resp._wait()
    except TimeoutError as exc:  # before OSError, its base class
        raise UpstreamTimeout(f"Stream from provider '{provider}' stalled.", provider=provider) from exc
    except (ClientPayloadError, ServerDisconnectedError, ResponseError, OSError) as exc:
        raise UpstreamConnectionError(
            f"Stream from provider '{provider}' broke off: {exc}", provider=provider
        ) from exc


class StreamState:
    """ConverseStream events -> canonical chunks.

    Tool calls are numbered in order of appearance (OpenAI's `index`), not by
    contentBlockIndex, which text blocks share. `metadata` (usage) follows `messageStop`.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.stopped = False
        self.usage: Usage | None = None
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool call index
        self._has_args: dict[int, bool] = {}
        self._reasoning: dict[int, int] = {}  # contentBlockIndex -> reasoning block index

    def feed(self, event_type: str, event: dict[str, Any]) -> list[ChatChunk]:
        index = event.get("contentBlockIndex", 0)
        if event_type == "messageStart":
            return [ChatChunk(role="assistant")]
        if event_type == "contentBlockStart":
            use = (event.get("start") or {}).get("toolUse")
            if not isinstance(use, dict):
                return []
            n = self._tools[index] = len(self._tools)
            self._has_args[n] = False
            return [ChatChunk(tool_calls=[ToolCallDelta(index=n, id=use.get("toolUseId"),
                                                        name=use.get("name"), arguments="")])]
        if event_type == "contentBlockDelta":
            return self._delta(index, event.get("delta") or {})
        if event_type == "contentBlockStop" and index in self._tools:
            n = self._tools[index]
            if not self._has_args[n]:  # a call without arguments must still be valid JSON
                return [ChatChunk(tool_calls=[ToolCallDelta(index=n, arguments="{}")])]
            return []
        if event_type == "messageStop":
            self.stopped = True
            reason: FinishReason = finish_reason(event.get("stopReason"), self.provider)
            return [ChatChunk(finish_reason=reason)]
        if event_type == "metadata":
            self.usage = parse_usage(event.get("usage"))
        return []  # event types added later are ignored

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ChatChunk]:
        if delta.get("text"):
            return [ChatChunk(content=str(delta["text"]))]
        use = delta.get("toolUse")
        if isinstance(use, dict) and index in self._tools:
            partial = use.get("input") or ""
            if not partial:
                return []
            n = self._tools[index]
            self._has_args[n] = True
            return [ChatChunk(tool_calls=[ToolCallDelta(index=n, arguments=str(partial))])]
        thought = delta.get("reasoningContent")
        if isinstance(thought, dict):
            n = self._reasoning.setdefault(index, len(self._reasoning))
            if thought.get("text"):
                return [ChatChunk(reasoning=ReasoningDelta(n, text=str(thought["text"])))]
            if thought.get("signature"):
                return [ChatChunk(reasoning=ReasoningDelta(n, signature=str(thought["signature"])))]
            if thought.get("redactedContent"):
                return [ChatChunk(reasoning=ReasoningDelta(n, redacted=str(thought["redactedContent"])))]
        return []  # citations, empty deltas
