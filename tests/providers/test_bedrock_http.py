"""BedrockProvider end to end over real HTTP: against the simulator's bedrock dialect, which
verifies each SigV4 signature with the test secret, and against canned answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from corral.core.errors import (
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from corral.core.types import ChatChunk, ChatRequest, Message, Tool
from corral.providers.base import ProviderConfig
from corral.providers.bedrock import BedrockProvider
from corral.simulator import SimSettings, running_simulator
from corral.simulator.bedrock_dialect import sigv4_signature
from tests.providers.test_bedrock_auth import aws_env  # noqa: F401 - a fixture

SECRET = "sim-secret-access-key-0123456789"
TOKEN = "sim-session-token-0123456789"
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = Tool("get_weather", None, {"type": "object", "properties": {"city": {"type": "string"}},
                                     "required": ["city"]})


@pytest.fixture
def creds(aws_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:  # noqa: F811
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIDSIM")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    aws_env.setenv("AWS_SESSION_TOKEN", TOKEN)
    yield aws_env


@asynccontextmanager
async def provider(base_url: str, **kw: Any) -> AsyncIterator[BedrockProvider]:
    options = {"region": "us-east-1", **kw.pop("options", {})}
    p = BedrockProvider(ProviderConfig(name="br", type="bedrock", base_url=base_url, options=options, **kw))
    try:
        yield p
    finally:
        await p.aclose()


def chat(text: str = "hello there friend", **kw: Any) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", MODEL), messages=[Message("user", text)], **kw)


async def collect(p: BedrockProvider, request: ChatRequest) -> list[ChatChunk]:
    return [c async for c in p.stream(request)]


async def test_chat_stream_and_tools_with_verified_signatures(creds: pytest.MonkeyPatch) -> None:
    async with running_simulator(SimSettings(output_tokens=4, require_key=SECRET)) as url, provider(url) as p:
        answer = await p.complete(chat())
        assert answer.content == "hello there friend " + answer.content.split()[-1]  # type: ignore[union-attr]
        assert answer.finish_reason == "stop" and answer.id.startswith("bedrock-")
        assert answer.usage is not None and answer.usage.output_tokens == 4
        chunks = await collect(p, chat())
        assert "".join(c.content or "" for c in chunks) == answer.content
        assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
        assert chunks[-1].usage is not None and chunks[-1].usage.output_tokens == 4
        forced = chat("weather?", tools=[WEATHER], tool_choice="required")
        called = await p.complete(forced)
        assert called.finish_reason == "tool_calls" and called.tool_calls is not None
        assert called.tool_calls[0].arguments == '{"city":"x"}'
        streamed = await collect(p, forced)
        args = "".join(d.arguments or "" for c in streamed for d in c.tool_calls or [])
        assert args == '{"city":"x"}'


async def test_an_inference_profile_arn_is_one_signed_path_segment(creds: pytest.MonkeyPatch) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
    async with running_simulator(SimSettings(output_tokens=2, require_key=SECRET)) as url, provider(url) as p:
        assert (await p.complete(chat(model=arn))).content


async def test_wrong_secret_is_a_credentials_error_not_retried(creds: pytest.MonkeyPatch) -> None:
    creds.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789")
    async with running_simulator(SimSettings(require_key=SECRET)) as url, provider(url) as p:
        with pytest.raises(UpstreamError) as info:
            await p.complete(chat())
    assert "InvalidSignatureException" in info.value.message and not info.value.retryable


async def test_bedrock_api_key_as_bearer_token(aws_env: pytest.MonkeyPatch) -> None:  # noqa: F811
    aws_env.setenv("SIM_BEDROCK_KEY", "bedrock-key-0123456789")
    async with running_simulator(SimSettings(output_tokens=2, require_key="bedrock-key-0123456789")) as url:
        async with provider(url, api_key="bedrock-key-0123456789") as p:
            assert p.auth.mode == "api_key"
            assert (await p.complete(chat())).content
        async with provider(url, api_key="wrong-key-0123456789") as p:
            with pytest.raises(UpstreamError, match="UnrecognizedClientException"):
                await p.complete(chat())


@pytest.mark.parametrize(("fault", "error"), [
    ("rate_limit", UpstreamRateLimited), ("server_error", UpstreamUnavailable),
    ("unavailable", UpstreamUnavailable), ("overloaded", UpstreamUnavailable),
    ("context_length", UpstreamContextLength),
])
async def test_status_faults(creds: pytest.MonkeyPatch, fault: str, error: type[Exception]) -> None:
    async with running_simulator(SimSettings(require_key=SECRET)) as url, \
            provider(url, headers={"x-sim-fault": fault}) as p:
        with pytest.raises(error):
            await p.complete(chat())
        with pytest.raises(error):
            await collect(p, chat())


async def test_guardrail_is_a_content_filter_finish(creds: pytest.MonkeyPatch) -> None:
    async with running_simulator(SimSettings(require_key=SECRET)) as url, \
            provider(url, headers={"x-sim-fault": "content_policy"}) as p:
        answer = await p.complete(chat())
        chunks = await collect(p, chat())
    assert answer.finish_reason == "content_filter" and "guardrail" in (answer.content or "")
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["content_filter"]


@pytest.mark.parametrize(("fault", "error"), [
    ("stream_error", UpstreamUnavailable), ("malformed_sse", UpstreamBadResponse),
    ("reset", UpstreamConnectionError),
])
async def test_mid_stream_failures_after_two_chunks(creds: pytest.MonkeyPatch, fault: str,
                                                    error: type[Exception]) -> None:
    seen: list[ChatChunk] = []
    async with running_simulator(SimSettings(require_key=SECRET)) as url, \
            provider(url, headers={"x-sim-fault": fault}) as p:
        with pytest.raises(error):
            async for chunk in p.stream(chat()):
                seen.append(chunk)
    assert len([c for c in seen if c.content]) == 2


@asynccontextmanager
async def canned(status: int, body: bytes, headers: dict[str, str]) -> AsyncIterator[str]:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", respond)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_secret_key_and_session_token_never_reach_an_error(creds: pytest.MonkeyPatch) -> None:
    echo = f'{{"message": "denied for secret {SECRET} with token {TOKEN}"}}'.encode()
    async with canned(403, echo, {"x-amzn-ErrorType": "AccessDeniedException"}) as url, provider(url) as p:
        with pytest.raises(UpstreamError) as info:
            await p.complete(chat())
    assert SECRET not in info.value.message and TOKEN not in info.value.message
    assert "[redacted]" in info.value.message


async def test_simulator_refuses_unsigned_and_malformed_authorization() -> None:
    async with running_simulator() as url, aiohttp.ClientSession() as s:
        target = f"{url}/model/{MODEL}/converse"
        body = b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}'
        async with s.post(target, data=body) as r:
            assert r.status == 403
            assert r.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")
        bad = ("AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request, "
               "SignedHeaders=content-type, Signature=" + "0" * 64)
        async with s.post(target, data=body, headers={"Authorization": bad}) as r:
            assert r.status == 403 and "host and x-amz-date" in (await r.json())["message"]


def test_signature_check_is_sensitive_to_the_body() -> None:
    args: dict[str, Any] = {"method": "POST", "raw_path": "/model/m/converse", "query": "",
                            "headers": {"host": "h", "x-amz-date": "20250101T000000Z"},
                            "signed": ["host", "x-amz-date"], "amz_date": "20250101T000000Z",
                            "scope": "20250101/us-east-1/bedrock/aws4_request"}
    assert sigv4_signature("s", body=b"{}", **args) != sigv4_signature("s", body=b"{ }", **args)
