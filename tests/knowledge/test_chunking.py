"""corral.knowledge.chunking: budgets hold, overlap is there, structure is respected, heading
paths are right, identical text hashes identically."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from corral.core.tokens import count_text
from corral.knowledge.chunking import chunk, split_sentences
from corral.knowledge.types import Block, Chunk, Document


def sentences(n: int, topic: str = "river") -> str:
    return " ".join(f"Sentence {i} talks about the {topic} and its long winding bends." for i in range(n))


def run(blocks: list[Block], max_tokens: int = 80, overlap_tokens: int = 20) -> list[Chunk]:
    return chunk(Document(blocks=blocks), max_tokens=max_tokens, overlap_tokens=overlap_tokens,
                 store_id="vs_1", file_id="file_1", attributes={"team": "a"})


def body(c: Chunk) -> set[str]:
    return {s for line in c.text.split("\n") for s in split_sentences(line)}


DOC = [
    Block("Handbook", "heading", 1),
    Block("Welcome to the handbook."),
    Block("Travel", "heading", 2),
    Block(sentences(12)),
    Block("Flights", "heading", 3),
    Block("Book flights early."),
    Block("Expenses", "heading", 2),
    Block("Keep every receipt."),
]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(40, 0), (60, 20), (120, 60), (800, 400)])
def test_no_chunk_exceeds_the_budget(max_tokens: int, overlap: int) -> None:
    chunks = run([*DOC, Block(sentences(40)), Block("x" * 3000), Block("a | b\n" + "1 | 2\n" * 200, "table")],
                 max_tokens, overlap)
    assert chunks
    for c in chunks:
        assert c.tokens == count_text(c.text) <= max_tokens


def test_heading_paths_and_sections() -> None:
    chunks = run(DOC, max_tokens=200, overlap_tokens=0)
    assert [(c.heading_path, c.text.split("\n")[0]) for c in chunks] == [
        (("Handbook",), "Handbook"),
        (("Handbook", "Travel"), "Travel"),
        (("Handbook", "Travel", "Flights"), "Flights"),
        (("Handbook", "Expenses"), "Expenses"),
    ]
    assert chunks[0].text == "Handbook\n\nWelcome to the handbook."
    assert [c.position for c in chunks] == [0, 1, 2, 3]
    assert all((c.store_id, c.file_id, c.attributes) == ("vs_1", "file_1", {"team": "a"}) for c in chunks)


def test_heading_with_only_subsections_is_carried_in_their_path() -> None:
    chunks = run([Block("Guide", "heading", 1), Block("Part", "heading", 2), Block("Text.")])
    assert [(c.heading_path, c.text) for c in chunks] == [(("Guide", "Part"), "Part\n\nText.")]


def test_long_paragraph_splits_by_sentences_with_whole_sentence_overlap() -> None:
    text = sentences(20)
    chunks = run([Block("Travel", "heading", 1), Block(text)], max_tokens=80, overlap_tokens=30)
    assert len(chunks) > 3
    all_sentences = split_sentences(text)
    for prev, nxt in itertools.pairwise(chunks):
        shared = body(prev) & body(nxt)
        assert shared, "consecutive chunks overlap"
        assert shared <= set(all_sentences), "the overlap is whole sentences"
        assert count_text(" ".join(shared)) <= 30
    for c in chunks:  # every piece of the chunk is a whole sentence of the source
        assert body(c) - {"Travel"} <= set(all_sentences)
    covered = set().union(*(body(c) for c in chunks))
    assert set(all_sentences) <= covered


def test_the_overlap_never_starts_inside_a_long_word() -> None:
    """A sentence ending in a token longer than the overlap (a JWT here) is not repeated as a tail
    of that token: a credential's fragment is what the privacy detector cannot recognise."""
    jwt = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
           "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
    chunks = run([Block(f"{sentences(3)} The session token is {jwt}. {sentences(3, 'lake')}")],
                 max_tokens=120, overlap_tokens=40)
    assert len(chunks) > 1
    for c in chunks:
        for word in c.text.split():
            assert word.rstrip(".") in jwt or jwt not in word, word
            if jwt[-20:] in word:
                assert word.rstrip(".") == jwt, f"a fragment of the token was repeated: {word!r}"


