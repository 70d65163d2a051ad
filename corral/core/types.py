"""Canonical request, response and chunk types.

The API layer parses wire formats into these; provider adapters translate them to
and from each vendor's format. Nothing between those two edges knows a wire format,
so a stage (privacy, cache, routing) is written once for every provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Role = Literal["system", "developer", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class CacheMark:
    """A prompt-cache breakpoint on one block (Anthropic's `cache_control`): "cache the prompt up
    to and including this block". A hint about what the provider stores, never content: the
    Anthropic adapter writes it back on the same block, every other adapter leaves it out, and
    the exact cache's key ignores it. `ttl`: "5m" or "1h"; None is the provider's default (5m)."""

    ttl: str | None = None


@dataclass(slots=True)
class TextPart:
    text: str
    cache: CacheMark | None = field(default=None, kw_only=True)


@dataclass(slots=True)
class ImagePart:
    """An image by URL (https or data:). `detail` is OpenAI's low/high/auto hint."""

    url: str
    detail: str | None = None
    cache: CacheMark | None = field(default=None, kw_only=True)


ContentPart = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it
    cache: CacheMark | None = field(default=None, kw_only=True)  # a mark on the tool_use block


@dataclass(slots=True)
class Message:
    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    # An assistant turn's reasoning as the provider wrote it, in Anthropic's block shape
    # ({"type": "thinking", "thinking", "signature"} or {"type": "redacted_thinking", "data"}):
    # sent back to Anthropic, which checks the signature (it needs them with tool use), and
    # left out for providers that cannot read them.
    reasoning: list[dict[str, Any]] | None = None
    # A tool message's prompt-cache mark, on its tool_result block as a whole (marks on the
    # blocks inside a result, as on any other block, are on its parts).
    cache: CacheMark | None = field(default=None, kw_only=True)

    def text(self) -> str:
        """The message's text, images left out (for token counting and detection)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    cache: CacheMark | None = field(default=None, kw_only=True)  # a mark on the tool's definition


@dataclass(slots=True)
class ChatRequest:
    """A chat request as Corral understands it, independent of any provider.

    `extra` holds OpenAI parameters that have no canonical meaning (logit_bias,
    presence_penalty, ...). OpenAI-compatible adapters forward them; other adapters
    reject them with a 400 rather than drop them silently.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Answers asked for (OpenAI's `n`). The chat endpoint fans n > 1 out as n requests of one
    # answer each (corral/api/choices.py), so adapters and stages only ever see 1.
    n: int = 1


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # prompt-cache reads, inside input_tokens
    reasoning_tokens: int = 0
    estimated: bool = False  # counted by Corral because the provider reported none
    # Prompt-cache writes (Anthropic's cache_creation), inside input_tokens and apart from each
    # other, as they are priced: at the 5-minute TTL (the default) and at the 1-hour TTL.
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def cache_writes(self) -> int:
        """Every token written to the prompt cache (Anthropic's cache_creation_input_tokens)."""
        return self.cache_write_tokens + self.cache_write_1h_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    content: str | None
    tool_calls: list[ToolCall] | None = None
    finish_reason: FinishReason | None = "stop"
    usage: Usage | None = None
    created: int = 0
    # What an OpenAI-compatible provider says beside the answer, handed back as it came (no
    # canonical meaning, but dropping it is silent data loss): per-token log probabilities
    # (`logprobs`/`top_logprobs` asked), a refusal, citations, the backend's fingerprint and tier.
    logprobs: dict[str, Any] | None = None
    refusal: str | None = None
    annotations: list[dict[str, Any]] | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    reasoning: list[dict[str, Any]] | None = None  # the model's thinking blocks (`Message.reasoning`)


@dataclass(slots=True)
class ReasoningDelta:
    """A fragment of a streamed reasoning block: its text, then its signature; a redacted block
    comes whole (`redacted`, Anthropic's encrypted `data`). `index` ties fragments together."""

    index: int
    text: str | None = None
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call; `index` ties fragments together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@dataclass(slots=True)
class ChatChunk:
    """One streamed increment. A chunk with only `usage` set carries the final usage."""

    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    role: Role | None = None
    logprobs: dict[str, Any] | None = None  # this chunk's tokens (`ChatResponse.logprobs`)
    refusal: str | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    reasoning: ReasoningDelta | None = None
    choice: int = 0  # which of n answers this chunk belongs to (corral/api/choices.py)


def reasoning_block(delta: ReasoningDelta) -> dict[str, Any]:
    """The block a reasoning fragment starts (Anthropic's shape, `Message.reasoning`)."""
    if delta.redacted is not None:
        return {"type": "redacted_thinking", "data": delta.redacted}
    return {"type": "thinking", "thinking": "", "signature": ""}


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None = None
    user: str | None = None


@dataclass(slots=True)
class EmbeddingResponse:
    model: str
    vectors: list[list[float]]
    usage: Usage


T = TypeVar("T")


def expect(value: object, kind: type[T]) -> T:
    """`value` as a `kind`, on a path that only ever sees that kind: a chat-only stage's
    `ctx.request` (a ChatRequest) or its streamed answer (a ChatStream). A mix-up raises a
    TypeError naming both types, here, rather than an AttributeError further on."""
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def cache_marks(request: ChatRequest) -> list[CacheMark]:
    """The request's prompt-cache marks in the order Anthropic reads the prompt: tools, then the
    messages (system first), each message's parts before its tool calls, a tool result's inner
    marks before its own."""
    marks = [t.cache for t in request.tools or () if t.cache is not None]
    for m in request.messages:  # one plain loop: this runs on every Anthropic-bound request
        if type(m.content) is list:
            for p in m.content:
                if p.cache is not None:
                    marks.append(p.cache)
        if m.tool_calls:
            for c in m.tool_calls:
                if c.cache is not None:
                    marks.append(c.cache)
        if m.cache is not None:
            marks.append(m.cache)
    return marks
