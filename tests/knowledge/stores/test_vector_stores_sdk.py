"""OpenAI's vector-store API through the official openai SDK, on a real server (SQLite and
PostgreSQL): create, upload, poll, search with filters and a threshold, read the parsed
text, remove a file and see its chunks go, delete the store; other teams see nothing; and a
Responses API answer grounded by the file_search tool, with citations."""

from __future__ import annotations

import io
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import RunningServer
from tests.files.server import new_key
from tests.knowledge.stores.server import client, kb_server

GUIDE = (b"# Returns\n\nItems can be returned within thirty days of delivery for a full refund.\n\n"
         b"Refunds go back to the original card within five business days.")
SHIPPING = b"Parcels ship from Lyon every weekday; express delivery takes one day within France."
PRICING = b"The premium plan costs forty euros per month and includes priority support."


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with kb_server(request.param, tmp_path_factory.mktemp(f"kb-{request.param}"), chat=True) as running:
        yield running


def _upload(oa: openai.OpenAI, name: str, data: bytes, purpose: str = "assistants") -> str:
    return oa.files.create(file=(name, io.BytesIO(data)), purpose=purpose).id  # type: ignore[arg-type]


def _store_with_files(oa: openai.OpenAI) -> tuple[str, dict[str, str]]:
    store = oa.vector_stores.create(name="support", metadata={"owner": "docs"})
    ids = {name: _upload(oa, name, data) for name, data in
           (("guide.md", GUIDE), ("shipping.txt", SHIPPING), ("pricing.txt", PRICING))}
    batch = oa.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, files=[
        {"file_id": ids["guide.md"], "attributes": {"topic": "returns", "year": 2024}},
        {"file_id": ids["shipping.txt"], "attributes": {"topic": "shipping", "year": 2023}},
        {"file_id": ids["pricing.txt"], "attributes": {"topic": "pricing", "year": 2025, "public": True}},
    ])
    assert batch.status == "completed", batch
    assert batch.file_counts.completed == 3 and batch.file_counts.total == 3
    return store.id, ids


def test_store_lifecycle_through_the_sdk(server: RunningServer) -> None:
    oa = client(server)
    store_id, ids = _store_with_files(oa)
    store = oa.vector_stores.retrieve(store_id)
    assert store.status == "completed" and store.name == "support" and store.metadata == {"owner": "docs"}
    assert store.file_counts.completed == 3 and store.usage_bytes > 0

    found = oa.vector_stores.search(store_id, query="how long do refunds take to reach my card")
    assert found.data and found.data[0].file_id == ids["guide.md"]
    assert found.data[0].filename == "guide.md" and found.data[0].attributes == {"topic": "returns",
                                                                                   "year": 2024}
    assert found.data[0].content[0].type == "text" and "card" in " ".join(
        c.text for r in found.data for c in r.content)

    filtered = oa.vector_stores.search(store_id, query="delivery", filters={
        "type": "and", "filters": [{"type": "gte", "key": "year", "value": 2024},
                                   {"type": "ne", "key": "topic", "value": "pricing"}]})
    assert {r.file_id for r in filtered.data} == {ids["guide.md"]}

    everything = oa.vector_stores.search(store_id, query="delivery", max_num_results=50)
    strict = oa.vector_stores.search(store_id, query="delivery", ranking_options={"score_threshold": 0.99})
    assert len(everything.data) > len(strict.data)
    assert all(r.score >= 0.99 for r in strict.data)

    content = oa.vector_stores.files.content(ids["guide.md"], vector_store_id=store_id)
    texts = [part.text for part in content]
    assert texts[0] == "Returns" and any("thirty days" in (t or "") for t in texts)

    oa.vector_stores.files.delete(ids["guide.md"], vector_store_id=store_id)
    after = oa.vector_stores.search(store_id, query="how long do refunds take to reach my card",
                                    max_num_results=50)
    assert ids["guide.md"] not in {r.file_id for r in after.data}
    assert oa.vector_stores.retrieve(store_id).file_counts.total == 2

    assert oa.vector_stores.delete(store_id).deleted
    with pytest.raises(openai.NotFoundError):
        oa.vector_stores.retrieve(store_id)


