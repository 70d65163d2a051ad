"""Request shapes for Anthropic's Messages API (`/v1/messages`, merged into `SHAPES`).

These routes answer errors in Anthropic's shape (`{"type": "error", "error": {...}}`), which
the runner checks for them instead of OpenAI's (`ANTHROPIC_ROUTES`).
"""

from __future__ import annotations

import random
from typing import Any

from tests.fuzz.gateway import CHAT_ROUTES
from tests.fuzz.shapes import Builder, Case, Pool, _text

ANTHROPIC_ROUTES = frozenset({"POST /v1/messages", "POST /v1/messages/count_tokens"})
_PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
_TOOL = {"name": "f", "description": "d",
         "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}}


def _turn(rng: random.Random) -> list[dict[str, Any]]:
    pick = rng.randrange(5)
    if pick == 0:
        return [{"role": "user", "content": [
            {"type": "text", "text": _text(rng), "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": _PNG}]}]
    if pick == 1:
        return [{"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f",
                                                   "input": {"x": "1"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                              "content": _text(rng), "is_error": rng.random() < 0.3}]}]
    if pick == 2:
        thought = {"type": "thinking", "thinking": _text(rng), "signature": "sig"}
        return [{"role": "assistant", "content": [thought, {"type": "text", "text": "ok"}]}]
    if pick == 3:
        return [{"role": "assistant", "content": _text(rng)}]
    return [{"role": "user", "content": _text(rng)}]


def _body(rng: random.Random, counting: bool) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    model = rng.choice([*CHAT_ROUTES, "sim-alias", "no-such-model"])
    messages = [m for _ in range(rng.randint(0, 2)) for m in _turn(rng)]
    messages.append({"role": "user", "content": _text(rng)})
    body: dict[str, Any] = {"model": model, "messages": messages}
    hotspots: list[tuple[Any, ...]] = [("messages",)]
    if not counting:
        body["max_tokens"] = rng.choice([8, 16, 1])
        body["metadata"] = {"user_id": "u1"}
        hotspots.append(("metadata",))
    if rng.random() < 0.4:
        body["tools"] = [_TOOL]
        body["tool_choice"] = rng.choice([{"type": "auto"}, {"type": "any"}, {"type": "tool", "name": "f"}])
        hotspots += [("tools", 0, "input_schema"), ("tool_choice",)]
    if rng.random() < 0.3:
        body["system"] = rng.choice([_text(rng), [{"type": "text", "text": _text(rng)}]])
    for name, value in (("stream", True), ("temperature", 0.5), ("top_p", 1), ("top_k", 5),
                        ("stop_sequences", ["\n"]), ("thinking", {"type": "enabled", "budget_tokens": 1024})):
        if not counting and rng.random() < 0.2:
            body[name] = value
    return body, hotspots


def create_message(rng: random.Random, pool: Pool) -> Case:
    body, hotspots = _body(rng, counting=False)
    return Case("POST /v1/messages", "POST", "/v1/messages", json=body, model=body["model"],
                hotspots=hotspots, auth_style=rng.choice(["x-api-key", "bearer"]))


def count_tokens(rng: random.Random, pool: Pool) -> Case:
    body, hotspots = _body(rng, counting=True)
    return Case("POST /v1/messages/count_tokens", "POST", "/v1/messages/count_tokens", json=body,
                model=body["model"], hotspots=hotspots, auth_style=rng.choice(["x-api-key", "bearer"]))


MESSAGE_SHAPES: dict[str, Builder] = {"POST /v1/messages": create_message,
                                      "POST /v1/messages/count_tokens": count_tokens}
MESSAGE_WEIGHTS = {"POST /v1/messages": 6, "POST /v1/messages/count_tokens": 2}
MESSAGE_TYPED = {"POST /v1/messages": {
    "model": "str", "max_tokens": "int", "stream": "bool?", "temperature": "number?", "top_p": "number?",
    "top_k": "int?"}}
