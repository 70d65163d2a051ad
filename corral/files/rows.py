"""The SQL every files module shares: which rows are visible, how a row reads, how one goes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.engine import RowMapping

from corral.files.types import FileObject
from corral.store import Database, Transaction
from corral.store.schema import file_chunks, files

#: Bytes per `file_chunks` row: big enough that a 200 MB file is 200 rows, small enough that
#: reading or writing one holds about a megabyte in memory.
CHUNK_BYTES = 1024 * 1024
UPLOADING = "uploading"
PROCESSED = "processed"


def visible(now: datetime) -> ColumnElement[bool]:
    """Committed and not expired: what the API may show (expired files wait for the purge)."""
    return and_(files.c.status == PROCESSED,
                or_(files.c.expires_at.is_(None), files.c.expires_at > now))


def file_from_row(row: RowMapping) -> FileObject:
    return FileObject(id=row["id"], team=row["team"], purpose=row["purpose"], filename=row["filename"],
                      bytes=row["bytes"], created_at=row["created_at"], expires_at=row["expires_at"])


async def team_usage(tx: Transaction, team: str, now: datetime) -> tuple[int, int]:
    """(files, bytes) the team stores now, for its quota."""
    row = await tx.fetch_one(
        select(func.count().label("n"), func.coalesce(func.sum(files.c.bytes), 0).label("size"))
        .where(files.c.team == team, visible(now)))
    assert row is not None
    return int(row["n"]), int(row["size"])


async def chunk_data(db: Database, file_id: str, idx: int) -> bytes | None:
    """One chunk's bytes, in its own short read (a download never holds a transaction open)."""
    data = await db.fetch_val(select(file_chunks.c.data).where(
        file_chunks.c.file_id == file_id, file_chunks.c.idx == idx))
    return None if data is None else bytes(data)


async def delete_files(tx: Transaction, file_ids: Sequence[str]) -> None:
    """Remove files and their chunks (chunks first: they reference the file)."""
    if file_ids:
        await tx.execute(delete(file_chunks).where(file_chunks.c.file_id.in_(file_ids)))
        await tx.execute(delete(files).where(files.c.id.in_(file_ids)))
