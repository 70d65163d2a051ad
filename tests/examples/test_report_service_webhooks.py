"""The report service learns from Corral's webhooks that a report's response finished.

A real Corral gateway with two webhook endpoints: team `hooked` points at the service's receiver
(POST /corral/events, on a port chosen before the service starts), team `lost` at a closed port
(the webhook never arrives). Each test runs the service with one team's key: the event wakes the
worker, a forged event is refused, and without the event the fallback poll still finishes.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from openai import OpenAI

from corral.api.app import create_app as create_corral
from corral.webhooks.events import event, signed_headers
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.examples.test_report_service import EXAMPLE, _closed_port, _knowledge, _wait, customers
from tests.integration.recording_upstream import RecordingUpstream

sys.path.insert(0, str(EXAMPLE))  # the report_service package, as service.py puts it there

from report_service.app import ServiceSettings, create_app
from report_service.runner import RunnerSettings

FALLBACK_S = 5.0  # the service's fallback poll while webhooks are on (its default)


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="module")
def corral(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("report-service-webhooks")
    mp = pytest.MonkeyPatch()
    secret, hook_port = _secret(), _closed_port()
    mp.setenv("REC_KEY", "upstream-secret")
    mp.setenv("REPORTS_WEBHOOK_SECRET", secret)
    knowledge, types = _knowledge(tmp)
    hook = {"secret": {"env": "REPORTS_WEBHOOK_SECRET"}, "backoff_base_s": 0.2, "backoff_max_s": 1.0,
            "timeout_s": 2.0}
    endpoints = {
        "report-service": {**hook, "url": f"http://127.0.0.1:{hook_port}/corral/events", "teams": ["hooked"]},
        "lost": {**hook, "url": f"http://127.0.0.1:{_closed_port()}/corral/events", "teams": ["lost"],
                 "max_attempts": 2},
    }
    try:
        with RecordingUpstream() as upstream:
            up = {"provider": "up"}
            settings = settings_for(
                tmp,
                {"up": {"type": "openai", "base_url": upstream.url + "/v1", "api_key_env": "REC_KEY"}},
                {"reports": {"deployments": [{**up, "model": "rec-primary"}],
                             "privacy": {"policy": "redact"}},
                 "embed": {"deployments": [{**up, "model": "text-embedding-rec"}],
                           "privacy": {"policy": "redact"}}},
                knowledge={"embedding_model": "embed"},
                jobs={"poll_interval_s": 0.05, "retry_base_s": 0.1, "retry_max_s": 1.0},
                webhooks={"endpoints": endpoints},
            )
            for server in serve_in_thread(create_corral(settings, warmup=False)):
                yield {"server": server, "secret": secret, "hook_port": hook_port, "knowledge": knowledge,
                       "types": types, "keys": {team: _new_key(server, team) for team in ("hooked", "lost")}}
    finally:
        mp.undo()


def _new_key(server: RunningServer, team: str) -> str:
    answer = httpx.post(server.url + "/admin/keys", json={"name": f"reports-{team}", "team": team,
                                                          "scopes": ["inference"]},
                        headers={"authorization": f"Bearer {server.admin_key}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


@contextmanager
def service(corral: dict[str, Any], db: Path, team: str, fallback_s: float, port: int = 0
            ) -> Iterator[RunningServer]:
    settings = ServiceSettings(
        corral_url=corral["server"].url, api_key=corral["keys"][team], db=str(db),
        knowledge_dir=corral["knowledge"], webhook_secret=corral["secret"],
        runner=RunnerSettings(concurrency=2, poll_interval_s=0.05, poll_max_s=0.2,
                              fallback_poll_s=fallback_s),
    )
    yield from serve_in_thread(create_app(settings), port=port)


def _submit(client: httpx.Client, corral: dict[str, Any], seed: int) -> str:
    answer = client.post("/reports", json={"report_type": corral["types"][0],
                                           "customer": customers.customer(seed)})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _signed(secret: str, kind: str, response_id: str, webhook_id: str) -> tuple[bytes, dict[str, str]]:
    """An event as Corral sends it, signed with ``secret`` (Corral's own signing code)."""
    body = orjson.dumps(event(kind, response_id))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return body, signed_headers(key, webhook_id, body)


def test_a_report_finishes_through_corrals_webhook(corral: dict[str, Any], tmp_path: Path) -> None:
    """Team `hooked`: Corral's response.completed event wakes the worker, well before the fallback poll."""
    with service(corral, tmp_path / "hooked.db", "hooked", FALLBACK_S, port=corral["hook_port"]) as svc:
        with httpx.Client(base_url=svc.url, timeout=10) as client:
            client.get("/healthz")  # the knowledge sync has started; wait for it before timing a report
            deadline = time.monotonic() + 10
            while client.get("/healthz").json()["knowledge"] != "ready" and time.monotonic() < deadline:
                time.sleep(0.05)
            started = time.monotonic()
            job = _wait(client, _submit(client, corral, 1), timeout=FALLBACK_S + 5)
            took = time.monotonic() - started
            counts = client.get("/healthz").json()["webhooks"]
    assert job["status"] == "completed" and job["report"], job
    assert job["finished_by"] == "webhook", job
    assert took < FALLBACK_S, f"{took:.2f} s: the report waited for the fallback poll"
    assert counts["received"] >= 1 and counts["refused"] == 0, counts


def test_a_forged_event_is_refused_and_changes_nothing(corral: dict[str, Any], tmp_path: Path) -> None:
    """Team `lost`: Corral's own event never arrives, so only the events this test sends can finish
    the report before the (long) fallback poll. A wrong signature, or none, is a 400 and the job stays
    in progress; the right one finishes it; a repeat of it (same webhook-id) or a late second event
    changes nothing."""
    with service(corral, tmp_path / "forged.db", "lost", fallback_s=30.0) as svc:
        with httpx.Client(base_url=svc.url, timeout=10) as client:
            job_id = _submit(client, corral, 5)
            deadline = time.monotonic() + 10
            job = client.get(f"/reports/{job_id}").json()
            while job["response_id"] is None and time.monotonic() < deadline:
                time.sleep(0.05)
                job = client.get(f"/reports/{job_id}").json()
            response_id = job["response_id"]
            sdk = OpenAI(base_url=corral["server"].url + "/v1", api_key=corral["keys"]["lost"])
            while sdk.responses.retrieve(response_id).status != "completed" and time.monotonic() < deadline:
                time.sleep(0.05)
            sdk.close()

            body, headers = _signed(_secret(), "response.completed", response_id, "wh_forged")
            forged = client.post("/corral/events", content=body, headers=headers)
            unsigned = client.post("/corral/events", content=body,
                                   headers={"content-type": "application/json"})
            assert forged.status_code == 400 and unsigned.status_code == 400, (forged.text, unsigned.text)
            time.sleep(0.3)
            still = client.get(f"/reports/{job_id}").json()
            assert still["status"] == "in_progress" and still["finished_by"] is None, still
            assert client.get("/healthz").json()["webhooks"] == {"received": 0, "duplicate": 0, "refused": 2,
                                                                 "ignored": 0}

            body, headers = _signed(corral["secret"], "response.completed", response_id, "wh_real")
            assert client.post("/corral/events", content=body, headers=headers).status_code == 200
            done = _wait(client, job_id, timeout=5)
            assert done["status"] == "completed" and done["finished_by"] == "webhook", done
            again = client.post("/corral/events", content=body, headers=headers)
            assert again.status_code == 200 and again.json()["duplicate"] is True
            body, headers = _signed(corral["secret"], "response.completed", response_id, "wh_late")
            assert client.post("/corral/events", content=body, headers=headers).status_code == 200
            time.sleep(0.3)
            assert client.get(f"/reports/{job_id}").json() == done
            assert client.get("/healthz").json()["webhooks"] == {"received": 2, "duplicate": 1, "refused": 2,
                                                                 "ignored": 0}


def test_the_poll_finishes_a_report_whose_webhook_never_arrives(corral: dict[str, Any],
                                                                tmp_path: Path) -> None:
    """Team `lost`: Corral's endpoint for it is a closed port; the fallback poll finishes the report."""
    with service(corral, tmp_path / "lost.db", "lost", fallback_s=0.5) as svc:
        with httpx.Client(base_url=svc.url, timeout=10) as client:
            job = _wait(client, _submit(client, corral, 6), timeout=15)
            counts = client.get("/healthz").json()["webhooks"]
    assert job["status"] == "completed" and job["report"], job
    assert job["finished_by"] == "poll", job
    assert counts["received"] == 0, counts


def test_without_a_secret_the_receiver_is_off_and_the_service_polls(corral: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    settings = ServiceSettings(corral_url=corral["server"].url, api_key=corral["keys"]["lost"],
                               db=str(tmp_path / "off.db"), knowledge_dir=corral["knowledge"],
                               runner=RunnerSettings(concurrency=1, poll_interval_s=0.05, poll_max_s=0.2))
    for svc in serve_in_thread(create_app(settings)):
        with httpx.Client(base_url=svc.url, timeout=10) as client:
            body, headers = _signed(corral["secret"], "response.completed", "resp_x", "wh_off")
            assert client.post("/corral/events", content=body, headers=headers).status_code == 404
            assert client.get("/healthz").json()["webhooks"] is None
            job = _wait(client, _submit(client, corral, 1), timeout=15)
    assert job["status"] == "completed" and job["finished_by"] == "poll", job
