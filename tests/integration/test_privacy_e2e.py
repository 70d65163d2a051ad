"""Personal data through the whole gateway: the provider sees placeholders, the client gets
its values back, and nothing unredacted lands in the database or the logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from corral.api.app import create_app
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.fakes import FakeProvider

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415 555 2671"
RAW = [EMAIL, CARD, PHONE, "4111111111111111", "jane.doe"]


def _settings(tmp_path: Path) -> Any:
    fake = {"provider": "fake"}
    return settings_for(
        tmp_path,
        {"fake": {"type": "fake"}},
        {
            "echo": {"deployments": [{**fake, "model": "echo"}], "privacy": {"policy": "redact"}},
            "refuse": {"deployments": [{**fake, "model": "fail-context"}],
                       "privacy": {"policy": "redact"}, "context": {"policy": "error"}},
            "guarded": {"deployments": [{**fake, "model": "echo"}], "privacy": {"policy": "block"}},
            "logonly": {"deployments": [{**fake, "model": "echo"}], "privacy": {"policy": "log-only"}},
        },
        observability={"capture_content": True},  # records keep content: it must be the redacted copy
    )


async def _chat(server: RunningServer, model: str, text: str, **kw: Any) -> tuple[int, bytes]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **kw}
    async with aiohttp.ClientSession() as s, s.post(
        server.url + "/v1/chat/completions", json=body,
        headers={"authorization": f"Bearer {server.app_key}"},
    ) as r:
        return r.status, await r.read()


def _streamed_text(body: bytes) -> str:
    text = ""
    for event in body.decode().split("\n\n"):
        if event.startswith("data: {"):
            for choice in orjson.loads(event[6:]).get("choices", []):
                text += choice["delta"].get("content") or ""
    return text


@pytest.mark.asyncio
async def test_pii_is_redacted_upstream_restored_for_the_client_and_never_persisted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    FakeProvider.calls.clear()
    for server in serve_in_thread(create_app(_settings(tmp_path), warmup=False)):
        await _exercise(server)
    # The server has stopped: every queued write (events, records, spool) has landed.
    stored = b""
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            stored += data
            assert not any(value.encode() in data for value in RAW), f"raw value persisted in {path}"
    assert b"[EMAIL_1]" in stored, "content was captured (redacted), so the scan above means something"
    assert not any(value in caplog.text for value in RAW), "raw value in the logs"


async def _exercise(server: RunningServer) -> None:
    prompt = f"Email {EMAIL} or call {PHONE}; card {CARD}."
    status, body = await _chat(server, "echo", prompt)
    assert status == 200
    assert orjson.loads(body)["choices"][0]["message"]["content"] == f"echo: {prompt}"
    status, body = await _chat(server, "echo", prompt, stream=True)
    assert status == 200 and _streamed_text(body) == f"echo: {prompt}"
    upstream = " ".join(m.text() for call in FakeProvider.calls for m in call.messages)
    assert "[EMAIL_1]" in upstream and "[CREDIT_CARD_1]" in upstream
    assert not any(value in upstream for value in RAW), "the provider saw a raw value"

    status, body = await _chat(server, "refuse", prompt)  # an upstream error carrying the request
    assert status == 400 and not any(value.encode() in body for value in RAW)
    status, body = await _chat(server, "guarded", prompt)
    error = orjson.loads(body)["error"]
    assert status == 400 and error["code"] == "pii_detected"
    assert "EMAIL" in error["message"] and not any(value in error["message"] for value in RAW)
    status, _ = await _chat(server, "logonly", prompt)
    assert status == 200

