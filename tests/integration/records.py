"""Waiting for request records, which are written behind the requests in batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corral.observe.queries import recent
from corral.store import Database, default_database_url

Row = dict[str, Any]


async def stored_records(where: Path | Any, match: Callable[[Row], bool], expected: int = 1,
                         timeout_s: float = 10.0) -> list[Row]:
    """The newest records (of 500) that `match`, once `expected` of them are stored or time is up.

    `where`: a Corral home directory, or a running server (tests.conftest.RunningServer)."""
    home = where if isinstance(where, Path) else where.gateway.settings.home
    db = await Database.connect(default_database_url(home))
    try:
        deadline = time.monotonic() + timeout_s
        rows: list[Row] = []
        while time.monotonic() < deadline:
            rows = [r for r in await recent(db, limit=500) if match(r)]
            if len(rows) >= expected:
                break
            await asyncio.sleep(0.1)
        return rows
    finally:
        await db.close()
