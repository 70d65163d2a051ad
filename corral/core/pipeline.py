"""The request pipeline: the one place that knows the order of the stages.

Each stage is a small object with one job and the signature
`async __call__(ctx, call_next) -> Result`. The chain is built once at startup by
wrapping the stages in reverse order around the terminal handler (the router), the
way Starlette builds its middleware stack. Streaming and non-streaming requests go
through the same stages; stages that need to see chunks wrap the returned `ChatStream`.

Every operation (chat, embeddings; next: background responses, batch items) runs the
same declared order; a stage names the operations it takes part in (`operations`,
chat only when it does not say), and each operation gets its own chain of the stages
that apply, built once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from corral.core.context import RequestContext
from corral.core.errors import CorralError
from corral.core.stream import ChatStream
from corral.core.types import ChatResponse, EmbeddingResponse

Result = ChatResponse | ChatStream | EmbeddingResponse
Next = Callable[[RequestContext], Awaitable[Result]]

# The declared order. Later issues slot their stages in here by name:
# authenticate (done by the API edge) -> limits -> prompt policy -> privacy -> cache
# -> context fit -> route -> restore -> record.
STAGE_ORDER: tuple[str, ...] = (
    "limits",
    "prompt_policy",
    "privacy",
    "cache",
    "content_policy",
    "context",
    "usage",
)
# The router is the terminal handler, not a stage: it is what the stages wrap.


OPERATIONS: tuple[str, ...] = ("chat", "embeddings")
DEFAULT_OPERATIONS = frozenset({"chat"})


class Stage(Protocol):
    name: str

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result: ...


def stage_operations(stage: Stage) -> frozenset[str]:
    """The operations a stage takes part in (`operations`; chat alone when it does not say)."""
    return frozenset(getattr(stage, "operations", DEFAULT_OPERATIONS))


class Pipeline:
    def __init__(self, stages: Sequence[Stage], terminal: Next):
        unknown = [s.name for s in stages if s.name not in STAGE_ORDER]
        if unknown:
            raise ValueError(f"stages not in STAGE_ORDER: {unknown}")
        ordered = sorted(stages, key=lambda s: STAGE_ORDER.index(s.name))
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
