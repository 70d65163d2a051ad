"""A real Corral on SQLite or PostgreSQL that ingests quickly, and helpers for its stores."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import func, select

import corral.knowledge.wiring as wiring
from corral.api.app import create_app
from corral.config import LOCAL_EMBED_MODEL_NAME
from corral.knowledge.types import Document
from corral.knowledge.wiring import Parts
from corral.store import Database
from corral.store.schema import jobs
from corral.store.testing import run_sync
from tests.conftest import RunningServer, database_on, serve_in_thread, settings_for

#: The built-in embedding model, as the default configuration serves it.
EMBED_PROVIDERS = {"local-embed": {"type": "local-embed"}}
EMBED_ROUTES = {LOCAL_EMBED_MODEL_NAME: {"deployments": [{"provider": "local-embed",
                                                          "model": LOCAL_EMBED_MODEL_NAME}]}}


def held(parts: Parts, gates: dict[str, threading.Event]) -> Parts:
    """`parts` whose parser, for a file whose name holds a key of `gates`, waits for that
    gate: files that stay in progress as long as a test needs."""
    def read(data: bytes, filename: str, media_type: str) -> Document:
        for fragment, gate in gates.items():
            if fragment in filename:
                gate.wait(30)
        return parts.read(data, filename, media_type)

    return dataclasses.replace(parts, read=read)


@contextmanager
def kb_server(backend: str, tmp: Path, gates: dict[str, threading.Event] | None = None,
              chat: bool = False, **extra: Any) -> Iterator[RunningServer]:
    """A gateway on `backend` ("sqlite" or "postgresql"; see tests.conftest.database_on) whose
    queue is polled every 50 ms; `extra` settings (knowledge: {...}) on top. `gates`: see
    `held`. `chat`: also the route `echo`, the in-process fake provider that answers with the
    last user message (tests.fakes)."""
    providers: dict[str, Any] = {**EMBED_PROVIDERS, **({"fake": {"type": "fake"}} if chat else {})}
    routes: dict[str, Any] = {**EMBED_ROUTES, **(
        {"echo": {"deployments": [{"provider": "fake", "model": "echo"}]}} if chat else {})}
    with database_on(backend, tmp) as url:
        settings = settings_for(tmp, providers, routes, database_url=url,
                                jobs={"poll_interval_s": 0.05, "concurrency": 4}, **extra)
        patch = pytest.MonkeyPatch()
        real = wiring.default_parts
        patch.setattr(wiring, "default_parts",
                      lambda gateway: held(real(gateway), gates or {}))
        try:
            yield from serve_in_thread(create_app(settings, warmup=False))
        finally:
            patch.undo()


def client(server: RunningServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key or server.app_key, max_retries=0)


def wait_files(oa: openai.OpenAI, store_id: str, timeout_s: float = 30) -> Any:
    """The store once no file is in progress (or after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        store = oa.vector_stores.retrieve(store_id)
        if not store.file_counts.in_progress or time.monotonic() > deadline:
            return store
        time.sleep(0.05)


def ingest_idle(server: RunningServer, timeout_s: float = 30) -> None:
    """Wait until no ingestion job is queued or running (a cancelled one has stopped)."""
    async def busy() -> int:
        db = await Database.connect(server.gateway.db.url)
        try:
            return int(await db.fetch_val(select(func.count()).select_from(jobs).where(
                jobs.c.kind == "kb_ingest", jobs.c.status.in_(("queued", "in_progress", "cancelling")))))
        finally:
            await db.close()

    deadline = time.monotonic() + timeout_s
    while run_sync(busy()) and time.monotonic() < deadline:
        time.sleep(0.05)
