"""Putting the original values back into the answer, whole or as it streams.

A placeholder can arrive split across chunks (``[EMA`` + ``IL_1] says``). The
`StreamRestorer` emits everything it can and holds back only the longest tail that
could still become a placeholder of this request: never more than the longest
placeholder minus one character, and nothing at all when the tail cannot start one.
So streamed restoration equals restoring the whole text, and latency stays unchanged
for ordinary text.

Altered placeholders. The model may change the letter case (``[Email_1]``): restored,
since the brackets, type and number still identify our placeholder without doubt. A
placeholder without its brackets (``EMAIL_1``) is left as is: it looks like an
identifier the model or user may use on purpose (code, templates), and putting
personal data there would be a guess; the user sees the label, which still reads.

Tool-call arguments are JSON text; there a value is inserted JSON-escaped, so an
address with a newline or a quote keeps the arguments valid JSON.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator

from corral.core.types import ChatChunk, ChatResponse, ToolCall, ToolCallDelta
from corral.privacy.redact import Vault, fold


class StreamRestorer:
    """Restores placeholders in a sequence of deltas; `flush` at the end of the stream."""

    __slots__ = ("_json", "_longest", "_pattern", "_pending", "_prefixes", "_starts", "_vault")

    def __init__(self, vault: Vault, *, json_strings: bool = False) -> None:
        self._vault = vault
        self._json = json_strings
        self._pending = ""
        placeholders = sorted(vault.placeholders, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(p) for p in placeholders), re.IGNORECASE | re.ASCII)
            if placeholders else None
        )
        self._longest = vault.longest
        self._prefixes = {fold(p[:i]) for p in placeholders for i in range(1, len(p))}
        self._starts = {fold(p[0]) for p in placeholders} | {p[0] for p in placeholders}

    @property
    def held(self) -> int:
        """Characters held back right now (a possible placeholder's beginning)."""
        return len(self._pending)

    def feed(self, delta: str) -> str:
        """Restored text that can be emitted now."""
        if self._pattern is None:
            return delta
        text = self._pending + delta
        out: list[str] = []
        pos = 0
        for match in self._pattern.finditer(text):
            out.append(text[pos:match.start()])
            out.append(self._value(match.group()))
            pos = match.end()
        rest = text[pos:]
        keep = self._held_suffix(rest)
        out.append(rest[:len(rest) - keep])
        self._pending = rest[len(rest) - keep:]
        return "".join(out)

    def flush(self) -> str:
        """The held-back tail: the stream ended, so it was not a placeholder."""
        tail, self._pending = self._pending, ""
        return tail

    def _value(self, placeholder: str) -> str:
        value = self._vault.value(placeholder)
        if value is None:  # unreachable: the pattern only knows the vault's placeholders
            return placeholder
        return json.dumps(value, ensure_ascii=False)[1:-1] if self._json else value

    def _held_suffix(self, rest: str) -> int:
        """Length of the longest tail of `rest` that begins some placeholder (0 if none)."""
        window = rest[-(self._longest - 1):] if self._longest > 1 else ""
        if not window or not any(c in self._starts for c in window):
            return 0
        for k in range(len(window), 0, -1):
            if fold(rest[-k:]) in self._prefixes:
                return k
        return 0


def restore_text(text: str, vault: Vault, *, json_strings: bool = False) -> str:
    """Non-streamed restoration of a whole text."""
    if not text or vault.size == 0:
        return text
    restorer = StreamRestorer(vault, json_strings=json_strings)
    return restorer.feed(text) + restorer.flush()


def restore_response(response: ChatResponse, vault: Vault) -> ChatResponse:
    """A copy of `response` with values restored in its content and tool-call arguments."""
    if vault.size == 0:
        return response
    calls = response.tool_calls
    if calls:
        calls = [ToolCall(c.id, c.name, restore_text(c.arguments, vault, json_strings=True)) for c in calls]
    content = restore_text(response.content, vault) if response.content else response.content
    refusal = restore_text(response.refusal, vault) if response.refusal else response.refusal
    return dataclasses.replace(response, content=content, tool_calls=calls, refusal=refusal)


class ChunkRestorer:
    """Restores a chunk stream: one restorer for content, one for a refusal, one per tool-call index."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.content = StreamRestorer(vault)
        self.refusal = StreamRestorer(vault)
        self.arguments: dict[int, StreamRestorer] = {}

    @property
    def held(self) -> int:
        return self.content.held + self.refusal.held + sum(r.held for r in self.arguments.values())

    def chunk(self, chunk: ChatChunk) -> ChatChunk | None:
        """The restored chunk, or None when everything in it is held back."""
        content = chunk.content
        if content:
            content = self.content.feed(content) or None
        refusal = chunk.refusal
        if refusal:
            refusal = self.refusal.feed(refusal) or None
        deltas = chunk.tool_calls
        if deltas:
            deltas = [d for d in map(self._delta, deltas) if d is not None] or None
        if chunk.finish_reason is not None:  # the answer is over: the tails go with this chunk
            content, deltas = self._flush(content, deltas)
            refusal = (refusal or "") + self.refusal.flush() or None
        out = dataclasses.replace(chunk, content=content, tool_calls=deltas, refusal=refusal)
        if _empty(out) and not _empty(chunk):
            return None
        return out

    def end(self) -> ChatChunk | None:
        """A last chunk with anything still held (a stream that ended without finish_reason)."""
        content, deltas = self._flush(None, None)
        refusal = self.refusal.flush() or None
        if content is None and not deltas and refusal is None:
            return None
        return ChatChunk(content=content, tool_calls=deltas, refusal=refusal)

    def _delta(self, delta: ToolCallDelta) -> ToolCallDelta | None:
        """The restored fragment; None if it only carried arguments, all of them held back."""
        if not delta.arguments:
            return delta
        restorer = self.arguments.get(delta.index)
        if restorer is None:
            restorer = self.arguments[delta.index] = StreamRestorer(self.vault, json_strings=True)
        arguments = restorer.feed(delta.arguments)
        if not arguments and delta.id is None and delta.name is None:
            return None
        return dataclasses.replace(delta, arguments=arguments)

    def _flush(self, content: str | None, deltas: list[ToolCallDelta] | None
               ) -> tuple[str | None, list[ToolCallDelta] | None]:
        tail = self.content.flush()
        if tail:
            content = (content or "") + tail
        out = list(deltas) if deltas else []
        for index, restorer in self.arguments.items():
            rest = restorer.flush()
            if not rest:
                continue
            for i, d in enumerate(out):
                if d.index == index:
                    out[i] = dataclasses.replace(d, arguments=(d.arguments or "") + rest)
                    break
            else:
                out.append(ToolCallDelta(index=index, arguments=rest))
        return content, (out or deltas)


def _empty(chunk: ChatChunk) -> bool:
    """Nothing for the client: a chunk whose text is held back still carries its log
    probabilities or refusal text (which hold placeholders, never original values)."""
    return (not chunk.content and not chunk.tool_calls and chunk.finish_reason is None
            and chunk.usage is None and chunk.role is None and not chunk.logprobs and not chunk.refusal
            and chunk.reasoning is None)


async def restore_chunks(chunks: AsyncIterator[ChatChunk], vault: Vault) -> AsyncIterator[ChatChunk]:
    """Restore a streamed answer chunk by chunk (closing the source when closed early)."""
    restorer = ChunkRestorer(vault)
    try:
        async for chunk in chunks:
            out = restorer.chunk(chunk)
            if out is not None:
                yield out
        last = restorer.end()
        if last is not None:
            yield last
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
