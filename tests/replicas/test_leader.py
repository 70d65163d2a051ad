"""corral.store.leader in process: one leader per database, and a successor when it goes.

The SIGKILL of a real leading replica is in test_sigkill.py; here the lock's mechanics, fast.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from corral.files.settings import FileSettings
from corral.jobs.queue import JobQueue
from corral.maintenance import PURGE_KIND, Maintenance
from corral.store import Database, migrate
from corral.store.leader import Leadership
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_url_with_schema

RETRY_S = 0.1


async def _pair(url: str) -> tuple[list[Database], list[Leadership]]:
    dbs = [await Database.connect(url), await Database.connect(url)]
    leaders = [Leadership(db, retry_s=RETRY_S) for db in dbs]
    for leader in leaders:
        await leader.start()
    return dbs, leaders


async def _hand_over(url: str) -> None:
    dbs, (first, second) = await _pair(url)
    try:
        assert (first.leading, second.leading) == (True, False)
        await asyncio.sleep(RETRY_S * 3)
        assert (first.leading, second.leading) == (True, False), "a follower never takes a held lock"
        await first.aclose()  # as its process's death would: the lock goes with the connection/file
        await asyncio.sleep(RETRY_S * 3)
        assert second.leading and second.stats() == {"active": 1.0, "changes": 1.0}
    finally:
        for leader in (first, second):
            await leader.aclose()
        for db in dbs:
            await db.close()


async def test_one_of_two_processes_on_a_sqlite_file_leads_and_the_other_takes_over(tmp_path: Path) -> None:
    await _hand_over(f"sqlite:///{tmp_path / 'corral.db'}")


async def test_one_of_two_processes_on_a_postgresql_schema_leads_and_the_other_takes_over() -> None:
    schema = await create_pg_schema()
    try:
        await _hand_over(pg_url_with_schema(schema))
    finally:
        await drop_pg_schema(schema)


async def test_schemas_of_one_postgresql_database_elect_separately() -> None:
    schemas = [await create_pg_schema(), await create_pg_schema()]
    dbs = [await Database.connect(pg_url_with_schema(s)) for s in schemas]
    leaders = [Leadership(db, retry_s=RETRY_S) for db in dbs]
    try:
        for leader in leaders:
            await leader.start()
        assert [leader.leading for leader in leaders] == [True, True]
    finally:
        for leader in leaders:
            await leader.aclose()
        for db in dbs:
            await db.close()
        for s in schemas:
            await drop_pg_schema(s)


async def test_a_leader_whose_connection_dies_steps_down() -> None:
    schema = await create_pg_schema()
    db = await Database.connect(pg_url_with_schema(schema))
    leader = Leadership(db, retry_s=RETRY_S)
    try:
        await leader.start()
        assert leader.leading
        assert leader._conn is not None
        pid = await leader._conn.scalar(text("SELECT pg_backend_pid()"))
        await db.execute(f"SELECT pg_terminate_backend({int(pid)})")  # as a cut network would
        await asyncio.sleep(RETRY_S * 4)
        assert leader.leading, "it took the lock again on a new connection (nobody else held it)"
        assert leader.changes == 3  # led, stepped down when its ping failed, led again
    finally:
        await leader.aclose()
        await db.close()
        await drop_pg_schema(schema)


async def test_an_in_memory_database_always_leads() -> None:
    db = await Database.connect("sqlite://")
    leader = Leadership(db)
    try:
        await leader.start()
        assert leader.leading
    finally:
        await leader.aclose()
        await db.close()


async def test_maintenance_offers_its_purge_only_while_this_process_leads(tmp_path: Path) -> None:
    db = await Database.connect(f"sqlite:///{tmp_path / 'corral.db'}")
    await migrate(db)
    queue = JobQueue(db)
    leading = False
    maintenance = Maintenance(db, queue, FileSettings(), interval_s=0.05, leads=lambda: leading)
    try:
        maintenance.start()
        await asyncio.sleep(0.3)
        assert await queue.list(kind=PURGE_KIND) == [], "a follower offered the purge"
        leading = True
        await asyncio.sleep(0.3)
        assert await queue.list(kind=PURGE_KIND)
    finally:
        await maintenance.aclose()
        await db.close()
