"""Reads and writes of the `batches` table. Status changes are conditional updates, so two
replicas (an API cancel and a worker finalizing) can never both move the same batch."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import RowMapping, and_, or_, select, update

from corral.batches.types import STAMPS, Batch, BatchStatus, Submitter
from corral.core.ownership import Owner
from corral.store import Database, Transaction
from corral.store.ownership import owned_by
from corral.store.schema import batches, utcnow


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _from_row(row: RowMapping) -> Batch:
    return Batch(
        id=row["id"],
        submitter=Submitter(row["key_id"], row["key_name"], row["team"], tuple(_loads(row["scopes"]) or ())),
        endpoint=row["endpoint"],
        input_file_id=row["input_file_id"],
        completion_window=row["completion_window"],
        status=row["status"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        metadata=_loads(row["metadata"]),
        total=row["total"],
        output_file_id=row["output_file_id"],
        error_file_id=row["error_file_id"],
        errors=_loads(row["errors"]),
        usage=_loads(row["usage"]),
        model=row["model"],
        counts=_loads(row["counts"]),
        stamps={column: row[column] for column in STAMPS.values() if row[column] is not None},
    )


class BatchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, batch: Batch, tx: Transaction | None = None) -> None:
        """Store a new batch; inside `tx` when given (the one that queues its first jobs)."""
        who = batch.submitter
        await (tx or self.db).execute(batches.insert().values(
            id=batch.id, team=who.team, key_id=who.key_id, key_name=who.key_name,
            scopes=_json(list(who.scopes)), endpoint=batch.endpoint, input_file_id=batch.input_file_id,
            completion_window=batch.completion_window, status=batch.status, created_at=batch.created_at,
            expires_at=batch.expires_at, metadata=_json(batch.metadata), total=batch.total,
        ))

    async def load(self, batch_id: str) -> Batch | None:
        """Any team's batch: for the workers that run it."""
        row = await self.db.fetch_one(select(batches).where(batches.c.id == batch_id))
        return None if row is None else _from_row(row)

    async def get(self, batch_id: str, owner: Owner) -> Batch | None:
        """The owner's batch (corral.core.ownership); another's is None, like a missing one."""
        row = await self.db.fetch_one(select(batches).where(batches.c.id == batch_id,
                                                            owned_by(batches, owner)))
        return None if row is None else _from_row(row)

    async def list(self, owner: Owner, *, after: str | None = None,
                   limit: int = 20) -> tuple[list[Batch], bool]:
        """Newest first, OpenAI's cursor paging: the page and whether more follow."""
        query = select(batches).where(owned_by(batches, owner))
        if after is not None:
            mark = await self.db.fetch_one(select(batches.c.created_at).where(
                batches.c.id == after, owned_by(batches, owner)))
            if mark is not None:
                at = mark["created_at"]
                query = query.where(or_(batches.c.created_at < at,
                                        and_(batches.c.created_at == at, batches.c.id < after)))
        rows = await self.db.fetch_all(
            query.order_by(batches.c.created_at.desc(), batches.c.id.desc()).limit(limit + 1))
        return [_from_row(r) for r in rows[:limit]], len(rows) > limit

    async def move(self, batch_id: str, from_statuses: Collection[BatchStatus], to: BatchStatus, *,
                   now: datetime | None = None, **values: Any) -> bool:
        """Set `to` (and its timestamp, and `values`) if the batch is in one of `from_statuses`."""
        stamp = STAMPS.get(to)
        if stamp is not None:
            values[stamp] = now or utcnow()
        for name in ("errors", "usage", "counts"):
            if name in values:
                values[name] = _json(values[name])
        result = await self.db.execute(update(batches).where(
            batches.c.id == batch_id, batches.c.status.in_(list(from_statuses))).values(status=to, **values))
        return bool(result.rowcount)
