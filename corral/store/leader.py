"""One leader among the processes sharing a database, for work that must run once per system.

Replicas are stateless and identical, but a few loops (scheduled maintenance, alert
evaluation) would run once per replica: duplicate webhooks, duplicate purges. The leader is
whoever holds a lock the database (or the kernel) releases by itself when its holder dies,
so there is no lease to renew and no clock to trust:

- PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection kept open for the process's
  lifetime. A SIGKILLed leader's connection closes and PostgreSQL frees the lock; a follower
  takes it at its next try (every ``retry_s``). The leader pings its connection at the same
  pace and steps down as soon as the ping fails (the lock went with the connection). The key
  includes the schema, so deployments (and tests) sharing one database elect separately.
- SQLite file: ``fcntl.flock`` on ``<database>.leader``, for several processes on one machine.
- In-memory SQLite (one process by construction), or no ``fcntl``: always the leader.

`leading` is a plain attribute: loops read it before each pass, and /metrics shows it
(``corral_leader_active``), so an operator sees which replica leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from corral.store.db import Database, lock_id

try:
    import fcntl
except ImportError:  # not on Windows: a lone process there leads
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("corral.store.leader")
LOCK_NAME = "corral.leader"
RETRY_S = 2.0  # how long a dead leader's work waits at most for a follower to take over (+ ping)


class Leadership:
    """Tries to become (and stay) the leader; ``start()`` makes the first attempt before returning."""

    def __init__(self, db: Database, *, retry_s: float = RETRY_S) -> None:
        self.db = db
        self.retry_s = retry_s
        self.leading = False
        self.changes = 0  # times this process became the leader or stepped down
        self._conn: AsyncConnection | None = None
        self._file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        database = db.url.database or ""
        self._mode = ("postgresql" if db.dialect == "postgresql"
                      else "always" if database in ("", ":memory:") or fcntl is None else "file")
        self._key = lock_id(f"{LOCK_NAME}:{db.schema or ''}")
        self._path = Path(f"{database}.leader") if self._mode == "file" else None

    async def start(self) -> None:
        await self._attempt()
        if self._mode != "always" and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="corral leadership")

    def stats(self) -> dict[str, float]:
        """The /metrics gauge source: ``corral_leader_active`` 0/1 and the changes counter."""
        return {"active": float(self.leading), "changes": float(self.changes)}

    async def aclose(self) -> None:
        if self._task is not None:  # (corral.core.tasks.cancel_and_wait: the store imports only itself)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._release()
        self.leading = False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            await self._attempt()

    async def _attempt(self) -> None:
        try:
            check = self._hold() if self.leading else self._acquire()
            leading = await asyncio.wait_for(check, max(self.retry_s, 5.0))  # a blackholed link too
        except Exception as exc:  # noqa: BLE001 - an unreachable database makes nobody leader here
            log.debug("leadership check failed: %s", exc)
            await self._release()
            leading = False
        if leading != self.leading:
            self.changes += 1
            log.info("this process %s the leader", "is now" if leading else "is no longer")
        self.leading = leading

    async def _acquire(self) -> bool:
        if self._mode == "always":
            return True
        if self._mode == "file":
            return self._lock_file()
        if self._conn is None:
            self._conn = await self.db.engine.connect()
        got = await self._conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
        await self._conn.commit()  # session-level lock: it outlives the transaction, not the connection
        return bool(got)

    async def _hold(self) -> bool:
        """Still the leader: the file lock cannot be lost; the connection (and its lock) can."""
        if self._conn is not None:
            await self._conn.scalar(text("SELECT 1"))
            await self._conn.commit()
        return True

    def _lock_file(self) -> bool:
        assert self._path is not None and fcntl is not None
        if self._file is None:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing returns the lock; a dead link already did
                await _close(conn)
        file, self._file = self._file, None
        if file is not None:
            file.close()  # the kernel drops the flock with the last descriptor


async def _close(conn: AsyncConnection) -> None:
    """Close without putting a connection that holds a session lock back in the pool."""
    await conn.invalidate()
    await conn.close()
