"""A real Corral on SQLite or PostgreSQL with small file limits, plus helpers for its files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.api.app import create_app
from corral.store import Database
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_url_with_schema, run_sync
from tests.conftest import RunningServer, fake_settings, serve_in_thread

MIB = 1024 * 1024
MAX_FILE = 3 * MIB  # small, so oversize uploads are quick; still three chunks
MAX_JSON_BODY = MIB  # server.max_body_bytes: below the file limit, to show it does not apply


def serve_files(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """For a module fixture parametrized with "sqlite" and "postgresql" (skipped when unreachable)."""
    tmp = tmp_path_factory.mktemp(f"files-{request.param}")
    schema = None
    url = f"sqlite:///{tmp / 'corral.db'}"
    if request.param == "postgresql":
        schema = run_sync(create_pg_schema())
        url = pg_url_with_schema(schema)
    settings = fake_settings(Path(tmp), database_url=url, server={"max_body_bytes": MAX_JSON_BODY},
                             files={"max_file_bytes": MAX_FILE})
    try:
        yield from serve_in_thread(create_app(settings, warmup=False))
    finally:
        if schema is not None:
            run_sync(drop_pg_schema(schema))


def new_key(server: RunningServer, team: str, scopes: tuple[str, ...] = ("inference",)) -> str:
    r = httpx.post(server.url + "/admin/keys", json={"name": f"k-{team}", "team": team, "scopes": scopes},
                   headers={"authorization": f"Bearer {server.admin_key}"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def stored(server: RunningServer, team: str) -> tuple[int, int]:
    """(files rows, chunk rows) the team has in the database, uploads in progress included."""

    async def count() -> tuple[int, int]:
        db = await Database.connect(server.gateway.db.url)
        try:
            files = await db.fetch_val("SELECT count(*) FROM files WHERE team = :t", {"t": team})
            chunks = await db.fetch_val("SELECT count(*) FROM file_chunks c JOIN files f ON f.id = c.file_id "
                                        "WHERE f.team = :t", {"t": team})
            return int(files), int(chunks)
        finally:
            await db.close()

    return run_sync(count())
