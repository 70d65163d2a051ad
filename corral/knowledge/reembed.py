"""Re-embedding a store: its rows switched to another embeddings route in one transaction.

Why one transaction for the store and its files: the route change and the files' new tokens
must be seen together. Every ingest of the old route holds an old token, so once this
commits it writes nothing (the ingest checks its token before writing to the index, and its
final write is conditional on it), while the new ingests (`kb_ingest`, queued by
`Knowledge.reembed`) embed with the new route. Vectors of two routes never meet in one
index: the caller empties the store's index between this and queueing the new ingests.

Files `completed` or `in_progress` are re-embedded (they become `in_progress`, their chunk
and byte counts zero: the index holds none of their chunks until their new ingest is in);
`failed` and `cancelled` files have no chunks and are left as they are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from sqlalchemy import select, update

from corral.core.context import Caller
from corral.core.errors import CorralError, InvalidRequest
from corral.knowledge.errors import StoreNotFound
from corral.knowledge.ingest import RETRIED
from corral.knowledge.objects import StoreFile, VectorStore
from corral.knowledge.store_files import FILES, file_from_row, new_token
from corral.knowledge.types import Embedder
from corral.store import Database
from corral.store.schema import utcnow, vector_store_files, vector_stores

REEMBEDDED = ("completed", "in_progress")


async def switch_embedder(db: Database, store_id: str, route: str) -> list[StoreFile]:
    """Point the store at `route` (its name and dimension recorded again by the first new
    ingest) and give its completed and in-progress files new tokens; those files, re-read."""
    now = utcnow()
    async with db.transaction() as tx:
        await tx.lock(f"corral.vector_store_files.{store_id}")  # as `FileRows.attach`: no add in between
        switched = await tx.execute(update(vector_stores).where(
            vector_stores.c.id == store_id, vector_stores.c.status == "active").values(
            embed_model=route, embed_name=None, embed_dimensions=None))
        if not switched.rowcount:
            raise StoreNotFound(store_id)  # deleted meanwhile
        ids = [r["file_id"] for r in await tx.fetch_all(select(FILES.file_id).where(
            FILES.store_id == store_id, FILES.status.in_(REEMBEDDED)))]
        for file_id in ids:  # a token each: the job ids and the stale-ingest checks key on it
            await tx.execute(update(vector_store_files).where(
                FILES.store_id == store_id, FILES.file_id == file_id).values(
                status="in_progress", token=new_token(), last_error=None, usage_bytes=0, chunks=0,
                updated_at=now))
        rows = await tx.fetch_all(select(vector_store_files).where(
            FILES.store_id == store_id, FILES.file_id.in_(ids))) if ids else []
    return [file_from_row(r) for r in rows]


async def check_route(embedder_for: Callable[[VectorStore, Caller], Awaitable[Embedder]],
                      store: VectorStore, route: str, caller: Caller) -> None:
    """Ask `route` for one embedding before anything changes (a recorded request, attributed
    to the caller and the store): a route that serves chat only, or refuses, is a 400 naming
    `model` while the store still answers from its old vectors. A provider's outage is not
    the caller's mistake and propagates as it is."""
    probe = replace(store, embed_model=route, embed_name=None, embed_dimensions=None)
    try:
        await embedder_for(probe, caller)
    except CorralError as exc:
        if not 400 <= exc.status_code < 500 or exc.status_code in RETRIED:
            raise
        raise _not_embeddings(route, exc.message) from None
    except RuntimeError as exc:  # a route that answered something other than embeddings
        raise _not_embeddings(route, str(exc)) from None


def _not_embeddings(route: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"Route '{route}' does not answer embeddings requests ({why[:300]}); name an "
                          "embeddings route of this gateway.", param="model",
                          code="embedding_model_not_found")
