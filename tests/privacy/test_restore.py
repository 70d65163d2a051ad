"""Restoration: exact, split-safe, bounded hold-back, tool-call arguments per index."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import AsyncIterator

from corral.core.types import ChatChunk, ChatResponse, ToolCall, ToolCallDelta, Usage
from corral.privacy.redact import Vault
from corral.privacy.restore import (
    ChunkRestorer,
    StreamRestorer,
    restore_chunks,
    restore_response,
    restore_text,
)

VALUES = {"EMAIL": ["alice@corp.example", "bob@corp.example"], "PERSON": ["Alice \"Al\" Smith"],
          "PHONE": ["+1 555 0100"], "US_SSN": ["078-05-1120"]}


def vault(form: tuple[str, str] = ("[", "]")) -> Vault:
    v = Vault(form)
    for entity, values in VALUES.items():
        for value in values:
            v.placeholder(entity, value)
    for n in range(3, 13):  # [EMAIL_10] .. so that [EMAIL_1 is a prefix of longer placeholders
        v.placeholder("EMAIL", f"user{n}@corp.example")
    return v


def reference(text: str, v: Vault, json_strings: bool = False) -> str:
    """Restoration written the obvious way, on the whole text."""
    known = sorted(v.placeholders, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, known)), re.IGNORECASE | re.ASCII)

    def value(m: re.Match[str]) -> str:
        raw = v.value(m.group())
        assert raw is not None
        return json.dumps(raw, ensure_ascii=False)[1:-1] if json_strings else raw

    return pattern.sub(value, text)


def random_text(rng: random.Random, v: Vault) -> str:
    pieces = [*v.placeholders, "[", "[[", "]", "[EMAIL", "[EMAIL_", "[EMAIL_1", "[Email_2]", "[phone_1]",
              "EMAIL_1", "[EMAIL_99]", "[US_SSN_", " ", "says hi. ", "é", "x", "\n", "⟦", "⟦PERSON_1⟧"]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))


def random_split(rng: random.Random, text: str) -> list[str]:
    cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(0, 12))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_split_placeholder_is_restored_and_only_its_prefix_is_held() -> None:
    r = StreamRestorer(vault())
    assert r.feed("Write to [EMA") == "Write to "
    assert r.held == len("[EMA")
    assert r.feed("IL_1] says") == "alice@corp.example says"
    assert r.held == 0
    assert r.feed(" [x") == " [x"  # cannot begin a placeholder: nothing held
    assert r.feed(" [EMAIL_1") == " " and r.held == len("[EMAIL_1")  # may still become [EMAIL_10]
    assert r.feed("0]") == "user10@corp.example"
    assert r.feed("end [US_") == "end " and r.flush() == "[US_"


def test_random_splits_always_equal_whole_text_restoration() -> None:
    rng = random.Random(20240501)
    for form in (("[", "]"), ("[[", "]]"), ("⟦", "⟧"), ("[", "~3fa9]")):
        v = vault(form)
        limit = v.longest
        prefixes = v.placeholders
        for _ in range(400):
            text = random_text(rng, v)
            whole = restore_text(text, v)
            assert whole == reference(text, v)
            for _ in range(5):
                r = StreamRestorer(v)
                out = []
                seen = ""
                for piece in random_split(rng, text):
                    out.append(r.feed(piece))
                    seen += piece
                    assert r.held < limit  # never more than a placeholder's proper prefix...
                    held = seen[len(seen) - r.held:].lower()
                    assert not held or any(p.lower().startswith(held) for p in prefixes)  # ...and only one
                out.append(r.flush())
                assert "".join(out) == whole


def test_hold_back_is_only_a_possible_prefix() -> None:
    v = vault()
    r = StreamRestorer(v)
    for ch in "hello [EMAIL_1":
        r.feed(ch)
    assert r.held == len("[EMAIL_1")
    r.feed("x")  # "[EMAIL_1x" is no placeholder's beginning
    assert r.held == 0


def test_letter_case_variants_are_restored_but_bare_labels_are_not() -> None:
    v = vault()
    assert restore_text("[Email_1], [email_2] and EMAIL_1", v) == (
        "alice@corp.example, bob@corp.example and EMAIL_1")
    assert restore_text("[PERSON_9] is unknown", v) == "[PERSON_9] is unknown"


def test_json_strings_get_escaped_values() -> None:
    v = vault()
    args = '{"name": "[PERSON_1]", "to": "[EMAIL_1]"}'
    restored = restore_text(args, v, json_strings=True)
    assert json.loads(restored) == {"name": "Alice \"Al\" Smith", "to": "alice@corp.example"}


def test_empty_vault_passes_everything_through() -> None:
    r = StreamRestorer(Vault())
    assert r.feed("[EMA") == "[EMA" and r.held == 0 and r.flush() == ""
    response = ChatResponse("id", "m", "[EMAIL_1]")
    assert restore_response(response, Vault()) is response


def test_response_content_and_tool_call_arguments() -> None:
    v = vault()
    response = ChatResponse("id", "m", "Sent to [EMAIL_1].", tool_calls=[
        ToolCall("c1", "send", '{"to": "[EMAIL_2]", "name": "[PERSON_1]"}')], usage=Usage(3, 4))
    out = restore_response(response, v)
    assert out.content == "Sent to alice@corp.example."
    assert out.tool_calls is not None and out.tool_calls[0].id == "c1"
    assert json.loads(out.tool_calls[0].arguments) == {"to": "bob@corp.example", "name": "Alice \"Al\" Smith"}
    assert out.usage == Usage(3, 4) and response.content == "Sent to [EMAIL_1]."


async def _chunks(items: list[ChatChunk]) -> AsyncIterator[ChatChunk]:
    for item in items:
        yield item


async def test_stream_tool_call_arguments_are_restored_per_index() -> None:
    v = vault()
    source = [
        ChatChunk(role="assistant"),
        ChatChunk(content="Mailing [EMA"),
        ChatChunk(content="IL_1]"),
        ChatChunk(tool_calls=[ToolCallDelta(0, id="c0", name="send", arguments='{"to": "[EM'),
                              ToolCallDelta(1, id="c1", name="send", arguments='{"to": "[PERSON')]),
        ChatChunk(tool_calls=[ToolCallDelta(0, arguments='AIL_2]"}')]),
        ChatChunk(tool_calls=[ToolCallDelta(1, arguments='_1]"}')]),
        ChatChunk(tool_calls=[ToolCallDelta(0, arguments=" [EMAIL_")], finish_reason="tool_calls"),
        ChatChunk(usage=Usage(1, 2)),
    ]
    out = [c async for c in restore_chunks(_chunks(source), v)]
    assert "".join(c.content or "" for c in out) == "Mailing alice@corp.example"
    args: dict[int, str] = {}
    for chunk in out:
        for d in chunk.tool_calls or ():
            args[d.index] = args.get(d.index, "") + (d.arguments or "")
    assert json.loads(args[0].removesuffix(" [EMAIL_")) == {"to": "bob@corp.example"}
    assert args[0].endswith(" [EMAIL_")  # the held tail is flushed with the finish chunk
    assert json.loads(args[1]) == {"to": "Alice \"Al\" Smith"}
    assert out[0].role == "assistant" and out[-1].usage == Usage(1, 2)
    finish = next(c for c in out if c.finish_reason)
    assert any(d.arguments == " [EMAIL_" for d in finish.tool_calls or ())


async def test_stream_without_finish_flushes_at_the_end_and_drops_empty_chunks() -> None:
    v = vault()
    source = [ChatChunk(content="a ["), ChatChunk(content="EMAIL"), ChatChunk(content="_")]
    out = [c async for c in restore_chunks(_chunks(source), v)]
    assert [c.content for c in out] == ["a ", "[EMAIL_"]


async def test_random_chunking_of_a_stream_matches_whole_restoration() -> None:
    rng = random.Random(7)
    v = vault()
    for _ in range(200):
        text = random_text(rng, v)
        pieces = random_split(rng, text)
        source = [ChatChunk(content=p) for p in pieces] + [ChatChunk(finish_reason="stop")]
        restorer = ChunkRestorer(v)
        out = []
        for chunk in source:
            restored = restorer.chunk(chunk)
            assert restorer.held < v.longest
            out.append(restored.content or "" if restored else "")
        assert "".join(out) == restore_text(text, v)


async def test_closing_early_closes_the_source() -> None:
    closed = []

    async def source() -> AsyncIterator[ChatChunk]:
        try:
            yield ChatChunk(content="a")
            yield ChatChunk(content="b")
        finally:
            closed.append(True)

    gen = restore_chunks(source(), vault())
    assert (await gen.__anext__()).content == "a"
    await gen.aclose()
    assert closed == [True]


def test_a_refusal_is_restored_like_content_and_log_probabilities_pass_through() -> None:
    """A refusal is text the model wrote to the user; log-probability tokens are the provider's
    own record of what it saw (placeholders), passed on as they are, even while text is held."""
    v = vault()
    placeholder = v.placeholder("PERSON", 'Alice "Al" Smith')
    answer = ChatResponse(id="r", model="m", content=None, refusal=f"I won't profile {placeholder}.",
                          logprobs={"refusal": [{"token": placeholder, "logprob": -0.1}]})
    restored = restore_response(answer, v)
    assert restored.refusal == "I won't profile Alice \"Al\" Smith."
    assert restored.logprobs == answer.logprobs
    restorer = ChunkRestorer(v)
    half = len(placeholder) // 2
    pieces = [f"I won't profile {placeholder[:half]}", f"{placeholder[half:]}."]
    out = [restorer.chunk(ChatChunk(refusal=pieces[0], logprobs={"refusal": [{"token": "I"}]})),
           restorer.chunk(ChatChunk(refusal=pieces[1], finish_reason="stop"))]
    assert out[0] is not None and out[0].logprobs == {"refusal": [{"token": "I"}]}  # not held back
    assert "".join(c.refusal or "" for c in out if c) == "I won't profile Alice \"Al\" Smith."
