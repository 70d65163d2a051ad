"""AzureOpenAIProvider over real HTTP to a canned server: URLs, api-key, errors, Azure's stream quirks.

Entra ID tokens are tested in test_azure_auth.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
)
from corral.core.types import ChatRequest, EmbeddingRequest, Message
from corral.providers.azure import DEFAULT_API_VERSION, AzureOpenAIProvider, azure_base_url
from corral.providers.base import ProviderConfig
from corral.providers.registry import create_provider
from tests.providers.test_http import Respond, Upstream, json_reply, raw_stream, upstream
from tests.providers.test_openai_http import COMPLETION, chunk, sse

KEY = "azure-key-0123456789abcdef"
REQUEST = ChatRequest(model="prod-chat", messages=[Message("user", "Weather in Paris?")], max_tokens=50)


def azure(url: str, **options: Any) -> AzureOpenAIProvider:
    api_key = options.pop("api_key", KEY)
    return AzureOpenAIProvider(ProviderConfig(name="az", type="azure", base_url=url, api_key=api_key,
                                              options=options))


@asynccontextmanager
async def recording(respond: Respond) -> AsyncIterator[tuple[Upstream, list[str]]]:
    """`upstream`, plus the query string of every request (Azure's api-version lives there)."""
    queries: list[str] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        queries.append(request.query_string)
        return await respond(request)

    async with upstream(answer) as up:
        yield up, queries


def azure_error(code: str, message: str, http_status: int, **extra: Any) -> Respond:
    return json_reply({"error": {"code": code, "message": message, "param": None, "type": None, **extra}},
                      http_status)


async def complete_error(respond: Respond, **options: Any) -> UpstreamError:
    async with upstream(respond) as up:
        p = azure(up.url, **options)
        try:
            with pytest.raises(UpstreamError) as exc:
                await p.complete(REQUEST)
        finally:
            await p.aclose()
    return exc.value


# --- URLs and headers ------------------------------------------------------------------

async def test_classic_api_puts_the_deployment_and_api_version_in_the_url() -> None:
    async with recording(json_reply(COMPLETION)) as (up, queries):
        p = azure(up.url + "/")
        try:
            result = await p.complete(REQUEST)
        finally:
            await p.aclose()
    seen = up.seen[0]
    assert seen["path"] == "/openai/deployments/prod-chat/chat/completions"
    assert queries == [f"api-version={DEFAULT_API_VERSION}"]
    assert seen["headers"]["api-key"] == KEY and "Authorization" not in seen["headers"]
    assert seen["body"]["max_completion_tokens"] == 50 and "max_tokens" not in seen["body"]
    assert result.content == "Checking." and result.usage is not None and result.usage.input_tokens == 30


async def test_embeddings_and_a_configured_api_version() -> None:
    reply = {"object": "list", "model": "text-embedding-3-small",
             "data": [{"index": 0, "embedding": [0.5, 0.5]}], "usage": {"prompt_tokens": 2}}
    async with recording(json_reply(reply)) as (up, queries):
        p = azure(up.url, api_version="2025-04-01-preview")
        try:
            result = await p.embed(EmbeddingRequest(model="embed prod", inputs=["hi"]))
        finally:
            await p.aclose()
    assert up.seen[0]["path"] == "/openai/deployments/embed prod/embeddings"  # quoted on the wire
    assert queries == ["api-version=2025-04-01-preview"]
    assert result.vectors == [[0.5, 0.5]]


async def test_v1_api_has_the_model_in_the_body_and_no_api_version() -> None:
    async with recording(json_reply(COMPLETION)) as (up, queries):
        p = azure(up.url + "/openai/v1/", api="v1")
        try:
            await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert up.seen[0]["path"] == "/openai/v1/chat/completions" and queries == [""]
    assert up.seen[0]["body"]["model"] == "prod-chat"


async def test_max_tokens_field_option_for_old_api_versions() -> None:
    async with upstream(json_reply(COMPLETION)) as up:
        p = azure(up.url, max_tokens_field="max_tokens")
        try:
            await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert up.seen[0]["body"]["max_tokens"] == 50


def test_base_url_from_resource_and_trailing_paths() -> None:
    def base(url: str | None, **options: Any) -> str:
        return azure_base_url(ProviderConfig(name="az", type="azure", base_url=url, options=options))

    assert base(None, resource="contoso") == "https://contoso.openai.azure.com"
    assert base("https://contoso.openai.azure.com/openai/") == "https://contoso.openai.azure.com"
    assert base("https://contoso.openai.azure.com/openai/v1") == "https://contoso.openai.azure.com"
    with pytest.raises(ValueError, match="needs base_url"):
        base(None)


@pytest.mark.parametrize("options", [{"api": "v2"}, {"auth": "password"}])
def test_unknown_api_or_auth_is_a_configuration_error(options: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="options"):
        azure("https://x.openai.azure.com", **options)


def test_registered_as_type_azure_without_a_native_batch_api() -> None:
    p = create_provider(ProviderConfig(name="az", type="azure", base_url="https://x.openai.azure.com",
                                       options={"native_batch": True}))
    assert isinstance(p, AzureOpenAIProvider) and p.native_batch is None
    assert p.capabilities.embeddings and p.capabilities.tools


async def test_key_defaults_to_azure_openai_api_key_and_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key-9876543210")
    echo = azure_error("401", "Access denied for key env-key-9876543210.", 401)
    async with upstream(echo) as up:
        p = azure(up.url, api_key=None)
        try:
            with pytest.raises(UpstreamError) as exc:
                await p.complete(REQUEST)
        finally:
            await p.aclose()
    assert up.seen[0]["headers"]["api-key"] == "env-key-9876543210"
    assert len(up.seen) == 1, "an api-key refused is not sent again"
    assert exc.value.upstream_status == 401 and "env-key-9876543210" not in exc.value.message


# --- errors ----------------------------------------------------------------------------

CONTENT_FILTER = {"hate": {"filtered": False, "severity": "safe"},
                  "violence": {"filtered": True, "severity": "medium"},
                  "self_harm": {"filtered": True, "severity": "high"},
                  "jailbreak": {"filtered": False, "detected": False}}


async def test_content_filter_400_is_a_content_policy_violation_naming_the_categories() -> None:
    err = await complete_error(azure_error(
        "content_filter", "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.", 400, status=400,
        innererror={"code": "ResponsibleAIPolicyViolation", "content_filter_result": CONTENT_FILTER}))
    assert isinstance(err, ContentPolicyViolation) and err.status_code == 400 and not err.retryable
    assert err.category == "content_filter:self_harm,violence"
    assert "content management policy" in err.message and "self_harm, violence" in err.message


async def test_content_filter_without_inner_error_keeps_the_plain_category() -> None:
    err = await complete_error(azure_error("content_filter", "Filtered.", 400))
    assert isinstance(err, ContentPolicyViolation) and err.category == "content_filter"


@pytest.mark.parametrize(("headers", "wait"), [
    ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
    ({"retry-after": "3"}, 3.0),
])
async def test_429_is_rate_limited_with_azures_delay(headers: dict[str, str], wait: float) -> None:
    reply = json_reply({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create "
                                  "Operation have exceeded token rate limit."}}, 429, headers)
    err = await complete_error(reply)
    assert isinstance(err, UpstreamRateLimited) and err.retry_after == wait and err.retryable


