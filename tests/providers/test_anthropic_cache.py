"""Anthropic prompt caching: `cache_control` marks from the Messages API to Anthropic's wire (and
nowhere else), cache writes from Anthropic's usage to the canonical Usage, records and prices."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from corral.api.messages_render import usage_wire
from corral.api.messages_wire import parse_messages_request
from corral.cache.keys import cache_key
from corral.core.errors import InvalidRequest
from corral.core.types import CacheMark, ChatRequest, Message, TextPart, Usage
from corral.cost import cost_of
from corral.privacy.redact import map_request_texts
from corral.providers import _gemini_wire
from corral.providers import openai as openai_wire
from corral.providers._anthropic_stream import StreamState
from corral.providers._anthropic_wire import parse_usage, request_body

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
TOOL = {"name": "lookup", "description": "Look it up", "input_schema": {"type": "object"}}
PIXEL = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def _text(text: str, control: Any = None) -> dict[str, Any]:
    return {"type": "text", "text": text, **({"cache_control": control} if control is not None else {})}


def _user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(blocks)}]}


def _parse(**body: Any) -> ChatRequest:
    return parse_messages_request(orjson.dumps({"model": "claude", "max_tokens": 10, **body}))


def _every_kind() -> ChatRequest:
    """A mark on a tool, a system block, a tool_use and a tool_result block (four: the limit)."""
    return _parse(
        tools=[{**TOOL, "cache_control": HOUR}],
        system=[_text("Rules."), _text("Manual.", HOUR)],
        messages=[
            {"role": "user", "content": [{"type": "image", "source": PIXEL},
                                         {"type": "text", "text": "What is it?"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup",
                                               "input": {}, "cache_control": EPHEMERAL}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "A cat",
                                          "cache_control": EPHEMERAL}]},
        ])


def test_marks_reach_the_same_blocks_on_anthropics_wire() -> None:
    body = request_body(_every_kind(), stream=False)
    assert body["tools"][0]["cache_control"] == HOUR
    assert body["system"] == [{"type": "text", "text": "Rules."},
                              {"type": "text", "text": "Manual.", "cache_control": HOUR}]
    assert all("cache_control" not in b for b in body["messages"][0]["content"])
    assert body["messages"][1]["content"][0]["cache_control"] == EPHEMERAL  # tool_use
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1",
                                                 "content": "A cat", "cache_control": EPHEMERAL}


def test_marked_blocks_keep_their_place() -> None:
    """A mark on an image, inside a tool result and on an assistant's text: each stays on its block."""
    request = _parse(messages=[
        {"role": "user", "content": [{"type": "image", "source": PIXEL, "cache_control": EPHEMERAL},
                                     {"type": "tool_result", "tool_use_id": "t", "content": [
            _text("part one", EPHEMERAL), _text("two")]}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Noted.", "cache_control": EPHEMERAL}]},
        {"role": "user", "content": "Go on"},
    ])
    body = request_body(request, stream=False)
    image = body["messages"][0]["content"][0]
    assert image["type"] == "image" and image["cache_control"] == EPHEMERAL
    inner = body["messages"][0]["content"][1]["content"]
    assert inner == [_text("part one", EPHEMERAL), _text("two")]
    assert body["messages"][1]["content"] == [{"type": "text", "text": "Noted.", "cache_control": EPHEMERAL}]


def test_a_request_without_marks_is_sent_as_before() -> None:
    request = _parse(system=[{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
                     messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    body = request_body(request, stream=False)
    assert body["system"] == "A\n\nB"
    assert b"cache_control" not in orjson.dumps(body)


def test_other_providers_read_the_same_text_and_no_marks() -> None:
    """OpenAI caches by itself and Gemini has no per-block marks: the hint is left out, and a
    marked system prompt reads as the unmarked one did (blocks joined by a blank line)."""
    request = _every_kind()
    assert request.messages[0].text() == "Rules.\n\nManual."
    for body in (openai_wire.request_body(request, stream=False), _gemini_wire.request_body(request)):
        assert b"cache_control" not in orjson.dumps(body) and b"ephemeral" not in orjson.dumps(body)


def test_marks_survive_redaction() -> None:
    request = _every_kind()
    redacted = map_request_texts(request, lambda text: text.replace("Manual", "[DOC_1]"))
    system = redacted.messages[0].content
    assert isinstance(system, list) and system[-1] == TextPart("[DOC_1].", cache=CacheMark("1h"))
    assert request_body(redacted, stream=False)["system"][-1]["cache_control"] == HOUR
    call = redacted.messages[2].tool_calls
    assert call is not None and call[0].cache == CacheMark()
    assert redacted.tools is not None and redacted.tools[0].cache == CacheMark("1h")
    assert redacted.messages[3].cache == CacheMark()


def test_marks_leave_the_exact_cache_key_alone() -> None:
    """A mark changes what Anthropic stores, not what the model answers: same key with or without."""
    def request(mark: dict[str, Any] | None, last: dict[str, Any] | None) -> ChatRequest:
        def block(text: str, control: dict[str, Any] | None) -> dict[str, Any]:
            return {"type": "text", "text": text, **({"cache_control": control} if control else {})}
        return _parse(system=[block("Rules.", None), block("Manual.", mark)], messages=[
            {"role": "user", "content": [block("hi", None)]},
            {"role": "assistant", "content": [block("Hello.", last)]},
            {"role": "user", "content": [block("more", last)]}])

    plain = cache_key(request(None, None))
    assert cache_key(request(HOUR, None)) == plain
    assert cache_key(request(HOUR, EPHEMERAL)) == plain
    assert cache_key(request(None, EPHEMERAL)) == plain
    assert cache_key(_parse(messages=[{"role": "user", "content": "other"}])) != plain


def _block(i: int) -> dict[str, Any]:
    return {"type": "text", "text": f"block {i}", "cache_control": EPHEMERAL}


@pytest.mark.parametrize(("body", "words"), [
    ({"messages": [{"role": "user", "content": [_block(i) for i in range(5)]}]}, "at most 4"),
    ({"tools": [{**TOOL, "cache_control": EPHEMERAL}], "system": [_block(0), _block(1)],
      "messages": [{"role": "user", "content": [_block(2), _block(3)]}]}, "at most 4"),
    (_user(_text("x", {"type": "persistent"})), "'persistent'"),
    (_user(_text("x", "on")), "ephemeral"),
    (_user(_text("x", {"type": "ephemeral", "ttl": "2h"})), "ttl"),
    (_user(_text("x", {"type": "ephemeral", "scope": 1})), "scope"),
    ({"system": [_block(0)], **_user(_text("x", HOUR))}, "longer TTLs first"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "t", "signature": "s", "cache_control": EPHEMERAL}]},
        {"role": "user", "content": "again"}]}, "thinking blocks"),
])
def test_bad_marks_are_400s(body: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequest, match=words) as caught:
        _parse(**body)
    assert caught.value.status_code == 400


