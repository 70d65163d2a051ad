"""A real gateway that runs batches quickly, and helpers to feed it and read its records
(shared by the CLI, overview and dashboard tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from corral.api.app import create_app
from corral.observe.queries import recent
from corral.store import Database
from corral.store.testing import run_sync
from tests.conftest import RunningServer, database_on, serve_in_thread, settings_for

FINAL = ("completed", "failed", "expired", "cancelled")
PRICES = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}


@contextmanager
def batch_gateway(backend: str, tmp: Path, models: tuple[str, ...]) -> Iterator[tuple[RunningServer, str]]:
    """(server, database URL) on "sqlite" or "postgresql" (skipped when unreachable), the
    fake provider serving `models`, each priced, and the queue polled every 50 ms."""
    routes = {m: {"deployments": [{"provider": "fake", "model": m}]} for m in models}
    with database_on(backend, tmp) as url:
        settings = settings_for(
            tmp, {"fake": {"type": "fake"}}, routes, database_url=url,
            jobs={"poll_interval_s": 0.05, "concurrency": 4}, batches={"check_interval_s": 0.1},
            pricing={"models": dict.fromkeys(models, PRICES)},
        )
        for server in serve_in_thread(create_app(settings, warmup=False)):
            yield server, url


def chat_line(custom_id: str, model: str = "echo", **body: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"about {custom_id}"}], **body}}


def run_batch(server: RunningServer, key: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Upload, create and wait (up to 30 s) until the batch is final."""
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
        body = b"".join(orjson.dumps(line) + b"\n" for line in lines)
        uploaded = client.post("/v1/files", data={"purpose": "batch"}, files={"file": ("in.jsonl", body)})
        assert uploaded.status_code == 200, uploaded.text
        spec = {"input_file_id": uploaded.json()["id"], "endpoint": "/v1/chat/completions",
                "completion_window": "24h"}
        batch: dict[str, Any] = client.post("/v1/batches", json=spec).json()
        deadline = time.monotonic() + 30
        while batch["status"] not in FINAL and time.monotonic() < deadline:
            time.sleep(0.05)
            batch = client.get(f"/v1/batches/{batch['id']}").json()
        return batch


def batch_records(database_url: str, batch_id: str, n: int) -> list[dict[str, Any]]:
    """The batch's request records, waiting up to 10 s for `n` (they are written behind)."""
    async def read() -> list[dict[str, Any]]:
        db = await Database.connect(database_url)
        try:
            deadline = time.monotonic() + 10
            while True:
                rows = [r for r in await recent(db, limit=1000) if r["extras"].get("job_id") == batch_id]
                if len(rows) >= n or time.monotonic() > deadline:
                    return rows
                await asyncio.sleep(0.05)
        finally:
            await db.close()

    return run_sync(read())
