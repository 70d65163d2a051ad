"""/metrics reports the answering process's live asyncio tasks (bench/soak.py reads it)."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

from starlette.applications import Starlette
from starlette.requests import Request

from corral.api.metrics import metrics_endpoint
from corral.observe.metrics import Metrics
from corral.observe.tracing import ObservabilitySettings


async def _tasks_reported() -> int:
    app = Starlette()
    app.state.gateway = SimpleNamespace(
        metrics=Metrics(), settings=SimpleNamespace(observability=ObservabilitySettings(metrics_public=True)))
    request = Request({"type": "http", "method": "GET", "path": "/metrics", "headers": [],
                       "query_string": b"", "app": app})
    body = bytes((await metrics_endpoint(request)).body).decode()
    assert "# TYPE corral_process_asyncio_tasks gauge" in body
    found = re.search(r"^corral_process_asyncio_tasks (\d+)$", body, re.M)
    assert found, body
    return int(found[1])


async def test_the_task_gauge_follows_live_tasks() -> None:
    before = await _tasks_reported()
    release = asyncio.Event()
    waiting = [asyncio.create_task(release.wait()) for _ in range(5)]
    await asyncio.sleep(0)
    assert await _tasks_reported() == before + 5
    release.set()
    await asyncio.gather(*waiting)
    assert await _tasks_reported() == before
