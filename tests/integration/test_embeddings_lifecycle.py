"""Embeddings are a first-class operation (issue 9): the same lifecycle as chat gives them
privacy, failover across deployments, usage, a record with cost, and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.fakes import FakeProvider
from tests.integration.records import stored_records

EMAIL = "jane.doe@example.com"


def _settings(tmp_path: Path) -> Any:
    fake = {"provider": "fake"}
    return settings_for(
        tmp_path,
        {"fake": {"type": "fake"}},
        {
            "emb": {"deployments": [{**fake, "model": "fail-embed", "priority": 0},
                                    {**fake, "model": "embed", "priority": 1}],
                    "privacy": {"policy": "redact"}},
            "chat": {"deployments": [{**fake, "model": "echo"}], "privacy": {"policy": "redact"}},
            "emb-down": {"deployments": [{**fake, "model": "fail-embed"}], "retry": {"max_attempts": 1}},
        },
        pricing={"models": {"embed": {"input_per_mtok": 0.02, "output_per_mtok": 0},
                            "echo": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from serve_in_thread(create_app(_settings(tmp_path_factory.mktemp("emb")), warmup=False))


async def _post(server: RunningServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    async with aiohttp.ClientSession() as s, s.post(
        server.url + path, json=body, headers={"authorization": f"Bearer {server.app_key}"},
    ) as r:
        return r.status, orjson.loads(await r.read()), r.headers["x-request-id"]


async def _record(server: RunningServer, request_id: str) -> dict[str, Any]:
    [row] = await stored_records(server, lambda r: r["request_id"] == request_id)
    return row


@pytest.mark.asyncio
async def test_embeddings_and_chat_each_leave_one_priced_record_and_send_placeholders(
    server: RunningServer,
) -> None:
    FakeProvider.embedded.clear()
    FakeProvider.calls.clear()
    status, body, emb_id = await _post(server, "/v1/embeddings", {"model": "emb", "input": [f"mail {EMAIL}"]})
    assert status == 200 and body["model"] == "emb" and body["usage"]["prompt_tokens"] > 0
    chat_body = {"model": "chat", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]}
    status, _, chat_id = await _post(server, "/v1/chat/completions", chat_body)
    assert status == 200
    sent = [*(t for r in FakeProvider.embedded for t in r.inputs),
            *(m.text() for c in FakeProvider.calls for m in c.messages)]
    assert sent and not any(EMAIL in t for t in sent) and all("[EMAIL_1]" in t for t in sent)

    emb, chat = await _record(server, emb_id), await _record(server, chat_id)
    assert emb["operation"] == "embeddings" and chat["operation"] == "chat"
    for record in (emb, chat):
        assert record["status"] == "ok" and record["input_tokens"] > 0 and record["priced"]
        assert record["cost_usd"] > 0 and record["extras"]["privacy"]["entities"] == {"EMAIL": 1}
    assert emb["route"] == "emb" and emb["served_model"] == "embed"
    assert [a["status"] for a in emb["attempts"]] == ["error", "ok"], "failed over to the next deployment"
    assert emb["cost_usd"] == pytest.approx(emb["input_tokens"] * 0.02 / 1e6)


@pytest.mark.asyncio
async def test_a_failed_embedding_is_recorded_with_its_error(server: RunningServer) -> None:
    status, body, request_id = await _post(server, "/v1/embeddings", {"model": "emb-down", "input": "hi"})
    assert status == 503 and body["error"]["type"] == "service_unavailable"
    record = await _record(server, request_id)
    assert record["status"] == "error" and record["http_status"] == 503
    assert record["operation"] == "embeddings" and record["cost_usd"] == 0


@pytest.mark.asyncio
async def test_embeddings_show_in_metrics_under_their_operation(server: RunningServer) -> None:
    await _post(server, "/v1/embeddings", {"model": "emb", "input": "hello"})
    async with aiohttp.ClientSession() as s, s.get(
        server.url + "/metrics", headers={"authorization": f"Bearer {server.admin_key}"},
    ) as r:
        exposition = await r.text()
    assert 'gen_ai_operation_name="embeddings"' in exposition
