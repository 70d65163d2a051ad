"""The HTTP edge against the in-process fake provider, over a real socket."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from tests.conftest import RunningServer


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _post(
    server: RunningServer, body: object, key: str | None = None,
    raw: bytes | None = None, path: str = "/v1/chat/completions",
) -> tuple[int, CIMultiDict[str], bytes]:
    headers = _auth(key or server.app_key)
    headers["content-type"] = "application/json"
    data = raw if raw is not None else orjson.dumps(body)
    async with aiohttp.ClientSession() as s, s.post(server.url + path, data=data, headers=headers) as r:
        return r.status, CIMultiDict(r.headers), await r.read()


def _chat(model: str = "echo", **kw: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], **kw}


@pytest.mark.asyncio
async def test_non_streaming_completion_has_openai_shape(fake_server: RunningServer) -> None:
    status, headers, body = await _post(fake_server, _chat())
    assert status == 200
    data = orjson.loads(body)
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello there",
                                             "refusal": None}
    assert data["usage"]["prompt_tokens"] == 7
    assert data["usage"]["prompt_tokens_details"]["cached_tokens"] == 2
    assert headers["x-request-id"].startswith("req_")
    assert data["id"].endswith(headers["x-request-id"].removeprefix("req_"))
    assert headers["x-corral-attempts"] == "1"


@pytest.mark.asyncio
async def test_client_request_id_is_echoed_beside_corrals_own(fake_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(fake_server.url + "/healthz", headers={"x-request-id": "abc-123"}) as r:
            assert r.headers["x-request-id"].startswith("req_")
            assert r.headers["x-client-request-id"] == "abc-123"
        async with s.get(fake_server.url + "/healthz", headers={"x-client-request-id": "abc-456",
                                                               "x-request-id": "abc-123"}) as r:
            assert r.headers["x-client-request-id"] == "abc-456", "the dedicated header wins"
        async with s.get(fake_server.url + "/healthz", headers={"x-request-id": "bad id\t"}) as r:
            assert r.headers["x-request-id"].startswith("req_") and "x-client-request-id" not in r.headers


@pytest.mark.asyncio
async def test_missing_usage_is_counted_offline(fake_server: RunningServer) -> None:
    status, _, body = await _post(fake_server, _chat("no-usage"))
    usage = orjson.loads(body)["usage"]
    assert status == 200
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0


@pytest.mark.asyncio
async def test_stream_sends_chunks_usage_and_done(fake_server: RunningServer) -> None:
    status, headers, body = await _post(
        fake_server, _chat(stream=True, stream_options={"include_usage": True})
    )
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = [e for e in body.decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    payloads = [orjson.loads(e.removeprefix("data: ")) for e in events[:-1]]
    text = "".join(p["choices"][0]["delta"].get("content", "") for p in payloads if p["choices"])
    assert text == "echo: hello there"
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["completion_tokens"] == 3


@pytest.mark.asyncio
async def test_stream_without_include_usage_has_no_usage_chunk(fake_server: RunningServer) -> None:
    _, _, body = await _post(fake_server, _chat(stream=True))
    assert b'"usage"' not in body and body.endswith(b"data: [DONE]\n\n")


@pytest.mark.asyncio
async def test_mid_stream_failure_becomes_error_event(fake_server: RunningServer) -> None:
    status, _, body = await _post(fake_server, _chat("break-after-2", stream=True))
    assert status == 200
    last = body.decode().strip().split("\n\n")[-1]
    error = orjson.loads(last.removeprefix("data: "))["error"]
    assert error["code"] == "upstream_connection_error"
    assert b"[DONE]" not in body


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "raw", "status", "param"), [
    (None, b"{not json", 400, None),
    (None, b"[]", 400, None),
    ({"messages": [{"role": "user", "content": "x"}]}, None, 400, "model"),
    ({"model": "echo", "messages": []}, None, 400, "messages"),
    ({"model": "echo", "messages": [{"role": "user", "content": 5}]}, None, 400, "messages[0].content"),
    ({"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}, None, 400, "messages[0].role"),
    ({**_chat(), "temperature": 3}, None, 400, "temperature"),
    ({**_chat(), "n": 17}, None, 400, "n"),
    ({**_chat(), "tool_choice": "required"}, None, 400, "tool_choice"),
    (_chat("no-such-model"), None, 404, "model"),
])
async def test_bad_requests_get_openai_errors(fake_server: RunningServer, body: object, raw: bytes | None,
                                              status: int, param: str | None) -> None:
    got, _, data = await _post(fake_server, body, raw=raw)
    assert got == status
    error = orjson.loads(data)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert error["message"]
    if status == 404:
        assert error["code"] == "model_not_found" and "echo" in error["message"]


@pytest.mark.asyncio
async def test_auth_errors(fake_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(fake_server.url + "/v1/chat/completions", json=_chat()) as r:
            assert r.status == 401
            assert (await r.json())["error"]["type"] == "authentication_error"
    status, _, _ = await _post(fake_server, _chat(), key="sk-corral-" + "x" * 32)
    assert status == 401
    status, _, body = await _post(fake_server, _chat(), key=fake_server.admin_key)
    assert status == 403 and orjson.loads(body)["error"]["code"] == "insufficient_scope"


@pytest.mark.asyncio
async def test_oversize_body_is_413(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from corral.api.app import create_app
    from tests.conftest import fake_settings, serve_in_thread

    settings = fake_settings(tmp_path, server={"max_body_bytes": 2048})
    for server in serve_in_thread(create_app(settings, warmup=False)):
        big = _chat()
        big["messages"][0]["content"] = "x" * 5000
        status, _, body = await _post(server, big)
        assert status == 413
        assert orjson.loads(body)["error"]["code"] == "request_too_large"


@pytest.mark.asyncio
async def test_upstream_rate_limit_maps_to_429_with_retry_after(fake_server: RunningServer) -> None:
    status, headers, body = await _post(fake_server, _chat("fail-429"))
    assert status == 429
    assert headers["retry-after"] == "3"
    assert orjson.loads(body)["error"]["type"] == "rate_limit_error"


@pytest.mark.asyncio
async def test_unknown_params_rejected_by_non_passthrough_provider(fake_server: RunningServer) -> None:
    status, _, body = await _post(fake_server, {**_chat(), "logit_bias": {"1": 2}})
    assert status == 400
    error = orjson.loads(body)["error"]
    assert error["param"] == "logit_bias" and "logit_bias" in error["message"]


@pytest.mark.asyncio
async def test_unknown_route_and_method(fake_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(fake_server.url + "/v1/nothing") as r:
            assert r.status == 404 and "error" in await r.json()
        async with s.get(fake_server.url + "/v1/chat/completions") as r:
            assert r.status == 405 and "error" in await r.json()


@pytest.mark.asyncio
async def test_models_and_admin_keys(fake_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(fake_server.url + "/v1/models", headers=_auth(fake_server.app_key)) as r:
            ids = [m["id"] for m in (await r.json())["data"]]
            assert "echo" in ids
        admin = _auth(fake_server.admin_key)
        async with s.post(fake_server.url + "/admin/keys", headers=admin,
                          json={"name": "ci", "team": "qa"}) as r:
            assert r.status == 201
            created = await r.json()
        status, _, _ = await _post(fake_server, _chat(), key=created["key"])
        assert status == 200
        async with s.delete(fake_server.url + f"/admin/keys/{created['id']}", headers=admin) as r:
            assert r.status == 200
        status, _, _ = await _post(fake_server, _chat(), key=created["key"])
        assert status == 401, "revocation must be effective immediately"
        async with s.get(fake_server.url + "/admin/keys", headers=_auth(fake_server.app_key)) as r:
            assert r.status == 403


@pytest.mark.asyncio
async def test_readyz(fake_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as s, s.get(fake_server.url + "/readyz") as r:
        assert r.status == 200
        assert (await r.json())["checks"] == {"database": "ok", "kv": "ok"}


@pytest.mark.asyncio
async def test_readyz_stays_ready_but_says_degraded_when_a_shared_store_is_down(
        fake_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every replica shares the stores: a 503 on their outage would empty the load balancer.
    Corral serves through it (spool, fail-open), so readiness says degraded, and only the
    strict probe refuses."""
    gateway = fake_server.app.state.gateway

    async def down(*_: object) -> None:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(gateway.db, "fetch_val", down)
    async with aiohttp.ClientSession() as s:
        async with s.get(fake_server.url + "/readyz") as r:
            body = await r.json()
            assert r.status == 200 and body["status"] == "degraded"
            assert body["checks"]["database"].startswith("error: ConnectionError")
            assert body["checks"]["kv"] == "ok"
        async with s.get(fake_server.url + "/readyz?strict=true") as r:
            assert r.status == 503 and (await r.json())["status"] == "degraded"
