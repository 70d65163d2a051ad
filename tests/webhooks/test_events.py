"""The event, its signature (checked by the official SDK) and its deduplication: one event per
(object, terminal state), however often the finish is reported."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import openai
import orjson
import pytest

from corral.jobs.control import JobControl
from corral.jobs.queue import JobQueue
from corral.jobs.types import NewJob
from corral.responses import background
from corral.responses.items import normalize_input
from corral.responses.store import ResponseStore, StoredResponse
from corral.store import Database
from corral.webhooks.emit import JOB_TEAM, KIND, WebhookEmitter
from corral.webhooks.events import event, signed_headers
from corral.webhooks.settings import WebhookSettings
from tests.webhooks.server import new_secret


def test_the_signature_is_what_the_openai_sdk_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = new_secret()
    monkeypatch.setenv("HOOK_SECRET", secret)
    settings = WebhookSettings.model_validate({"endpoints": {"a": {
        "url": "http://127.0.0.1:9/hook", "secret": {"env": "HOOK_SECRET"}, "teams": "*"}}})
    body = orjson.dumps(event("batch.expired", "batch_1"))
    headers = signed_headers(settings.endpoints["a"].secret.key(), "wh_1", body)
    sdk = openai.OpenAI(api_key="unused")
    parsed = sdk.webhooks.unwrap(body, headers, secret=secret)
    assert parsed.type == "batch.expired" and parsed.data.id == "batch_1"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.verify_signature(body + b" ", headers, secret=secret)  # a changed body
    old = signed_headers(settings.endpoints["a"].secret.key(), "wh_1", body, now=time.time() - 600)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.verify_signature(body, old, secret=secret)  # a replay outside the SDK's 5 minutes


def test_one_event_id_per_object_and_terminal_state() -> None:
    assert event("response.completed", "resp_1")["id"] == event("response.completed", "resp_1")["id"]
    assert event("response.completed", "resp_1")["id"] != event("response.cancelled", "resp_1")["id"]
    assert event("response.completed", "resp_1")["id"] != event("response.completed", "resp_2")["id"]


def _emitter(db: Database, monkeypatch: pytest.MonkeyPatch, **endpoints: dict[str, Any]) -> WebhookEmitter:
    monkeypatch.setenv("HOOK_SECRET", new_secret())
    spec = {name: {"url": "http://127.0.0.1:9/hook", "secret": {"env": "HOOK_SECRET"}, **e}
            for name, e in endpoints.items()}
    return WebhookEmitter(WebhookSettings.model_validate({"endpoints": spec}), JobQueue(db))


async def _deliveries(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch_all("SELECT payload FROM jobs WHERE kind = :k AND team = :t",
                              {"k": KIND, "t": JOB_TEAM})
    return [orjson.loads(r["payload"]) for r in rows]


async def test_a_finish_reported_twice_queues_one_delivery_per_endpoint(
        migrated_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    emitter = _emitter(migrated_db, monkeypatch, blue={"teams": ["blue"]}, ops={"teams": "*"},
                       green={"teams": ["green"]},
                       failures={"teams": ["blue"], "events": ["response.failed"]})
    assert await emitter.emit("response.completed", "resp_1", "blue") == 2
    assert await emitter.emit("response.completed", "resp_1", "blue") == 2  # a retried job: the same jobs
    rows = await _deliveries(migrated_db)
    # green is another team's; failures does not list response.completed
    assert sorted(r["endpoint"] for r in rows) == ["blue", "ops"]
    assert {r["event"]["id"] for r in rows} == {event("response.completed", "resp_1")["id"]}
    assert all(r["team"] == "blue" for r in rows) and rows[0]["webhook_id"] != rows[1]["webhook_id"]


async def test_no_endpoint_no_job(migrated_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    emitter = _emitter(migrated_db, monkeypatch, green={"teams": ["green"]})
    assert await emitter.emit("batch.completed", "batch_1", "blue") == 0
    assert await _deliveries(migrated_db) == []


async def test_a_retried_response_job_that_finds_it_final_announces_it_again(migrated_db: Database) -> None:
    """The worker died after writing `incomplete` and before queueing its event: the retry tells."""
    told: list[tuple[str, str, str]] = []

    async def notify(kind: str, object_id: str, team: str) -> None:
        told.append((kind, object_id, team))

    store, jobs = ResponseStore(migrated_db), JobQueue(migrated_db)
    body = {"id": "resp_i", "status": "incomplete", "background": True, "store": True,
            "previous_response_id": None, "output": []}
    await store.insert(StoredResponse(body, normalize_input("x"), "blue"))
    job = await jobs.enqueue(NewJob(background.KIND, {"response_id": "resp_i"}, "blue", id="resp_i"))
    gateway = SimpleNamespace(db=migrated_db, webhooks=SimpleNamespace(emit=notify))
    handler = background.response_handler(gateway)
    assert await handler(job, JobControl(job, "w1")) == {"status": "incomplete"}
    assert told == [("response.incomplete", "resp_i", "blue")]
