"""Privacy on the paths beside the main chat path (issue 8, items 3, 4 and 7): embeddings,
fallback routes (model and content-policy fallbacks) and the fields records keep."""

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

NAME = "Margaret Thornbury"
CARD = "4111 1111 1111 1111"
EMAIL = "margaret.thornbury@example.com"
PROMPT = f"My name is {NAME}, email {EMAIL}, card {CARD}."
RAW = [CARD, EMAIL, "4111111111111111"]


def _settings(tmp_path: Path) -> Any:
    fake = {"provider": "fake"}
    redact = {"policy": "redact"}
    return settings_for(
        tmp_path,
        {"fake": {"type": "fake"}},
        {
            "emb-redact": {"deployments": [{**fake, "model": "embed"}], "privacy": redact},
            "emb-block": {"deployments": [{**fake, "model": "embed"}], "privacy": {"policy": "block"}},
            "emb-open": {"deployments": [{**fake, "model": "embed"}]},
            # No policy of its own; its fallbacks have one, and they serve when it fails.
            "open": {"deployments": [{**fake, "model": "fail-429"}], "fallbacks": ["strict"],
                     "retry": {"max_attempts": 2}},
            "strict": {"deployments": [{**fake, "model": "echo"}], "privacy": redact},
            "refusing": {"deployments": [{**fake, "model": "fail-policy"}],
                         "content_policy_fallback": "strict"},
            "logonly": {"deployments": [{**fake, "model": "echo"}], "privacy": {"policy": "log-only"}},
            "cached": {"deployments": [{**fake, "model": "flaky"}], "privacy": redact,
                       "retry": {"max_attempts": 1}},
        },
    )


