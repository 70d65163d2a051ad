"""The truncate and summarize policies, with tiny windows and a word-counting counter."""

from __future__ import annotations

import asyncio

import pytest

from corral.context import fit
from corral.context.fit import check_fit, split_question, split_text, summarize, text_counter, truncate
from corral.core.errors import ContextLengthExceeded, UpstreamUnavailable
from corral.core.tokens import count_request
from corral.core.types import ChatRequest, ChatResponse, ImagePart, Message, TextPart, ToolCall


def words(request: ChatRequest) -> int:
    """Toy counter: 1 per message plus 1 per word of text and tool arguments."""
    n = 0
    for m in request.messages:
        n += 1 + len(m.text().split())
        n += sum(1 + len(c.arguments.split()) for c in m.tool_calls or ())
    return n


def text(n: int, word: str = "w") -> str:
    return " ".join([word] * n)


def req(*messages: Message) -> ChatRequest:
    return ChatRequest(model="gpt-4o", messages=list(messages))


def conversation() -> ChatRequest:
    return req(
        Message("system", "be brief"),                      # 3
        Message("user", "one " + text(9)),                  # 11
        Message("assistant", text(10)),                     # 11
        Message("user", "two " + text(9)),                  # 11
        Message("assistant", text(10)),                     # 11
        Message("developer", "use metric units"),           # 4
        Message("user", "three " + text(9)),                # 11
        Message("assistant", text(10)),                     # 11
        Message("user", "what now?"),                       # 3
    )


def test_check_fit() -> None:
    r = conversation()
    assert words(r) == 76
    tokens, fits, budget = check_fit(r, 100, 24, words)
    assert (tokens, fits, budget) == (76, True, 76)
    assert not check_fit(r, 100, 25, words).fits


def test_truncate_noop_when_it_fits() -> None:
    r = conversation()
    assert truncate(r, 100, 10, words) is r


def test_truncate_drops_oldest_turns_and_keeps_system_and_last_user() -> None:
    r = conversation()
    out = truncate(r, 60, 10, words)  # budget 50: system 7 + last user 3 + the newest two turns (44)
    assert words(out) <= 50
    texts = [m.text() for m in out.messages]
    assert texts[0] == "be brief" and "use metric units" in texts
    assert texts[-1] == "what now?"
    assert not any(t.startswith(("one", "two")) for t in texts)
    assert any(t.startswith("three") for t in texts)
    # order is preserved and the kept history starts with a user message
    assert [m.role for m in out.messages] == ["system", "developer", "user", "assistant", "user"]


def test_truncate_keeps_tool_calls_with_their_results() -> None:
    call = ToolCall("call_1", "lookup", "city Paris")
    r = req(
        Message("system", "s"),
        Message("user", text(5)),
        Message("assistant", None, tool_calls=[call]),
        Message("tool", text(20), tool_call_id="call_1"),
        Message("assistant", text(5)),
        Message("user", text(5)),
        Message("assistant", None, tool_calls=[ToolCall("call_2", "lookup", "city Rome")]),
        Message("tool", text(3), tool_call_id="call_2"),
    )
    for window in range(20, words(r) + 1):
        try:
            out = truncate(r, window, 0, words)
        except ContextLengthExceeded:
            continue
        ids = {c.id for m in out.messages for c in m.tool_calls or ()}
        results = [m.tool_call_id for m in out.messages if m.role == "tool"]
        assert all(i in ids for i in results), f"orphan tool result at window {window}"
        assert "call_2" in results  # the current turn's tool chain is always kept
        assert words(out) <= window


def test_truncate_error_states_the_counts() -> None:
    r = req(Message("system", text(10)), Message("user", "old"), Message("user", text(30)))
    with pytest.raises(ContextLengthExceeded) as info:
        truncate(r, 40, 5, words)
    err = info.value
    assert err.status_code == 400 and err.code == "context_length_exceeded" and err.param == "messages"
    for number in ("44 tokens", "42 tokens", "40-token", "5 tokens", "(35 tokens)"):
        assert number in err.message


def test_truncate_with_a_counter_that_is_not_additive() -> None:
    def lumpy(r: ChatRequest) -> int:  # a surcharge once there are many messages
        return words(r) + (10 if len(r.messages) > 4 else 0)

    out = truncate(conversation(), 60, 10, lumpy)
    assert lumpy(out) <= 50


def test_truncate_with_the_real_counter() -> None:
    r = ChatRequest(model="gpt-4o", messages=[
        Message("system", "You are terse."),
        *[Message("user" if i % 2 == 0 else "assistant", "lorem ipsum dolor sit amet " * 20)
          for i in range(10)],
        Message("user", "Summarize."),
    ])
    out = truncate(r, 400, 100)
    assert count_request(out) <= 300 < count_request(r)
    assert out.messages[0].role == "system" and out.messages[-1].text() == "Summarize."


# -- text helpers -------------------------------------------------------------------------------


