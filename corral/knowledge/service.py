"""`Knowledge`: what the vector-store API asks of the knowledge base, over the tables, the
durable queue, the index and the embedders.

Each operation that touches more than one of them orders its steps so that a crash between
two leaves nothing a client can see half-done: a store is marked `deleting` (gone from the
API, its running ingests told to write nothing) before its chunks and then its rows are
removed; a file leaves the table before its chunks leave the index, and an ingest that
finishes afterwards takes its own chunks back out (corral.knowledge.ingest).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from corral.core.context import Caller
from corral.core.errors import InvalidRequest
from corral.files.store import FileStore
from corral.jobs.queue import JobQueue
from corral.knowledge.embedders import GatewayEmbedder
from corral.knowledge.ingest import Ingestor, NewAdd, ingest_job
from corral.knowledge.objects import FileBatch, StoreFile, VectorStore
from corral.knowledge.reembed import check_route, switch_embedder
from corral.knowledge.settings import KnowledgeSettings
from corral.knowledge.store_files import Attach, FileRows, new_token
from corral.knowledge.stores import StoreRows
from corral.knowledge.types import Embedder, Filter, Hit, Index
from corral.store.db import Transaction
from corral.store.schema import utcnow

log = logging.getLogger("corral.knowledge")

# A store's embedder for a caller's queries (attributed to the caller's key, and to the store).
QueryEmbedderFor = Callable[[VectorStore, Caller], Awaitable[Embedder]]


class StoreSearch(Protocol):
    """What `corral.knowledge.retriever.Retriever` offers: hybrid search within one store."""

    async def search(self, store_id: str, query: str, k: int, filters: Filter | None = None,
                     score_threshold: float = 0.0) -> list[Hit]: ...


@dataclass
class Knowledge:
    stores: StoreRows
    files: FileRows
    uploads: FileStore
    queue: JobQueue
    index: Index
    ingestor: Ingestor
    retriever: Callable[[Index, Embedder], StoreSearch]
    query_embedder: QueryEmbedderFor
    settings: KnowledgeSettings
    default_model: str  # the model that embeds new stores' chunks and queries
    route_of: Callable[[str], str | None]  # the route serving a model name, None: not served

    def embedding_route(self) -> str:
        """The route new stores embed with; a gateway that serves none cannot make stores (a
        400, not a 500: nothing is broken, the gateway is configured without one)."""
        route = self.route_of(self.default_model)
        if route is None:
            raise InvalidRequest(f"Vector stores are not available on this gateway: it serves no "
                                 f"embeddings route '{self.default_model}' (knowledge.embedding_model). An "
                                 "operator adds one to corral.yaml (the built-in all-minilm-l6-v2: "
                                 "docs/configuration.md) or names another in knowledge.embedding_model.",
                                 code="embedding_model_not_found")
        return route

    async def add_files(self, store: VectorStore, adds: Sequence[Attach], key_id: str | None, *,
                        batch: FileBatch | None = None) -> list[StoreFile]:
        """Attach files (again: their chunks are replaced once re-ingested) and queue one
        ingest each, in one transaction: no file is ever `in_progress` without its job (which
        `settle` could not see, so it would wait for ever)."""
        if store.expired(utcnow()):
            raise InvalidRequest(f"Vector store {store.id} has expired (expires_after); create a new one.",
                                 param="vector_store_id")
        tokens = {a.file_id: new_token() for a in adds}  # the job ids key on them
        batch_id = batch.id if batch is not None else None
        jobs = [ingest_job(store, NewAdd(file_id, token, batch_id), key_id, self.settings.priority,
                           self.settings.ingest_attempts) for file_id, token in tokens.items()]
        added: list[StoreFile] = []

        async def attach(tx: Transaction) -> None:
            added.extend(await self.files.attach(tx, store.id, store.team, adds, tokens, batch=batch))

        await self.queue.enqueue_many(jobs, along_with=attach)
        await self.stores.touch(store)
        return added

    async def remove_file(self, store: VectorStore, found: StoreFile) -> None:
        await self.files.remove(store.id, found.file_id)
        await self.queue.request_cancel(f"kb_{found.token}")
        await self.index.delete_file(store.id, found.file_id)

    async def cancel_batch(self, store: VectorStore, batch: FileBatch) -> None:
        """Unfinished files of the batch end `cancelled`, their jobs stop, and whatever a
        running ingest already indexed is taken out (or, if it finishes later, by itself)."""
        cancelled = await self.files.cancel_batch(batch)
        await self.queue.cancel_children(batch.id)
        for found in cancelled:
            await self.index.delete_file(store.id, found.file_id)

    async def delete_store(self, store: VectorStore) -> None:
        await self.stores.mark_deleting(store.id)
        for parent in (store.id, *await self.files.batch_ids(store.id)):
            await self.queue.cancel_children(parent)
        await self.index.delete_store(store.id)
        await self.stores.remove(store.id)

    async def purge_expired(self, cutoff: datetime) -> int:
        """Delete stores expired before `cutoff` (their files' chunks leave every index), a
        hundred per call: the hourly maintenance purge calls it once per run."""
        expired = await self.stores.expired_before(cutoff)
        for store in expired:
            await self.delete_store(store)
        return len(expired)

    async def reembed(self, store: VectorStore, model: str, caller: Caller) -> VectorStore:
        """Move the store to the embeddings route serving `model` and re-ingest its files with
        it, one `kb_ingest` job each (docs/knowledge.md, "Re-embedding a store"). Its old
        vectors leave the index at once, so a search never compares a new model's query with
        an old model's vectors: it answers from the files re-embedded so far, as during a first
        ingestion. A run cut short (a crash before its jobs were queued) is finished by running
        it again: each run gives the files new tokens, so an earlier run's ingests write nothing."""
        if store.expired(utcnow()):
            raise InvalidRequest(f"Vector store {store.id} has expired (expires_after); create a new one.",
                                 param="vector_store_id")
        route = self.route_of(model)
        if route is None:
            raise InvalidRequest(f"This gateway serves no route '{model[:200]}' to embed with; name one of "
                                 "its embeddings routes (GET /v1/models lists them).", param="model",
                                 code="embedding_model_not_found")
        await check_route(self.query_embedder, store, route, caller)
        files = await switch_embedder(self.stores.db, store.id, route)
        await self.index.delete_store(store.id)  # both dimensions never meet in one graph
        switched = await self.stores.get(store.id, store.team)
        if files:
            await self.queue.enqueue_many([ingest_job(switched, f, caller.key_id, self.settings.priority,
                                                      self.settings.ingest_attempts) for f in files])
        log.info("re-embedding %s with %s: %d files", store.id, route, len(files))
        return switched

    async def search(self, store: VectorStore, caller: Caller, queries: Sequence[str], k: int,
                     filters: Filter | None, score_threshold: float, *,
                     request_ids: Callable[[], str] | None = None) -> list[Hit]:
        """The best `k` chunks for any of `queries` (a chunk found by several keeps its best
        score), above `score_threshold`. A store still ingesting answers with what is indexed.
        `request_ids` names the query embeddings' requests (a search made for a response)."""
        await self.stores.touch(store)
        if store.embed_dimensions is None:
            return []  # nothing was ever embedded into it: no query to embed either
        embedder = await self.query_embedder(store, caller)
        if request_ids is not None and isinstance(embedder, GatewayEmbedder):
            embedder = embedder.attributed(request_ids)
        search = self.retriever(self.index, embedder)
        best: dict[str, Hit] = {}
        for query in queries:
            for hit in await search.search(store.id, query, k, filters, score_threshold):
                kept = best.get(hit.chunk.id)
                if kept is None or hit.score > kept.score:
                    best[hit.chunk.id] = hit
        return sorted(best.values(), key=lambda h: -h.score)[:k]

    async def settle(self, store_id: str) -> None:
        """Files whose ingest job ended without a word (its worker died on the last attempt,
        or it expired) are reported failed instead of staying `in_progress` for ever."""
        await self.files.settle(store_id)
