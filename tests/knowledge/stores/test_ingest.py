"""The `kb_ingest` handler alone, on SQLite and PostgreSQL: retries and repeats leave no
duplicate chunks, and an ingest overtaken by a removal, a cancel or a new add of its file
writes nothing that outlives it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import update

from corral.config import Settings
from corral.files.store import FileStore
from corral.jobs.control import JobControl
from corral.jobs.errors import JobFailed
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job
from corral.knowledge.index_memory import MemoryIndex
from corral.knowledge.objects import Chunking, StoreFile, VectorStore
from corral.knowledge.paging import Cursor
from corral.knowledge.service import Knowledge
from corral.knowledge.store_files import Attach
from corral.knowledge.types import Chunk
from corral.knowledge.wiring import build
from corral.privacy.stage import PIIDetected
from corral.store import Database
from corral.store.schema import jobs, utcnow, vector_stores
from tests.knowledge.stores.fakes import hash_parts

TEAM = "team-a"
PARAGRAPHS = [
    "Alpacas hum when they are curious, anxious, bored or content, and mothers hum to their young. " * 3,
    "Llamas spit when they are annoyed, mostly at other llamas, rarely at the people who keep them. " * 3,
    "Both animals like hay, fresh grass and a little grain, and both live twenty years or more. " * 3,
]
TEXT = "\n\n".join(p.strip() for p in PARAGRAPHS).encode()
SMALL = Chunking(100, 0)  # one chunk per paragraph


@pytest_asyncio.fixture
async def kb(migrated_db: Database) -> AsyncIterator[Knowledge]:
    settings = Settings(knowledge={"ingest_attempts": 2})
    gateway = SimpleNamespace(settings=settings, db=migrated_db, jobs=JobQueue(migrated_db, settings.jobs))
    yield build(gateway, hash_parts())  # type: ignore[arg-type]


async def _store(kb: Knowledge, name: str = "animals") -> VectorStore:
    now = utcnow()
    store = VectorStore(id=f"vs_{name}", team=TEAM, name=name, created_at=now, last_active_at=now,
                        embed_model="hash-64", chunking=SMALL)
    await kb.stores.create(store)
    return store


async def _add(kb: Knowledge, store: VectorStore, data: bytes = TEXT, name: str = "a.txt") -> StoreFile:
    uploaded = await FileStore(kb.uploads.db).create_from_bytes(TEAM, "assistants", name, data)
    attach = Attach(uploaded.id, name, {"k": "v"}, SMALL)
    return (await kb.add_files(store, [attach], "key_1"))[0]


async def _job_of(kb: Knowledge, added: StoreFile, attempts: int = 1) -> Job:
    job = await kb.queue.get(f"kb_{added.token}")
    assert job is not None
    return dataclasses.replace(job, status="in_progress", attempts=attempts)


async def _run(kb: Knowledge, job: Job) -> Any:
    return await kb.ingestor.ingest(job, JobControl(job, "worker-1"))


async def _chunks(kb: Knowledge, store: VectorStore) -> list[Chunk]:
    """Every chunk the index holds for the store (an exact scan returns them all)."""
    return [hit.chunk for hit in await kb.index.dense(store.id, [1.0] * 64, 1000)]


async def test_a_repeated_ingest_leaves_one_copy_of_each_chunk(kb: Knowledge) -> None:
    store = await _store(kb)
    added = await _add(kb, store)
    job = await _job_of(kb, added)
    assert await _run(kb, job) == {"chunks": 3}
    assert await _run(kb, job) == {"skipped": "completed"}  # a redelivered job: nothing to do
    again = dataclasses.replace(job, payload={**job.payload, "refresh": True})
    assert await _run(kb, again) == {"refreshed": 3}  # or done again anyway: still one copy each
    assert len(await _chunks(kb, store)) == 3
    done = await kb.files.get(store.id, added.file_id)
    assert done.status == "completed" and done.chunks == 3 and done.usage_bytes > 0
    assert await kb.files.texts(store.id, added.file_id) == [p.strip() for p in PARAGRAPHS]


class FlakyIndex(MemoryIndex):
    """Adds its chunks, then fails the first `fail` times: a crash after a partial write."""

    def __init__(self, fail: int) -> None:
        super().__init__()
        self.fail = fail

    async def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        await super().add(chunks[:2], vectors[:2])
        if self.fail:
            self.fail -= 1
            raise ConnectionError("the index went away")
        return await super().add(chunks, vectors)


async def test_a_crash_mid_write_is_retried_without_duplicates(kb: Knowledge) -> None:
    flaky = FlakyIndex(fail=1)
    kb.index = kb.ingestor.index = flaky
    store = await _store(kb)
    added = await _add(kb, store)
    with pytest.raises(JobFailed, match="the index went away"):
        await _run(kb, await _job_of(kb, added, attempts=1))
    assert (await kb.files.get(store.id, added.file_id)).status == "in_progress"
    assert await _run(kb, await _job_of(kb, added, attempts=2)) == {"chunks": 3}
    assert len(await _chunks(kb, store)) == 3


async def test_the_last_failed_attempt_fails_the_file_with_the_error(kb: Knowledge) -> None:
    kb.index = kb.ingestor.index = FlakyIndex(fail=5)
    store = await _store(kb)
    added = await _add(kb, store)
    assert await _run(kb, await _job_of(kb, added, attempts=2)) == {"failed": "server_error"}
    failed = await kb.files.get(store.id, added.file_id)
    assert failed.status == "failed" and failed.last_error is not None
    assert failed.last_error["code"] == "server_error"
    assert "the index went away" in failed.last_error["message"]


async def test_an_ingest_overtaken_by_a_removal_takes_its_chunks_out(kb: Knowledge) -> None:
    store = await _store(kb)
    added = await _add(kb, store)
    job = await _job_of(kb, added)
    await kb.files.remove(store.id, added.file_id)  # removed after the job read it...
    kb.ingestor.files = _Reappearing(kb.ingestor.files, added)  # ...but before it wrote
    assert await _run(kb, job) == {"lost": True}
    assert await _chunks(kb, store) == []


class _Reappearing:
    """FileRows whose first two `get`s (the ingest's start and its check just before writing)
    still find the file the test changed: the change lands while the ingest writes."""

    def __init__(self, rows: Any, found: StoreFile) -> None:
        self.rows, self.found, self.left = rows, found, 2

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rows, name)

    async def get(self, store_id: str, file_id: str) -> StoreFile:
        self.left -= 1
        return self.found if self.left >= 0 else await self.rows.get(store_id, file_id)


async def test_an_ingest_overtaken_by_a_new_add_asks_for_it_to_be_written_again(kb: Knowledge) -> None:
    store = await _store(kb)
    first = await _add(kb, store)
    job = await _job_of(kb, first)
    again = (await kb.add_files(store, [Attach(first.file_id, "a.txt", {"k": "new"}, SMALL)], "key_1"))[0]
    kb.ingestor.files = _Reappearing(kb.ingestor.files, first)
    assert await _run(kb, job) == {"lost": True}
    refresh = [j for j in await kb.queue.list(kind="kb_ingest", team=TEAM) if j.payload["refresh"]]
    assert [j.payload["token"] for j in refresh] == [again.token]
    kb.ingestor.files = kb.files
    assert await _run(kb, await _job_of(kb, again)) == {"chunks": 3}
    assert {c.attributes["k"] for c in await _chunks(kb, store)} == {"new"}


async def test_a_file_whose_job_died_on_its_last_attempt_is_reported_failed(kb: Knowledge) -> None:
    store = await _store(kb)
    added = await _add(kb, store)
    await kb.queue.db.execute(update(jobs).where(jobs.c.id == f"kb_{added.token}").values(
        status="failed", error='{"type": "LeaseExpired", "message": "the worker stopped renewing"}'))
    await kb.settle(store.id)
    failed = await kb.files.get(store.id, added.file_id)
    assert failed.status == "failed" and failed.last_error is not None
    assert "stopped renewing" in failed.last_error["message"]


async def test_unreadable_files_fail_at_once_with_the_parsers_message(kb: Knowledge) -> None:
    store = await _store(kb)
    cases = (("x.bin", b"\x00\x01\x02" * 10, "unsupported_file"),
             ("bad.pdf", b"%PDF-1.4 cut", "invalid_file"), ("empty.txt", b"  \n", "invalid_file"))
    for name, data, code in cases:
        added = await _add(kb, store, data, name)
        assert await _run(kb, await _job_of(kb, added)) == {"failed": code}
        found = await kb.files.get(store.id, added.file_id)
        assert found.status == "failed" and found.last_error is not None and found.last_error["code"] == code
        assert name in found.last_error["message"]


class Refusing:
    """An embedder whose route refuses the text, as a `block` privacy policy does (a 400)."""

    name, dimensions = "refusing", 64

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise PIIDetected("The request contains personal data (EMAIL_ADDRESS: 1); route 'x' blocks it.",
                          param="input")


async def test_a_refusal_by_the_embedding_route_fails_the_file_at_once(kb: Knowledge) -> None:
    async def refusing(store: VectorStore, job: Job) -> Refusing:
        return Refusing()

    kb.ingestor.embedder_for = refusing
    store = await _store(kb)
    added = await _add(kb, store)
    assert await _run(kb, await _job_of(kb, added, attempts=1)) == {"failed": "invalid_file"}
    failed = await kb.files.get(store.id, added.file_id)
    assert failed.status == "failed" and failed.last_error is not None
    assert "refused a.txt" in failed.last_error["message"] and "EMAIL_ADDRESS" in failed.last_error["message"]
    assert await _chunks(kb, store) == []


async def test_the_purge_deletes_stores_long_expired_and_keeps_the_others(kb: Knowledge) -> None:
    """Retention of expired stores: past `knowledge.expired_purge_after_s` a store goes with its
    chunks; one expired more recently (it can still be extended) and a live one stay."""
    stores = {name: await _store(kb, name) for name in ("old", "recent", "live")}
    for store in stores.values():
        added = await _add(kb, store, name=f"{store.name}.txt")
        await _run(kb, await _job_of(kb, added))
    now = utcnow()
    for name, expired_at in (("old", now - timedelta(days=8)), ("recent", now - timedelta(hours=1))):
        await kb.stores.db.execute(update(vector_stores).where(vector_stores.c.id == stores[name].id)
                                   .values(expires_after_days=1, expires_at=expired_at))
    assert await kb.purge_expired(now - timedelta(days=7)) == 1
    assert await kb.stores.load(stores["old"].id) is None and await _chunks(kb, stores["old"]) == []
    for name in ("recent", "live"):
        assert await kb.stores.load(stores[name].id) is not None and await _chunks(kb, stores[name])
    assert await kb.purge_expired(now - timedelta(days=7)) == 0  # idempotent


async def test_a_file_is_attached_with_its_ingest_job_or_not_at_all(
        kb: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's row and its job commit together. Before, the row committed first: a failure
    (or a crash) before the job left the file `in_progress` with no job, and `settle`, which
    looks for ended jobs, never reported it."""
    store = await _store(kb)
    first = await _add(kb, store)
    assert (await kb.queue.get(f"kb_{first.token}")) is not None

    async def refuse(*_: Any) -> Any:
        raise RuntimeError("the queue's insert failed")

    monkeypatch.setattr(kb.queue, "_insert", refuse)
    with pytest.raises(RuntimeError):
        await _add(kb, store, name="b.txt")
    assert [f.file_id for f in (await kb.files.page(store.id, Cursor())).items] == [first.file_id]
