"""The grounding prompt's pieces (corral.knowledge.grounding, corral.knowledge.stage): the token
budget and where the rules and sources go."""

from __future__ import annotations

from corral.core.types import ChatRequest, Message
from corral.knowledge.grounding import Source, context_tokens, prompt_messages, within_budget
from corral.knowledge.stage import grounded, latest_user_text


def sources(n: int, words: int = 40) -> list[Source]:
    return [Source(f"file-{i}", f"doc{i}.txt", " ".join(f"word{i}x{j}" for j in range(words)),
                   1 - i / 100, {}) for i in range(n)]


def test_the_budget_keeps_a_best_first_prefix_within_the_tokens() -> None:
    found = sources(6)
    everything = context_tokens(found)
    for budget in (256, 400, 700, everything - 1, everything):
        kept = within_budget(found, budget)
        assert kept == found[:len(kept)] and (not kept or context_tokens(kept) <= budget)
        assert len(kept) < len(found) or budget >= everything
    assert within_budget(found, everything) == found
    assert within_budget([], 256) == []


def test_the_rules_follow_the_system_messages_and_the_sources_precede_the_last_question() -> None:
    question = Message("user", "How long do refunds take?")
    request = ChatRequest("support", [Message("system", "Be brief."), Message("user", "first"),
                                      Message("assistant", "ok"), question])
    rules, block = prompt_messages(sources(2))
    sent = grounded(request, [rules, block]).messages
    assert sent == [Message("system", "Be brief."), rules, Message("user", "first"),
                    Message("assistant", "ok"), block, question]
    assert latest_user_text(request.messages) == "How long do refunds take?"
    assert request.messages[1] == Message("user", "first")  # the client's request is not changed
