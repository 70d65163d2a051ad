"""Report jobs in SQLite (aiosqlite): every accepted job is on disk before it is answered 202."""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,              -- queued | in_progress | completed | failed
    report_type TEXT NOT NULL,
    customer TEXT NOT NULL,            -- JSON
    webhook_url TEXT,
    webhook_state TEXT,                -- NULL (none) | pending | delivered | failed
    response_id TEXT,                  -- Corral's resp_... once submitted
    report TEXT,
    error TEXT,
    usage TEXT,                        -- JSON
    created_at TEXT NOT NULL,
    completed_at TEXT,
    idempotency_key TEXT,              -- the client's Idempotency-Key header, if it sent one
    request_sha256 TEXT,               -- of the request it came with (a reuse must match it)
    finished_by TEXT                   -- how the service learned the response ended: webhook | poll
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
"""
# Added after the first release: a jobs table created before them gets them in `open()`.
ADDED_COLUMNS = {"idempotency_key": "TEXT", "request_sha256": "TEXT", "finished_by": "TEXT"}
KEY_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency_key ON jobs (idempotency_key)"
TERMINAL = ("completed", "failed")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobStore:
    """One connection; aiosqlite runs it on its own thread, so the event loop never blocks."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> JobStore:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.executescript(SCHEMA)
        async with self._db.execute("PRAGMA table_info(jobs)") as cursor:
            present = {row["name"] for row in await cursor.fetchall()}
        for name, kind in ADDED_COLUMNS.items():
            if name not in present:
                await self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
        await self._db.execute(KEY_INDEX)  # NULLs are distinct: jobs sent without a key never clash
        await self._db.commit()
        return self

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("JobStore is not open")
        return self._db

    async def create(self, report_type: str, customer: dict[str, Any], webhook_url: str | None, *,
                     idempotency_key: str | None = None, request_sha256: str | None = None) -> dict[str, Any]:
        """A new queued job; with a key, one INSERT that the unique index refuses (IntegrityError)
        when the key is already taken, so a job and its key are stored together or not at all."""
        job_id = "rep_" + secrets.token_hex(12)
        await self.db.execute(
            "INSERT INTO jobs (id, status, report_type, customer, webhook_url, webhook_state, created_at,"
            " idempotency_key, request_sha256) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
            (job_id, report_type, json.dumps(customer), webhook_url,
             "pending" if webhook_url else None, now(), idempotency_key, request_sha256),
        )
        await self.db.commit()
        job = await self.get(job_id)
        assert job is not None
        return job

    async def create_once(self, idempotency_key: str, request_sha256: str, report_type: str,
                          customer: dict[str, Any], webhook_url: str | None) -> tuple[dict[str, Any], bool]:
        """The job of ``idempotency_key``: ``(new job, True)`` the first time, ``(that job, False)``
        after, whatever its request was (the caller compares ``request_sha256``). Two requests with
        one key at once make one job: the second INSERT hits the unique index and reads the first's."""
        job = await self.by_key(idempotency_key)
        if job is not None:
            return job, False
        try:
            return await self.create(report_type, customer, webhook_url, idempotency_key=idempotency_key,
                                     request_sha256=request_sha256), True
        except sqlite3.IntegrityError:
            job = await self.by_key(idempotency_key)
            if job is None:
                raise
            return job, False

    async def by_key(self, idempotency_key: str) -> dict[str, Any] | None:
        async with self.db.execute("SELECT * FROM jobs WHERE idempotency_key = ?",
                                   (idempotency_key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _job(row)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        async with self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _job(row)

    async def update(self, job_id: str, **fields: Any) -> None:
        if "usage" in fields and fields["usage"] is not None:
            fields["usage"] = json.dumps(fields["usage"])
        if fields.get("status") in TERMINAL:
            fields.setdefault("completed_at", now())
        names = ", ".join(f"{name} = ?" for name in fields)
        await self.db.execute(f"UPDATE jobs SET {names} WHERE id = ?", (*fields.values(), job_id))
        await self.db.commit()

    async def unfinished(self) -> list[dict[str, Any]]:
        """Jobs to resume after a restart, oldest first: not finished, or finished with a webhook due."""
        async with self.db.execute(
            "SELECT * FROM jobs WHERE status NOT IN ('completed', 'failed') OR webhook_state = 'pending'"
            " ORDER BY created_at"
        ) as cursor:
            return [_job(row) for row in await cursor.fetchall()]


def _job(row: aiosqlite.Row) -> dict[str, Any]:
    job = dict(row)
    job["customer"] = json.loads(job["customer"])
    job["usage"] = json.loads(job["usage"]) if job["usage"] else None
    return job


def public(job: dict[str, Any]) -> dict[str, Any]:
    """The job as ``GET /reports/{id}`` and the webhook show it (no customer data echoed back)."""
    keys = ("id", "status", "report_type", "report", "error", "response_id", "usage", "created_at",
            "completed_at", "finished_by")
    return {key: job[key] for key in keys}
