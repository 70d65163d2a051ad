"""A started gateway (fake provider) with escalation to a loopback receiver, and its keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from corral.api.app import create_app
from corral.gateway import Gateway
from tests.conftest import settings_for

FAST_JOBS = {"poll_interval_s": 0.05, "retry_base_s": 0.1, "retry_max_s": 1.0, "lease_s": 3.0}


def stack_settings(home: Path, db_url: str | None, webhook_url: str | None, **escalation: Any) -> Any:
    extra: dict[str, Any] = {
        "jobs": FAST_JOBS,
        "governance": {"escalation": {"webhook_url": webhook_url, "backoff_base_s": 0.2, "backoff_max_s": 1.0,
                                      "timeout_s": 2.0, **escalation}},
    }
    if db_url is not None:
        extra["database_url"] = db_url
    return settings_for(home, {"fake": {"type": "fake"}},
                        {"echo": {"deployments": [{"provider": "fake", "model": "echo"}]},
                         "refusing": {"deployments": [{"provider": "fake", "model": "fail-policy"}]},
                         "cached": {"deployments": [{"provider": "fake", "model": "echo"}],
                                    "cache": {"exact": True}}},
                        **extra)


@dataclass
class Stack:
    gateway: Gateway
    client: httpx.AsyncClient
    keys: dict[str, str]  # role -> raw key

    def auth(self, role: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[role]}"}

    async def chat(self, text: str, role: str = "app", model: str = "echo") -> httpx.Response:
        return await self.client.post("/v1/chat/completions", headers=self.auth(role), json={
            "model": model, "messages": [{"role": "user", "content": text}], "user": "end-user-7"})

    async def records_flushed(self) -> None:
        await self.gateway.recorder.sink.flush()


@asynccontextmanager
async def started(settings: Any, *, keys: bool = True, run_jobs: bool = True) -> AsyncIterator[Stack]:
    gateway = await Gateway.start(settings, warmup=False, run_jobs=run_jobs)
    try:
        made: dict[str, str] = {}
        if keys:
            for role, team, scopes in (("app", "search", ["inference"]), ("other", "growth", ["inference"]),
                                       ("reviewer", "ops", ["reviewer"]), ("auditor", "ops", ["auditor"]),
                                       ("admin", "ops", ["admin"])):
                raw, _ = await gateway.keys.create(f"{role}-key", team, scopes)
                made[role] = raw
        app = create_app(settings, gateway=gateway)
        app.state.gateway = gateway  # ASGITransport runs no lifespan
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://corral", timeout=30) as client:
            yield Stack(gateway, client, made)
    finally:
        await gateway.stop()
