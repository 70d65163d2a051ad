"""The dashboard's cost plan: `GET /admin/dashboard/cost-plan` on a real Corral, and the page's view."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from corral.store import Database, default_database_url
from corral.store.testing import run_sync
from tests.conftest import RunningServer
from tests.cost.plan_rows import first_day, insert, traffic_rows

PATH = "/admin/dashboard/cost-plan"


def _get(server: RunningServer, path: str, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.get(server.url + path, headers=headers, timeout=10)


def _seed(server: RunningServer) -> None:
    async def go() -> None:
        db = await Database.connect(default_database_url(server.gateway.settings.home))
        try:
            await insert(db, traffic_rows(first_day()))
        finally:
            await db.close()

    run_sync(go())


def test_cost_plan_endpoint_and_view(fake_server: RunningServer) -> None:
    assert _get(fake_server, PATH, None).status_code == 401
    assert _get(fake_server, PATH, fake_server.app_key).status_code == 403
    empty = _get(fake_server, PATH, fake_server.admin_key).json()
    assert empty["plan"] is None and "no chat requests recorded" in empty["reason"]

    _seed(fake_server)
    report = _get(fake_server, PATH + "?since=30d", fake_server.admin_key).json()
    assert report["plan"]["traffic"]["requests_per_day"] == 6
    assert report["result"]["costs"][0]["label"] == "gpt-4o-mini"
    assert "Requests per day: P50 6, P99 12, 10x 60" in report["text"]
    assert "requests_per_day: 6" in report["yaml"]
    for svg in report["charts"].values():
        assert svg.startswith("<svg") and "<script" not in svg and " style=" not in svg  # the page's CSP
    other_route = _get(fake_server, PATH + "?route=" + quote("no such route"), fake_server.admin_key).json()
    assert other_route["plan"] is None
    assert _get(fake_server, PATH + "?since=soon", fake_server.admin_key).status_code == 400

    page = _get(fake_server, "/dashboard", None).text
    script = _get(fake_server, "/dashboard/app.js", None).text
    assert 'id="plan-bars"' in page and PATH in script and "data:image/svg+xml" in script
