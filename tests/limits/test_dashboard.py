"""`GET /admin/dashboard/budgets` on a real Corral, and the page's Budgets view."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from corral.api.app import create_app
from corral.store import Database, default_database_url
from corral.store.testing import run_sync
from tests.conftest import RunningServer, fake_settings, serve_in_thread
from tests.limits.records import insert, record

PATH = "/admin/dashboard/budgets"


def _get(server: RunningServer, path: str, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.get(server.url + path, headers=headers, timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    limits = {"teams": {"research": {"usd_per_day": 2}}, "every_team": {"rpm": 50}}
    settings = fake_settings(tmp_path, limits=limits)
    yield from serve_in_thread(create_app(settings, warmup=False))


def test_budgets_endpoint_and_view(server: RunningServer) -> None:
    assert _get(server, PATH, None).status_code == 401
    assert _get(server, PATH, server.app_key).status_code == 403

    async def seed() -> None:
        db = await Database.connect(default_database_url(server.gateway.settings.home))
        try:
            now = datetime.now(UTC)
            await insert(db, record(now - timedelta(seconds=2), 1.75, team="research"),
                         record(now - timedelta(seconds=1), 0.0, team="ml"))
        finally:
            await db.close()

    run_sync(seed())
    doc = _get(server, PATH, server.admin_key).json()
    assert doc["configured"] is True
    lines = {(d["value"], d["metric"]): d for d in doc["data"]}
    research = lines[("research", "usd_per_day")]
    assert research["spent"] == pytest.approx(1.75) and research["state"] == "soft"  # soft: 0.8 x $2
    assert research["forecast"] >= research["spent"] and research["hard"] == 2
    assert lines[("ml", "rpm")]["rule"] == "every_team" and lines[("ml", "rpm")]["spent"] == 1

    page = _get(server, "/dashboard", None).text
    script = _get(server, "/dashboard/app.js", None).text
    assert 'id="budget-lines"' in page and PATH in script and "budgetBar" in script


def test_without_limits_the_endpoint_says_so(fake_server: RunningServer) -> None:
    doc = _get(fake_server, PATH, fake_server.admin_key).json()
    assert doc == {"at": doc["at"], "configured": False, "docs": "docs/limits.md", "data": []}
