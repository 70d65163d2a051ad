"""Re-embedding a store with another route (`Knowledge.reembed`), on SQLite and PostgreSQL
with their real indexes and two hash embedders of different dimensions: every chunk ends
searchable with the new model, no vector of the old one stays, and crashes, repeats and an
ingest of the old route still running write no duplicate or stale chunk."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from corral.config import Settings
from corral.core.context import Caller
from corral.core.errors import InvalidRequest
from corral.files.store import FileStore
from corral.jobs.control import JobControl
from corral.jobs.errors import JobFailed
from corral.jobs.queue import JobQueue
from corral.knowledge.indexes import open_index
from corral.knowledge.objects import Chunking, StoreFile, VectorStore
from corral.knowledge.paging import Cursor
from corral.knowledge.service import Knowledge
from corral.knowledge.store_files import Attach
from corral.knowledge.types import Chunk, Embedder
from corral.knowledge.wiring import build
from corral.store import Database
from corral.store.schema import kb_chunk_refs, kb_chunks, kb_index_stores, utcnow
from tests.knowledge.conftest import HashEmbedder
from tests.knowledge.stores.fakes import hash_parts

TEAM = "team-a"
CALLER = Caller("key_1", "admin", TEAM, frozenset({"inference"}))
SMALL = Chunking(20, 0)  # about one chunk per paragraph
FILES = {
    "alpacas.txt": ["Alpacas hum when they are curious, anxious or content.",
                    "Mothers hum to their young in the evening."],
    "llamas.md": ["# Llamas", "Llamas spit when annoyed, mostly at other llamas.",
                  "They guard flocks of sheep against foxes."],
}


class Hooked(HashEmbedder):
    """A hash embedder of `dims` dimensions whose next `embed` first runs `hook` (something
    that happens while an ingest is embedding)."""

    def __init__(self, name: str, dims: int) -> None:
        super().__init__()
        self.name, self.dimensions = name, dims
        self.hook: Callable[[], Awaitable[Any]] | None = None

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        hook, self.hook = self.hook, None
        if hook is not None:
            await hook()
        return await super().embed(texts)


@pytest_asyncio.fixture
async def kb(migrated_db: Database) -> AsyncIterator[Knowledge]:
    settings = Settings(knowledge={"ingest_attempts": 2})
    gateway = SimpleNamespace(settings=settings, db=migrated_db, jobs=JobQueue(migrated_db, settings.jobs))
    embedders = {"hash-64": Hooked("hash-64", 64), "hash-32": Hooked("hash-32", 32)}

    async def embedder_for(store: VectorStore, caller: Caller) -> Embedder:
        if store.embed_model not in embedders:  # as the gateway's probe of a chat-only route
            raise RuntimeError(f"route '{store.embed_model}' answered no embedding")
        return embedders[store.embed_model]

    index = open_index(migrated_db, None)
    parts = dataclasses.replace(hash_parts(index), embedder=embedder_for,
                                route_of=lambda m: m if m in (*embedders, "chat") else None)
    found = build(gateway, parts)
    found.embedders = embedders  # type: ignore[attr-defined]
    yield found
    await index.aclose()


async def _filled(kb: Knowledge) -> tuple[VectorStore, list[StoreFile]]:
    """A store on hash-64 with both files ingested."""
    now = utcnow()
    store = VectorStore(id="vs_animals", team=TEAM, name="animals", created_at=now, last_active_at=now,
                        embed_model="hash-64", chunking=SMALL)
    await kb.stores.create(store)
    uploads = FileStore(kb.uploads.db)
    attach = []
    for name, blocks in FILES.items():
        up = await uploads.create_from_bytes(TEAM, "assistants", name, "\n\n".join(blocks).encode())
        attach.append(Attach(up.id, name, {"name": name}, SMALL))
    added = await kb.add_files(store, attach, "key_1")
    assert [await _run(kb, f) for f in added] == [{"chunks": 2}, {"chunks": 2}]
    return await kb.stores.get(store.id, TEAM), added


async def _run(kb: Knowledge, added: StoreFile, attempt: int = 1) -> Any:
    job = await kb.queue.get(f"kb_{added.token}")
    assert job is not None
    job = dataclasses.replace(job, status="in_progress", attempts=attempt)
    return await kb.ingestor.ingest(job, JobControl(job, "worker-1"))


async def _in_progress(kb: Knowledge, store: VectorStore) -> list[StoreFile]:
    page = await kb.files.page(store.id, Cursor(limit=100), status="in_progress")
    return list(page.items)


async def _vectors(kb: Knowledge, store: VectorStore) -> dict[str, Any]:
    """What the index holds for the store: chunk rows by dimension, references, its dimension."""
    db = kb.stores.db
    by_dims = {r["dims"]: int(r["n"]) for r in await db.fetch_all(
        select(kb_chunks.c.dims, func.count().label("n")).where(kb_chunks.c.store_id == store.id)
        .group_by(kb_chunks.c.dims))}
    refs = await db.fetch_val(select(func.count()).select_from(kb_chunk_refs).where(
        kb_chunk_refs.c.store_id == store.id))
    dims = await db.fetch_val(select(kb_index_stores.c.dims).where(kb_index_stores.c.store_id == store.id))
    return {"chunks": by_dims, "refs": int(refs or 0), "dims": dims}


async def _texts(kb: Knowledge, store: VectorStore) -> list[str]:
    rows = await kb.stores.db.fetch_all(select(kb_chunks.c.text).where(kb_chunks.c.store_id == store.id))
    return sorted(r["text"] for r in rows)


async def _assert_all_found(kb: Knowledge, store: VectorStore, texts: list[str]) -> None:
    """The store holds exactly `texts`, and each, searched for, comes first (hybrid search
    with the store's query embedder)."""
    assert await _texts(kb, store) == texts
    for text in texts:
        hits = await kb.search(store, CALLER, [text], 3, None, 0.0)
        assert hits and hits[0].chunk.text == text, (text, [h.chunk.text for h in hits])


async def test_reembed_moves_every_chunk_to_the_new_model(kb: Knowledge) -> None:
    store, _ = await _filled(kb)
    texts = await _texts(kb, store)
    assert store.embed_dimensions == 64
    assert await _vectors(kb, store) == {"chunks": {64: 4}, "refs": 4, "dims": 64}
    switched = await kb.reembed(store, "hash-32", CALLER)
    assert (switched.embed_model, switched.embed_name, switched.embed_dimensions) == ("hash-32", None, None)
    todo = await _in_progress(kb, store)
    assert len(todo) == 2 and all(f.chunks == 0 for f in todo)
    assert (await kb.stores.counts([store.id]))[store.id].in_progress == 2
    assert await kb.search(switched, CALLER, ["alpacas"], 3, None, 0.0) == []  # nothing re-embedded yet
    assert await _vectors(kb, store) == {"chunks": {}, "refs": 0, "dims": None}

    first, second = sorted(todo, key=lambda f: f.filename)
    assert await _run(kb, first) == {"chunks": 2}
    partly = await kb.stores.get(store.id, TEAM)
    hits = await kb.search(partly, CALLER, ["llamas spit"], 5, None, 0.0)
    assert {h.chunk.file_id for h in hits} == {first.file_id}  # what is re-embedded so far
    assert await _run(kb, second) == {"chunks": 2}

    done = await kb.stores.get(store.id, TEAM)
    assert (done.embed_model, done.embed_name, done.embed_dimensions) == ("hash-32", "hash-32", 32)
    assert await _vectors(kb, store) == {"chunks": {32: 4}, "refs": 4, "dims": 32}
    assert (await kb.stores.counts([store.id]))[store.id].completed == 2
    await _assert_all_found(kb, done, texts)


class CrashingIndex:
    """The real index, whose next add writes part of its chunks, then fails (a worker killed
    mid-write)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.crash = inner, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        if self.crash:
            self.crash = False
            await self.inner.add(chunks[:1], vectors[:1])
            raise ConnectionError("the index went away")
        return int(await self.inner.add(chunks, vectors))


async def test_a_crash_a_repeat_and_a_second_run_leave_no_duplicates(kb: Knowledge) -> None:
    store, _ = await _filled(kb)
    texts = await _texts(kb, store)
    await kb.reembed(store, "hash-32", CALLER)
    stale = await _in_progress(kb, store)  # the first run's adds, overtaken by a second run:
    await kb.reembed(await kb.stores.get(store.id, TEAM), "hash-32", CALLER)
    assert [await _run(kb, f) for f in stale] == [{"skipped": "superseded"}] * 2
    todo = sorted(await _in_progress(kb, store), key=lambda f: f.filename)
    kb.index = kb.ingestor.index = CrashingIndex(kb.index)
    with pytest.raises(JobFailed, match="the index went away"):
        await _run(kb, todo[1], attempt=1)
    assert await _run(kb, todo[1], attempt=2) == {"chunks": 2}
    assert await _run(kb, todo[1], attempt=2) == {"skipped": "completed"}  # redelivered
    assert await _run(kb, todo[0]) == {"chunks": 2}
    assert await _vectors(kb, store) == {"chunks": {32: 4}, "refs": 4, "dims": 32}
    await _assert_all_found(kb, await kb.stores.get(store.id, TEAM), texts)


async def test_an_ingest_of_the_old_route_still_embedding_writes_nothing(kb: Knowledge) -> None:
    """The old route's ingest (a re-add of a file, here) is embedding when the re-embed commits:
    it writes none of its 64-dimension vectors, and the new ingests fill the index alone."""
    store, added = await _filled(kb)
    again = (await kb.add_files(store, [Attach(added[0].file_id, "alpacas.txt", {"v": "2"}, SMALL)],
                                "key_1"))[0]
    kb.embedders["hash-64"].hook = lambda: kb.reembed(store, "hash-32", CALLER)  # type: ignore[attr-defined]
    assert await _run(kb, again) == {"skipped": "superseded"}
    assert (await kb.stores.get(store.id, TEAM)).embed_model == "hash-32"
    for found in await _in_progress(kb, store):
        assert "chunks" in await _run(kb, found)
    assert await _vectors(kb, store) == {"chunks": {32: 4}, "refs": 4, "dims": 32}


async def test_a_file_deleted_from_the_files_api_is_reembedded_from_its_parsed_text(kb: Knowledge) -> None:
    store, added = await _filled(kb)
    texts = await _texts(kb, store)
    gone = next(f for f in added if f.filename == "llamas.md")
    parsed = await kb.files.texts(store.id, gone.file_id)
    await kb.uploads.delete(gone.file_id, TEAM)
    await kb.reembed(store, "hash-32", CALLER)
    for found in await _in_progress(kb, store):
        assert "chunks" in await _run(kb, found)
    again = await kb.files.get(store.id, gone.file_id)
    assert again.status == "completed" and again.chunks > 0
    assert await kb.files.texts(store.id, gone.file_id) == parsed == ["Llamas", *FILES["llamas.md"][1:]]
    await _assert_all_found(kb, await kb.stores.get(store.id, TEAM), texts)  # headings read as paragraphs


@pytest.mark.parametrize("model", ["no-such-route", "chat"])
async def test_a_route_that_does_not_embed_is_refused_and_nothing_changes(kb: Knowledge, model: str) -> None:
    store, _ = await _filled(kb)
    texts = await _texts(kb, store)
    with pytest.raises(InvalidRequest) as refused:
        await kb.reembed(store, model, CALLER)
    assert refused.value.param == "model" and model in refused.value.message
    assert await kb.stores.get(store.id, TEAM) == store
    assert await _vectors(kb, store) == {"chunks": {64: 4}, "refs": 4, "dims": 64}
    await _assert_all_found(kb, store, texts)


async def test_an_emptied_index_takes_a_new_dimension(kb: Knowledge) -> None:
    """A write that outlived a re-embed and was then taken out leaves the index empty with the
    old dimension recorded: the next add of the new dimension is not refused."""
    store, added = await _filled(kb)
    for f in added:
        await kb.index.delete_file(store.id, f.file_id)
    assert await _vectors(kb, store) == {"chunks": {}, "refs": 0, "dims": 64}
    chunk = Chunk(id="c1", store_id=store.id, file_id="file-x", text="Vicunas are wild.", position=0)
    assert await kb.index.add([chunk], [[1.0] + [0.0] * 31]) == 1
    assert await _vectors(kb, store) == {"chunks": {32: 1}, "refs": 1, "dims": 32}
    assert [h.chunk.text for h in await kb.index.dense(store.id, [1.0] + [0.0] * 31, 3)] == [chunk.text]
