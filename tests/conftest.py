"""Shared fixtures: a real Corral server on 127.0.0.1 backed by fake or simulated upstreams."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from corral.api.app import create_app
from corral.api.server import EdgeLimits, protocol_class
from corral.config import ServerSettings, Settings
from corral.providers.registry import register_provider_type
from corral.store.testing import (
    backend_unavailable,
    create_pg_schema,
    drop_pg_schema,
    pg_url_with_schema,
    run_sync,
)
from tests.fakes import FakeProvider

register_provider_type("fake", FakeProvider)


@dataclass
class RunningServer:
    url: str
    app: Any
    server: uvicorn.Server

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway

    @property
    def app_key(self) -> str:
        return self.gateway.bootstrap.default_key

    @property
    def admin_key(self) -> str:
        return self.gateway.bootstrap.admin_key


def serve_in_thread(app: Any, **options: Any) -> Iterator[RunningServer]:
    """Run uvicorn on a free port in a thread (TestClient would buffer streams).

    By default with the protocol `corral serve` runs (edge limits at their defaults), so tests
    see what users do; `options` override any uvicorn.Config argument.
    """
    defaults: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0, "loop": "asyncio", "log_level": "warning", "lifespan": "on",
        "http": protocol_class(EdgeLimits.from_settings(ServerSettings())),
    }
    server = uvicorn.Server(uvicorn.Config(app, **{**defaults, **options}))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server failed to start")
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def database_on(backend: str, tmp: Path) -> Iterator[str]:
    """A database URL on `backend` for a test server: a SQLite file in `tmp`, or a fresh
    PostgreSQL schema dropped afterwards (unreachable: skipped locally, a failure under CI)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'corral.db'}"
        return
    try:
        schema = run_sync(create_pg_schema())
    except OSError as exc:
        backend_unavailable("PostgreSQL", str(exc))
    try:
        yield pg_url_with_schema(schema)
    finally:
        run_sync(drop_pg_schema(schema))


def settings_for(tmp_path: Path, providers: dict[str, Any], models: dict[str, Any], **extra: Any) -> Settings:
    return Settings.model_validate({
        "providers": providers,
        "models": models,
        "home": str(tmp_path / "home"),
        **extra,
    })


def fake_settings(tmp_path: Path, **extra: Any) -> Settings:
    names = ["echo", "no-usage", "fail-429", "fail-context", "break-after-2"]
    return settings_for(
        tmp_path,
        {"fake": {"type": "fake"}},
        {n: {"deployments": [{"provider": "fake", "model": n}]} for n in names},
        **extra,
    )


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[RunningServer]:
    app = create_app(fake_settings(tmp_path), warmup=False)
    yield from serve_in_thread(app)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL on a fresh schema, dropped after the test (for `corral serve` processes).
    Skips only when PostgreSQL is unreachable (fails under CI=true)."""
    schema = run_sync(create_pg_schema())
    try:
        yield pg_url_with_schema(schema)
    finally:
        run_sync(drop_pg_schema(schema))
