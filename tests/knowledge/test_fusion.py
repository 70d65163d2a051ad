"""Fusion math (knowledge/fusion.py): scores in 0..1, ranks kept, missing lists tolerated."""

from __future__ import annotations

import pytest

from corral.knowledge import fusion
from corral.knowledge.types import Chunk, Hit


def _hit(chunk_id: str, score: float) -> Hit:
    return Hit(Chunk(chunk_id, "vs", "f", f"text {chunk_id}", 0), score)


LEXICAL = [_hit("a", 12.0), _hit("b", 6.0), _hit("c", 3.0)]  # BM25 scores
DENSE = [_hit("b", 0.9), _hit("d", 0.5), _hit("a", -0.2)]  # cosines


def _scores(hits: list[Hit]) -> dict[str, float]:
    return {h.chunk.id: round(h.score, 6) for h in hits}


def test_weighted_divides_lexical_by_its_best_and_adds_the_clipped_cosine() -> None:
    hits = fusion.weighted(LEXICAL, DENSE, lexical_weight=0.3)
    assert _scores(hits) == {"b": round(0.3 * 0.5 + 0.7 * 0.9, 6), "a": 0.3, "d": 0.35, "c": 0.075}
    assert [h.chunk.id for h in hits] == ["b", "d", "a", "c"]
    ranks = {h.chunk.id: (h.lexical_rank, h.dense_rank) for h in hits}
    assert ranks == {"a": (0, 2), "b": (1, 0), "c": (2, None), "d": (None, 1)}


def test_weighted_extremes_follow_one_list_and_scores_stay_in_range() -> None:
    assert [h.chunk.id for h in fusion.weighted(LEXICAL, DENSE, 1.0)][:3] == ["a", "b", "c"]
    assert [h.chunk.id for h in fusion.weighted(LEXICAL, DENSE, 0.0)][:2] == ["b", "d"]
    perfect = fusion.weighted([_hit("a", 5.0)], [_hit("a", 1.2)], 0.5)
    assert perfect[0].score == 1.0
    assert all(0.0 <= h.score <= 1.0 for h in fusion.weighted(LEXICAL, DENSE, 0.5))
    with pytest.raises(ValueError):
        fusion.weighted(LEXICAL, DENSE, 1.5)


def test_weighted_with_an_empty_list_or_zero_lexical_scores() -> None:
    assert [h.chunk.id for h in fusion.weighted([], DENSE)] == ["b", "d", "a"]
    assert _scores(fusion.weighted([_hit("z", 0.0)], []))["z"] == 0.0
    assert fusion.weighted([], []) == []


def test_reciprocal_rank_is_normalised_so_first_in_both_lists_scores_one() -> None:
    hits = fusion.reciprocal_rank(LEXICAL, DENSE, k=60)
    top = 2 / 61
    expected = {"a": (1 / 61 + 1 / 63) / top, "b": (1 / 62 + 1 / 61) / top, "c": (1 / 63) / top,
                "d": (1 / 62) / top}
    assert _scores(hits) == {k: round(v, 6) for k, v in expected.items()}
    assert [h.chunk.id for h in hits] == ["b", "a", "d", "c"]
    both_first = fusion.reciprocal_rank([_hit("x", 1)], [_hit("x", 1)])
    assert both_first[0].score == pytest.approx(1.0)
    weighted = fusion.reciprocal_rank(LEXICAL, DENSE, k=0, weights=(1.0, 0.0))
    assert [h.chunk.id for h in weighted][:3] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        fusion.reciprocal_rank(LEXICAL, DENSE, weights=(0.0, 0.0))


def test_ties_keep_the_lists_order() -> None:
    hits = fusion.weighted([_hit("p", 1.0), _hit("q", 1.0)], [], 1.0)
    assert [h.chunk.id for h in hits] == ["p", "q"]