async def test_deployment_not_found_is_a_404_that_says_what_to_check() -> None:
    err = await complete_error(azure_error(
        "DeploymentNotFound", "The API deployment for this resource does not exist.", 404))
    assert isinstance(err, UpstreamRejected) and err.status_code == 404
    assert "deployment of this name" in err.message


async def test_5xx_is_retryable() -> None:
    err = await complete_error(azure_error("InternalServerError", "Backend failed.", 500))
    assert err.retryable and err.upstream_status == 500


# --- streams ---------------------------------------------------------------------------

# Azure opens a stream with the prompt's filter verdicts and no choices, and annotates chunks.
PROMPT_FILTER = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                 "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}


async def test_stream_skips_azures_prompt_filter_chunk_and_keeps_content_filter_finish() -> None:
    events = [PROMPT_FILTER, chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
              chunk({}, "content_filter"), chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 1})]
    async with recording(raw_stream(sse(events))) as (up, queries):
        p = azure(up.url)
        try:
            got = [c async for c in p.stream(REQUEST)]
        finally:
            await p.aclose()
    assert up.seen[0]["path"] == "/openai/deployments/prod-chat/chat/completions"
    assert queries[0] == f"api-version={DEFAULT_API_VERSION}"
    assert up.seen[0]["body"]["stream"] is True
    assert "".join(c.content or "" for c in got) == "Hel"
    assert [c.finish_reason for c in got if c.finish_reason] == ["content_filter"]
    assert got[-1].usage is not None and got[-1].usage.input_tokens == 3


async def test_stream_content_filter_error_before_any_chunk() -> None:
    body = {"error": {"code": "content_filter", "message": "Filtered.", "status": 400,
                      "innererror": {"content_filter_result": CONTENT_FILTER}}}
    async with upstream(json_reply(body, 400)) as up:
        p = azure(up.url)
        try:
            with pytest.raises(ContentPolicyViolation) as exc:
                async for _ in p.stream(REQUEST):
                    pass
        finally:
            await p.aclose()
    assert exc.value.category == "content_filter:self_harm,violence"
    assert len(up.seen) == 1, "a refusal is not sent again"
