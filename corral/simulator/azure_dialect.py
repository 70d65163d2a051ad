"""Azure OpenAI wire format (test/benchmark tool): OpenAI's bodies at Azure's URLs.

- ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` and
  ``.../embeddings``: the deployment name in the path is the model (fault rules match it);
  ``api-version`` is required.
- ``POST /openai/v1/chat/completions`` and ``/openai/v1/embeddings`` (Azure's v1 API): the
  model in the body, ``api-version`` optional.

The key (``--require-key``) goes in the ``api-key`` header or as ``Authorization: Bearer``
(how Microsoft Entra ID tokens arrive). Answers are OpenAI's, rendered by ``openai_dialect``,
plus Azure's content-filter annotations (``prompt_filter_results`` and per-choice
``content_filter_results``; a stream opens with a ``choices: []`` chunk carrying the prompt's).
Errors that differ from OpenAI's: 401, 429 and the content filter's 400 (``code:
content_filter`` with ``innererror.content_filter_result``).
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from . import openai_dialect, openai_embeddings
from .engine import BadRequest, Call, ErrorContext, StreamScript, make_handler, sse
from .generate import Generation

_SAFE = {"filtered": False, "severity": "safe"}
_CATEGORIES = ("hate", "self_harm", "sexual", "violence")
AUTH_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource. (simulated)"
)


def filter_results(flagged: str | None = None) -> dict[str, Any]:
    """Azure's per-category verdicts; ``flagged`` is filtered at medium severity."""
    out: dict[str, Any] = {c: dict(_SAFE) for c in _CATEGORIES}
    if flagged:
        out[flagged] = {"filtered": True, "severity": "medium"}
    out["jailbreak"] = {"filtered": False, "detected": False}
    return out


def _err(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "param": None, "type": None, **extra}}


class AzureDialect(openai_dialect.OpenAIDialect):
    name = "azure"

    def check_key(self, request: web.Request, key: str) -> str | None:
        if request.headers.get("api-key") == key:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() == key:
            return None
        return AUTH_MESSAGE

    def error_body(self, kind: str, ctx: ErrorContext) -> tuple[int, Any, dict[str, str]]:
        if kind == "auth":
            return 401, {"error": {"code": "401", "message": ctx.message}}, {}
        if kind == "rate_limit":
            wait = ctx.retry_after_s
            headers = {
                "retry-after": str(max(1, math.ceil(wait))),
                "retry-after-ms": str(int(wait * 1000)),
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-remaining-tokens": "0",
            }
            message = (
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded "
                f"the token rate limit of your current pricing tier. Please retry after "
                f"{max(1, math.ceil(wait))} second. (simulated)"
            )
            return 429, _err("429", message), headers
        if kind == "content_policy":
            message = (
                "The response was filtered due to the prompt triggering Azure OpenAI's content "
                "management policy. Please modify your prompt and retry. (simulated)"
            )
            inner = {"code": "ResponsibleAIPolicyViolation",
                     "content_filter_result": filter_results("violence")}
            return 400, _err("content_filter", message, param="prompt", status=400,
                             innererror=inner), {}
        return super().error_body(kind, ctx)


DIALECT = AzureDialect()


def render_chat(call: Call, gen: Generation | None) -> dict[str, Any]:
    """OpenAI's chat.completion with Azure's content-filter annotations."""
    body = openai_dialect.render_chat(call, gen)
    body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": filter_results()}]
    for choice in body["choices"]:
        choice["content_filter_results"] = filter_results()
    return body


def chat_script(call: Call, gen: Generation) -> StreamScript:
    """OpenAI's chunks, opened by Azure's prompt-annotation chunk (no choices, empty id)."""
    script = openai_dialect.chat_script(call, gen)
    script.preamble = sse({
        "choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filter_results()}],
    })
    return script


def _deployment(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """The body with the path's deployment as its model; the classic API needs api-version."""
    deployment = request.match_info.get("deployment")
    if deployment is None:  # the v1 API: model in the body, as OpenAI's
        return body
    if not request.query.get("api-version"):
        raise BadRequest("The api-version query parameter (?api-version=) is required for all "
                         "requests. (simulated)", "api-version")
    return {**body, "model": deployment}


def parse_chat(request: web.Request, body: dict[str, Any]) -> Call:
    call = openai_dialect.parse_chat(request, _deployment(request, body))
    call.render, call.script = render_chat, chat_script
    return call


def parse_embeddings(request: web.Request, body: dict[str, Any]) -> Call:
    return openai_embeddings.parse_embeddings(request, _deployment(request, body))


_chat = make_handler(DIALECT, parse_chat)
_embeddings = make_handler(DIALECT, parse_embeddings)


def routes() -> list[web.RouteDef]:
    """aiohttp routes for this dialect."""
    return [
        web.post("/openai/deployments/{deployment}/chat/completions", _chat),
        web.post("/openai/deployments/{deployment}/embeddings", _embeddings),
        web.post("/openai/v1/chat/completions", _chat),
        web.post("/openai/v1/embeddings", _embeddings),
    ]
