"""`FileStore`: the Files API's one entry point, for the HTTP edge and the batch runner alike.

Every read is scoped to an owner (a team, or with `ownership: key` a team's key:
corral.core.ownership): a file out of scope, an expired one and a missing id all raise the
same `FileNotFound`, so no caller can learn that another team's (or key's) file exists.
The bytes live in the database (`files` + `file_chunks`), so any replica serves any file.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import select

from corral.core.errors import InvalidRequest
from corral.core.ownership import Owner
from corral.files.errors import FileNotFound
from corral.files.rows import chunk_data, delete_files, file_from_row, team_usage, visible
from corral.files.settings import FileSettings
from corral.files.types import MAX_FILENAME_CHARS, FileObject, FilePage
from corral.files.upload import Upload, too_many_files
from corral.store import Database
from corral.store.ownership import owned_by
from corral.store.schema import files, utcnow


def new_file_id() -> str:
    """`file-` + 96 random bits: unguessable, though ownership, not secrecy, guards a file."""
    return "file-" + secrets.token_hex(12)


class FileStore:
    """Create, read, list and delete a team's files (see the module docstring)."""

    def __init__(self, db: Database, settings: FileSettings | None = None,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings or FileSettings()
        self.now = now

    @asynccontextmanager
    async def upload(self, team: str, filename: str, *, key_id: str | None = None,
                     purpose: str | None = None, limited: bool = True) -> AsyncIterator[Upload]:
        """An upload to write into; removed again unless committed inside the block.

        `purpose` may be left for `commit` (a form may send it after the file). `limited`
        applies the size and team limits: client uploads are; files Corral writes are not.
        """
        if len(filename) > MAX_FILENAME_CHARS:
            raise ValueError(f"filename longer than {MAX_FILENAME_CHARS} characters")
        now = self.now()
        async with self.db.transaction(readonly=True) as tx:
            count, used = await team_usage(tx, team, now)
        limit = self.settings.max_files_per_team
        if limited and limit is not None and count >= limit:
            raise too_many_files(team, limit)  # before a byte of the file is read
        upload = Upload(self.db, self.settings, file_id=new_file_id(), team=team, key_id=key_id,
                        filename=filename, created_at=now, used_bytes=used, purpose=purpose,
                        limited=limited)
        try:
            yield upload
        finally:
            if not upload.committed:
                await upload.abort()

    async def create(self, team: str, purpose: str, filename: str, chunks: AsyncIterator[bytes], *,
                     key_id: str | None = None, expires_after_s: int | None = None,
                     limited: bool = True) -> FileObject:
        """Store a file from an async stream of bytes (never the whole file in memory)."""
        async with self.upload(team, filename, key_id=key_id, purpose=purpose, limited=limited) as up:
            async for chunk in chunks:
                await up.write(chunk)
            return await up.commit(expires_after_s=expires_after_s)

    async def create_from_bytes(self, team: str, purpose: str, filename: str, data: bytes) -> FileObject:
        """A file Corral writes itself (a batch's output or error file): no client limits apply."""

        async def once() -> AsyncIterator[bytes]:
            yield data

        return await self.create(team, purpose, filename, once(), limited=False)

    async def get(self, file_id: str, owner: Owner) -> FileObject:
        row = await self.db.fetch_one(select(files).where(
            files.c.id == file_id, owned_by(files, owner), visible(self.now())))
        if row is None:
            raise FileNotFound(file_id)
        return file_from_row(row)

    async def open(self, file_id: str, owner: Owner) -> tuple[FileObject, AsyncIterator[bytes]]:
        """The file and its bytes, chunk by chunk. Raises FileNotFound before any byte is read;
        a file deleted while being read raises it from the iterator (the edge cuts the stream)."""
        found = await self.get(file_id, owner)
        return found, self._chunks(found)

    async def read(self, file_id: str, owner: Owner) -> bytes:
        """The whole file in memory: for small files only (a batch's error file, tests)."""
        _, chunks = await self.open(file_id, owner)
        return b"".join([chunk async for chunk in chunks])

    async def _chunks(self, found: FileObject) -> AsyncIterator[bytes]:
        sent, idx = 0, 0
        while sent < found.bytes:
            data = await chunk_data(self.db, found.id, idx)
            if data is None:
                raise FileNotFound(found.id)
            sent += len(data)
            idx += 1
            yield data

    async def list(self, owner: Owner, *, purpose: str | None = None, limit: int = 10_000,
                   order: str = "desc", after: str | None = None) -> FilePage:
        """A page of the team's files by creation order; `after` is the previous page's last id."""
        query = select(files).where(owned_by(files, owner), visible(self.now()))
        if purpose is not None:
            query = query.where(files.c.purpose == purpose)
        if after is not None:
            seq = await self.db.fetch_val(
                select(files.c.seq).where(files.c.id == after, owned_by(files, owner)))
            if seq is None:  # the same answer for another team's id: nothing leaks
                raise InvalidRequest(f"'after' names no file of this list: {after!r}. Pass the id of the "
                                     "last file of the previous page.", param="after")
            query = query.where(files.c.seq < seq if order == "desc" else files.c.seq > seq)
        ordering = files.c.seq.desc() if order == "desc" else files.c.seq.asc()
        rows = await self.db.fetch_all(query.order_by(ordering).limit(limit + 1))
        return FilePage([file_from_row(r) for r in rows[:limit]], has_more=len(rows) > limit)

    async def delete(self, file_id: str, owner: Owner) -> None:
        async with self.db.transaction() as tx:
            found = await tx.fetch_val(select(files.c.id).where(
                files.c.id == file_id, owned_by(files, owner), visible(self.now())))
            if found is None:
                raise FileNotFound(file_id)
            await delete_files(tx, [file_id])
