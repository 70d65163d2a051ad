"""Ingestion: the `kb_ingest` job that turns one attached file into indexed chunks.

One job per (re-)add of a file, on the durable queue, so ingestion survives any process:

1. read the file (`FileStore.open`, the store's team), refusing one over
   `knowledge.max_file_bytes`; a file deleted from /v1/files since it was last ingested is
   read from the text parsed then (a re-embed, new attributes), its blocks as paragraphs;
2. parse and chunk it in a worker thread, bounded by `knowledge.parse_timeout_s` (a parser is
   CPU work that would otherwise stall every request on the event loop);
3. embed the chunks through the gateway's lifecycle (`GatewayEmbedder`): each call is a
   recorded, priced request attributed to the store (`job_id`), under its route's privacy
   policy;
4. replace the file's chunks in the index (delete, then add: unless the file got a new
   token meanwhile, re-added or re-embedded) and end the file `completed` with its parsed
   text, in one transaction conditional on the file's token.

Why delete-then-add rather than one transaction: the index may be another engine (SQLite
tables beside the vectors, PostgreSQL with pgvector), behind the `Index` protocol. Every
attempt starts by deleting what an earlier, crashed attempt left, and the index keeps one
copy of identical content per store, so a retried job never leaves duplicates. A file the
parser refuses (unsupported, corrupt, empty) ends `failed` at once with the parser's message;
embedding or index failures are retried with the queue's backoff, then end `failed`
(`server_error`). An ingest that lost its file meanwhile (removed, cancelled, added again)
takes its chunks back out, or asks for the newer add to be written again.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from corral.core.errors import CorralError
from corral.files.errors import FileNotFound
from corral.files.store import FileStore
from corral.jobs.control import Handler, JobControl
from corral.jobs.errors import JobFailed
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.knowledge.errors import IngestFailed, StoreFileNotFound
from corral.knowledge.objects import StoreFile, VectorStore
from corral.knowledge.settings import KnowledgeSettings
from corral.knowledge.store_files import FileRows
from corral.knowledge.stores import StoreRows
from corral.knowledge.types import Block, Chunk, Document, Embedder, Index

log = logging.getLogger("corral.knowledge")
KIND = "kb_ingest"
RETRIED = frozenset({408, 409, 429})  # client-side statuses that another attempt may not get
PARSE_THREADS = 2  # parsing is CPU work: more threads than cores only queue it in the GIL
T = TypeVar("T")

# (data, filename, media type) -> Document; raises IngestFailed for a file it cannot read.
Reader = Callable[[bytes, str, str], Document]
# (document, store file, chunking) -> chunks
Chunker = Callable[[Document, StoreFile], list[Chunk]]
# The embedder of a store, its calls attributed to `job` (key and store).
EmbedderFor = Callable[[VectorStore, Job], Awaitable[Embedder]]


class NewAdd(NamedTuple):
    """An add of a file whose row is written in the transaction that queues its job."""

    file_id: str
    token: str
    batch_id: str | None


def ingest_job(store: VectorStore, added: StoreFile | NewAdd, key_id: str | None, priority: int = 0,
               attempts: int | None = None, *, refresh_of: str | None = None) -> NewJob:
    """The job that ingests one add of a file. Its id and dedupe key come from the add's
    token, so queueing it twice (a retried request) queues it once; `refresh_of`: an older
    ingest that overwrote this add's chunks asks for them to be written again."""
    suffix = "" if refresh_of is None else f"-{refresh_of[:16]}"  # an id fits in 64 characters
    return NewJob(kind=KIND, team=store.team, key_id=key_id, parent_id=added.batch_id or store.id,
                  id=f"kb_{added.token}{suffix}", dedupe_key=f"{added.token}{suffix}", priority=priority,
                  max_attempts=attempts,
                  payload={"store_id": store.id, "file_id": added.file_id, "token": added.token,
                           "refresh": refresh_of is not None})


@dataclass
class Prepared:
    """A file read, parsed and chunked: what is left is embedding and indexing."""

    texts: list[str]  # the document's blocks, for the `.../content` endpoint
    chunks: list[Chunk]