def test_four_marks_are_fine() -> None:
    request = _parse(tools=[{**TOOL, "cache_control": HOUR}], system=[_block(0)],
                     messages=[{"role": "user", "content": [_block(1), _block(2)]}])
    assert b"block 2" in orjson.dumps(request_body(request, stream=False))


def test_the_adapter_refuses_five_marks_from_anywhere() -> None:
    """The Anthropic adapter checks too (a request built by another path than the Messages API)."""
    parts: list[Any] = [TextPart(str(i), cache=CacheMark()) for i in range(5)]
    with pytest.raises(InvalidRequest, match="at most 4"):
        request_body(ChatRequest(model="claude", messages=[Message("user", parts)]), stream=False)


def test_usage_reads_cache_writes_by_ttl() -> None:
    split = {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600}
    usage = parse_usage({"input_tokens": 10, "cache_read_input_tokens": 200,
                         "cache_creation_input_tokens": 1000, "cache_creation": split, "output_tokens": 5})
    assert (usage.input_tokens, usage.cached_tokens) == (1210, 200)
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens, usage.cache_writes) == (400, 600, 1000)
    # Without the split (older API versions, Bedrock's shape), writes are at the default TTL.
    plain = parse_usage({"input_tokens": 10, "cache_creation_input_tokens": 30, "output_tokens": 1})
    assert (plain.input_tokens, plain.cache_write_tokens, plain.cache_write_1h_tokens) == (40, 30, 0)


def test_streamed_usage_reads_cache_writes() -> None:
    state = StreamState()
    state.feed({"type": "message_start", "message": {"usage": {
        "input_tokens": 3, "cache_creation_input_tokens": 90, "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 90},
        "output_tokens": 1}}})
    state.feed({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}})
    usage = state.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_write_1h_tokens) == (93, 7, 90)


def test_messages_api_usage_shows_writes_as_anthropic_does() -> None:
    wire = usage_wire(Usage(input_tokens=1210, output_tokens=5, cached_tokens=200, cache_write_tokens=400,
                            cache_write_1h_tokens=600))
    assert wire == {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 1000,
                    "cache_read_input_tokens": 200,
                    "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600}}


def test_a_record_with_writes_in_its_extras_is_priced_at_the_write_rates() -> None:
    """claude-haiku-4-5: input $1, 5-minute writes $1.25, 1-hour writes $2, reads $0.10, output $5."""
    row = {"created_at": time.time(), "status": "ok", "provider_type": "anthropic",
           "served_model": "claude-haiku-4-5", "input_tokens": 1_210_000, "cached_tokens": 200_000,
           "output_tokens": 100_000,
           "extras": {"cache_write_tokens": 400_000, "cache_write_1h_tokens": 600_000}}
    assert cost_of(row) == (pytest.approx(0.01 + 0.02 + 0.5 + 1.2 + 0.5), True)
    assert cost_of({**row, "extras": {}})[0] == pytest.approx(1.01 + 0.02 + 0.5)  # as plain input


def test_cache_writes_reach_the_responses_usage_and_the_sum_of_n_choices() -> None:
    """A Responses API answer reports its prompt-cache writes (it said 0 before), and `n > 1`
    sums them like the other counts."""
    from corral.api.choices import total_usage
    from corral.responses.output import usage_wire as responses_usage

    one = Usage(100, 5, cached_tokens=10, cache_write_tokens=30, cache_write_1h_tokens=20)
    wire = responses_usage(one)
    assert wire is not None
    assert wire["input_tokens_details"] == {"cached_tokens": 10, "cache_write_tokens": 50}
    both = total_usage([one, one])
    assert both is not None and (both.cache_write_tokens, both.cache_write_1h_tokens) == (60, 40)
