"""Azure OpenAI with Microsoft Entra ID tokens (`auth: entra`), against a local fake token endpoint.

One aiohttp server plays both parts: Entra ID's `/{tenant}/oauth2/v2.0/token` (client
credentials) and Azure OpenAI's chat endpoint, which accepts only the tokens the test allows.
"""

from __future__ import annotations

import asyncio
import sys
import time
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from corral.core.errors import UpstreamError, UpstreamUnavailable
from corral.core.types import ChatRequest, Message
from corral.providers.azure import AzureOpenAIProvider
from corral.providers.azure_auth import (
    SCOPE,
    AzureIdentityToken,
    ClientSecretToken,
    EnvToken,
    token_source,
)
from corral.providers.base import ProviderConfig
from tests.providers.test_openai_http import CHUNKS, COMPLETION, sse

SECRET = "client-secret-0123456789"
REQUEST = ChatRequest(model="prod-chat", messages=[Message("user", "hello")])


@dataclass
class FakeAzure:
    url: str = ""
    token_forms: list[dict[str, str]] = field(default_factory=list)
    bearers: list[str] = field(default_factory=list)  # the Authorization header of each chat call
    accepted: set[str] = field(default_factory=set)  # tokens the chat endpoint takes; empty: any
    expires_in: int = 3600
    token_status: int = 200

    async def token(self, request: web.Request) -> web.StreamResponse:
        form = dict(await request.post())
        self.token_forms.append({k: str(v) for k, v in form.items()})
        if self.token_status != 200:
            detail = f"AADSTS7000215: Invalid client secret provided: {form['client_secret']}\r\nTrace ID: 1"
            return web.json_response({"error": "invalid_client", "error_description": detail},
                                     status=self.token_status)
        return web.json_response({"token_type": "Bearer", "expires_in": self.expires_in,
                                  "access_token": f"eyJ0eXAi.tok-{len(self.token_forms)}.sig0123"})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        self.bearers.append(auth)
        if self.accepted and auth.removeprefix("Bearer ") not in self.accepted:
            return web.json_response({"error": {"code": "401", "message": f"Token {auth} expired."}},
                                     status=401)
        if (await request.json()).get("stream"):
            return web.Response(body=sse(CHUNKS), content_type="text/event-stream")
        return web.json_response(COMPLETION)


@asynccontextmanager
async def fake_azure() -> AsyncIterator[FakeAzure]:
    fake = FakeAzure()
    app = web.Application()
    app.router.add_post("/{tenant}/oauth2/v2.0/token", fake.token)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", fake.chat)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def entra(fake: FakeAzure, **options: Any) -> AzureOpenAIProvider:
    options = {"auth": "entra", "tenant_id": "tenant-x", "client_id": "app-1",
               "authority_host": fake.url, **options}
    return AzureOpenAIProvider(ProviderConfig(name="az", type="azure", base_url=fake.url, options=options))


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)


# --- client credentials ----------------------------------------------------------------

@pytest.mark.usefixtures("secret_env")
async def test_token_fetched_once_then_cached() -> None:
    async with fake_azure() as fake:
        p = entra(fake)
        try:
            for _ in range(3):
                assert (await p.complete(REQUEST)).content == "Checking."
        finally:
            await p.aclose()
    assert fake.token_forms == [{"grant_type": "client_credentials", "client_id": "app-1",
                                 "client_secret": SECRET, "scope": SCOPE}]
    assert fake.bearers == ["Bearer eyJ0eXAi.tok-1.sig0123"] * 3


@pytest.mark.usefixtures("secret_env")
async def test_a_401_fetches_a_new_token_and_tries_once_more() -> None:
    async with fake_azure() as fake:
        fake.accepted = {"eyJ0eXAi.tok-2.sig0123"}  # the first token is "revoked"
        p = entra(fake)
        try:
            assert (await p.complete(REQUEST)).content == "Checking."
            chunks = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert len(fake.token_forms) == 2
    assert fake.bearers[:2] == ["Bearer eyJ0eXAi.tok-1.sig0123", "Bearer eyJ0eXAi.tok-2.sig0123"]
    assert fake.bearers[2] == "Bearer eyJ0eXAi.tok-2.sig0123", "the new token is cached"
    assert "".join(c.content or "" for c in chunks) == "Checking."


@pytest.mark.usefixtures("secret_env")
async def test_a_stream_refused_with_401_is_retried_with_a_new_token() -> None:
    async with fake_azure() as fake:
        fake.accepted = {"eyJ0eXAi.tok-2.sig0123"}
        p = entra(fake)
        try:
            chunks = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert len(fake.token_forms) == 2 and len(fake.bearers) == 2
    assert "".join(c.content or "" for c in chunks) == "Checking."