def test_files_list_and_poll_helpers(server: RunningServer) -> None:
    oa = client(server)
    store = oa.vector_stores.create(name="polled")
    file_id = _upload(oa, "note.txt", b"A note about llamas grazing in the Andes.")
    done = oa.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store.id,
                                                  attributes={"kind": "note"})
    assert done.status == "completed" and done.last_error is None and done.attributes == {"kind": "note"}
    assert done.chunking_strategy is not None and done.chunking_strategy.type == "static"
    listed = list(oa.vector_stores.files.list(vector_store_id=store.id, filter="completed"))
    assert [f.id for f in listed] == [file_id]
    assert list(oa.vector_stores.files.list(vector_store_id=store.id, filter="failed")) == []
    assert store.id in {s.id for s in oa.vector_stores.list()}

    updated = oa.vector_stores.files.update(file_id, vector_store_id=store.id, attributes={"kind": "memo"})
    assert updated.attributes == {"kind": "memo"}
    assert oa.vector_stores.files.poll(file_id, vector_store_id=store.id).status == "completed"
    memo = {"type": "eq", "key": "kind", "value": "memo"}
    found = oa.vector_stores.search(store.id, query="llamas", filters=memo)
    assert [r.file_id for r in found.data] == [file_id]
    note = {"type": "eq", "key": "kind", "value": "note"}
    assert oa.vector_stores.search(store.id, query="llamas", filters=note).data == []


def test_list_paging_follows_the_cursor_both_ways(server: RunningServer) -> None:
    oa = client(server, new_key(server, "paging"))
    made = [oa.vector_stores.create(name=f"p{i}").id for i in range(5)]
    newest_first = [s.id for s in oa.vector_stores.list(limit=2)]  # the SDK follows `after` itself
    assert newest_first == made[::-1]
    page = oa.vector_stores.list(limit=2, order="asc", after=made[1])
    assert [s.id for s in page.data] == made[2:4] and page.has_more
    back = oa.vector_stores.list(limit=2, order="asc", before=made[3])
    assert [s.id for s in back.data] == made[1:3] and back.has_more


def test_other_teams_get_404_like_missing(server: RunningServer) -> None:
    oa = client(server)
    store_id, ids = _store_with_files(oa)
    other = client(server, new_key(server, "blue-kb"))
    for call in (lambda: other.vector_stores.retrieve(store_id),
                 lambda: other.vector_stores.search(store_id, query="refund"),
                 lambda: other.vector_stores.files.list(vector_store_id=store_id),
                 lambda: other.vector_stores.files.retrieve(ids["guide.md"], vector_store_id=store_id),
                 lambda: other.vector_stores.delete(store_id),
                 lambda: other.vector_stores.update(store_id, name="mine")):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert store_id in str(caught.value)
    assert store_id not in {s.id for s in other.vector_stores.list()}
    mine = other.vector_stores.create(name="blue")
    with pytest.raises(openai.NotFoundError):  # another team's file id, named like a missing one
        other.vector_stores.files.create(vector_store_id=mine.id, file_id=ids["guide.md"])
    assert oa.vector_stores.retrieve(store_id).file_counts.completed == 3  # nothing of theirs changed


def test_a_file_search_answer_cites_the_files_it_used(server: RunningServer) -> None:
    """The whole path a RAG client takes, on each backend: store, upload, poll, then a response
    grounded by file_search. The `echo` model repeats the question, so the question carries
    the citation markers a model would write; the retrieved files decide what they map to."""
    oa = client(server)
    store_id, ids = _store_with_files(oa)
    question = "Refunds reach the original card within five business days [1]."
    made = oa.responses.create(model="echo", input=question, include=["file_search_call.results"],
                               tools=[{"type": "file_search", "vector_store_ids": [store_id],
                                       "max_num_results": 2}])
    call, message = made.output
    assert call.type == "file_search_call" and call.status == "completed" and call.results
    best = call.results[0]
    assert best.file_id == ids["guide.md"] and best.filename == "guide.md" and "card" in (best.text or "")
    assert made.output_text == "echo: Refunds reach the original card within five business days."
    [note] = message.content[0].annotations  # type: ignore[union-attr]
    assert (note.type, note.file_id, note.filename) == ("file_citation", ids["guide.md"], "guide.md")
    assert note.index == len(made.output_text) - 1  # type: ignore[union-attr]  # where [1] stood
    oa.vector_stores.delete(store_id)
