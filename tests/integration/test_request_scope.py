"""Issue 8, items 5, 6, 11 and 17 through a real server: the cache answers only its own team
and user, records are keyed by Corral's id, a client that leaves still gets a record and
stops the upstream call, and embeddings bound what they accept."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.fakes import FakeProvider
from tests.integration.records import stored_records

CHAT = "/v1/chat/completions"


def _settings(tmp_path: Path) -> Any:
    fake = {"provider": "fake"}
    return settings_for(
        tmp_path,
        {"fake": {"type": "fake"}},
        {
            "flaky": {"deployments": [{**fake, "model": "flaky"}], "retry": {"max_attempts": 1}},
            "slow": {"deployments": [{**fake, "model": "slow"}]},
            "echo": {"deployments": [{**fake, "model": "echo"}]},
        },
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from serve_in_thread(create_app(_settings(tmp_path_factory.mktemp("scope")), warmup=False))


async def _key(server: RunningServer, team: str) -> str:
    async with aiohttp.ClientSession() as s, s.post(
        server.url + "/admin/keys", json={"name": f"key-{team}", "team": team},
        headers={"authorization": f"Bearer {server.admin_key}"},
    ) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["key"])


async def _chat(server: RunningServer, key: str, model: str, text: str,
                **extra: Any) -> aiohttp.ClientResponse:
    headers = {"authorization": f"Bearer {key}", **extra.pop("headers", {})}
    async with aiohttp.ClientSession() as s, s.post(
        server.url + CHAT, json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
        headers=headers,
    ) as r:
        await r.read()
        return r


@pytest.mark.asyncio
async def test_the_fallback_cache_never_answers_another_team_or_user(server: RunningServer) -> None:
    team_a, team_b = await _key(server, "team-a"), await _key(server, "team-b")
    FakeProvider.down = False
    try:
        first = await _chat(server, team_a, "flaky", "what is our secret plan?", user="alice")
        assert first.status == 200
        FakeProvider.down = True
        other_team = await _chat(server, team_b, "flaky", "what is our secret plan?", user="alice")
        assert other_team.status == 503, "team B must not get team A's cached answer"
        other_user = await _chat(server, team_a, "flaky", "what is our secret plan?", user="bob")
        assert other_user.status == 503, "another end user must not get alice's cached answer"
        same = await _chat(server, team_a, "flaky", "what is our secret plan?", user="alice")
        assert same.status == 200 and same.headers["x-corral-degraded"] == "cache", "the cache works"
    finally:
        FakeProvider.down = False


@pytest.mark.asyncio
async def test_a_reused_client_request_id_cannot_suppress_records(server: RunningServer) -> None:
    ids = set()
    for _ in range(5):
        r = await _chat(server, server.app_key, "echo", "hi", headers={"x-request-id": "same-id-5"})
        assert r.status == 200 and r.headers["x-client-request-id"] == "same-id-5"
        assert r.headers["x-request-id"].startswith("req_")
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 5, "Corral picks its own id for every request"
    rows = await stored_records(server, lambda r: r["client_request_id"] == "same-id-5", expected=5)
    assert len(rows) == 5 and {r["request_id"] for r in rows} == ids
    async with aiohttp.ClientSession() as s, s.get(  # the dashboard's search finds them by it
        server.url + "/admin/requests?q=same-id-5", headers={"authorization": f"Bearer {server.admin_key}"},
    ) as r:
        assert {row["request_id"] for row in (await r.json())["data"]} == ids


@pytest.mark.asyncio
async def test_an_abandoned_stream_is_recorded_with_the_tokens_it_generated(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.post(server.url + CHAT, headers={"authorization": f"Bearer {server.app_key}",
                                                     "x-client-request-id": "abandoned-stream"},
                         json={"model": "slow", "stream": True,
                               "messages": [{"role": "user", "content": "count for me"}]})
        chunks = 0
        async for line in r.content:
            chunks += line.startswith(b"data: {")
            if chunks == 12:
                break
        r.close()  # the client leaves mid-stream
    [row] = await stored_records(server, lambda r: r["client_request_id"] == "abandoned-stream", expected=1)
    assert row["extras"].get("client_disconnected") is True
    assert row["output_tokens"] >= 12 and row["input_tokens"] > 0 and row["usage_estimated"]


@pytest.mark.asyncio
async def test_a_client_that_leaves_cancels_the_upstream_call(server: RunningServer) -> None:
    FakeProvider.cancelled.clear()
    async with aiohttp.ClientSession() as s:
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.5):
                await s.post(server.url + CHAT, headers={"authorization": f"Bearer {server.app_key}",
                                                         "x-client-request-id": "left-early"},
                             json={"model": "slow", "messages": [{"role": "user", "content": "hi"}]})
    for _ in range(60):  # 3 s at most; the provider sleeps for 5 s unless cancelled
        if FakeProvider.cancelled:
            break
        await asyncio.sleep(0.05)
    assert FakeProvider.cancelled, "the upstream call kept running after the client left"
    [row] = await stored_records(server, lambda r: r["client_request_id"] == "left-early", expected=1)
    assert row["http_status"] == 499 and row["extras"].get("client_disconnected") is True
    assert row["input_tokens"] > 0 and row["usage_estimated"], "the prompt was sent: estimate it"


@pytest.mark.asyncio
@pytest.mark.parametrize(("field", "value"), [
    ("dimensions", 10**9), ("dimensions", 0), ("dimensions", True), ("user", {"id": 1}), ("user", "u" * 300),
])
async def test_embeddings_bound_dimensions_and_user(server: RunningServer, field: str, value: Any) -> None:
    async with aiohttp.ClientSession() as s, s.post(
        server.url + "/v1/embeddings", json={"model": "echo", "input": "hi", field: value},
        headers={"authorization": f"Bearer {server.app_key}"},
    ) as r:
        error = orjson.loads(await r.read())["error"]
    assert r.status == 400 and error["param"] == field and error["type"] == "invalid_request_error"
