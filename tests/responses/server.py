"""A real Corral for the Responses API tests: fake models, a redacting route, small limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from corral.api.app import create_app
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_url_with_schema, run_sync
from tests.conftest import RunningServer, serve_in_thread, settings_for

MAX_BODY = 64 * 1024  # server.max_body_bytes: small, so 413s and conversation limits are quick
MODELS = ["echo", "tool-call", "break-after-2", "slow", "fail-429"]


def settings(home: Path, database_url: str | None = None) -> Any:
    fake = {"provider": "fake"}
    models: dict[str, Any] = {n: {"deployments": [{**fake, "model": n}], "retry": {"max_attempts": 1}}
                              for n in MODELS}
    models["private"] = {"deployments": [{**fake, "model": "echo"}], "privacy": {"policy": "redact"}}
    extra: dict[str, Any] = {"database_url": database_url} if database_url else {}
    return settings_for(home, {"fake": {"type": "fake"}}, models, server={"max_body_bytes": MAX_BODY},
                        jobs={"poll_interval_s": 0.05},
                        pricing={"models": {"echo": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}},
                        **extra)


def serve(tmp_path_factory: pytest.TempPathFactory, backend: str = "sqlite") -> Iterator[RunningServer]:
    """A server on SQLite, or on a fresh PostgreSQL schema (skipped locally when unreachable)."""
    home = tmp_path_factory.mktemp(f"responses-{backend}")
    schema = run_sync(create_pg_schema()) if backend == "postgresql" else None
    url = pg_url_with_schema(schema) if schema else None
    try:
        app = create_app(settings(home, url), warmup=False)  # the gateway registers background work itself
        yield from serve_in_thread(app)
    finally:
        if schema is not None:
            run_sync(drop_pg_schema(schema))


def client(server: RunningServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key or server.app_key, max_retries=0)