@pytest.mark.usefixtures("secret_env")
async def test_a_burst_of_requests_shares_one_fetch_and_one_refresh() -> None:
    async with fake_azure() as fake:
        fake.accepted = {"eyJ0eXAi.tok-2.sig0123"}
        p = entra(fake)
        try:
            answers = await asyncio.gather(*(p.complete(REQUEST) for _ in range(5)))
        finally:
            await p.aclose()
    assert [a.content for a in answers] == ["Checking."] * 5
    assert len(fake.token_forms) == 2, "one fetch, then one refresh for all five 401s"
    assert len(fake.bearers) == 10


@pytest.mark.usefixtures("secret_env")
async def test_a_second_401_is_the_answer_and_hides_the_token() -> None:
    async with fake_azure() as fake:
        fake.accepted = {"never-issued"}
        p = entra(fake)
        try:
            with pytest.raises(UpstreamError) as exc:
                await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert len(fake.bearers) == 2 and len(fake.token_forms) == 2, "one retry, not a loop"
    assert exc.value.upstream_status == 401
    assert "tok-2" not in exc.value.message and "[redacted]" in exc.value.message


@pytest.mark.usefixtures("secret_env")
async def test_a_token_near_expiry_is_fetched_again() -> None:
    async with fake_azure() as fake:
        fake.expires_in = 200  # under the 5-minute margin: stale at once
        p = entra(fake)
        try:
            await p.complete(REQUEST)
            await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert len(fake.token_forms) == 2


@pytest.mark.usefixtures("secret_env")
async def test_token_endpoint_refusal_names_the_problem_not_the_secret() -> None:
    async with fake_azure() as fake:
        fake.token_status = 401
        p = entra(fake)
        try:
            with pytest.raises(UpstreamError) as exc:
                await p.complete(REQUEST)
        finally:
            await p.aclose()
    err = exc.value
    assert type(err) is UpstreamError and err.upstream_status == 401 and not err.retryable
    assert "AADSTS7000215" in err.message and "Trace ID" not in err.message
    assert SECRET not in err.message
    assert fake.bearers == [], "no call to Azure OpenAI without a token"


@pytest.mark.usefixtures("secret_env")
async def test_token_endpoint_outage_is_retryable() -> None:
    async with fake_azure() as fake:
        fake.token_status = 503
        p = entra(fake)
        try:
            with pytest.raises(UpstreamUnavailable) as exc:
                await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert exc.value.retryable


# --- other sources ---------------------------------------------------------------------

async def test_token_env_is_sent_as_bearer_and_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AOAI_TOKEN", "eyJ0eXAi.env-token.sig0123")
    async with fake_azure() as fake:
        fake.accepted = {"other"}
        p = entra(fake, token_env="AOAI_TOKEN")
        try:
            with pytest.raises(UpstreamError):
                await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert fake.bearers == ["Bearer eyJ0eXAi.env-token.sig0123"] and fake.token_forms == []


def _config(**options: Any) -> ProviderConfig:
    return ProviderConfig(name="az", type="azure", base_url="https://x.openai.azure.com",
                          options={"auth": "entra", **options})


def test_sources_are_chosen_from_options_then_the_azure_environment() -> None:
    assert isinstance(token_source(_config(token_env="T"), {}), EnvToken)
    env = {"AZURE_TENANT_ID": "t1", "AZURE_CLIENT_ID": "c1", "AZURE_CLIENT_SECRET": "s"}
    source = token_source(_config(), env)
    assert isinstance(source, ClientSecretToken)
    assert source.token_url == "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
    sovereign = token_source(_config(), {**env, "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/"})
    assert isinstance(sovereign, ClientSecretToken)
    assert sovereign.token_url == "https://login.microsoftonline.us/t1/oauth2/v2.0/token"
    direct = token_source(_config(token_url="http://127.0.0.1:1/token", client_secret_env="MY_SECRET"),
                          {"AZURE_CLIENT_ID": "c1", "MY_SECRET": "s"})
    assert isinstance(direct, ClientSecretToken) and direct.token_url == "http://127.0.0.1:1/token"


def test_no_credentials_and_no_azure_identity_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)  # import fails
    with pytest.raises(ValueError, match="token_env"):
        token_source(_config(), {})


async def test_azure_identity_is_used_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    scopes: list[str] = []

    class FakeCredential:
        async def get_token(self, scope: str) -> Any:
            scopes.append(scope)
            return types.SimpleNamespace(token="eyJ0eXAi.mi-token.sig", expires_on=time.time() + 3600)

        async def close(self) -> None:
            pass

    module = types.ModuleType("azure.identity.aio")
    module.DefaultAzureCredential = FakeCredential  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.identity.aio", module)
    source = token_source(_config(), {})
    assert isinstance(source, AzureIdentityToken)
    assert await source.get() == await source.get() == "eyJ0eXAi.mi-token.sig"
    assert scopes == [SCOPE], "cached for its lifetime"
    await source.aclose()
