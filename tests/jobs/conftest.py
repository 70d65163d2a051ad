"""Job-queue fixtures on SQLite and PostgreSQL, with short leases so the suite stays fast.

PostgreSQL tests share one migrated schema for the session and start from an empty
``jobs`` table (a schema and its migrations per test cost ~0.5 s each here); SQLite tests
get a fresh copy of a file migrated once. An unreachable PostgreSQL skips locally and fails under CI.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from corral.jobs.queue import JobQueue
from corral.jobs.settings import JobSettings
from corral.store.db import Database
from corral.store.migrations import migrate
from corral.store.schema import jobs, utcnow
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_url_with_schema, run_sync

FAST = {"concurrency": 4, "poll_interval_s": 0.05, "lease_s": 1.0, "max_attempts": 3,
        "retry_base_s": 0.02, "retry_max_s": 0.05, "shutdown_timeout_s": 1.0}


class FakeClock:
    """A clock tests move by hand, so lease expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _migrated(url: str) -> None:
    db = await Database.connect(url)
    try:
        await migrate(db)
    finally:
        await db.close()


@pytest.fixture(scope="session")
def pg_jobs_url() -> Iterator[str]:
    schema = run_sync(create_pg_schema())
    url = pg_url_with_schema(schema)
    try:
        run_sync(_migrated(url))
        yield url
    finally:
        run_sync(drop_pg_schema(schema))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("jobs") / "template.db"
    run_sync(_migrated(f"sqlite:///{path}"))
    return path


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def jobs_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database with an empty jobs table, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "corral.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_jobs_url")
    db = await Database.connect(url)
    try:
        await db.execute(jobs.delete())
        yield db
    finally:
        await db.close()


@pytest.fixture
def settings() -> JobSettings:
    return JobSettings(**FAST)


@pytest.fixture
def queue(jobs_db: Database, settings: JobSettings) -> JobQueue:
    return JobQueue(jobs_db, settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def other_db(jobs_db: Database) -> AsyncIterator[Database]:
    """A second connection pool on the same database: another process, as far as locks go."""
    other = await Database.connect(jobs_db.url)
    try:
        yield other
    finally:
        await other.close()