def test_split_text_respects_the_limit_and_loses_nothing() -> None:
    tc = text_counter(words, "m")
    body = "\n\n".join(text(7, f"p{i}") + ". " + text(4, f"q{i}") for i in range(6))
    chunks = split_text(body, 10, tc)
    assert all(tc(c) <= 10 for c in chunks) and len(chunks) >= 6
    assert "".join(chunks).split() == body.split()
    long_word = "x" * 5000  # no separator anywhere: cut by characters
    assert "".join(split_text(long_word, 3, lambda s: len(s) // 100)) == long_word


def test_split_question_keeps_the_ending() -> None:
    tc = text_counter(words, "m")
    body, ending = split_question(text(50, "doc") + "\n\nWhat is the total?", 6, tc)
    assert ending == "What is the total?" and body.startswith("doc")
    body, ending = split_question(text(30, "doc"), 5, tc)
    assert tc(ending) <= 5 and (body + ending).split() == text(30, "doc").split()


# -- summarize ----------------------------------------------------------------------------------


class Summarizer:
    """Records sub-requests; answers with `reply` words (or a custom function)."""

    def __init__(self, reply: int = 3, fn: object = None, delay: float = 0.0):
        self.requests: list[ChatRequest] = []
        self.reply, self.fn, self.delay = reply, fn, delay
        self.active = self.peak = 0

    async def __call__(self, sub: ChatRequest) -> ChatResponse:
        self.requests.append(sub)
        name = f"s{len(self.requests)}"
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(self.delay)
        self.active -= 1
        content = self.fn(sub) if callable(self.fn) else text(self.reply, name)
        return ChatResponse(id="x", model=sub.model, content=content)


def long_history() -> ChatRequest:
    msgs = [Message("system", "be exact")]
    for i in range(12):
        msgs.append(Message("user", f"fact{i} " + text(19)))
        msgs.append(Message("assistant", text(10)))
    msgs.append(Message("user", "what was fact3?"))
    return req(*msgs)


async def test_summarize_noop_when_it_fits() -> None:
    call = Summarizer()
    r = conversation()
    assert await summarize(r, 1000, 10, words, call, 50) is r
    assert call.requests == []


async def test_summarize_condenses_history_and_keeps_the_last_turn() -> None:
    call = Summarizer(reply=3, delay=0.001)
    r = long_history()
    out = await summarize(r, 120, 20, words, call, chunk_tokens=60, concurrency=2)
    assert words(out) <= 100
    roles = [m.role for m in out.messages]
    assert roles == ["system", "user", "user"]
    label = out.messages[1].text()
    assert label.startswith("[Summary of earlier content (earlier conversation turns)")
    assert label.rstrip().endswith("[End of summary]") and "s1" in label
    assert out.messages[-1].text() == "what was fact3?"
    # map: several chunks, each within chunk_tokens, bounded concurrency, prompts about the question
    assert len(call.requests) >= 5 and call.peak == 2
    for sub in call.requests:
        assert sub.max_tokens is not None and sub.max_tokens <= 512 and not sub.stream
        system, user = sub.messages
        assert "number" in system.text() and "name" in system.text()
        assert "what was fact3?" in user.text()
        chunk = user.text().split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]
        assert len(chunk.split()) <= 60
    sent = " ".join(s.messages[1].text() for s in call.requests)
    assert all(f"fact{i}" in sent for i in range(12))


async def test_summarize_splits_a_long_last_message_and_keeps_its_question() -> None:
    call = Summarizer(reply=4)
    doc = "\n\n".join(text(20, f"para{i}") for i in range(10))
    r = req(Message("system", "s"),
            Message("user", [ImagePart("https://x/y.png"), TextPart(doc + "\n\nWhich paragraph is last?")]))
    out = await summarize(r, 100, 20, words, call, chunk_tokens=50)
    assert words(out) <= 80
    last = out.messages[-1]
    assert isinstance(last.content, list) and isinstance(last.content[0], ImagePart)  # image kept
    assert last.text().endswith("Which paragraph is last?") and len(last.text().split()) < 30
    assert "beginning of the final message" in out.messages[1].text()
    sent = " ".join(s.messages[1].text() for s in call.requests)
    assert "para0" in sent and "Which paragraph is last?" in sent  # body summarized, question shown


async def test_summarize_reduces_again_when_summaries_are_too_long() -> None:
    def reply(sub: ChatRequest) -> str:  # ignores max_tokens on the map round, obeys when merging
        merging = sub.messages[0].text() == fit.REDUCE_PROMPT
        return text(2 if merging else 30, "note")

    call = Summarizer(fn=reply)
    out = await summarize(long_history(), 120, 20, words, call, chunk_tokens=60)
    assert words(out) <= 100
    prompts = [s.messages[0].text() for s in call.requests]
    assert fit.MAP_PROMPT in prompts and fit.REDUCE_PROMPT in prompts


async def test_summarize_gives_up_when_summaries_do_not_shrink() -> None:
    call = Summarizer(fn=lambda sub: sub.messages[1].text() + " " + text(50))
    with pytest.raises(ContextLengthExceeded, match="could not be summarized"):
        await summarize(long_history(), 120, 20, words, call, chunk_tokens=60)
    assert len(call.requests) < 40


async def test_summarize_raises_when_the_question_alone_is_too_long() -> None:
    r = req(Message("system", text(30)), Message("user", "old"), Message("user", "short question"))
    with pytest.raises(ContextLengthExceeded, match="are 34 tokens"):
        await summarize(r, 40, 10, words, Summarizer(), 50)


async def test_summarizer_failure_propagates_and_cancels_the_rest() -> None:
    started: list[int] = []

    async def flaky(sub: ChatRequest) -> ChatResponse:
        started.append(1)
        if len(started) == 1:
            raise UpstreamUnavailable("down", provider="p")
        await asyncio.sleep(10)
        raise AssertionError("not cancelled")

    with pytest.raises(UpstreamUnavailable):
        await asyncio.wait_for(summarize(long_history(), 120, 20, words, flaky, 60), 2)
