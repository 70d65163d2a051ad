"""Reads and writes of the `vector_stores` table, scoped to a team.

A store of another team, a deleted one and one being deleted all raise the same
`StoreNotFound`, so no caller learns that another team's store exists. File counts and
bytes are counted from `vector_store_files` when read (an indexed GROUP BY): counters kept
on the store row would need every ingest worker and every API call to update them in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import RowMapping

from corral.core.ownership import Owner
from corral.knowledge.errors import KnowledgeLimit, StoreNotFound
from corral.knowledge.objects import Chunking, FileCounts, Page, VectorStore
from corral.knowledge.paging import Cursor, page_rows
from corral.store import Database, Transaction
from corral.store.ownership import owned_by
from corral.store.schema import (
    utcnow,
    vector_store_file_batches,
    vector_store_file_texts,
    vector_store_files,
    vector_stores,
)

DAY = timedelta(days=1)
_UNSET: Any = object()


def dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def store_from_row(row: RowMapping) -> VectorStore:
    return VectorStore(
        id=row["id"], team=row["team"], key_id=row["key_id"], name=row["name"],
        description=row["description"], metadata=loads(row["metadata"]), status=row["status"],
        expires_after_days=row["expires_after_days"], expires_at=row["expires_at"],
        last_active_at=row["last_active_at"], created_at=row["created_at"], embed_model=row["embed_model"],
        embed_name=row["embed_name"], embed_dimensions=row["embed_dimensions"],
        chunking=Chunking(row["chunk_tokens"], row["chunk_overlap"]),
    )


def expiry(days: int | None, active_at: datetime) -> datetime | None:
    """OpenAI's `expires_after`: anchored at `last_active_at`."""
    return None if days is None else active_at + days * DAY


