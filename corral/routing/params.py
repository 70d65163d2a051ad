"""A route's `unsupported_params` policy: what happens to a parameter a deployment cannot honour.

`error` (the default): the request is refused with a 400 naming the parameter, as the
provider's own check words it. `drop`: the parameter is removed for that deployment and the
request goes on. `translate`: mapped to the provider's equivalent where one exists (the table
below), else dropped. Whatever was dropped or translated is listed in the request's record
(`params` in its notes) and in the `x-corral-dropped-params` header, so it is never silent.

The provider decides what it cannot honour (`Provider.check_supported`); this module only
removes or rewrites the parameter it names, one at a time, so every adapter's rules apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from corral.core.errors import UnsupportedParameter
from corral.core.types import ChatRequest
from corral.providers.base import Provider

# Canonical fields a request still makes sense without; anything else (messages, tools,
# images) is the request itself, and its refusal stands whatever the policy.
DROPPABLE = frozenset({"seed", "response_format", "temperature", "top_p", "stop", "user",
                       "parallel_tool_calls", "tool_choice"})

# Anthropic's extended thinking budget for OpenAI's reasoning_effort (a share of the usual
# max_tokens; Anthropic's minimum budget is 1,024).
THINKING_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}
MIN_BUDGET = 1024
ANSWER_ROOM = 4096


def _effort_to_thinking(request: ChatRequest) -> ChatRequest:
    """Anthropic needs max_tokens above the budget: without a max_tokens the answer gets
    `ANSWER_ROOM` beyond the budget; a max_tokens too small for 1,024 turns thinking off."""
    effort = request.extra.get("reasoning_effort")
    extra = {k: v for k, v in request.extra.items() if k != "reasoning_effort"}
    budget = THINKING_BUDGET.get(str(effort), 0)
    max_tokens = request.max_tokens
    if max_tokens is None and budget:
        max_tokens = budget + ANSWER_ROOM
    elif max_tokens is not None and budget >= max_tokens:
        budget = max_tokens // 2 if max_tokens // 2 >= MIN_BUDGET else 0
    extra["thinking"] = {"type": "enabled", "budget_tokens": budget} if budget else {"type": "disabled"}
    return dataclasses.replace(request, extra=extra, max_tokens=max_tokens)


def _halve_temperature(request: ChatRequest) -> ChatRequest:
    """OpenAI samples at 0-2, Anthropic at 0-1: the same place on the scale."""
    return dataclasses.replace(request, temperature=(request.temperature or 0.0) / 2)


def _max_completion_tokens(request: ChatRequest) -> ChatRequest:
    extra = {k: v for k, v in request.extra.items() if k != "max_completion_tokens"}
    value = request.extra.get("max_completion_tokens")
    tokens = value if isinstance(value, int) and not isinstance(value, bool) else request.max_tokens
    return dataclasses.replace(request, extra=extra, max_tokens=tokens)


Translation = Callable[[ChatRequest], ChatRequest]
TRANSLATIONS: dict[tuple[str, str], Translation] = {
    ("anthropic", "reasoning_effort"): _effort_to_thinking,
    ("anthropic", "temperature"): _halve_temperature,
    ("anthropic", "max_completion_tokens"): _max_completion_tokens,
    ("gemini", "max_completion_tokens"): _max_completion_tokens,
}


@dataclasses.dataclass(slots=True)
class Fitted:
    request: ChatRequest
    dropped: list[str] = dataclasses.field(default_factory=list)
    translated: list[str] = dataclasses.field(default_factory=list)


def fit(request: ChatRequest, provider: Provider, policy: str) -> Fitted:
    """`request` as `provider` can take it under `policy`; raises the provider's 400 when the
    policy is `error` or the parameter cannot go (messages, tools, images)."""
    out = Fitted(request)
    if policy == "error":
        provider.check_supported(request)
        return out
    for _ in range(len(request.extra) + len(DROPPABLE) + 1):  # each round removes one parameter
        try:
            provider.check_supported(out.request)
            return out
        except UnsupportedParameter as exc:
            name = exc.param or ""
            translate = TRANSLATIONS.get((provider.config.type, name)) if policy == "translate" else None
            if translate is not None and name not in out.translated:
                out.request = translate(out.request)
                out.translated.append(name)
                continue
            lighter = _without(out.request, name)
            if lighter is None:
                raise
            out.request = lighter
            out.dropped.append(name)
    provider.check_supported(out.request)  # unreachable in practice: says what is still wrong
    return out


def _without(request: ChatRequest, name: str) -> ChatRequest | None:
    if name in request.extra:
        return dataclasses.replace(request, extra={k: v for k, v in request.extra.items() if k != name})
    if name in DROPPABLE:
        changes: dict[str, Any] = {name: None}
        return dataclasses.replace(request, **changes)
    return None
