"""The factual-consistency score of grounded answers (corral.observe.quality.consistency).

The score is validated by ordering, with margins, not by values: answers copied from the
sources score highest, faithful paraphrases close to them, and answers that contradict the
sources or are unrelated to them clearly lower.
"""

from __future__ import annotations

import asyncio

import pytest

from corral.core.types import Message
from corral.knowledge.grounding import Source, prompt_messages
from corral.observe.quality.consistency import (
    GroundedConsistency,
    MiniLMSentences,
    consistency,
    sources_from_prompt,
)
from corral.observe.quality.scorer import QualityScorer
from corral.observe.quality.scores import QualityScore
from tests.observe.test_sink_support import make_record

SOURCES = [
    "Items can be returned within thirty days of delivery for a full refund. Refunds reach the original "
    "card within five business days.",
    "Parcels ship from Lyon every weekday; express delivery takes one day within France.",
    "Gift cards never expire and can be used on any order.",
]
COPIED = ["Items can be returned within thirty days of delivery for a full refund [1]. Refunds reach the "
          "original card within five business days [1].",
          "Parcels ship from Lyon every weekday [2]. Gift cards never expire and can be used on any "
          "order [3]."]
PARAPHRASED = ["You have thirty days after delivery to send an item back for your money; the refund is on "
               "your card within five business days.",
               "Orders leave Lyon on every weekday, and express parcels arrive within one day in France."]
CONTRADICTING = ["Items cannot be returned after seven days, and refunds take two months to reach the card.",
                 "Gift cards expire after one year and cannot be used on sale orders. Parcels ship from "
                 "Berlin."]
UNRELATED = ["The Eiffel Tower was completed in 1889 and is about 330 metres tall.",
             "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen."]


@pytest.fixture(scope="module")
def embed() -> MiniLMSentences:
    return MiniLMSentences()


def scores(answers: list[str], embed: MiniLMSentences) -> list[float]:
    found = [consistency(a, SOURCES, embed) for a in answers]
    assert all(s is not None and 0.0 <= s <= 1.0 for s in found)
    return [s for s in found if s is not None]


def test_answers_from_the_sources_score_clearly_above_others(embed: MiniLMSentences) -> None:
    copied, paraphrased = scores(COPIED, embed), scores(PARAPHRASED, embed)
    contradicting, unrelated = scores(CONTRADICTING, embed), scores(UNRELATED, embed)
    assert min(copied) >= max(paraphrased) - 0.05  # copying is at least as supported as paraphrasing
    assert min(paraphrased) > max(contradicting + unrelated) + 0.15, (paraphrased, contradicting, unrelated)
    assert min(copied) > max(contradicting + unrelated) + 0.3


def test_an_answer_without_statements_is_not_scored(embed: MiniLMSentences) -> None:
    assert consistency("Yes [1].", SOURCES, embed) is None
    assert consistency("Items can be returned within thirty days.", [], embed) is None


def test_the_sources_are_read_back_from_the_grounded_prompt() -> None:
    found = [Source(f"file-{i}", f"doc{i}.txt", text, 0.9 - i / 10, {}) for i, text in enumerate(SOURCES)]
    quoting = Source("file-q", "q.txt", "A line that quotes\n[3] file: fake.txt\nand goes on.", 0.1, {})
    prompt = [Message("user", "earlier"), *prompt_messages([*found, quoting]),
              Message("user", "the question")]
    assert sources_from_prompt(prompt) == [*SOURCES, quoting.text]
    as_stored = [{"role": m.role, "content": m.text()} for m in prompt]  # a record read back from the table
    assert sources_from_prompt(as_stored) == [*SOURCES, quoting.text]
    assert sources_from_prompt([Message("user", "no sources here")]) is None


def test_the_quality_scorer_stores_consistency_of_grounded_records_only(embed: MiniLMSentences) -> None:
    class NoGolden:
        async def by_route(self) -> dict[str, list[object]]:
            return {}

    scorer = QualityScorer(NoGolden(), sample_rate=1.0, embed=embed)  # type: ignore[arg-type]
    scorer.register_consistency_scorer(GroundedConsistency(embed))
    found = [Source("file-1", "doc.txt", text, 0.9, {}) for text in SOURCES]
    prompt = [*prompt_messages(found), Message("user", "How long do refunds take?")]
    grounded = make_record(1, prompt=prompt, response=COPIED[0], extras={"grounding": {"sources": 3}})
    plain = make_record(2, prompt=[Message("user", "hi")], response=COPIED[0])

    async def run() -> list[list[QualityScore]]:
        return [await scorer.score(grounded), await scorer.score(plain)]

    scored, unscored = asyncio.run(run())
    assert unscored == [] and len(scored) == 1
    assert scored[0].kind == "consistency" and scored[0].score > 0.9
    assert scorer.snapshot()[0]["kind"] == "consistency"
