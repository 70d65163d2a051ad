"""Assembly of the knowledge base for one gateway: tables, queue, index, embedders, parser.

The API edge and the queue's worker share one `Knowledge` per gateway (`knowledge_for`),
so the index and its connections are built once. The gateway registers the ingestion job
with its worker through `knowledge_handlers(gateway)`, beside the batch runner's handlers:

    for kind, handler in knowledge_handlers(gw).items():
        gw.worker.register(kind, handler)
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from corral.config import LOCAL_EMBED_MODEL_NAME, Settings
from corral.core.context import Caller, RequestContext
from corral.core.types import EmbeddingRequest, EmbeddingResponse
from corral.files.store import FileStore
from corral.jobs.control import Handler
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job
from corral.knowledge.chunking import chunk
from corral.knowledge.embedders import GatewayEmbedder
from corral.knowledge.errors import IngestFailed
from corral.knowledge.indexes import open_index
from corral.knowledge.ingest import Chunker, Ingestor, Reader
from corral.knowledge.objects import ErrorCode, StoreFile, VectorStore
from corral.knowledge.parsers import ParseError, ParseLimits, parse
from corral.knowledge.retriever import Retriever
from corral.knowledge.service import Knowledge, StoreSearch
from corral.knowledge.store_files import FileRows
from corral.knowledge.stores import StoreRows
from corral.knowledge.types import Chunk, Document, Embedder, Index
from corral.store import Database
from corral.store.schema import utcnow


class RouteNames(Protocol):
    def public_name(self, model: str) -> str | None: ...


class GatewayParts(Protocol):
    """What the knowledge base needs of a gateway (`corral.gateway.Gateway` has it all)."""

    settings: Settings
    db: Database
    jobs: JobQueue

    @property
    def routes(self) -> RouteNames: ...  # read-only, so the gateway's RouteTable satisfies it

    async def handle(self, ctx: RequestContext) -> Any: ...


@dataclass(frozen=True)
class Parts:
    """The pluggable pieces: where chunks live, how text is embedded, read and searched."""

    index: Index
    embedder: Callable[[VectorStore, Caller], Awaitable[Embedder]]  # calls attributed to the store
    read: Reader
    chunker: Chunker
    retriever: Callable[[Index, Embedder], StoreSearch]
    route_of: Callable[[str], str | None]  # the route a model name serves from, None: not served


_built: dict[int, Knowledge] = {}


def knowledge_for(gateway: GatewayParts) -> Knowledge:
    """The gateway's one `Knowledge`, built on first use."""
    found = _built.get(id(gateway))
    if found is None:
        found = _built[id(gateway)] = build(gateway, default_parts(gateway))
        weakref.finalize(gateway, _built.pop, id(gateway), None)
    return found


def knowledge_handlers(gateway: GatewayParts) -> dict[str, Handler]:
    """The queue handlers of the knowledge base (`kb_ingest`), for the gateway's worker."""
    return knowledge_for(gateway).ingestor.handlers()


def knowledge_purge(gateway: GatewayParts) -> Callable[[], Awaitable[dict[str, int]]]:
    """The maintenance purge of expired vector stores (`knowledge.expired_purge_after_s`)."""
    async def purge() -> dict[str, int]:
        after = timedelta(seconds=gateway.settings.knowledge.expired_purge_after_s)
        return {"vector_stores": await knowledge_for(gateway).purge_expired(utcnow() - after)}
    return purge


async def close_knowledge(gateway: GatewayParts) -> None:
    """Release the gateway's index (the embedded vector graphs save their side files): in
    `Gateway.stop()`, after the worker stopped and before the database closes."""
    found = _built.pop(id(gateway), None)
    aclose = getattr(found.index, "aclose", None) if found is not None else None
    if aclose is not None:
        await aclose()


def build(gateway: GatewayParts, parts: Parts) -> Knowledge:
    settings = gateway.settings.knowledge
    stores = StoreRows(gateway.db, settings.max_stores_per_team)
    files = FileRows(gateway.db, settings.max_files_per_store)
    uploads = FileStore(gateway.db, gateway.settings.files)

    async def ingest_embedder(store: VectorStore, job: Job) -> Embedder:
        caller = Caller(job.key_id or "", "kb_ingest", job.team, frozenset({"inference"}))
        return await parts.embedder(store, caller)

    ingestor = Ingestor(stores, files, uploads, gateway.jobs, parts.index, ingest_embedder, parts.read,
                        parts.chunker, settings)
    model = settings.embedding_model or LOCAL_EMBED_MODEL_NAME
    return Knowledge(stores, files, uploads, gateway.jobs, parts.index, ingestor, parts.retriever,
                     parts.embedder, settings, model, parts.route_of)


def gateway_embedder(gateway: GatewayParts) -> Callable[[VectorStore, Caller], Awaitable[Embedder]]:
    """Embedders over the gateway's lifecycle (recorded, priced, the route's privacy policy),
    attributed to the store (`job_id`). The first time a store embeds, one short request
    asks its route for the dimension; the store keeps it from then on."""

    async def embedder(store: VectorStore, caller: Caller) -> Embedder:
        dimensions = store.embed_dimensions or await _probe(gateway, store, caller)
        return GatewayEmbedder(gateway, store.embed_model, caller, dimensions=dimensions, job_id=store.id)

    return embedder


async def _probe(gateway: GatewayParts, store: VectorStore, caller: Caller) -> int:
    ctx = RequestContext(request_id="req_" + secrets.token_hex(12), caller=caller, operation="embeddings",
                         request=EmbeddingRequest(store.embed_model, ["dimension probe"]))
    ctx.job_id = store.id
    result = await gateway.handle(ctx)
    if not isinstance(result, EmbeddingResponse) or not result.vectors:
        raise RuntimeError(f"route '{store.embed_model}' answered no embedding")
    return len(result.vectors[0])


def default_parts(gateway: GatewayParts) -> Parts:
    """Corral's own parts: the database's index, embeddings through the gateway's routes, the
    parsers of corral.knowledge.parsers, structure-following chunks, hybrid retrieval."""
    settings = gateway.settings.knowledge
    cpu_s = min(ParseLimits().max_cpu_seconds, settings.parse_timeout_s)
    limits = ParseLimits(max_bytes=settings.max_file_bytes, max_cpu_seconds=cpu_s)
    return Parts(index=open_index(gateway.db, gateway.settings.home), embedder=gateway_embedder(gateway),
                 read=reader(limits), chunker=chunk_file, retriever=Retriever,
                 route_of=gateway.routes.public_name)


def reader(limits: ParseLimits) -> Reader:
    """`parse`, its refusals turned into the file's `last_error` (the parser's own message)."""

    def read(data: bytes, filename: str, media_type: str) -> Document:
        try:
            return parse(data, filename, media_type, limits)
        except ParseError as exc:
            code: ErrorCode = "unsupported_file" if exc.code == "unsupported_file" else "invalid_file"
            raise IngestFailed(code, exc.message) from None

    return read


def chunk_file(document: Document, found: StoreFile) -> list[Chunk]:
    """The file's chunks, as its chunking strategy asks, carrying its attributes (for filters)."""
    return chunk(document, max_tokens=found.chunking.max_tokens, overlap_tokens=found.chunking.overlap_tokens,
                 store_id=found.store_id, file_id=found.file_id, attributes=found.attributes)
