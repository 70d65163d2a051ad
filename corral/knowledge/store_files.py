"""Reads and writes of a store's files, their parsed text and file batches.

Every change an ingest makes is conditional on the file's `token` (new at every add) and on
it still being `in_progress`: a file removed, cancelled or added again while an older ingest
ran gets nothing from that ingest, whichever replica ran it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.engine import RowMapping

from corral.knowledge.errors import FileBatchNotFound, KnowledgeLimit, StoreFileNotFound
from corral.knowledge.objects import Attributes, Chunking, FileBatch, FileCounts, FileStatus, Page, StoreFile
from corral.knowledge.paging import Cursor, page_rows
from corral.knowledge.stores import dumps, loads
from corral.store import Database, Transaction
from corral.store.schema import (
    jobs,
    utcnow,
    vector_store_file_batches,
    vector_store_file_texts,
    vector_store_files,
)

FILES = vector_store_files.c
TEXT_ROWS_PER_INSERT = 500


def new_token() -> str:
    return secrets.token_hex(16)


def file_from_row(row: RowMapping) -> StoreFile:
    return StoreFile(
        store_id=row["store_id"], file_id=row["file_id"], team=row["team"], filename=row["filename"],
        status=row["status"], chunking=Chunking(row["chunk_tokens"], row["chunk_overlap"]),
        token=row["token"], created_at=row["created_at"], last_error=loads(row["last_error"]),
        attributes=loads(row["attributes"]), usage_bytes=row["usage_bytes"], chunks=row["chunks"],
        batch_id=row["batch_id"])


@dataclass(frozen=True, slots=True)
class Attach:
    """One file to add to a store, as the API checked it."""

    file_id: str
    filename: str
    attributes: Attributes | None
    chunking: Chunking


class FileRows:
    def __init__(self, db: Database, max_per_store: int | None = None) -> None:
        self.db = db
        self.max_per_store = max_per_store

    async def attach(self, tx: Transaction, store_id: str, team: str, adds: Sequence[Attach],
                     tokens: Mapping[str, str], *, batch: FileBatch | None = None) -> list[StoreFile]:
        """Add files (or add them again: `tokens` gives each file id its new token, status
        `in_progress`, chunks replaced when the new ingest finishes) and the batch that names
        them, inside `tx` (the one that queues their ingest jobs), refusing to pass the store's
        file limit (under the store's lock: replicas cannot both pass it)."""
        now = utcnow()
        await tx.lock(f"corral.vector_store_files.{store_id}")
        ids = [a.file_id for a in adds]
        existing = {r["file_id"] for r in await tx.fetch_all(
            select(FILES.file_id).where(FILES.store_id == store_id, FILES.file_id.in_(ids)))}
        await self._check_room(tx, store_id, len(set(ids) - existing))
        if batch is not None:
            await tx.execute(vector_store_file_batches.insert().values(
                id=batch.id, store_id=store_id, team=team, status=batch.status, total=batch.total,
                created_at=batch.created_at))
        for add in adds:
            values: dict[str, Any] = dict(
                status="in_progress", last_error=None, attributes=dumps(add.attributes),
                chunk_tokens=add.chunking.max_tokens, chunk_overlap=add.chunking.overlap_tokens,
                batch_id=batch.id if batch is not None else None, token=tokens[add.file_id], updated_at=now)
            if add.file_id in existing:
                await tx.execute(update(vector_store_files).where(
                    FILES.store_id == store_id, FILES.file_id == add.file_id).values(**values))
            else:
                existing.add(add.file_id)
                await tx.execute(vector_store_files.insert().values(
                    store_id=store_id, file_id=add.file_id, team=team, filename=add.filename,
                    usage_bytes=0, chunks=0, created_at=now, **values))
        rows = await tx.fetch_all(select(vector_store_files).where(
            FILES.store_id == store_id, FILES.file_id.in_(ids)))
        by_id = {r["file_id"]: file_from_row(r) for r in rows}
        return [by_id[i] for i in dict.fromkeys(ids)]

    async def _check_room(self, tx: Transaction, store_id: str, adding: int) -> None:
        limit = self.max_per_store
        if limit is None or not adding:
            return
        have = int(await tx.fetch_val(select(func.count()).select_from(vector_store_files).where(
            FILES.store_id == store_id)) or 0)
        if have + adding > limit:
            raise KnowledgeLimit(
                f"Vector store {store_id} has {have} files; adding {adding} would pass its limit of {limit} "
                "(knowledge.max_files_per_store). Remove files from it, or use another store.",
                param="file_id")

    async def get(self, store_id: str, file_id: str) -> StoreFile:
        row = await self.db.fetch_one(select(vector_store_files).where(
            FILES.store_id == store_id, FILES.file_id == file_id))
        if row is None:
            raise StoreFileNotFound(store_id, file_id)
        return file_from_row(row)

    async def find(self, store_id: str, file_ids: Sequence[str]) -> dict[str, StoreFile]:
        if not file_ids:
            return {}
        rows = await self.db.fetch_all(select(vector_store_files).where(
            FILES.store_id == store_id, FILES.file_id.in_(list(set(file_ids)))))
        return {r["file_id"]: file_from_row(r) for r in rows}

    async def page(self, store_id: str, cursor: Cursor, *, status: FileStatus | None = None,
                   batch_id: str | None = None) -> Page:
        scope = query = select(vector_store_files).where(FILES.store_id == store_id)
        if status is not None:
            query = query.where(FILES.status == status)
        if batch_id is not None:
            query = query.where(FILES.batch_id == batch_id)
        rows, more = await page_rows(self.db, query, FILES.created_at, FILES.file_id, cursor, scope)
        return Page([file_from_row(r) for r in rows], more)

    async def set_attributes(self, store_id: str, file_id: str, attributes: Attributes | None) -> None:
        await self.db.execute(update(vector_store_files).where(
            FILES.store_id == store_id, FILES.file_id == file_id).values(
            attributes=dumps(attributes), updated_at=utcnow()))

    async def remove(self, store_id: str, file_id: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(delete(vector_store_file_texts).where(
                vector_store_file_texts.c.store_id == store_id, vector_store_file_texts.c.file_id == file_id))
            await tx.execute(delete(vector_store_files).where(
                FILES.store_id == store_id, FILES.file_id == file_id))

    async def finish(self, done: StoreFile, status: FileStatus, *, last_error: dict[str, str] | None = None,
                     texts: Sequence[str] = (), usage_bytes: int = 0, chunks: int = 0) -> bool:
        """End an ingest: status, error, counts and the parsed text, in one transaction, if the
        file is still the one this ingest started on (same token, still in progress)."""
        async with self.db.transaction() as tx:
            changed = await tx.execute(update(vector_store_files).where(
                FILES.store_id == done.store_id, FILES.file_id == done.file_id, FILES.token == done.token,
                FILES.status == "in_progress").values(
                status=status, last_error=dumps(last_error), usage_bytes=usage_bytes, chunks=chunks,
                updated_at=utcnow()))
            if not changed.rowcount:
                return False
            t = vector_store_file_texts
            await tx.execute(delete(t).where(t.c.store_id == done.store_id, t.c.file_id == done.file_id))
            rows = [{"store_id": done.store_id, "file_id": done.file_id, "idx": i, "text": text}
                    for i, text in enumerate(texts)]
            for start in range(0, len(rows), TEXT_ROWS_PER_INSERT):
                await tx.execute(t.insert(), rows[start:start + TEXT_ROWS_PER_INSERT])
        return True

    async def texts(self, store_id: str, file_id: str) -> list[str]:
        t = vector_store_file_texts
        rows = await self.db.fetch_all(select(t.c.text).where(
            t.c.store_id == store_id, t.c.file_id == file_id).order_by(t.c.idx))
        return [r["text"] for r in rows]

    async def settle(self, store_id: str) -> int:
        """Report failed the store's files still `in_progress` whose ingest job is over (its
        worker died on the last attempt, it expired, it was cancelled from outside): without
        this they would wait for ever. A read first, so a store at rest costs no write."""
        job = jobs.c
        stuck = (select(FILES.file_id, FILES.token, job.status, job.error)
                 .join(jobs, job.id == literal("kb_") + FILES.token)
                 .where(FILES.store_id == store_id, FILES.status == "in_progress",
                        job.status.in_(("failed", "cancelled", "expired"))))
        rows = await self.db.fetch_all(stuck)
        for row in rows:
            why = (loads(row["error"]) or {}).get("message") or row["status"]
            error = {"code": "server_error", "message": f"Ingestion stopped ({row['status']}): {why}"[:1000]}
            await self.db.execute(update(vector_store_files).where(
                FILES.store_id == store_id, FILES.file_id == row["file_id"], FILES.token == row["token"],
                FILES.status == "in_progress").values(status="failed", last_error=dumps(error),
                                                      updated_at=utcnow()))
        return len(rows)

    async def chunk_total(self, store_id: str) -> int:
        """Chunks the store's ingested files hold (for knowledge.max_chunks_per_store)."""
        return int(await self.db.fetch_val(select(func.coalesce(func.sum(FILES.chunks), 0)).where(
            FILES.store_id == store_id)) or 0)

    # -- file batches -----------------------------------------------------------------------

    async def batch(self, store_id: str, batch_id: str) -> FileBatch:
        b = vector_store_file_batches.c
        row = await self.db.fetch_one(select(vector_store_file_batches).where(
            b.id == batch_id, b.store_id == store_id))
        if row is None:
            raise FileBatchNotFound(batch_id)
        return FileBatch(row["id"], row["store_id"], row["team"], row["status"], row["total"],
                         row["created_at"])

    async def batch_counts(self, batch_id: str) -> FileCounts:
        rows = await self.db.fetch_all(select(FILES.status, func.count().label("n")).where(
            FILES.batch_id == batch_id).group_by(FILES.status))
        return FileCounts.of({r["status"]: int(r["n"]) for r in rows})

    async def cancel_batch(self, batch: FileBatch) -> list[StoreFile]:
        """Mark the batch cancelled and its unfinished files `cancelled`; those files."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch_all(select(vector_store_files).where(
                FILES.batch_id == batch.id, FILES.status == "in_progress"))
            await tx.execute(update(vector_store_file_batches).where(
                vector_store_file_batches.c.id == batch.id).values(status="cancelled"))
            await tx.execute(update(vector_store_files).where(
                FILES.batch_id == batch.id, FILES.status == "in_progress").values(
                status="cancelled", updated_at=utcnow()))
        return [file_from_row(r) for r in rows]

    async def batch_ids(self, store_id: str) -> list[str]:
        b = vector_store_file_batches.c
        return [r["id"] for r in await self.db.fetch_all(select(b.id).where(b.store_id == store_id))]
