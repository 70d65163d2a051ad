"""The request pipeline: the one place that knows the order of the stages.

Each stage is a small object with one job and the signature
`async __call__(ctx, call_next) -> Result`. The chain is built once at startup by
wrapping the stages in reverse order around the terminal handler (the router), the
way Starlette builds its middleware stack. Streaming and non-streaming requests go
through the same stages; stages that need to see chunks wrap the returned `ChatStream`.

Every operation (chat, embeddings, pass-through calls) runs the
same declared order; a stage names the operations it takes part in (`operations`,
chat only when it does not say), and each operation gets its own chain of the stages
that apply, built once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.core.forward import ForwardResponse
from corral.core.stream import ChatStream
from corral.core.types import ChatResponse, EmbeddingResponse

Result = ChatResponse | ChatStream | EmbeddingResponse | ForwardResponse
Next = Callable[[RequestContext], Awaitable[Result]]

# The declared order, outermost first. Authentication happens at the API edge, before any
# stage; the router is the terminal handler, what the stages wrap. "limits" and
# "prompt_policy" are the places the cost and governance issues fill. "grounding" adds a
# route's retrieved sources to the prompt (corral.knowledge.stage); "prompts" prepends a registry
# system prompt named by the route or the request (corral.prompts.stage).
STAGE_ORDER: tuple[str, ...] = (
    "limits",
    "prompt_policy",
    "input_rules",
    "prompts",
    "grounding",
    "privacy",
    "cache",
    "content_policy",
    "context",
    "usage",
)

# Why the order is what it is: (outer, inner, reason). `check_order` enforces each one on
# every order a pipeline is built with, plugins' stages included.
ORDER_CONSTRAINTS: tuple[tuple[str, str, str], ...] = (
    ("limits", "privacy", "a request refused for its budget costs no detection work"),
    ("limits", "grounding", "a request refused for its budget costs no retrieval"),
    ("input_rules", "grounding", "rules judge the client's input, not retrieved sources; a blocked "
                                 "prompt costs no retrieval"),
    ("input_rules", "privacy", "rules match the client's text as sent (in memory, nothing stored), and a "
                               "blocked prompt costs no detection work"),
    ("input_rules", "cache", "a blocked prompt is never answered from the cache"),
    ("input_rules", "prompts", "rules judge the client's own text, not the registry's system prompt"),
    ("prompts", "grounding", "a protected prompt refuses the client's own system messages: it must see "
                             "them before retrieved sources are added"),
    ("prompts", "privacy", "the registry's system prompt is prompt text the privacy policy sees"),
    ("prompts", "cache", "the cache's scope covers the system prompt's version (corral.cache.stage._scope)"),
    ("prompts", "context", "the context fit counts the system prompt's tokens"),
    ("grounding", "privacy", "retrieved text is prompt text: the privacy policy redacts it before the "
                             "provider, or refuses it on a block route"),
    ("grounding", "cache", "the cache's key covers the sources the answer was grounded in"),
    ("privacy", "cache", "the cache keeps answers as the privacy stage left them (placeholders), "
                         "and an answer it gives back is restored for the request that asked"),
    ("privacy", "context", "summarizer calls send only what the privacy policy lets through"),
    ("cache", "content_policy", "a content-policy fallback's answer is marked degraded before the "
                                "cache sees it, so it is never stored as the route's answer"),
    ("content_policy", "context", "a content-policy fallback is fitted again to its own window"),
    ("context", "usage", "usage counts the fitted request that was sent, answer by answer"),
)


class OrderError(ValueError):
    """A stage order that breaks one of ORDER_CONSTRAINTS, or names a stage twice."""


def check_order(order: Sequence[str]) -> None:
    """Raise OrderError when `order` (outermost first) breaks a declared constraint."""
    if len(set(order)) != len(order):
        raise OrderError(f"a stage appears twice in {list(order)}")
    broken = [f"stage '{outer}' must run outside '{inner}': {why}"
              for outer, inner, why in ORDER_CONSTRAINTS
              if outer in order and inner in order and order.index(outer) > order.index(inner)]
    if broken:
        raise OrderError("; ".join(broken))


def place(order: Sequence[str], name: str, *, after: str | None = None,
          before: str | None = None) -> tuple[str, ...]:
    """`order` with a plugin's stage `name` inserted right after `after` (or right before
    `before`; outermost when neither is given), then checked."""
    placed = list(order)
    anchor = after or before
    if anchor is not None and anchor not in placed:
        raise OrderError(f"stage '{name}' is placed next to '{anchor}', which is not in {placed}")
    if after is not None:
        placed.insert(placed.index(after) + 1, name)
    elif before is not None:
        placed.insert(placed.index(before), name)
    else:
        placed.insert(0, name)
    check_order(placed)
    return tuple(placed)


# "forward": an OpenAI endpoint passed through untranslated (corral.core.forward).
OPERATIONS: tuple[str, ...] = ("chat", "embeddings", "forward")
DEFAULT_OPERATIONS = frozenset({"chat"})


class Stage(Protocol):
    name: str

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result: ...


def stage_operations(stage: Stage) -> frozenset[str]:
    """The operations a stage takes part in (`operations`; chat alone when it does not say)."""
    return frozenset(getattr(stage, "operations", DEFAULT_OPERATIONS))


class Pipeline:
    def __init__(self, stages: Sequence[Stage], terminal: Next, order: Sequence[str] = STAGE_ORDER):
        check_order(order)
        unknown = [s.name for s in stages if s.name not in order]
        if unknown:
            raise ValueError(f"stages not in the declared order {list(order)}: {unknown}")
        ordered = sorted(stages, key=lambda s: list(order).index(s.name))
        self.stages = ordered
        self._handlers: dict[str, Next] = {}
        for operation in OPERATIONS:
            handler = terminal
            for stage in reversed(ordered):
                if operation in stage_operations(stage):
                    handler = _bind(stage, handler)
            self._handlers[operation] = handler

    def stages_for(self, operation: str) -> list[Stage]:
        """The stages an operation's requests pass through, outermost first."""
        return [s for s in self.stages if operation in stage_operations(s)]

    async def __call__(self, ctx: RequestContext) -> Result:
        try:
            return await self._handlers[ctx.operation](ctx)
        except CorralError as exc:
            exc.context_headers.update(ctx.response_headers)  # attempts, fallbacks: errors too
            raise


def _bind(stage: Stage, call_next: Next) -> Next:
    async def handler(ctx: RequestContext) -> Result:
        return await stage(ctx, call_next)

    return handler
