"""Attribute filters: one meaning in Python (filters.matches) and in each backend's SQL,
checked operator by operator, compound by compound, with k taken after filtering."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from corral.knowledge.filters import InvalidFilter, matches, validate
from corral.knowledge.index_sql import SqlIndex
from corral.store import testing
from tests.knowledge import index_fixtures
from tests.knowledge.index_fixtures import analyze, chunk, cosine_order, vectors

# pytest fixtures (backend-parametrized databases, and the index on each)
backend, db, db_url, migrated_db = testing.backend, testing.db, testing.db_url, testing.migrated_db
index = index_fixtures.index

ATTRIBUTES: list[dict[str, Any]] = [
    {"author": "ann", "year": 2020, "draft": True, "score": 0.5},
    {"author": "bob", "year": 2021, "draft": False},
    {"author": "cy", "year": 2021.0, "draft": True, "score": 2},
    {"author": "ann", "year": 2022.5},
    {"year": "2021", "draft": 1},  # a string year and a number draft: other kinds
    {"author": "Bob", "score": -1},
    {},
    {"author": "ann b", "year": 1999, "draft": False, "score": 10},
]

FILTERS: list[dict[str, Any]] = [
    {"type": "eq", "key": "author", "value": "ann"},
    {"type": "eq", "key": "year", "value": 2021},  # 2021 and 2021.0, not "2021"
    {"type": "eq", "key": "year", "value": "2021"},
    {"type": "eq", "key": "draft", "value": True},  # not the number 1
    {"type": "eq", "key": "draft", "value": 1},  # not True
    {"type": "ne", "key": "author", "value": "ann"},  # a missing author passes
    {"type": "ne", "key": "draft", "value": False},
    {"type": "gt", "key": "year", "value": 2020},
    {"type": "gte", "key": "year", "value": 2021},
    {"type": "lt", "key": "score", "value": 2},
    {"type": "lte", "key": "score", "value": 2},
    {"type": "gt", "key": "author", "value": "ann"},  # code-point order: "Bob" < "ann" < "ann b"
    {"type": "lt", "key": "author", "value": "b"},
    {"type": "gt", "key": "draft", "value": False},  # booleans are not ordered
    {"type": "gt", "key": "year", "value": "2000"},  # strings: only the string year
    {"type": "in", "key": "author", "value": ["ann", "cy", 3]},
    {"type": "in", "key": "year", "value": [2021, 1999]},
    {"type": "nin", "key": "author", "value": ["ann", "bob"]},
    {"type": "and", "filters": [{"type": "eq", "key": "author", "value": "ann"},
                                {"type": "lt", "key": "year", "value": 2021}]},
    {"type": "or", "filters": [{"type": "eq", "key": "draft", "value": True},
                               {"type": "gt", "key": "score", "value": 5}]},
    {"type": "and", "filters": [
        {"type": "or", "filters": [{"type": "eq", "key": "author", "value": "ann"},
                                   {"type": "eq", "key": "author", "value": "bob"}]},
        {"type": "ne", "key": "draft", "value": True}]},
    {"type": "eq", "key": "no such key", "value": "x"},
]


def expected(f: dict[str, Any]) -> set[int]:
    return {i for i, a in enumerate(ATTRIBUTES) if matches(f, a)}


def test_reference_semantics() -> None:
    assert expected(FILTERS[1]) == {1, 2}
    assert expected(FILTERS[3]) == {0, 2}
    assert expected(FILTERS[4]) == {4}
    assert expected(FILTERS[5]) == {1, 2, 4, 5, 6, 7}
    assert expected(FILTERS[11]) == {1, 2, 7}  # "bob", "cy", "ann b"; not "Bob"
    assert expected(FILTERS[13]) == set()
    assert expected(FILTERS[14]) == {4}
    assert expected(FILTERS[17]) == {2, 4, 5, 6, 7}


@pytest.mark.parametrize("bad", [
    None, [], {"type": "eq"}, {"type": "regex", "key": "a", "value": "x"},
    {"type": "eq", "key": "", "value": "x"}, {"type": "eq", "key": 'a"b', "value": "x"},
    {"type": "eq", "key": "a", "value": None}, {"type": "eq", "key": "a", "value": [1]},
    {"type": "in", "key": "a", "value": []}, {"type": "in", "key": "a", "value": [{"x": 1}]},
    {"type": "or", "filters": "x"}, {"type": "and", "filters": [{"type": "eq", "key": 1, "value": 1}]},
])
def test_malformed_filters_are_named(bad: Any) -> None:
    with pytest.raises(InvalidFilter):
        validate(bad)


def test_error_says_where() -> None:
    with pytest.raises(InvalidFilter, match=r"filters\.filters\[1\]\.value"):
        validate({"type": "and", "filters": [{"type": "eq", "key": "a", "value": 1},
                                             {"type": "gt", "key": "b", "value": None}]})


async def test_every_operator_agrees_with_the_reference(index: SqlIndex) -> None:
    vecs = vectors(len(ATTRIBUTES), seed=11)
    await index.add([chunk("vs_a", f"f{i}", 0, f"quarterly report number {i}", **a)
                     for i, a in enumerate(ATTRIBUTES)], vecs)
    await index.add([chunk("vs_b", "other", 0, "quarterly report of store B", author="ann")], vecs[:1])
    query = vectors(1, seed=12)[0]
    for f in FILTERS:
        want = expected(f)
        lexical = await index.lexical("vs_a", "quarterly report", 50, f)
        dense = await index.dense("vs_a", query, 50, f)
        assert {int(h.chunk.file_id[1:]) for h in lexical} == want, f
        assert {int(h.chunk.file_id[1:]) for h in dense} == want, f
        best = [i for i in cosine_order(query, vecs) if i in want][:2]
        assert [int(h.chunk.file_id[1:]) for h in await index.dense("vs_a", query, 2, f)] == best, f
        assert len(await index.lexical("vs_a", "quarterly report", 2, f)) == min(2, len(want)), f


async def test_filters_pick_the_passing_file_of_a_shared_text(index: SqlIndex) -> None:
    shared = "The same paragraph in two files with different attributes."
    vec = vectors(1)
    await index.add([chunk("vs_a", "public", 0, shared, level="public")], vec)
    await index.add([chunk("vs_a", "secret", 3, shared, level="secret")], vec)
    only_secret = {"type": "eq", "key": "level", "value": "secret"}
    for hits in (await index.lexical("vs_a", "same paragraph", 5, only_secret),
                 await index.dense("vs_a", vec[0], 5, only_secret)):
        assert [(h.chunk.file_id, h.chunk.position, dict(h.chunk.attributes)) for h in hits] == [
            ("secret", 3, {"level": "secret"})]
    nobody = {"type": "eq", "key": "level", "value": "internal"}
    assert await index.lexical("vs_a", "same paragraph", 5, nobody) == []
    assert await index.dense("vs_a", vec[0], 5, nobody) == []


async def test_filtered_dense_search_fills_k_from_a_large_store(index: SqlIndex) -> None:
    """1 chunk in 100 passes: the graph's over-fetch finds too few, the exact scan fills k."""
    n = 1200
    vecs = vectors(n, seed=13)
    rng = np.random.default_rng(14)
    await index.add([chunk("vs_a", f"f{i}", 0, f"text {i}", rare=bool(i % 100 == 0), n=int(rng.integers(9)))
                     for i in range(n)], vecs)
    await analyze(index)
    query = vectors(1, seed=15)[0]
    rare = {"type": "eq", "key": "rare", "value": True}
    hits = await index.dense("vs_a", query, 5, rare)
    want = [i * 100 for i in cosine_order(query, vecs[::100])[:5]]
    assert [int(h.chunk.file_id[1:]) for h in hits] == want
