"""Retriever (knowledge/retriever.py) on the in-memory index: k, filters, the score
threshold, options, and the rerank step it ends with."""

from __future__ import annotations

import pytest

from corral.knowledge.index_memory import MemoryIndex
from corral.knowledge.rerank import best_sentence_coverage, rerank
from corral.knowledge.retriever import RetrievalOptions, Retriever
from corral.knowledge.types import Chunk, Hit
from tests.knowledge.conftest import HashEmbedder

TEXTS = {
    "n1": "The Normans came from Normandy. They spoke a dialect of Old French.",
    "n2": "William of Normandy conquered England in 1066. The Battle of Hastings decided it.",
    "n3": "Normandy lies in northern France. Its capital is Rouen.",
    "c1": "Complexity theory classifies problems. P and NP are its best-known classes.",
    "c2": "A Turing machine is a model of computation. Complexity theory uses it.",
}


@pytest.fixture
async def retriever() -> Retriever:
    embedder = HashEmbedder()
    index = MemoryIndex()
    chunks = [Chunk(cid, "vs", cid[0], text, i, content_hash=cid, attributes={"topic": cid[0]})
              for i, (cid, text) in enumerate(TEXTS.items())]
    await index.add(chunks, await embedder.embed([c.text for c in chunks]))
    return Retriever(index, embedder)


async def test_hits_are_fused_ranked_cut_at_k_and_scored_0_to_1(retriever: Retriever) -> None:
    hits = await retriever.search("vs", "Who conquered England at the Battle of Hastings?", k=3)
    assert hits[0].chunk.id == "n2" and len(hits) <= 3
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert hits[0].lexical_rank == 0 and hits[0].dense_rank == 0
    assert len(await retriever.search("vs", "Normandy", k=1)) == 1


async def test_filters_reach_both_lists(retriever: Retriever) -> None:
    hits = await retriever.search("vs", "Normandy complexity theory", k=10,
                                  filters={"type": "eq", "key": "topic", "value": "c"})
    assert {h.chunk.id for h in hits} == {"c1", "c2"}


async def test_the_score_threshold_drops_weak_hits(retriever: Retriever) -> None:
    everything = await retriever.search("vs", "Normandy France", k=10)
    assert len(everything) > 2
    cut = everything[1].score
    kept = await retriever.search("vs", "Normandy France", k=10, score_threshold=cut)
    assert [h.chunk.id for h in kept] == [h.chunk.id for h in everything if h.score >= cut]
    assert await retriever.search("vs", "Normandy France", k=10, score_threshold=1.01) == []


async def test_blank_queries_and_k_below_one_find_nothing_without_embedding(retriever: Retriever) -> None:
    assert isinstance(retriever.embedder, HashEmbedder)
    retriever.embedder.calls.clear()
    assert await retriever.search("vs", "   ", k=5) == []
    assert await retriever.search("vs", "Normandy", k=0) == []
    assert retriever.embedder.calls == []


async def test_each_search_embeds_its_query_once(retriever: Retriever) -> None:
    assert isinstance(retriever.embedder, HashEmbedder)
    retriever.embedder.calls.clear()
    await retriever.search("vs", "Rouen", k=2)
    assert retriever.embedder.calls == [["Rouen"]]


async def test_options_per_search_rrf_and_no_rerank(retriever: Retriever) -> None:
    query = "What is the capital of Normandy?"
    rrf = await retriever.search("vs", query, k=5, options=RetrievalOptions(fusion="rrf", rerank_weight=0))
    assert rrf[0].chunk.id == "n3" and rrf[0].score == pytest.approx(1.0), "first in both lists"
    lexical_only = RetrievalOptions(lexical_weight=1.0, rerank_weight=0, candidates=1)
    hits = await retriever.search("vs", query, k=1, options=lexical_only)
    assert [h.chunk.id for h in hits] == ["n3"]
    with pytest.raises(ValueError):
        RetrievalOptions(lexical_weight=2.0)
    with pytest.raises(ValueError):
        RetrievalOptions(candidates=0)


def test_coverage_is_the_share_of_query_weight_in_the_best_sentence() -> None:
    texts = ["Rouen is old. Normandy has a capital.", "The capital of Normandy is Rouen.", "Nothing here."]
    coverage = best_sentence_coverage("What is the capital of Normandy?", texts)
    assert coverage[1] == pytest.approx(1.0), "both terms in one sentence"
    assert 0 < coverage[0] <= 1.0 and coverage[2] == 0.0
    assert best_sentence_coverage("the of", texts) == [0.0, 0.0, 0.0]
    assert best_sentence_coverage("anything", []) == []


def test_rerank_lifts_the_passage_whose_one_sentence_answers() -> None:
    spread = Hit(Chunk("a", "vs", "f", "Normandy is in France. Its old capital was famous.", 0), 0.6, 0, 0)
    together = Hit(Chunk("b", "vs", "f", "The capital of Normandy is Rouen.", 1), 0.55, 1, 1)
    hits = rerank("What is the capital of Normandy?", [spread, together], weight=0.5)
    assert [h.chunk.id for h in hits] == ["b", "a"]
    assert (hits[0].lexical_rank, hits[0].dense_rank) == (1, 1) and all(0 <= h.score <= 1 for h in hits)
    assert [h.chunk.id for h in rerank("capital Normandy", [spread, together], weight=0.0)] == ["a", "b"]
    with pytest.raises(ValueError):
        rerank("q", [spread], weight=-1)
