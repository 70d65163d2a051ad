"""One real Corral (fake provider) with known traffic, shared by the dashboard tests.

The dashboard routes are appended to the app here until corral.api.app registers them;
an alert engine is started on the server's loop the way the gateway will start it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from corral.api import dashboard
from corral.api.app import create_app
from corral.observe.alerts import AlertEngine, AlertRule, AlertSettings
from tests.conftest import RunningServer, fake_settings, serve_in_thread

PLAN = [("echo", False)] * 5 + [("echo", True)] * 3 + [("no-usage", False)] + [("fail-context", False)] * 2


@dataclass
class Traffic:
    server: RunningServer
    ok_ids: list[str] = field(default_factory=list)
    error_ids: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return self.ok_ids + self.error_ids

    def admin(self, path: str, key: str | None = "admin") -> httpx.Response:
        headers = {} if key is None else {
            "authorization": f"Bearer {self.server.admin_key if key == 'admin' else key}"}
        return httpx.get(self.server.url + path, headers=headers, timeout=10)


@pytest.fixture(scope="package")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    started: dict[str, Any] = {}

    def on_start(gateway: Any) -> None:
        rules = [AlertRule(name="slow", kind="latency_p99", threshold=60_000, window_s=3600),
                 AlertRule(name="errors", kind="error_rate", threshold=0.05, window_s=3600)]
        gateway.alerts = AlertEngine(gateway.db, AlertSettings(rules=rules, interval_s=0.2))
        gateway.alerts.start()
        started["loop"] = asyncio.get_running_loop()

    app = create_app(fake_settings(tmp_path_factory.mktemp("dash")), warmup=False, on_start=on_start)
    app.router.routes.extend(dashboard.ROUTES)
    for server in serve_in_thread(app):
        t = Traffic(server)
        with httpx.Client(base_url=server.url, timeout=10,
                          headers={"authorization": f"Bearer {server.app_key}"}) as client:
            for model, stream in PLAN:
                body = {"model": model, "stream": stream,
                        "messages": [{"role": "user", "content": "hi there"}]}
                resp = client.post("/v1/chat/completions", json=body)
                if stream:
                    resp.read()
                (t.ok_ids if resp.status_code == 200 else t.error_ids).append(resp.headers["x-request-id"])
        deadline = time.monotonic() + 10  # records are written behind the response
        while len(t.admin("/admin/requests?limit=1000").json()["data"]) < len(PLAN):
            assert time.monotonic() < deadline, "request records were not written"
            time.sleep(0.05)
        yield t
        asyncio.run_coroutine_threadsafe(server.gateway.alerts.aclose(), started["loop"]).result(5)
