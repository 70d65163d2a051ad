"""MemoryIndex (knowledge/index_memory.py): BM25, cosine, dedupe, deletes and OpenAI filters."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from corral.knowledge.filters import InvalidFilter
from corral.knowledge.index_memory import MemoryIndex, matches
from corral.knowledge.types import Chunk


def _chunk(cid: str, text: str, file_id: str = "f1", store: str = "vs", **attributes: Any) -> Chunk:
    return Chunk(cid, store, file_id, text, 0, content_hash=hashlib.sha256(text.encode()).hexdigest(),
                 attributes=attributes)


DOCS = [
    _chunk("c1", "The Normans invaded England in 1066.", year=1066, lang="en"),
    _chunk("c2", "Normandy is a region of northern France.", year=911, lang="en"),
    _chunk("c3", "Complexity theory studies the resources problems need.", year=1971, lang="en", draft=True),
    _chunk("c4", "Les Normands envahirent l'Angleterre.", file_id="f2", year=1066, lang="fr"),
]
VECTORS = [[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0], [0.9, 0.1, 0.0]]


@pytest.fixture
async def index() -> MemoryIndex:
    idx = MemoryIndex()
    assert await idx.add(DOCS, VECTORS) == 4
    return idx


async def test_lexical_ranks_by_bm25_over_stems_and_leaves_out_non_matches(index: MemoryIndex) -> None:
    hits = await index.lexical("vs", "When did the Normans invade?", 10)
    assert [h.chunk.id for h in hits] == ["c1"], "invade/invaded share a stem; stop words match nothing"
    assert hits[0].score > 0 and hits[0].lexical_rank == 0
    both = await index.lexical("vs", "Normans region", 10)
    assert {h.chunk.id for h in both} == {"c1", "c2"}
    assert await index.lexical("vs", "the of what", 10) == []
    assert await index.lexical("other-store", "Normans", 10) == []


async def test_rarer_terms_weigh_more() -> None:
    idx = MemoryIndex()
    texts = ["apple banana", "apple cherry", "apple durian", "banana cherry"]
    await idx.add([_chunk(f"d{i}", t) for i, t in enumerate(texts)], [[1.0, 0.0]] * 4)
    hits = await idx.lexical("vs", "apple durian", 10)
    assert hits[0].chunk.id == "d2" and hits[0].score > 2 * hits[1].score


async def test_dense_orders_by_cosine_and_cuts_at_k(index: MemoryIndex) -> None:
    hits = await index.dense("vs", [2.0, 0.0, 0.0], 2)
    assert [h.chunk.id for h in hits] == ["c1", "c4"] and hits[0].score == pytest.approx(1.0)
    assert [h.dense_rank for h in hits] == [0, 1]
    assert await index.dense("vs", [1.0, 0.0, 0.0], 0) == []


async def test_identical_text_is_kept_once_and_lives_while_a_file_holds_it(index: MemoryIndex) -> None:
    copy = _chunk("c9", DOCS[0].text, file_id="f3")
    assert await index.add([copy], [[1.0, 0.0, 0.0]]) == 0
    assert await index.delete_file("vs", "f1") == 2, "c2 and c3 go; c1 stays for f3"
    assert [h.chunk.id for h in await index.lexical("vs", "Normans England", 10)] == ["c1"]
    assert await index.delete_file("vs", "f3") == 1
    assert await index.lexical("vs", "Normans England", 10) == []
    assert await index.delete_store("vs") == 1 and await index.delete_store("vs") == 0


async def test_add_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        await MemoryIndex().add(DOCS, VECTORS[:2])


@pytest.mark.parametrize(("filters", "expected"), [
    ({"type": "eq", "key": "lang", "value": "fr"}, {"c4"}),
    ({"type": "ne", "key": "lang", "value": "fr"}, {"c1", "c2", "c3"}),
    ({"type": "gte", "key": "year", "value": 1066}, {"c1", "c3", "c4"}),
    ({"type": "lt", "key": "year", "value": 1066}, {"c2"}),
    ({"type": "in", "key": "year", "value": [911, 1971]}, {"c2", "c3"}),
    ({"type": "nin", "key": "year", "value": [911, 1971]}, {"c1", "c4"}),
    ({"type": "eq", "key": "draft", "value": True}, {"c3"}),
    ({"type": "ne", "key": "draft", "value": True}, {"c1", "c2", "c4"}),  # no key: matches ne
    ({"type": "gt", "key": "lang", "value": 3}, set()),  # a string against a number: no match
    ({"type": "eq", "key": "draft", "value": 1}, set()),  # a boolean is not a number (True == 1)
    ({"type": "in", "key": "draft", "value": [1, "x"]}, set()),
    ({"type": "and", "filters": [{"type": "eq", "key": "lang", "value": "en"},
                                 {"type": "lte", "key": "year", "value": 1066}]}, {"c1", "c2"}),
    ({"type": "or", "filters": [{"type": "eq", "key": "lang", "value": "fr"},
                                {"type": "eq", "key": "year", "value": 1971}]}, {"c3", "c4"}),
])
async def test_filters_apply_to_both_searches(index: MemoryIndex, filters: dict[str, Any],
                                              expected: set[str]) -> None:
    dense = await index.dense("vs", [1.0, 1.0, 1.0], 10, filters)
    assert {h.chunk.id for h in dense} == expected
    lexical = await index.lexical("vs", "Normans Normands Normandy complexity", 10, filters)
    assert {h.chunk.id for h in lexical} == expected


def test_an_unknown_filter_is_an_error() -> None:
    with pytest.raises(InvalidFilter, match=r"filters\.type"):
        matches({"type": "regex", "key": "a", "value": "x"}, {"a": "x"})
    with pytest.raises(InvalidFilter, match="non-empty list"):
        matches({"type": "and", "filters": []}, {})
    assert matches(None, {})
