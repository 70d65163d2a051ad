"""Upstream error text reaches clients without credentials in it (issue 8, item 13).

The upstreams here echo the request's headers in their error bodies, as a misconfigured
proxy does; every adapter's error must come out with the secrets removed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from corral.api.app import create_app
from corral.core.errors import CorralError
from corral.core.types import ChatRequest, Message
from corral.providers.base import ProviderConfig
from corral.providers.registry import create_provider
from corral.providers.scrub import REDACTED, scrub
from tests.conftest import serve_in_thread, settings_for

KEY = "k3y-0f-this-deployment-4242"  # not credential-shaped: only knowing it finds it
REQUEST = ChatRequest(model="m", messages=[Message("user", "hi")])
HEADER_ECHO = {"openai": "authorization", "anthropic": "x-api-key", "gemini": "x-goog-api-key"}


def _echo_error(status: int, shape: Callable[[str], dict[str, Any]]) -> Callable[..., Any]:
    async def respond(request: web.Request) -> web.StreamResponse:
        seen = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        return web.json_response(shape(f"Invalid credentials. Headers received: {seen}"), status=status)
    return respond


def _shape(kind: str) -> Callable[[str], dict[str, Any]]:
    if kind == "anthropic":
        return lambda m: {"type": "error", "error": {"type": "authentication_error", "message": m}}
    if kind == "gemini":
        return lambda m: {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": m}}
    return lambda m: {"error": {"message": m, "type": "invalid_request_error", "code": "invalid_api_key"}}


@asynccontextmanager
async def echo_upstream(kind: str, status: int = 401) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo_error(status, _shape(kind)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _provider(kind: str, url: str, **kw: Any) -> Any:
    base = url + "/v1/" if kind == "openai" else url
    return create_provider(ProviderConfig(name="up", type=kind, base_url=base, api_key=KEY, **kw))


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_echoed_key_is_scrubbed(kind: str, mode: str) -> None:
    async with echo_upstream(kind) as url:
        p = _provider(kind, url)
        try:
            with pytest.raises(CorralError) as info:
                if mode == "complete":
                    await p.complete(REQUEST)
                else:
                    async for _ in p.stream(REQUEST):
                        pass
        finally:
            await p.aclose()
    message = info.value.message
    assert HEADER_ECHO[kind] in message.lower(), "the upstream's text is still forwarded"
    assert KEY not in message and KEY not in str(info.value) and REDACTED in message


@pytest.mark.asyncio
async def test_configured_credential_headers_are_scrubbed_too() -> None:
    async with echo_upstream("openai", status=403) as url:
        p = _provider("openai", url, headers={"X-Proxy-Token": "proxy-pass-phrase", "X-Team": "blue"})
        try:
            with pytest.raises(CorralError) as info:
                await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert "proxy-pass-phrase" not in info.value.message and "x-team: blue" in info.value.message.lower()


@pytest.mark.parametrize(("text", "gone"), [
    ("Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnop"),
    ("authorization: Bearer eyJhbGciOi.payload1234.sig", "payload1234"),
    ("request to https://x/v1/models?key=AIzaSyA-1234567890abcdefghijklmnopqrstu failed", "AIzaSy"),
    ("AWS key AKIAIOSFODNN7EXAMPLE rejected", "AKIAIOSFODNN7EXAMPLE"),
    ('{"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCY1EXAMPLEKEY"}', "wJalrXUtnFEMI"),
    ("x-api-key: 0123456789abcdef", "0123456789abcdef"),
])
def test_credential_shapes_are_scrubbed(text: str, gone: str) -> None:
    assert gone not in scrub(text)


@pytest.mark.parametrize("text", [
    "This model's maximum context length is 128000 tokens.",
    "'max_tokens': 40960 is too large", "token: expired", "The model 'gpt-4o' does not exist",
])
def test_ordinary_error_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_the_client_never_sees_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the gateway's 401 body carries the upstream's text minus the key."""
    import asyncio
    import threading

    monkeypatch.setenv("ECHO_KEY", KEY)
    ready: dict[str, Any] = {}
    stop = threading.Event()

    def run_upstream() -> None:
        async def main() -> None:
            async with echo_upstream("openai") as url:
                ready["url"] = url
                await asyncio.to_thread(stop.wait)
        asyncio.run(main())

    thread = threading.Thread(target=run_upstream, daemon=True)
    thread.start()
    while "url" not in ready:
        threading.Event().wait(0.01)
    settings = settings_for(tmp_path, {"echo": {"type": "openai", "base_url": ready["url"] + "/v1/",
                                                "api_key_env": "ECHO_KEY"}},
                            {"m": {"deployments": [{"provider": "echo", "model": "m"}]}})
    try:
        for server in serve_in_thread(create_app(settings, warmup=False)):
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            r = httpx.post(server.url + "/v1/chat/completions", content=json.dumps(body), timeout=10,
                           headers={"authorization": f"Bearer {server.app_key}"})
            assert r.status_code >= 400 and "Headers received" in r.text
            assert KEY not in r.text and REDACTED in r.text
    finally:
        stop.set()
        thread.join(5)
