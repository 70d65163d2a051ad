"""One file being written: bytes in as they arrive, 1 MiB rows out, visible only once whole.

Why rows are written as the upload goes, each in its own short transaction: holding one
transaction open for a whole upload (a minute for a slow 200 MB client) would hold
SQLite's write lock that long and stall every other writer. The file row is `uploading`
until :meth:`Upload.commit` turns it `processed` in one transaction that also checks the
team's quota under a per-team lock (so two replicas cannot both fill the last slot). A
file under one chunk is written entirely by that commit. An upload that fails is deleted
by :meth:`Upload.abort`; one whose process died is left `uploading` for the purge.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, update

from corral.files.batch_lines import BatchFileChecker
from corral.files.errors import FileQuotaExceeded, FileTooLarge
from corral.files.rows import CHUNK_BYTES, PROCESSED, UPLOADING, chunk_data, team_usage
from corral.files.settings import FileSettings
from corral.files.types import MAX_EXPIRY_S, MIN_EXPIRY_S, PURPOSES, FileObject
from corral.store import Database, Transaction
from corral.store.schema import file_chunks, files

log = logging.getLogger("corral.files")


def team_lock(team: str) -> str:
    return f"corral.files.team:{team}"


class Upload:
    """Write with :meth:`write`, then :meth:`commit` (or :meth:`abort`); see the module."""

    def __init__(self, db: Database, settings: FileSettings, *, file_id: str, team: str,
                 key_id: str | None, filename: str, created_at: datetime, used_bytes: int,
                 purpose: str | None, limited: bool) -> None:
        self._db, self._settings = db, settings
        self.file_id, self.team, self.key_id, self.filename = file_id, team, key_id, filename
        self.created_at = created_at
        self.purpose = purpose
        self._used_bytes = used_bytes  # the team's bytes when the upload began
        self._limited = limited  # client uploads are; files Corral writes (batch output) are not
        self._buffer = bytearray()
        self._chunks = 0
        self.size = 0
        self.committed = False
        # Checked as it streams when the purpose came first; else read back at commit.
        self._checker = self._new_checker() if purpose == "batch" else None

    def _new_checker(self) -> BatchFileChecker:
        return BatchFileChecker(self._settings.max_batch_lines, self._settings.max_batch_line_bytes)

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._limited:
            self._check_size()
        if self._checker is not None:
            self._checker.feed(data)
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            piece = bytes(self._buffer[:CHUNK_BYTES])
            del self._buffer[:CHUNK_BYTES]
            async with self._db.transaction() as tx:
                if self._chunks == 0:
                    await self._insert_row(tx, UPLOADING, None, None)
                await self._insert_chunk(tx, piece)

    def _check_size(self) -> None:
        limit = self._settings.max_team_bytes
        if self.size > self._settings.max_file_bytes:
            raise FileTooLarge(self._settings.max_file_bytes)
        if limit is not None and self._used_bytes + self.size > limit:
            raise self._over_bytes(self._used_bytes, limit)

    def _over_bytes(self, used: int, limit: int) -> FileQuotaExceeded:
        return FileQuotaExceeded(
            f"Team '{self.team}' stores {used} bytes; this file would take it past its limit of "
            f"{limit} bytes (files.max_team_bytes). Delete files it no longer needs, or ask an "
            "operator to raise the limit.", param="file")

    async def commit(self, purpose: str | None = None, expires_after_s: int | None = None) -> FileObject:
        """Make the file visible, whole, with its purpose and expiry; returns it."""
        purpose = purpose or self.purpose
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}")
        if purpose == "batch":
            await self._check_batch()
        if expires_after_s is None:
            expires_after_s = self._settings.default_expiry_s.get(purpose)
        elif not MIN_EXPIRY_S <= expires_after_s <= MAX_EXPIRY_S:
            raise ValueError(f"expires_after_s {expires_after_s} is outside {MIN_EXPIRY_S}..{MAX_EXPIRY_S}")
        expires_at = None if expires_after_s is None else self.created_at + timedelta(seconds=expires_after_s)
        async with self._db.transaction() as tx:
            await tx.lock(team_lock(self.team))
            if self._limited:
                await self._check_quota(tx)
            if self._chunks == 0:
                await self._insert_row(tx, PROCESSED, purpose, expires_at)
            else:
                await tx.execute(update(files).where(files.c.id == self.file_id).values(
                    status=PROCESSED, purpose=purpose, bytes=self.size, expires_at=expires_at))
            if self._buffer:
                await self._insert_chunk(tx, bytes(self._buffer))
        self._buffer.clear()
        self.committed = True
        return FileObject(self.file_id, self.team, purpose, self.filename, self.size,
                          self.created_at, expires_at)

    async def _check_batch(self) -> None:
        if self._checker is None:  # the purpose came after the bytes: read them back once
            self._checker = self._new_checker()
            async for piece in self._written():
                self._checker.feed(piece)
        self._checker.finish()

    async def _written(self) -> AsyncIterator[bytes]:
        for idx in range(self._chunks):
            piece = await chunk_data(self._db, self.file_id, idx)
            if piece is None:
                raise RuntimeError(f"chunk {idx} of upload {self.file_id} vanished (purged?)")
            yield piece
        yield bytes(self._buffer)

    async def _check_quota(self, tx: Transaction) -> None:
        """The authoritative check, under the team's lock (another replica may have added files)."""
        count, used = await team_usage(tx, self.team, self.created_at)
        max_files, max_bytes = self._settings.max_files_per_team, self._settings.max_team_bytes
        if max_files is not None and count >= max_files:
            raise too_many_files(self.team, max_files)
        if max_bytes is not None and used + self.size > max_bytes:
            raise self._over_bytes(used, max_bytes)

    async def _insert_row(self, tx: Transaction, status: str, purpose: str | None,
                          expires_at: datetime | None) -> None:
        await tx.execute(files.insert().values(
            id=self.file_id, team=self.team, key_id=self.key_id, purpose=purpose,
            filename=self.filename, bytes=self.size, status=status, created_at=self.created_at,
            expires_at=expires_at))

    async def _insert_chunk(self, tx: Transaction, piece: bytes) -> None:
        await tx.execute(file_chunks.insert().values(file_id=self.file_id, idx=self._chunks, data=piece))
        self._chunks += 1

    async def abort(self) -> None:
        """Delete what was written; a failure here leaves an `uploading` row for the purge."""
        self._buffer.clear()
        if self.committed or self._chunks == 0:
            return
        try:
            async with self._db.transaction() as tx:
                await tx.execute(delete(file_chunks).where(file_chunks.c.file_id == self.file_id))
                await tx.execute(delete(files).where(
                    and_(files.c.id == self.file_id, files.c.status == UPLOADING)))
        except Exception as exc:  # noqa: BLE001 - the upload's own error is the one to report
            log.warning("could not remove the partial upload %s (the purge will): %s", self.file_id, exc)


def too_many_files(team: str, limit: int) -> FileQuotaExceeded:
    return FileQuotaExceeded(
        f"Team '{team}' already stores {limit} files, its limit (files.max_files_per_team). "
        "Delete files it no longer needs, or ask an operator to raise the limit.", param="file")

