"""Exact-cache keys: stable for the same question, different for any semantic change."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from corral.cache.keys import cache_key
from corral.core.types import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall


def _request(**kw: object) -> ChatRequest:
    messages = [
        Message("system", "be brief"),
        Message("user", [TextPart("what is this?"), ImagePart("https://e/cat.png", "low")]),
        Message("assistant", None, tool_calls=[ToolCall("c1", "look", '{"q": 1}')]),
        Message("tool", "a cat", tool_call_id="c1"),
    ]
    base = ChatRequest(
        model="gpt", messages=messages, temperature=0.5, top_p=0.9, max_tokens=100, stop=["\n"], seed=7,
        tools=[Tool("look", "looks", {"type": "object", "properties": {"q": {"type": "integer"}}})],
        tool_choice="auto", response_format={"type": "text"}, extra={"presence_penalty": 0.1, "n": 1},
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_key_is_a_stable_sha256() -> None:
    key = cache_key(_request())
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key(_request()) == key
    # A golden value: a change here invalidates every stored entry, so bump KEY_VERSION on purpose.
    simple = ChatRequest("gpt", [Message("user", "hi")])
    assert cache_key(simple) == "0e32b9079769edb2a74d2926a223d8454ab9b7dfd501e86e81df2f1e56ef1c1a"


def test_delivery_and_identity_do_not_matter() -> None:
    key = cache_key(_request())
    assert cache_key(_request(stream=True, include_usage=True, user="alice")) == key
    assert cache_key(_request(temperature=1), "gpt") == cache_key(_request(temperature=1.0))
    assert cache_key(_request(extra={"n": 1, "presence_penalty": 0.1})) == key  # dict order
    assert cache_key(_request(model="alias-of-gpt"), "gpt") == key  # public name given by the caller


CHANGES: dict[str, Callable[[ChatRequest], ChatRequest]] = {
    "model": lambda r: dataclasses.replace(r, model="other"),
    "message text": lambda r: dataclasses.replace(r, messages=[*r.messages[:-1], Message("tool", "a dog",
                                                                                       tool_call_id="c1")]),
    "message role": lambda r: dataclasses.replace(r, messages=[Message("user", "be brief"), *r.messages[1:]]),
    "image detail": lambda r: dataclasses.replace(r, messages=[r.messages[0], Message("user", [
        TextPart("what is this?"), ImagePart("https://e/cat.png", "high")]), *r.messages[2:]]),
    "extra message": lambda r: dataclasses.replace(r, messages=[*r.messages, Message("user", "more")]),
    "temperature": lambda r: dataclasses.replace(r, temperature=0.6),
    "top_p": lambda r: dataclasses.replace(r, top_p=None),
    "max_tokens": lambda r: dataclasses.replace(r, max_tokens=101),
    "stop": lambda r: dataclasses.replace(r, stop=["\n\n"]),
    "seed": lambda r: dataclasses.replace(r, seed=8),
    "tools": lambda r: dataclasses.replace(r, tools=[Tool("look", "looks at things")]),
    "tool_choice": lambda r: dataclasses.replace(r, tool_choice="none"),
    "parallel_tool_calls": lambda r: dataclasses.replace(r, parallel_tool_calls=False),
    "response_format": lambda r: dataclasses.replace(r, response_format={"type": "json_object"}),
    "extra": lambda r: dataclasses.replace(r, extra={"presence_penalty": 0.2, "n": 1}),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_semantic_field_changes_the_key(change: str) -> None:
    assert cache_key(CHANGES[change](_request())) != cache_key(_request())

