"""Builders and fakes shared by the request-record tests (no tests here).

Kept out of a conftest.py because other suites share this directory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from corral.core.context import Attempt, Caller, RequestContext
from corral.core.types import ChatRequest, Message, Usage
from corral.observe.builder import build_record
from corral.observe.record import RequestRecord
from corral.store.db import Database, Transaction


def make_ctx(n: int = 0, *, stream: bool = False, model: str = "fast", **extras: Any) -> RequestContext:
    """A context as the pipeline leaves it after a request served on its second attempt."""
    request = ChatRequest(
        model=model,
        messages=[Message("system", "Be brief."), Message("user", f"Hello {n}, I am alice@example.com")],
        stream=stream,
        include_usage=stream,
        user="end-user-7",
    )
    ctx = RequestContext(request_id=f"req_{n:06d}", request=request,
                         caller=Caller("key_abc", "app", "growth", frozenset({"inference"})))
    ctx.started = time.perf_counter() - 0.2
    ctx.public_model = "gpt-main"
    ctx.attempts = [
        Attempt("openai/gpt-4o", "openai", "gpt-4o", "error", "UpstreamRateLimited", 12.0),
        Attempt("azure/gpt-4o", "azure", "gpt-4o-2024", "ok", None, 80.0),
    ]
    ctx.upstream_first_byte_at = ctx.started + 0.1
    ctx.served_model = "gpt-4o-2024"
    ctx.deployment = "azure/gpt-4o"
    ctx.usage = Usage(120, 30, cached_tokens=64, reasoning_tokens=8)
    ctx.degraded = extras.pop("degraded", None)
    ctx.routing.fallback = "azure/gpt-4o"
    ctx.routing.retry_stopped = "deadline"
    ctx.cache_key = extras.pop("cache_key", None)
    ctx.routing.breaker_open = extras.pop("breaker_open", None)
    ctx.extras.update(extras)  # a plugin's notes: never copied onto the record
    return ctx


def make_record(n: int = 0, **kw: Any) -> RequestRecord:
    """A realistic record; keyword arguments override its fields."""
    ctx = make_ctx(n)
    record = build_record(ctx, http_status=200, error=None, client_first_byte_at=ctx.started + 0.11,
                          finished_at=ctx.started + 0.2, capture_content=True, cost=(0.0012, True),
                          response_text=f"Hi {n}")
    for name, value in kw.items():
        setattr(record, name, value)
    return record


class FlakyDB:
    """A Database stand-in that can be down or slow; otherwise it forwards to a real one."""

    def __init__(self, inner: Database, *, down: bool = False, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.down = down
        self.delay_s = delay_s
        self.transactions = 0

    @property
    def dialect(self) -> str:
        return self.inner.dialect

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("database is down (test)")

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[Transaction]:
        self._check()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.transactions += 1
        async with self.inner.transaction(readonly=readonly) as tx:
            yield tx

    async def fetch_val(self, stmt: Any, params: Any = None) -> Any:
        self._check()
        return await self.inner.fetch_val(stmt, params)


async def count_rows(db: Database) -> tuple[int, int]:
    """(rows, distinct request ids) in ``requests``."""
    row = await db.fetch_one("SELECT COUNT(*) AS n, COUNT(DISTINCT request_id) AS d FROM requests")
    assert row is not None
    return int(row["n"]), int(row["d"])


async def wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    """Poll ``predicate()`` until true (fails the test on timeout)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
