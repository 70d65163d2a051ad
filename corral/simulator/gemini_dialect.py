"""Gemini wire format: /v1beta/models/{model}:{method} (also under /v1).

Methods: generateContent, streamGenerateContent (``?alt=sse`` gives SSE with
CRLF-separated events like Google's; without it a streamed JSON array),
embedContent, batchEmbedContents, countTokens. Errors use Google's
``{"error": {"code", "message", "status"}}``; a content-policy block is a 200
with ``promptFeedback.blockReason: "SAFETY"`` and no candidates.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import web

from .engine import (
    BadRequest,
    Call,
    Dialect,
    ErrorContext,
    StreamScript,
    handle,
    json_response,
    new_id,
    sse,
)
from .generate import MAX_DIM, Generation, ToolSpec, embedding_vector, estimate_tokens
from .state import STATE

CRLF2 = b"\r\n\r\n"
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
MODELS = ("gemini-sim", "gemini-sim-lite", "gemini-sim-embedding")
_ERRORS = {
    "auth": (401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    "bad_request": (400, "INVALID_ARGUMENT", ""),
    "not_found": (404, "NOT_FOUND", ""),
    "rate_limit": (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota. (simulated)"),
    "server_error": (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    "unavailable": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "overloaded": (529, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "context_length": (400, "INVALID_ARGUMENT", ""),
}


def _get(d: Any, camel: str, snake: str) -> Any:
    """Google's JSON accepts both lowerCamel and snake_case field names."""
    if not isinstance(d, dict):
        return None
    value = d.get(camel)
    return d.get(snake) if value is None else value


def _google_error(code: int, status: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


class GeminiDialect(Dialect):
    name = "gemini"

    def check_key(self, request: web.Request, key: str) -> str | None:
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not given:
            return "Method doesn't allow unregistered callers. Please use API Key."
        return None if given == key else "API key not valid. Please pass a valid API key."

    def error_body(self, kind: str, ctx: ErrorContext) -> tuple[int, Any, dict[str, str]]:
        code, status, message = _ERRORS[kind]
        message = ctx.message or message
        headers: dict[str, str] = {}
        details: list[Any] = []
        if kind == "auth":
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
        elif kind == "rate_limit":
            wait = max(1, math.ceil(ctx.retry_after_s))
            headers["Retry-After"] = str(wait)
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{wait}s"}]
        elif kind == "context_length":
            used = max(ctx.prompt_tokens, ctx.context_window + 1)
            message = (
                f"The input token count ({used}) exceeds the maximum number of tokens allowed "
                f"({ctx.context_window})."
            )
        return code, _google_error(code, status, message, details), headers

    def fault_response(self, kind: str, ctx: ErrorContext) -> web.StreamResponse:
        if kind != "content_policy":
            return super().fault_response(kind, ctx)
        body = {
            "promptFeedback": {
                "blockReason": "SAFETY",
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                ],
            },
            "usageMetadata": {"promptTokenCount": ctx.prompt_tokens, "totalTokenCount": ctx.prompt_tokens},
            "modelVersion": ctx.model,
            "responseId": new_id("", 11),
        }
        if not ctx.stream:
            return json_response(body)
        if ctx.call is None or not ctx.call.extra.get("sse"):
            return web.Response(body=b"[" + orjson.dumps(body) + b"]", content_type="application/json")
        return web.Response(body=sse(body, sep=CRLF2), content_type="text/event-stream")


DIALECT = GeminiDialect()


def _model_and_method(request: web.Request) -> tuple[str, str]:
    model, sep, method = request.match_info["name"].rpartition(":")
    return (model, method) if sep else (request.match_info["name"], "")


