"""pytest fixtures that run store-backed tests on every backend (test-only; needs pytest).

Import the fixtures into a ``conftest.py``::

    from corral.store.testing import backend, db, db_url, kv, migrated_db  # noqa: F401

Database fixtures are parametrized over SQLite (in ``tmp_path``) and
PostgreSQL (a fresh schema per test, dropped afterwards); ``kv`` over
:class:`MemoryKV` and Redis (a unique key prefix per test, deleted afterwards).
An unreachable PostgreSQL/Redis skips those params locally but fails when the
``CI`` environment variable is set, so CI proves both backends.

Env: ``CORRAL_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
``CORRAL_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from corral.store.db import Database
from corral.store.kv import KV, MemoryKV
from corral.store.kv_redis import RedisKV
from corral.store.migrations import migrate

T = TypeVar("T")

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
_CONNECT_TIMEOUT_S = 5.0
_unavailable: dict[str, str | None] = {}


def pg_test_url() -> str:
    return os.environ.get("CORRAL_TEST_PG_URL") or DEFAULT_PG_URL


def redis_test_url() -> str:
    """The test Redis, one database per pytest-xdist worker (gw0: the configured one, gw1: the one
    below it, ...): tests that run whole servers share the default key prefix, so parallel
    workers must not see each other's counters, breakers and revocations."""
    url = make_url(os.environ.get("CORRAL_TEST_REDIS_URL") or DEFAULT_REDIS_URL)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url.render_as_string(hide_password=False)
    db = int(url.database or 0) - int(worker[2:])
    if db < 0:
        raise RuntimeError(f"too many pytest-xdist workers for Redis databases below {url.database}")
    return url.set(database=str(db)).render_as_string(hide_password=False)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def backend_unavailable(name: str, reason: str) -> NoReturn:
    """Skip locally; fail in CI, where every backend must be exercised."""
    message = f"{name} unavailable: {reason}"
    if in_ci():
        pytest.fail(message + " (CI is set: all backends must run)", pytrace=False)
    pytest.skip(message)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a private loop in a worker thread (safe from sync fixtures/tests)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _pg_admin() -> Database:
    if reason := _unavailable.get("postgresql"):
        backend_unavailable("PostgreSQL", reason)
    try:
        admin = await asyncio.wait_for(Database.connect(pg_test_url()), _CONNECT_TIMEOUT_S)
    except Exception as e:
        reason = _unavailable["postgresql"] = f"{type(e).__name__}: {e}"
        backend_unavailable("PostgreSQL", reason)
        raise  # unreachable (it skips or fails); tells a reader, and ruff's BLE001, the error goes on
    _unavailable["postgresql"] = None
    return admin


async def create_pg_schema() -> str:
    schema = f"corral_test_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    return schema


async def drop_pg_schema(schema: str) -> None:
    admin = await Database.connect(pg_test_url())
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await admin.close()


def pg_url_with_schema(schema: str) -> str:
    """Test URL that :meth:`Database.connect` opens inside ``schema``."""
    url = make_url(pg_test_url()).update_query_dict({"schema": schema})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Database backend name for the current parametrization."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database on ``backend`` (usable from sync tests, e.g. CliRunner)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'corral.db'}"
        return
    schema = run_sync(create_pg_schema())
    try:
        yield pg_url_with_schema(schema)
    finally:
        run_sync(drop_pg_schema(schema))


@pytest_asyncio.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """Connected, *unmigrated* database on each backend."""
    database = await Database.connect(db_url)
    try:
        yield database
    finally:
        await database.close()


@pytest_asyncio.fixture
async def migrated_db(db: Database) -> Database:
    """``db`` with all migrations applied."""
    await migrate(db)
    return db


@pytest_asyncio.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    """A KV on each backend; Redis keys use a unique prefix that is deleted afterwards."""
    prefix = f"corral-test:{uuid.uuid4().hex[:12]}:"
    if request.param == "memory":
        yield MemoryKV(prefix=prefix)
        return
    store = RedisKV.from_url(redis_test_url(), prefix=prefix, socket_connect_timeout=_CONNECT_TIMEOUT_S)
    try:
        await store.client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        await store.close()
        backend_unavailable("Redis", f"{type(e).__name__}: {e}")
    try:
        yield store
    finally:
        keys = [k async for k in store.client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await store.client.delete(*keys)
        await store.close()
