"""GET /admin/policy-events (handler called directly) and `corral policy-events` via CliRunner."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from starlette.requests import Request

from corral.api.policy_events import list_policy_events
from corral.auth.service import KeyService
from corral.config import Settings
from corral.core.errors import AuthError, InvalidRequest, PermissionDenied
from corral.governance.cli import policy_events
from corral.governance.policy_events import PolicyEventStore
from corral.store import Database, migrate
from corral.store.testing import run_sync
from tests.governance.util import event

EVENTS = [
    event(0, category="violence"),
    event(1, category="self_harm", route="claude", key_id="key_b", stream=True,
          message="The response was filtered due to the prompt triggering Azure's content management policy"),
    event(2, category="violence", route="claude"),
]


class Admin(SimpleNamespace):
    gateway: Any
    admin: str
    user: str


@pytest.fixture
async def api(migrated_db: Database) -> AsyncIterator[Admin]:
    await PolicyEventStore(migrated_db).add_many(EVENTS)
    keys = KeyService(migrated_db, touch_interval_s=None)
    admin, _ = await keys.create("ops", scopes=["admin"])
    user, _ = await keys.create("web")
    try:
        gateway = SimpleNamespace(db=migrated_db, keys=keys, settings=Settings())
        yield Admin(gateway=gateway, admin=admin, user=user)
    finally:
        await keys.aclose()


async def _get(api: Admin, query: str = "", key: str | None = None) -> Any:
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    scope = {
        "type": "http", "method": "GET", "path": "/admin/policy-events", "query_string": query.encode(),
        "headers": headers, "app": SimpleNamespace(state=SimpleNamespace(gateway=api.gateway)),
    }
    response = await list_policy_events(Request(scope))
    assert response.status_code == 200 and response.media_type == "application/json"
    return orjson.loads(response.body)


async def test_api_lists_newest_first_with_filters(api: Admin) -> None:
    body = await _get(api, key=api.admin)
    assert body["object"] == "list"
    assert [e["request_id"] for e in body["data"]] == ["req_2", "req_1", "req_0"]
    first = body["data"][1]
    assert first["category"] == "self_harm" and first["stream"] is True
    assert first["created_at"] == "2024-05-01T12:01:00+00:00" and first["prompt_excerpt"] == "prompt 1"
    async def ids(query: str) -> list[str]:
        return [e["request_id"] for e in (await _get(api, query, api.admin))["data"]]

    assert await ids("route=claude&limit=1") == ["req_2"]
    assert await ids("key_id=key_b") == ["req_1"]
    assert await ids("since=2024-05-01T12:01:00Z") == ["req_2", "req_1"]
    assert await ids("since=&route=") == ["req_2", "req_1", "req_0"]  # empty means no filter


async def test_api_requires_an_admin_key(api: Admin) -> None:
    with pytest.raises(AuthError):
        await _get(api)
    with pytest.raises(PermissionDenied, match="admin"):
        await _get(api, key=api.user)


@pytest.mark.parametrize(("query", "param"), [("limit=0", "limit"), ("limit=abc", "limit"),
                                              ("limit=5000", "limit"), ("since=yesterday", "since")])
async def test_api_rejects_bad_parameters(api: Admin, query: str, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        await _get(api, query, api.admin)
    assert info.value.param == param and info.value.status_code == 400


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    async def seed() -> None:
        db = await Database.connect(db_url)
        try:
            await migrate(db)
            await PolicyEventStore(db).add_many(EVENTS)
        finally:
            await db.close()

    run_sync(seed())
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    return CliRunner()


def test_cli_table_json_filters_and_counts(runner: CliRunner) -> None:
    res = runner.invoke(policy_events, [])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    headers = ["TIME", "(UTC)", "ROUTE", "DEPLOYMENT", "CATEGORY", "KEY", "STREAM", "MESSAGE"]
    assert lines[0].split() == headers
    assert len(lines) == 5 and "2024-05-01 12:02:00" in lines[2]
    assert "…" in lines[3] and "content management" not in res.stdout  # long messages shortened

    res = runner.invoke(policy_events, ["--json", "--route", "claude", "--limit", "1"])
    assert res.exit_code == 0, res.output
    assert [e["request_id"] for e in json.loads(res.stdout)] == ["req_2"]

    res = runner.invoke(policy_events, ["--json", "--key-id", "key_b", "--since", "2024-05-01T12:00:30"])
    assert [e["request_id"] for e in json.loads(res.stdout)] == ["req_1"]

    res = runner.invoke(policy_events, ["--by", "category", "--json"])
    assert json.loads(res.stdout) == {"violence": 2, "self_harm": 1}
    res = runner.invoke(policy_events, ["--by", "route"])
    assert res.exit_code == 0 and "claude" in res.stdout and "EVENTS" in res.stdout

    res = runner.invoke(policy_events, ["--route", "nope"])
    assert res.exit_code == 0 and "No policy events. (try without filters)" in res.stdout


def test_cli_rejects_a_bad_since(runner: CliRunner) -> None:
    res = runner.invoke(policy_events, ["--since", "yesterday"])
    assert res.exit_code == 2 and "ISO 8601" in res.stderr
