"""State files are private to the service user, whatever the umask (issue 8, item 16).

The home directory and the spool directory are 0700; the SQLite database, its -wal and
-shm files and spool segments are 0600. Directories Corral did not create keep their mode.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.observe.queries import record_row
from corral.observe.spool import Spool
from corral.store.db import Database, default_database_url
from tests.conftest import fake_settings
from tests.observe.test_sink_support import make_record


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_sqlite_home_database_wal_and_shm_are_private(tmp_path: Path, umask: int) -> None:
    home = tmp_path / "nested" / "home"

    async def use() -> None:
        db = await Database.connect(default_database_url(home))
        try:
            await db.execute("CREATE TABLE t (x INTEGER)")
            await db.execute("INSERT INTO t VALUES (1)")
            for suffix in ("-wal", "-shm"):  # open while the connection is
                assert mode(home / f"corral.db{suffix}") == 0o600, suffix
        finally:
            await db.close()

    asyncio.run(use())
    assert mode(home) == 0o700
    assert mode(tmp_path / "nested") == 0o700  # created by Corral too
    assert mode(home / "corral.db") == 0o600


def test_an_existing_directory_keeps_its_mode(tmp_path: Path, umask: int) -> None:
    tmp_path.chmod(0o755)

    async def use() -> None:
        db = await Database.connect(f"sqlite:///{tmp_path / 'x.db'}")
        await db.close()

    asyncio.run(use())
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "x.db") == 0o600


def test_spool_directory_and_segments_are_private(tmp_path: Path, umask: int) -> None:
    spool = Spool(tmp_path / "home" / "spool", max_bytes=2**20, segment_bytes=2**20)
    spool.open()
    try:
        assert spool.append([record_row(make_record(1))]) == 1
    finally:
        spool.close()
    assert mode(tmp_path / "home") == 0o700
    assert mode(tmp_path / "home" / "spool") == 0o700
    segments = list((tmp_path / "home" / "spool").glob("*.jsonl"))
    assert segments and all(mode(p) == 0o600 for p in segments)


def test_a_started_gateway_leaves_private_state(tmp_path: Path) -> None:
    settings = fake_settings(tmp_path)
    with TestClient(create_app(settings, warmup=False)):
        pass
    home = settings.home
    assert mode(home) == 0o700 and mode(home / "spool") == 0o700
    assert mode(home / "corral.db") == 0o600
    others = [p for p in home.rglob("*") if p.is_file() and mode(p) & 0o077]
    assert not others, others


def test_a_readable_existing_database_is_reported_not_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    file = tmp_path / "old.db"
    file.touch()
    file.chmod(0o644)

    async def use() -> None:
        db = await Database.connect(f"sqlite:///{file}")
        await db.close()

    asyncio.run(use())
    assert mode(file) == 0o644  # an operator's choice stays; the log says what to do
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