def _text(content: Any) -> str:
    parts = _get(content, "parts", "parts") or []
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _tools(body: dict[str, Any]) -> tuple[list[ToolSpec], ToolSpec | None]:
    tools: list[ToolSpec] = []
    for group in body.get("tools") or []:
        for decl in _get(group, "functionDeclarations", "function_declarations") or []:
            if isinstance(decl, dict) and decl.get("name"):
                schema = _get(decl, "parametersJsonSchema", "parameters_json_schema") or decl.get(
                    "parameters"
                )
                tools.append(ToolSpec(decl["name"], schema or {}))
    config = _get(_get(body, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config")
    mode = str(_get(config, "mode", "mode") or "").upper()
    if not tools or mode != "ANY":
        return tools, None
    allowed = _get(config, "allowedFunctionNames", "allowed_function_names") or []
    return tools, next((t for t in tools if t.name in allowed), tools[0])


def parse_generate(request: web.Request, body: dict[str, Any]) -> Call:
    model, method = _model_and_method(request)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    system = _get(body, "systemInstruction", "system_instruction") or {}
    prompt_text = ""
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            prompt_text = _text(content)
            break
    config = _get(body, "generationConfig", "generation_config") or {}
    max_tokens = _get(config, "maxOutputTokens", "max_output_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise BadRequest("* GenerateContentRequest.generation_config.max_output_tokens: must be positive")
    is_json = _get(config, "responseMimeType", "response_mime_type") == "application/json"
    schema = _get(config, "responseJsonSchema", "response_json_schema") or _get(
        config, "responseSchema", "response_schema"
    )
    tools, forced = _tools(body)
    stream = method == "streamGenerateContent"
    return Call(
        endpoint="chat",
        model=model,
        stream=stream,
        prompt_tokens=estimate_tokens(contents, system, body.get("tools") or []),
        render=render_generate,
        script=generate_script,
        prompt_text=prompt_text,
        max_tokens=max_tokens,
        tool=forced,
        tools=tools,
        json_schema=schema if is_json and isinstance(schema, dict) else None,
        json_mode=is_json,
        extra={"sse": request.query.get("alt") == "sse"},
    )


def usage(gen: Generation, candidates: int | None = None) -> dict[str, Any]:
    """Google's usageMetadata; thoughts are counted outside candidates."""
    cand = gen.completion_tokens if candidates is None else candidates
    out: dict[str, Any] = {
        "promptTokenCount": gen.prompt_tokens,
        "candidatesTokenCount": cand,
        "totalTokenCount": gen.prompt_tokens + cand + gen.reasoning_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": gen.prompt_tokens}],
    }
    if gen.cached_tokens:
        out["cachedContentTokenCount"] = gen.cached_tokens
    if gen.reasoning_tokens:
        out["thoughtsTokenCount"] = gen.reasoning_tokens
    return out


def _response(
    call: Call, rid: str, part: dict[str, Any], finish: str | None, use: dict[str, Any]
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return {"candidates": [candidate], "usageMetadata": use, "modelVersion": call.model, "responseId": rid}


def render_generate(call: Call, gen: Generation | None) -> dict[str, Any]:
    assert gen is not None
    part = (
        {"functionCall": {"name": gen.tool.name, "args": gen.tool_args}} if gen.tool else {"text": gen.text}
    )
    return _response(call, new_id("", 11), part, FINISH[gen.finish], usage(gen))


def generate_script(call: Call, gen: Generation) -> StreamScript:
    rid = new_id("", 11)
    finish = FINISH[gen.finish]
    if gen.tool is not None:
        part = {"functionCall": {"name": gen.tool.name, "args": gen.tool_args}}
        bodies = [_response(call, rid, part, finish, usage(gen))]
    else:
        last = len(gen.chunks) - 1
        bodies = [
            _response(call, rid, {"text": p}, finish if i == last else None, usage(gen, i + 1))
            for i, p in enumerate(gen.chunks)
        ]
    error = _google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if call.extra.get("sse"):
        return StreamScript(
            content_type="text/event-stream",
            frames=[sse(b, sep=CRLF2) for b in bodies],
            malformed=b'data: {"candidates": [{"content": {"parts": [{"text": "unterminated' + CRLF2,
            error=sse(error, sep=CRLF2),
        )
    frames = [(b",\r\n" if i else b"") + orjson.dumps(b) for i, b in enumerate(bodies)]
    return StreamScript(
        content_type="application/json",
        frames=frames,
        preamble=b"[",
        epilogue=b"]",
        malformed=b',\r\n{"candidates": [{"content": {"parts": [{"text": "unterminated',
        error=b",\r\n" + orjson.dumps(error) + b"]",
    )


def _embed_request(req: Any, default_dim: int) -> tuple[str, int]:
    text = _text(_get(req, "content", "content"))
    if not text:
        raise BadRequest("* EmbedContentRequest.content: contents is not specified")
    dim = _get(req, "outputDimensionality", "output_dimensionality") or default_dim
    if not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise BadRequest(f"* EmbedContentRequest.output_dimensionality: must be from 1 to {MAX_DIM}")
    return text, dim


def parse_embed(request: web.Request, body: dict[str, Any]) -> Call:
    model, method = _model_and_method(request)
    default_dim = request.app[STATE].settings.embedding_dim
    raw = body.get("requests") if method == "batchEmbedContents" else [body]
    if not isinstance(raw, list) or not raw:
        raise BadRequest("* BatchEmbedContentsRequest.requests: requests is not specified")
    items = [_embed_request(r, default_dim) for r in raw]
    return Call(
        endpoint="embeddings",
        model=model,
        stream=False,
        prompt_tokens=sum(estimate_tokens(text) for text, _ in items),
        render=render_embed,
        extra={"items": items, "batch": method == "batchEmbedContents"},
    )


def render_embed(call: Call, gen: Generation | None) -> dict[str, Any]:
    vectors = [{"values": embedding_vector(text, dim)} for text, dim in call.extra["items"]]
    return {"embeddings": vectors} if call.extra["batch"] else {"embedding": vectors[0]}


def _model_info(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "displayName": f"{name} (Corral simulator)",
        "inputTokenLimit": 8192,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "embedContent",
            "batchEmbedContents",
        ],
    }


async def model_action(request: web.Request) -> web.StreamResponse:
    """Dispatch ``{model}:{method}`` to the matching parser."""
    _, method = _model_and_method(request)
    if method in ("generateContent", "streamGenerateContent"):
        return await handle(request, DIALECT, parse_generate)
    if method in ("embedContent", "batchEmbedContents"):
        return await handle(request, DIALECT, parse_embed)
    settings = request.app[STATE].settings
    problem = DIALECT.check_key(request, settings.require_key) if settings.require_key else None
    if problem:
        return DIALECT.fault_response("auth", ErrorContext(message=problem))
    if method == "countTokens":
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            return DIALECT.fault_response(
                "bad_request", ErrorContext(message="Invalid JSON payload received.")
            )
        contents = body.get("contents") if isinstance(body, dict) else None
        return json_response({"totalTokens": estimate_tokens(contents or [])})
    return DIALECT.fault_response(
        "not_found", ErrorContext(message=f"Method {method!r} not found for models.")
    )


async def list_models(request: web.Request) -> web.StreamResponse:
    settings = request.app[STATE].settings
    problem = DIALECT.check_key(request, settings.require_key) if settings.require_key else None
    if problem:
        return DIALECT.fault_response("auth", ErrorContext(message=problem))
    name = request.match_info.get("name")
    if name:
        return json_response(_model_info(name))
    return json_response({"models": [_model_info(m) for m in MODELS]})


def routes() -> list[web.RouteDef]:
    """aiohttp routes for this dialect (v1beta and v1 prefixes)."""
    out: list[web.RouteDef] = []
    for prefix in ("/v1beta", "/v1"):
        out.append(web.post(prefix + "/models/{name}", model_action))
    out.append(web.get("/v1beta/models", list_models))
    out.append(web.get("/v1beta/models/{name}", list_models))
    return out
