"""Removing what the Files API no longer shows: expired files and abandoned uploads.

Expired files are already invisible (every read filters on `expires_at`); this reclaims
their space. Work goes in batches of `BATCH` files, each its own transaction, so a large
purge never holds SQLite's write lock for long. A scheduler (the governance issue) calls
`purge_expired`; it is safe to run from several replicas at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from corral.files.rows import PROCESSED, UPLOADING, delete_files
from corral.files.settings import FileSettings
from corral.store import Database
from corral.store.schema import files

BATCH = 100


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    files: int  # expired files removed
    bytes: int  # their size
    abandoned_uploads: int  # uploads whose process died before they committed


async def purge_expired(db: Database, now: datetime, *,
                        abandoned_upload_s: int = FileSettings().abandoned_upload_s) -> PurgeCounts:
    """Delete files expired at `now` and uploads unfinished for `abandoned_upload_s`."""
    expired = and_(files.c.status == PROCESSED, files.c.expires_at <= now)
    abandoned = and_(files.c.status == UPLOADING,
                     files.c.created_at < now - timedelta(seconds=abandoned_upload_s))
    removed = size = stale = 0
    while True:
        async with db.transaction() as tx:
            rows = await tx.fetch_all(
                select(files.c.id, files.c.status, files.c.bytes)
                .where(or_(expired, abandoned)).order_by(files.c.seq).limit(BATCH))
            await delete_files(tx, [r["id"] for r in rows])
        for row in rows:
            if row["status"] == PROCESSED:
                removed, size = removed + 1, size + int(row["bytes"])
            else:
                stale += 1
        if len(rows) < BATCH:
            return PurgeCounts(removed, size, stale)
