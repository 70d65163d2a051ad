"""Done means: a reported harmful output reaches the escalation webhook within seconds, with
retries while the webhook is down, and nothing is lost across a restart (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from pathlib import Path

import pytest

from corral.incidents.store import IncidentStore, Report
from tests.incidents.receiver import Receiver
from tests.incidents.stack import Stack, stack_settings, started


async def _report(stack: Stack, category: str = "harmful") -> dict[str, object]:
    chat = await stack.chat("tell me something")
    assert chat.status_code == 200, chat.text
    r = await stack.client.post("/v1/feedback", headers=stack.auth("app"), json={
        "response_id": chat.json()["id"], "category": category, "comment": "this answer is dangerous"})
    assert r.status_code == 201, r.text
    return dict(r.json()["incident"])


async def _incident(stack: Stack, incident_id: str) -> dict[str, object]:
    r = await stack.client.get(f"/admin/incidents/{incident_id}", headers=stack.auth("auditor"))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_harmful_report_reaches_the_webhook_with_retries(db_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCALATION_SECRET", "s3cret-for-tests")
    receiver = Receiver(fail_first=2)  # two 500s ...
    settings = stack_settings(tmp_path, db_url, receiver.url, secret_env="ESCALATION_SECRET")
    async with started(settings) as stack:
        sent = time.monotonic()
        incident = await _report(stack)
        assert incident["severity"] == "high" and incident["escalation"] == "pending"
        await asyncio.sleep(0.3)
        await receiver.up()  # ... after a refused connection or two
        try:
            delivered = await receiver.wait(timeout_s=10)
        finally:
            await receiver.down()
        latency = (receiver.arrived_at or 0) - sent
        print(f"delivered after {latency:.2f} s and {receiver.attempts} HTTP attempts")
        assert latency < 10
        assert delivered["incident"]["id"] == incident["id"]
        assert delivered["incident"]["category"] == "harmful" and delivered["links"]["api"].endswith(
            f"/admin/incidents/{incident['id']}")
        assert "dangerous" not in receiver.raw[-1].decode() and "end-user-7" not in receiver.raw[-1].decode()
        headers = receiver.headers[-1]
        stamp = headers["x-corral-timestamp"]
        expected = hmac.new(b"s3cret-for-tests", stamp.encode() + b"." + receiver.raw[-1], hashlib.sha256)
        assert headers["x-corral-signature"] == f"sha256={expected.hexdigest()}"
        for _ in range(50):
            shown = await _incident(stack, str(incident["id"]))
            if shown["escalation"] == "delivered":
                break
            await asyncio.sleep(0.05)
        assert shown["escalation"] == "delivered"
        assert int(str(shown["escalation_attempts"])) >= 3  # refused or 500 at least twice first


async def test_nothing_is_lost_when_the_gateway_restarts_while_the_webhook_is_down(
        db_url: str, tmp_path: Path) -> None:
    receiver = Receiver()  # refuses connections until up()
    settings = stack_settings(tmp_path, db_url, receiver.url)
    async with started(settings) as stack:
        incident = await _report(stack, "data_leak")
        for _ in range(100):  # the first attempt fails against the closed port
            current = await IncidentStore(stack.gateway.db).get(str(incident["id"]))
            if current is not None and current.escalation_attempts >= 1:
                break
            await asyncio.sleep(0.05)
        assert current is not None and current.escalation == "pending" and current.escalation_error
    # The gateway is gone; the job waits in the database. The webhook comes back, then a new gateway.
    await receiver.up()
    try:
        async with started(settings, keys=False) as again:
            delivered = await receiver.wait(timeout_s=10)
            assert delivered["incident"]["id"] == incident["id"]
            for _ in range(50):
                current = await IncidentStore(again.gateway.db).get(str(incident["id"]))
                if current is not None and current.escalation == "delivered":
                    break
                await asyncio.sleep(0.05)
            assert current is not None and current.escalation == "delivered"
    finally:
        await receiver.down()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_webhook_that_stays_down_fails_visibly_after_max_attempts(
        db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver(fail_first=1000)
    await receiver.up()
    settings = stack_settings(tmp_path, db_url, receiver.url, max_attempts=3)
    try:
        with caplog.at_level(logging.WARNING, logger="corral.incidents"):
            async with started(settings) as stack:
                incident = await _report(stack)
                for _ in range(200):
                    shown = await _incident(stack, str(incident["id"]))
                    if shown["escalation"] == "failed":
                        break
                    await asyncio.sleep(0.05)
                assert shown["escalation"] == "failed" and shown["escalation_attempts"] == 3
                assert "failed after 3 attempts" in str(shown["escalation_error"])
                assert any(n["kind"] == "escalation" for n in shown["notes"])  # type: ignore[attr-defined]
    finally:
        await receiver.down()
    assert receiver.attempts == 3
    errors = [r for r in caplog.records
              if r.levelno == logging.ERROR and "escalation failed" in r.getMessage()]

    assert len(errors) == 1
    retries = [r for r in caplog.records if r.name == "corral.incidents" and r.levelno == logging.WARNING]
    assert len(retries) == 2 and all("retrying in" in r.getMessage() for r in retries)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_low_severity_report_is_not_escalated_until_a_reviewer_raises_it(
        db_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.up()
    settings = stack_settings(tmp_path, db_url, receiver.url)
    try:
        async with started(settings) as stack:
            incident = await _report(stack, "wrong")
            assert incident["severity"] == "low" and incident["escalation"] == "none"
            await asyncio.sleep(0.3)
            assert receiver.attempts == 0
            r = await stack.client.patch(f"/admin/incidents/{incident['id']}", headers=stack.auth("reviewer"),
                                         json={"severity": "critical", "note": "actually a safety issue"})
            assert r.status_code == 200, r.text
            delivered = await receiver.wait(timeout_s=10)
            assert delivered["incident"]["severity"] == "critical"
    finally:
        await receiver.down()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_due_incident_never_queued_is_escalated_by_the_next_report(db_url: str,
                                                                           tmp_path: Path) -> None:
    """The process died between the incident's commit and the enqueue; the client retries."""
    receiver = Receiver()
    await receiver.up()
    try:
        async with started(stack_settings(tmp_path, db_url, receiver.url)) as stack:
            chat = await stack.chat("hello")
            request_id = "req_" + chat.json()["id"].removeprefix("chatcmpl-")
            lost = await IncidentStore(stack.gateway.db).report(Report(
                category="harmful", severity=None, request_id=request_id, response_id=None,
                reporter_key_id="key_x", team="search", record=None))
            assert lost.incident.escalation == "none"
            r = await stack.client.post("/v1/feedback", headers=stack.auth("app"),
                                        json={"request_id": request_id, "category": "harmful"})
            assert r.status_code == 201 and r.json()["incident"]["id"] == lost.incident.id
            assert (await receiver.wait(timeout_s=10))["incident"]["id"] == lost.incident.id
    finally:
        await receiver.down()