@dataclass
class Ingestor:
    stores: StoreRows
    files: FileRows
    uploads: FileStore
    queue: JobQueue
    index: Index
    embedder_for: EmbedderFor
    read: Reader
    chunker: Chunker
    settings: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    _parsers: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PARSE_THREADS), init=False)

    def handlers(self) -> dict[str, Handler]:
        return {KIND: self.ingest}

    async def ingest(self, job: Job, control: JobControl) -> JSONValue:
        p = job.payload
        try:
            current = await self.files.get(p["store_id"], p["file_id"])
        except StoreFileNotFound:
            return {"skipped": "removed"}
        refresh = bool(p.get("refresh"))
        if current.token != p["token"]:
            return {"skipped": "superseded"}
        if current.status != "in_progress" and not (refresh and current.status == "completed"):
            return {"skipped": current.status}
        store = await self.stores.load(current.store_id)
        if store is None or store.status != "active":
            return {"skipped": "store removed"}
        try:
            work = await self._prepare(store, current)
        except IngestFailed as failed:
            if not refresh:
                await self.files.finish(current, "failed", last_error=failed.as_error())
            return {"failed": failed.code}
        try:
            embedder, vectors = await self._embed(store, job, work.chunks)
            if not await self._still_current(current):
                return {"skipped": "superseded"}
            if store.embed_name is None and vectors:  # after the check: a re-embed clears them
                await self.stores.record_embedder(store.id, embedder.name, len(vectors[0]))
            await self.index.delete_file(current.store_id, current.file_id)
            await self.index.add(work.chunks, vectors)
        except Exception as exc:  # noqa: BLE001 - any failure: retried, then the file's last_error
            return await self._write_failed(job, control, current, exc)
        if refresh:
            await self._check_kept(store, current, job)
            return {"refreshed": len(work.chunks)}
        dims = len(vectors[0]) if vectors else 0
        usage = sum(len(c.text.encode()) for c in work.chunks) + 4 * dims * len(work.chunks)
        if not await self.files.finish(current, "completed", texts=work.texts, usage_bytes=usage,
                                       chunks=len(work.chunks)):
            await self._lost(store, current, job)
            return {"lost": True}
        return {"chunks": len(work.chunks)}

    async def _still_current(self, current: StoreFile) -> bool:
        """Whether the file is still the add this ingest started on, just before it writes: an
        add, removal or re-embed since (a new token) is written by its own ingest, and this
        one's vectors (maybe another route's) stay out of the index."""
        try:
            return (await self.files.get(current.store_id, current.file_id)).token == current.token
        except StoreFileNotFound:
            return False

    async def _prepare(self, store: VectorStore, current: StoreFile) -> Prepared:
        source = await self._source(store, current)
        media_type = mimetypes.guess_type(current.filename)[0] or "application/octet-stream"
        try:
            async with self._parsers:
                parsing = in_daemon_thread(self._parse_and_chunk, source, current, media_type)
                return await asyncio.wait_for(parsing, self.settings.parse_timeout_s)
        except TimeoutError:
            raise IngestFailed("server_error", f"Parsing {current.filename} took longer than "
                               f"{self.settings.parse_timeout_s:g} s (knowledge.parse_timeout_s); split the "
                               "file or raise the limit.") from None

    def _parse_and_chunk(self, source: bytes | Document, current: StoreFile, media_type: str) -> Prepared:
        document = source if isinstance(source, Document) else self.read(source, current.filename, media_type)
        chunks = self.chunker(document, current)
        if not chunks:
            raise IngestFailed("invalid_file", f"{current.filename} has no text to search once parsed.")
        return Prepared([b.text for b in document.blocks], chunks)

    async def _source(self, store: VectorStore, current: StoreFile) -> bytes | Document:
        """The upload's bytes; once it was deleted from /v1/files, the text parsed from it when it
        was last ingested (so a re-embed, or new attributes, do not need the upload). Its blocks
        come back as paragraphs: the kept text does not say which were headings or tables."""
        limit = self.settings.max_file_bytes
        try:
            found, pieces = await self.uploads.open(current.file_id, store.team)
            if found.bytes > limit:
                raise IngestFailed("invalid_file", f"{current.filename} is {found.bytes} bytes; vector "
                                   f"stores take at most {limit} (knowledge.max_file_bytes). Split it.")
            return b"".join([piece async for piece in pieces])
        except FileNotFound:
            kept = await self.files.texts(current.store_id, current.file_id)
            if kept:
                return Document([Block(text) for text in kept])
            raise IngestFailed("invalid_file", f"File {current.file_id} was deleted from the Files API "
                               "before it could be ingested; upload it again.") from None

    async def _embed(self, store: VectorStore, job: Job,
                     chunks: Sequence[Chunk]) -> tuple[Embedder, list[list[float]]]:
        await self._check_room(store, chunks)
        embedder = await self.embedder_for(store, job)
        vectors: list[list[float]] = []
        step = self.settings.embed_batch
        for start in range(0, len(chunks), step):
            vectors += await embedder.embed([c.text for c in chunks[start:start + step]])
        return embedder, vectors

    async def _check_room(self, store: VectorStore, chunks: Sequence[Chunk]) -> None:
        limit = self.settings.max_chunks_per_store
        if limit is None:
            return
        have = await self.files.chunk_total(store.id)
        if have + len(chunks) > limit:
            raise IngestFailed("invalid_file", f"Vector store {store.id} holds {have} chunks; this file's "
                               f"{len(chunks)} would pass its limit of {limit} "
                               "(knowledge.max_chunks_per_store). Remove files from the store.")

    async def _write_failed(self, job: Job, control: JobControl, current: StoreFile,
                            exc: Exception) -> JSONValue:
        """Embedding or the index failed: another attempt later, or the file ends `failed`. A
        refusal no retry changes (the route's privacy policy blocks the text, a bad request)
        fails it at once, with the gateway's reason."""
        if isinstance(exc, CorralError) and 400 <= exc.status_code < 500 and exc.status_code not in RETRIED:
            exc = IngestFailed("invalid_file", f"The embedding route refused {current.filename}: "
                               f"{exc.message}")
        if isinstance(exc, IngestFailed):
            await self.files.finish(current, "failed", last_error=exc.as_error())
            return {"failed": exc.code}
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if control.attempt < job.max_attempts:
            after = exc.headers().get("Retry-After") if isinstance(exc, CorralError) else None
            raise JobFailed(f"ingesting {current.file_id}: {message}", code="kb_ingest_retry",
                            retry_after_s=float(after) if after and after.isdigit() else None) from exc
        log.warning("ingesting %s into %s failed: %s", current.file_id, current.store_id, message)
        await self.files.finish(current, "failed", last_error={
            "code": "server_error", "message": f"Embedding or indexing {current.filename} failed "
                                               f"{job.max_attempts} times; the last error: {message[:500]}"})
        return {"failed": "server_error"}

    async def _lost(self, store: VectorStore, done: StoreFile, job: Job) -> None:
        """The file changed while this ingest ran. Removed or cancelled: take this ingest's
        chunks back out. Added again: the newer add is written again after this one, in case
        its own ingest finished first and these chunks replaced its."""
        try:
            now = await self.files.get(done.store_id, done.file_id)
        except StoreFileNotFound:
            await self.index.delete_file(done.store_id, done.file_id)
            return
        if now.token == done.token:
            if now.status in ("cancelled", "failed"):  # completed: another run of this job wrote the same
                await self.index.delete_file(done.store_id, done.file_id)
        else:
            await self.queue.enqueue(ingest_job(store, now, job.key_id, self.settings.priority,
                                                self.settings.ingest_attempts, refresh_of=done.token))

    async def _check_kept(self, store: VectorStore, done: StoreFile, job: Job) -> None:
        """After a refresh: the same check as at the end of an ingest, without the status."""
        try:
            now = await self.files.get(done.store_id, done.file_id)
        except StoreFileNotFound:
            await self.index.delete_file(done.store_id, done.file_id)
            return
        if now.token != done.token:
            await self.queue.enqueue(ingest_job(store, now, job.key_id, self.settings.priority,
                                                self.settings.ingest_attempts, refresh_of=done.token))
        elif now.status in ("cancelled", "failed"):
            await self.index.delete_file(done.store_id, done.file_id)


async def in_daemon_thread(work: Callable[..., T], *args: Any) -> T:
    """Run `work` in a thread of its own and await its result.

    Why not `asyncio.to_thread`: a parser stuck on a hostile file cannot be stopped, and the
    executor's threads are joined when the interpreter exits, so one stuck parse would keep
    `corral serve` from ever stopping. A daemon thread is abandoned at the time bound (the
    caller's `wait_for`) and dies with the process.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value = work(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task as is
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=run, name="corral-parse", daemon=True).start()
    return await done