class StoreRows:
    def __init__(self, db: Database, max_per_team: int | None = None) -> None:
        self.db = db
        self.max_per_team = max_per_team

    async def create(self, store: VectorStore) -> None:
        """Insert a new store, refusing one past the team's limit (checked under the team's
        lock, so two replicas cannot both take the last place)."""
        async with self.db.transaction() as tx:
            if self.max_per_team is not None:
                await tx.lock(f"corral.vector_stores.{store.team}")
                have = await tx.fetch_val(select(func.count()).select_from(vector_stores).where(
                    vector_stores.c.team == store.team))
                if int(have or 0) >= self.max_per_team:
                    raise KnowledgeLimit(
                        f"Team '{store.team}' already has {self.max_per_team} vector stores, its limit "
                        "(knowledge.max_stores_per_team). Delete stores it no longer needs, or ask an "
                        "operator to raise the limit.")
            await tx.execute(vector_stores.insert().values(
                id=store.id, team=store.team, key_id=store.key_id, name=store.name,
                description=store.description, metadata=dumps(store.metadata), status=store.status,
                expires_after_days=store.expires_after_days, expires_at=store.expires_at,
                last_active_at=store.last_active_at, created_at=store.created_at,
                embed_model=store.embed_model, embed_name=store.embed_name,
                embed_dimensions=store.embed_dimensions, chunk_tokens=store.chunking.max_tokens,
                chunk_overlap=store.chunking.overlap_tokens))

    async def load(self, store_id: str) -> VectorStore | None:
        """Any team's store, in any state: for the workers that ingest into it."""
        row = await self.db.fetch_one(select(vector_stores).where(vector_stores.c.id == store_id))
        return None if row is None else store_from_row(row)

    async def get(self, store_id: str, owner: Owner, *, deleting: bool = False) -> VectorStore:
        """The owner's store (corral.core.ownership); `deleting` also finds one whose deletion
        was interrupted."""
        query = select(vector_stores).where(vector_stores.c.id == store_id, owned_by(vector_stores, owner))
        if not deleting:
            query = query.where(vector_stores.c.status == "active")
        row = await self.db.fetch_one(query)
        if row is None:
            raise StoreNotFound(store_id)
        return store_from_row(row)

    async def page(self, owner: Owner, cursor: Cursor) -> Page:
        query = select(vector_stores).where(owned_by(vector_stores, owner),
                                            vector_stores.c.status == "active")
        rows, more = await page_rows(self.db, query, vector_stores.c.created_at, vector_stores.c.id, cursor)
        return Page([store_from_row(r) for r in rows], more)

    async def expired_before(self, cutoff: datetime, limit: int = 100) -> list[VectorStore]:
        """Stores whose expiry passed before `cutoff` (any team's), oldest expiry first: for the purge."""
        rows = await self.db.fetch_all(
            select(vector_stores).where(vector_stores.c.expires_at < cutoff)
            .order_by(vector_stores.c.expires_at).limit(limit))
        return [store_from_row(r) for r in rows]

    async def update(self, store: VectorStore, *, name: str | None = None, metadata: Any = _UNSET,
                     expires_after_days: Any = _UNSET) -> VectorStore:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if metadata is not _UNSET:
            values["metadata"] = dumps(metadata)
        if expires_after_days is not _UNSET:
            values["expires_after_days"] = expires_after_days
            values["expires_at"] = expiry(expires_after_days, store.last_active_at)
        if values:
            await self.db.execute(update(vector_stores).where(
                vector_stores.c.id == store.id).values(**values))
        return await self.get(store.id, store.team)

    async def touch(self, store: VectorStore, now: datetime | None = None) -> None:
        """The store was used: `last_active_at`, and the expiry anchored on it, move on.
        Written at most once a minute per store, so a busy store's searches stay reads."""
        now = now or utcnow()
        if now - store.last_active_at < timedelta(minutes=1):
            return
        await self.db.execute(update(vector_stores).where(vector_stores.c.id == store.id).values(
            last_active_at=now, expires_at=expiry(store.expires_after_days, now)))

    async def record_embedder(self, store_id: str, name: str, dimensions: int) -> None:
        """The embedder's model name and dimension, recorded the first time the store embeds."""
        await self.db.execute(update(vector_stores).where(
            vector_stores.c.id == store_id, vector_stores.c.embed_name.is_(None)).values(
            embed_name=name, embed_dimensions=dimensions))

    async def counts(self, store_ids: Sequence[str]) -> dict[str, FileCounts]:
        """File counts by status, for each store (an absent store: all zero)."""
        found: dict[str, dict[str, int]] = {sid: {} for sid in store_ids}
        if store_ids:
            col = vector_store_files.c
            for row in await self.db.fetch_all(
                    select(col.store_id, col.status, func.count().label("n"))
                    .where(col.store_id.in_(list(store_ids))).group_by(col.store_id, col.status)):
                found[row["store_id"]][row["status"]] = int(row["n"])
        return {sid: FileCounts.of(by) for sid, by in found.items()}

    async def usage(self, store_ids: Sequence[str]) -> dict[str, int]:
        """Bytes of ingested text per store (OpenAI's `usage_bytes`)."""
        found = dict.fromkeys(store_ids, 0)
        if store_ids:
            col = vector_store_files.c
            for row in await self.db.fetch_all(
                    select(col.store_id, func.coalesce(func.sum(col.usage_bytes), 0).label("n"))
                    .where(col.store_id.in_(list(store_ids))).group_by(col.store_id)):
                found[row["store_id"]] = int(row["n"])
        return found

    async def mark_deleting(self, store_id: str) -> None:
        """First step of a delete: the store disappears from the API, its unfinished files are
        cancelled, so an ingest still running writes nothing that outlives the store."""
        async with self.db.transaction() as tx:
            await tx.execute(update(vector_stores).where(
                vector_stores.c.id == store_id).values(status="deleting"))
            await tx.execute(update(vector_store_files).where(
                vector_store_files.c.store_id == store_id, vector_store_files.c.status == "in_progress")
                .values(status="cancelled", updated_at=utcnow()))

    async def remove(self, store_id: str) -> None:
        """Last step of a delete: the rows (the index's chunks are gone by now)."""
        async with self.db.transaction() as tx:
            await remove_rows(tx, store_id)


async def remove_rows(tx: Transaction, store_id: str) -> None:
    for table in (vector_store_file_texts, vector_store_files, vector_store_file_batches):
        await tx.execute(delete(table).where(table.c.store_id == store_id))
    await tx.execute(delete(vector_stores).where(vector_stores.c.id == store_id))