async def _post(server: RunningServer, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.post(
        server.url + path, json=body, headers={"authorization": f"Bearer {server.app_key}"},
    ) as r:
        return r.status, await r.read()


def _streamed_text(body: bytes) -> str:
    text = ""
    for event in body.decode().split("\n\n"):
        if event.startswith("data: {"):
            for choice in orjson.loads(event[6:]).get("choices", []):
                text += choice["delta"].get("content") or ""
    return text


def _upstream_text() -> str:
    return " ".join(m.text() for call in FakeProvider.calls for m in call.messages)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from serve_in_thread(create_app(_settings(tmp_path_factory.mktemp("paths")), warmup=False))


@pytest.mark.asyncio
async def test_embeddings_follow_the_routes_privacy_policy(server: RunningServer) -> None:
    FakeProvider.embedded.clear()
    status, body = await _post(server, "/v1/embeddings", {"model": "emb-redact", "input": [PROMPT]})
    assert status == 200, body
    sent = " ".join(FakeProvider.embedded[-1].inputs)
    assert not any(value in sent for value in [*RAW, NAME]), sent
    assert "[CREDIT_CARD_1]" in sent and "[EMAIL_1]" in sent
    assert len(orjson.loads(body)["data"]) == 1

    FakeProvider.embedded.clear()
    status, body = await _post(server, "/v1/embeddings", {"model": "emb-block", "input": PROMPT})
    error = orjson.loads(body)["error"]
    assert status == 400 and error["code"] == "pii_detected" and error["param"] == "input"
    assert not FakeProvider.embedded, "a blocked input must not reach the provider"

    status, _ = await _post(server, "/v1/embeddings", {"model": "emb-open", "input": PROMPT})
    assert status == 200 and FakeProvider.embedded[-1].inputs == [PROMPT], "no policy: unchanged"


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_fallback_route_gets_its_own_privacy_policy(server: RunningServer, stream: bool) -> None:
    FakeProvider.calls.clear()
    body = {"model": "open", "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    status, raw = await _post(server, "/v1/chat/completions", body)
    assert status == 200, raw
    served = [c for c in FakeProvider.calls if c.model == "echo"]
    assert served, "the fallback route served the request"
    upstream = _upstream_text()
    assert not any(value in upstream for value in RAW), "the fallback's provider saw raw values"
    text = _streamed_text(raw) if stream else orjson.loads(raw)["choices"][0]["message"]["content"]
    assert text == f"echo: {PROMPT}", "the client still gets its own values back"


@pytest.mark.asyncio
async def test_a_content_policy_fallback_gets_its_privacy_policy(server: RunningServer) -> None:
    FakeProvider.calls.clear()
    body = {"model": "refusing", "messages": [{"role": "user", "content": PROMPT}]}
    status, raw = await _post(server, "/v1/chat/completions", body)
    assert status == 200, raw
    assert [c.model for c in FakeProvider.calls] == ["fail-policy", "echo"]
    assert not any(value in _upstream_text() for value in RAW)
    answer = orjson.loads(raw)
    assert answer["choices"][0]["message"]["content"] == f"echo: {PROMPT}"
    request_id = "req_" + answer["id"].removeprefix("chatcmpl-")
    [row] = await stored_records(server, lambda r: r["request_id"] == request_id, expected=1)
    assert row["requested_model"] == "refusing", "the record keeps what the client asked for"
    events: list[dict[str, Any]] = []
    for _ in range(100):  # policy events are written behind too
        async with aiohttp.ClientSession() as s, s.get(
            server.url + "/admin/policy-events?route=refusing",
            headers={"authorization": f"Bearer {server.admin_key}"},
        ) as r:
            events = (await r.json())["data"]
        if events:
            break
        await asyncio.sleep(0.1)
    assert events and not any(value in str(events) for value in [*RAW, NAME]), "raw prompt kept at rest"


@pytest.mark.asyncio
@pytest.mark.parametrize("model", ["logonly", "emb-block"])
async def test_records_keep_the_end_user_only_as_the_privacy_stage_left_it(
    server: RunningServer, model: str
) -> None:
    messages = [{"role": "user", "content": "Hello" if model == "logonly" else PROMPT}]
    await _post(server, "/v1/chat/completions", {"model": model, "messages": messages, "user": EMAIL})
    rows = await stored_records(server, lambda r: r["route"] == model and r["operation"] == "chat", 1)
    assert rows and all(r["end_user"] and EMAIL not in r["end_user"] for r in rows), rows


@pytest.mark.asyncio
async def test_prompts_that_differ_only_in_personal_values_never_share_a_cached_answer(
    server: RunningServer,
) -> None:
    """Redacted, both prompts read "Balance of [EMAIL_1]?": the cache must still tell them apart."""
    FakeProvider.down = False
    try:
        body = {"model": "cached", "messages": [{"role": "user", "content": f"Balance of {EMAIL}?"}]}
        assert (await _post(server, "/v1/chat/completions", body))[0] == 200
        FakeProvider.down = True
        other = {"model": "cached", "messages": [{"role": "user", "content": "Balance of bob@example.org?"}]}
        status, raw = await _post(server, "/v1/chat/completions", other)
        assert status == 503, f"another person's cached answer was served: {raw!r}"
        status, raw = await _post(server, "/v1/chat/completions", body)
        assert status == 200 and EMAIL in orjson.loads(raw)["choices"][0]["message"]["content"]
    finally:
        FakeProvider.down = False


@pytest.mark.asyncio
@pytest.mark.parametrize("known", [True, False])
async def test_feedback_text_is_stored_under_the_requests_privacy_policy(
    server: RunningServer, known: bool
) -> None:
    """A comment names people too. Known request: its route's policy; unknown: the strictest."""
    request_id = "req_not_recorded_yet"
    if known:
        body = {"model": "strict", "messages": [{"role": "user", "content": "hello"}]}
        async with aiohttp.ClientSession() as s, s.post(
            server.url + "/v1/chat/completions", json=body,
            headers={"authorization": f"Bearer {server.app_key}"},
        ) as r:
            request_id = r.headers["x-request-id"]
        await stored_records(server, lambda row: row["request_id"] == request_id, expected=1)
    feedback = {"request_id": request_id, "rating": "down",
                "comment": f"Wrong card, mine is {CARD}", "correction": f"Write to {EMAIL}"}
    status, raw = await _post(server, "/v1/feedback", feedback)
    assert status == 201, raw
    stored = orjson.loads(raw)
    assert not any(value in raw.decode() for value in RAW), stored
    assert "[CREDIT_CARD_1]" in stored["comment"] and "[EMAIL_1]" in stored["correction"]
