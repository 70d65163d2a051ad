"""Request shapes for `/v1/responses` (merged into `tests.fuzz.shapes.SHAPES`)."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from tests.fuzz.gateway import CHAT_ROUTES
from tests.fuzz.shapes import Builder, Case, Pool, _text
from tests.fuzz.values import odd_string

_TOOL = {"type": "function", "name": "f", "description": "d",
         "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}}


def _item(rng: random.Random) -> dict[str, Any]:
    pick = rng.randrange(7)
    if pick == 0:
        return {"role": rng.choice(["system", "developer"]), "content": _text(rng)}
    if pick == 1:
        return {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": _text(rng)},
            {"type": "input_image", "image_url": "data:,x", "detail": rng.choice(["auto", "low"])}]}
    if pick == 2:
        part = {"type": "output_text", "text": _text(rng), "annotations": []}
        return {"role": "assistant", "content": [part]}
    if pick == 3:
        return {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"x": "1"}'}
    if pick == 4:
        return {"type": "function_call_output", "call_id": "call_1",
                "output": rng.choice([_text(rng), [{"type": "input_text", "text": "ok"}]])}
    if pick == 5:
        return {"type": rng.choice(["reasoning", "item_reference", "web_search_call"]), "id": "x"}
    return {"role": "user", "content": _text(rng)}


def _resp_ref(rng: random.Random, pool: Pool) -> str:
    made = [r for r in pool.response_ids if r.startswith("resp_")]
    odd = ["resp_" + "0" * 24, "resp_", "x" * 300, "%00",
           quote(odd_string(rng).encode("utf-8", "surrogatepass"), safe="")]
    return pool.pick(rng, made, rng.choice(odd))


def create_response(rng: random.Random, pool: Pool) -> Case:
    model = rng.choice([*CHAT_ROUTES, "sim-alias", "no-such-model"])
    body: dict[str, Any] = {"model": model, "input": rng.choice(
        [_text(rng), [_item(rng) for _ in range(rng.randint(1, 4))] + [{"role": "user", "content": "hi"}]])}
    hotspots: list[tuple[Any, ...]] = [("metadata",), ("input",)]
    if rng.random() < 0.4:
        body["tools"] = [_TOOL] if rng.random() < 0.8 else [{"type": "web_search"}]
        body["tool_choice"] = rng.choice(["auto", "required", {"type": "function", "name": "f"}])
        hotspots += [("tools", 0, "parameters"), ("tool_choice",)]
    if rng.random() < 0.2:
        schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
        body["text"] = {"format": rng.choice([{"type": "json_object"},
                                              {"type": "json_schema", "name": "r", "schema": schema}])}
        hotspots.append(("text", "format"))
    if rng.random() < 0.3:
        body["previous_response_id"] = _resp_ref(rng, pool)
    for name, value in (("stream", True), ("instructions", _text(rng)), ("max_output_tokens", 16),
                        ("temperature", 0.5), ("top_p", 1), ("store", rng.random() < 0.5),
                        ("background", True), ("metadata", {"k": "v"}), ("user", "u1"),
                        ("truncation", "auto"), ("reasoning", {"effort": "low"}),
                        ("parallel_tool_calls", False), ("safety_identifier", "s1")):
        if rng.random() < 0.15:
            body[name] = value
    return Case("POST /v1/responses", "POST", "/v1/responses", json=body, model=model, hotspots=hotspots)


def _response_route(method: str, suffix: str = "", queries: tuple[str, ...] = ("",)) -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        return Case(f"{method} /v1/responses/{{response_id}}{suffix}", method,
                    "/v1/responses/" + _resp_ref(rng, pool) + suffix, query=rng.choice(queries), json=None,
                    content_type=None)
    return build


RESPONSE_SHAPES: dict[str, Builder] = {
    "POST /v1/responses": create_response,
    "GET /v1/responses/{response_id}": _response_route("GET", queries=("", "stream=true", "include[]=x")),
    "DELETE /v1/responses/{response_id}": _response_route("DELETE"),
    "POST /v1/responses/{response_id}/cancel": _response_route("POST", "/cancel"),
    "GET /v1/responses/{response_id}/input_items": _response_route(
        "GET", "/input_items", ("", "limit=2", "order=asc&limit=1", "after=msg_x", "limit=0", "limit=101",
                                "order=up")),
}
RESPONSE_WEIGHTS = {"POST /v1/responses": 6}
RESPONSE_TYPED = {"POST /v1/responses": {
    "model": "str", "stream": "bool?", "store": "bool?", "background": "bool?", "max_output_tokens": "int?",
    "temperature": "number?", "top_p": "number?", "user": "str?", "instructions": "str?",
    "parallel_tool_calls": "bool?", "previous_response_id": "str?", "safety_identifier": "str?"}}
