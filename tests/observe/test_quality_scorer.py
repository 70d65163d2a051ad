"""QualityScorer: golden matching with the bundled offline embeddings, sampling, rolling
aggregation, drop detection, consistency scores and the background writer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from corral.core.types import Message
from corral.observe.quality import GoldenExample, GoldenStore
from corral.observe.quality.scorer import (
    QualityScore,
    QualityScorer,
    QualityScoreStore,
    default_embedder,
    prompt_text,
)
from corral.observe.record import RequestRecord
from corral.store.db import Database

GOLDEN = [
    GoldenExample("support", "How do I reset my password?",
                  "Open Settings, choose Security and click Reset password; we email a reset link.", id=1),
    GoldenExample("support", "How can I get a refund for my order?",
                  "Refunds are issued within 14 days of purchase from the Orders page.", id=2),
    GoldenExample("support", "Which payment methods do you accept?",
                  "We accept credit cards, PayPal and bank transfers.", id=3),
]
_ids = itertools.count()


class StaticGolden:
    def __init__(self, examples: list[GoldenExample]) -> None:
        self.examples = examples
        self.loads = 0

    async def by_route(self) -> dict[str, list[GoldenExample]]:
        self.loads += 1
        grouped: dict[str, list[GoldenExample]] = {}
        for e in self.examples:
            grouped.setdefault(e.route, []).append(e)
        return grouped


class MemoryWriter:
    def __init__(self, fail: bool = False) -> None:
        self.scores: list[QualityScore] = []
        self.fail = fail

    async def add_many(self, scores: Iterable[QualityScore]) -> int:
        if self.fail:
            raise ConnectionRefusedError("database is down (test)")
        batch = list(scores)
        self.scores.extend(batch)
        return len(batch)


def record(prompt: str | None, answer: str | None, *, route: str = "support", model: str = "gpt-4o",
           status: str = "ok", **extras: Any) -> RequestRecord:
    return RequestRecord(
        request_id=f"req_{next(_ids):06d}", created_at=time.time(), key_id="key_1", team="t", end_user=None,
        route=route, requested_model=route, served_model=model, deployment=f"openai/{model}",
        provider_type="openai", status=status, http_status=200, error_type=None, stream=False,
        prompt=None if prompt is None else [Message("system", "Be brief."), Message("user", prompt)],
        response=answer, extras=extras,
    )


async def scorer_with(examples: list[GoldenExample] = GOLDEN, **kw: Any) -> QualityScorer:
    kw.setdefault("sample_rate", 1.0)
    scorer = QualityScorer(StaticGolden(examples), **kw)
    await scorer.refresh_golden()
    return scorer


def test_embedder_is_offline_normalised_and_semantic() -> None:
    vectors = default_embedder()(["reset my password", "how to reset a password", "bananas are yellow"])
    assert vectors.shape == (3, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_prompt_text_takes_the_last_user_message() -> None:
    messages = [Message("user", "first"), Message("assistant", "x"), Message("user", "second")]
    assert prompt_text(messages) == "second"
    assert prompt_text([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == "hi"
    assert prompt_text("plain") == "plain"
    assert prompt_text(None) is None


async def test_picks_the_nearest_golden_example_and_ranks_answers() -> None:
    scorer = await scorer_with()
    good = await scorer.score(record("I forgot my password, how do I reset it?",
                                     "Go to Settings, then Security, and click Reset password."))
    bad = await scorer.score(record("I forgot my password, how do I reset it?",
                                    "Our headquarters are in Lisbon and we sell garden furniture."))
    assert [s.golden_id for s in good] == [1] and [s.kind for s in good] == ["similarity"]
    assert good[0].score > bad[0].score + 0.2
    refund = await scorer.score(record("can I get my money back for an order?", "Refunds take 14 days."))
    assert refund[0].golden_id == 2


async def test_unrelated_prompts_and_missing_content_are_not_scored() -> None:
    scorer = await scorer_with()
    assert await scorer.score(record("Write a haiku about autumn leaves", "Leaves fall slowly")) == []
    assert scorer.counters["skipped_no_match"] == 1
    assert await scorer.score(record(None, "anything")) == []
    assert await scorer.score(record("How do I reset my password?", None)) == []
    assert scorer.counters["skipped_no_content"] == 2
    assert await scorer.score(record("How do I reset my password?", "x", route="no-golden")) == []


async def test_sampling_and_eligibility() -> None:
    draws = iter([0.05, 0.5, 0.05, 0.99])
    scorer = await scorer_with(sample_rate=0.1, rand=lambda: next(draws))
    assert scorer.observe(record("q", "a"))
    assert not scorer.observe(record("q", "a"))
    assert not scorer.observe(record("q", "a", route="no-golden"))  # no golden set: no draw used
    assert not scorer.observe(record("q", "a", status="error"))
    assert scorer.observe(record("q", "a", route="rag", consistency_score=0.9))
    assert not scorer.observe(record("q", "a"))
    counters = scorer.counters
    assert (counters["queued"], counters["not_sampled"], counters["not_eligible"]) == (2, 2, 2)
    assert scorer.pending == 2
    with pytest.raises(ValueError):
        QualityScorer(StaticGolden([]), sample_rate=1.5)


async def test_rolling_ewma_per_route_and_model_and_drops() -> None:
    scorer = await scorer_with(alpha=0.5)
    for value in (1.0, 0.0, 0.0):
        await scorer.score(record("q", "a", route="rag", model="m1", consistency_score=value))
    for _ in range(5):
        await scorer.score(record("q", "a", route="rag", model="m2", consistency_score=0.9))
    snap = {(s["route"], s["model"], s["kind"]): s for s in scorer.snapshot()}
    assert snap[("rag", "m1", "consistency")]["ewma"] == pytest.approx(0.25)
    assert snap[("rag", "m1", "consistency")]["count"] == 3
    assert snap[("rag", "m2", "consistency")]["ewma"] == pytest.approx(0.9)
    assert scorer.drops(0.5, kind="consistency", min_count=3) == [("rag", "m1", pytest.approx(0.25))]
    assert scorer.drops(0.5, kind="consistency", min_count=4) == []
    assert scorer.drops(0.5) == []  # no similarity scores yet


async def test_registered_consistency_scorers_are_averaged_and_isolated() -> None:
    scorer = await scorer_with([])

    async def async_judge(rec: RequestRecord) -> float:
        return 0.6

    def broken(rec: RequestRecord) -> float:
        raise RuntimeError("judge down")

    scorer.register_consistency_scorer(lambda rec: 1.0)
    scorer.register_consistency_scorer(async_judge)
    scorer.register_consistency_scorer(broken)
    scorer.register_consistency_scorer(lambda rec: None)
    assert scorer.observe(record("q", "a", route="rag"))  # eligible once a scorer is registered
    scores = await scorer.score(record("q", "a", route="rag"))
    assert [(s.kind, s.score) for s in scores] == [("consistency", pytest.approx(0.8))]
    assert scorer.counters["score_errors"] == 1
    given = await scorer.score(record("q", "a", route="rag", consistency_score=0.1))
    assert given[0].score == pytest.approx(0.1)  # a score on the record wins


async def test_background_worker_scores_and_writes_off_the_request_path() -> None:
    writer = MemoryWriter()
    scorer = QualityScorer(StaticGolden(GOLDEN), sample_rate=1.0, writer=writer)
    await scorer.refresh_golden()
    scorer.start()
    try:
        assert scorer.observe(record("How do I reset my password?", "Settings, Security, Reset password."))
        assert scorer.observe(record("q", "a", route="rag", consistency_score=0.7))
        await asyncio.wait_for(scorer.flush(), 10)
    finally:
        await scorer.aclose()
    assert sorted(s.kind for s in writer.scores) == ["consistency", "similarity"]
    assert scorer.counters["written"] == 2 and scorer.counters["scored"] == 2


async def test_queue_full_and_write_failures_are_dropped_and_counted() -> None:
    writer = MemoryWriter(fail=True)
    scorer = await scorer_with(writer=writer, max_queue=2)
    results = [scorer.observe(record("q", "a", route="rag", consistency_score=0.5)) for _ in range(3)]
    assert results == [True, True, False] and scorer.counters["dropped_queue_full"] == 1
    await scorer.flush()  # no worker running: flushes inline
    assert scorer.counters["write_errors"] == 1 and scorer.counters["dropped_write_failed"] == 2
    assert len(scorer.snapshot()) == 1  # the rolling view still learned from them


async def test_golden_store_feeds_the_scorer_and_scores_persist(migrated_db: Database) -> None:
    golden = GoldenStore(migrated_db)
    for e in GOLDEN:
        await golden.add(GoldenExample(e.route, e.question, e.answer))
    scorer = QualityScorer(migrated_db, sample_rate=1.0, writer=migrated_db)
    scorer.start()
    try:
        await asyncio.sleep(0)
        rec = record("Which payment methods are accepted?", "Credit cards, PayPal or a bank transfer.")
        for _ in range(200):  # the worker loads the golden set first
            if "support" in scorer._index:
                break
            await asyncio.sleep(0.01)
        assert scorer.observe(rec)
        await asyncio.wait_for(scorer.flush(), 10)
    finally:
        await scorer.aclose()
    stored = await QualityScoreStore(migrated_db).list(route="support")
    assert len(stored) == 1
    expected_id = [e.id for e in await golden.list("support") if e.question.startswith("Which")]
    assert stored[0].golden_id == expected_id[0] and stored[0].request_id == rec.request_id
    assert stored[0].model == "gpt-4o" and 0.5 < stored[0].score <= 1.0


async def test_golden_changes_are_picked_up_on_refresh() -> None:
    source = StaticGolden(GOLDEN[:1])
    scorer = QualityScorer(source, sample_rate=1.0, golden_refresh_s=0.0)
    await scorer.refresh_golden()
    assert not scorer.observe(record("q", "a", route="billing"))
    source.examples = [*GOLDEN[:1], GoldenExample("billing", "What is on my invoice?", "Line items.", id=9)]
    await scorer.refresh_golden()
    assert scorer.observe(record("q", "a", route="billing"))
    source.examples = GOLDEN[:1]
    await scorer.refresh_golden()
    assert set(scorer._index) == {"support"} and set(scorer._vectors) == {1}