def test_no_overlap_when_zero() -> None:
    chunks = run([Block(sentences(20))], max_tokens=80, overlap_tokens=0)
    for prev, nxt in itertools.pairwise(chunks):
        assert not body(prev) & body(nxt)


def test_paragraphs_are_packed_whole() -> None:
    paras = [Block(f"Paragraph {i} is short and complete.") for i in range(12)]
    chunks = run(paras, max_tokens=40, overlap_tokens=0)
    assert len(chunks) < 12
    texts = [p.text for p in paras]
    for c in chunks:
        assert all(part in texts for part in c.text.split("\n\n"))


def test_table_kept_whole_when_it_fits() -> None:
    table = "Name | Price\nCoffee | 2.50\nTea | 2.00"
    chunks = run([Block("Intro."), Block(table, "table")], max_tokens=100)
    assert chunks[0].text == "Intro.\n\n" + table


def test_large_table_split_by_rows_repeating_the_header() -> None:
    rows = [f"Item {i} | {i * 3} EUR | in stock" for i in range(60)]
    table = "Item | Price | Status\n" + "\n".join(rows)
    chunks = run([Block(table, "table")], max_tokens=60, overlap_tokens=20)
    assert len(chunks) > 3
    seen: list[str] = []
    for c in chunks:
        lines = c.text.split("\n")
        assert lines[0] == "Item | Price | Status"
        assert all(line in rows for line in lines[1:])
        seen += lines[1:]
    assert seen == rows  # every row once, in order: table pieces carry no overlap


def test_list_items_stay_whole() -> None:
    items = [f"- step {i}: open the valve and wait until the gauge settles" for i in range(30)]
    chunks = run([Block("\n".join(items), "list")], max_tokens=60, overlap_tokens=0)
    assert len(chunks) > 1
    for c in chunks:
        assert all(line in items for line in c.text.split("\n"))


def test_heading_never_split_and_opens_its_section() -> None:
    chunks = run([Block("A heading of several words", "heading", 2), Block(sentences(30))], 60, 20)
    assert chunks[0].text.startswith("A heading of several words\n\n")
    assert all(c.heading_path == ("A heading of several words",) for c in chunks)
    assert sum("A heading of several words" in c.text for c in chunks) == 1


def test_overlong_sentence_and_word_are_cut_within_budget() -> None:
    chunks = run([Block("word " * 500), Block("Z" * 5000)], max_tokens=50, overlap_tokens=10)
    assert all(c.tokens <= 50 for c in chunks)
    assert sum(c.text.count("word") for c in chunks) >= 500


def test_identical_text_identical_hash_and_stable_ids() -> None:
    a = run([Block("Same text."), Block("Other", "heading", 1), Block("Same text.")], 200, 0)
    assert a[0].text == "Same text." and a[1].text == "Other\n\nSame text."
    b = run([Block("Same text.")], 200, 0)
    assert a[0].content_hash == b[0].content_hash == hashlib.sha256(b"Same text.").hexdigest()
    assert a[0].content_hash != a[1].content_hash
    assert a[0].id == b[0].id and a[0].id != a[1].id
    assert a[0].id != chunk(Document([Block("Same text.")]), store_id="vs_2", file_id="file_1")[0].id


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="half"):
        run(DOC, max_tokens=100, overlap_tokens=60)
    with pytest.raises(ValueError):
        run(DOC, max_tokens=4, overlap_tokens=0)


def test_split_sentences() -> None:
    assert split_sentences("Dr. Smith arrived, e.g. at 5 p.m. today. He left! Did he? Yes.") == [
        "Dr. Smith arrived, e.g. at 5 p.m. today.", "He left!", "Did he?", "Yes."]
    assert split_sentences("数据很多。我们走吧。") == ["数据很多。", "我们走吧。"]
