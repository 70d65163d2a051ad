"""OpenAI wire format: keys, error bodies, /v1/chat/completions and /v1/models.

/v1/embeddings is routed here, parsed and rendered in ``openai_embeddings``.

Bodies follow the documented chat.completion / chat.completion.chunk objects
(including ``stream_options.include_usage``: every chunk carries
``"usage": null`` and a last chunk with ``choices: []`` carries the usage)
and the ``{"error": {message, type, param, code}}`` error envelope.
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson
from aiohttp import web

from .engine import (
    BadRequest,
    Call,
    Dialect,
    ErrorContext,
    StreamScript,
    json_response,
    make_handler,
    new_id,
    sse,
)
from .generate import Generation, ToolSpec, estimate_tokens
from .openai_embeddings import parse_embeddings
from .state import STATE

FINGERPRINT = "fp_corral_sim"
MODELS = ("sim-gpt", "sim-gpt-mini", "sim-embed")
FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls"}


SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_FIXED = {  # kind: (status, message, type, code)
    "server_error": (500, SERVER_ERROR, "server_error", None),
    "unavailable": (503, "The engine is currently overloaded, please try again later", "server_error", None),
    "overloaded": (529, "The server is overloaded, please try again later.", "server_error", "overloaded"),
    "content_policy": (
        400,
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system. (simulated)",
        "invalid_request_error",
        "content_policy_violation",
    ),
}


def _err(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _reset_duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


class OpenAIDialect(Dialect):
    name = "openai"

    def check_key(self, request: web.Request, key: str) -> str | None:
        auth = request.headers.get("Authorization", "")
        if not auth:
            return (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != key:
            return "Incorrect API key provided. (simulated by the Corral test simulator)"
        return None

    def error_body(self, kind: str, ctx: ErrorContext) -> tuple[int, Any, dict[str, str]]:
        if kind == "auth":
            return 401, _err(ctx.message, "invalid_request_error", None, "invalid_api_key"), {}
        if kind == "bad_request":
            return 400, _err(ctx.message, "invalid_request_error", ctx.param), {}
        if kind == "rate_limit":
            wait = ctx.retry_after_s
            headers = {
                "Retry-After": str(max(1, math.ceil(wait))),
                "retry-after-ms": str(int(wait * 1000)),
                "x-ratelimit-limit-requests": "60",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": _reset_duration(wait),
            }
            message = (
                f"Rate limit reached for {ctx.model} on requests per min (RPM): Limit 60, Used 60, "
                f"Requested 1. Please try again in {_reset_duration(wait)}. (simulated)"
            )
            return 429, _err(message, "requests", "requests", "rate_limit_exceeded"), headers
        if kind in _FIXED:
            status, message, type_, code = _FIXED[kind]
            return status, _err(message, type_, None, code), {}
        if kind == "context_length":
            used = max(ctx.prompt_tokens, ctx.context_window + 1)
            message = (
                f"This model's maximum context length is {ctx.context_window} tokens. However, your "
                f"messages resulted in {used} tokens. Please reduce the length of the messages."
            )
            return 400, _err(message, "invalid_request_error", "messages", "context_length_exceeded"), {}
        raise ValueError(f"no OpenAI error for {kind!r}")


DIALECT = OpenAIDialect()


def _last_user_text(messages: list[Any]) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
                )
    return ""


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BadRequest(f"Invalid '{name}': integer below minimum value 1.", name)
            return value
    return None


def _tools(body: dict[str, Any]) -> tuple[list[ToolSpec], ToolSpec | None]:
    tools: list[ToolSpec] = []
    for item in body.get("tools") or []:
        if isinstance(item, dict) and item.get("type", "function") == "function":
            fn = item.get("function") or {}
            if fn.get("name"):
                tools.append(ToolSpec(fn["name"], fn.get("parameters") or {}))
    choice = body.get("tool_choice")
    if not tools or choice in (None, "auto", "none"):
        return tools, None
    wanted: str | None = None
    if isinstance(choice, dict):
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("allowed_tools") or {}
            if allowed.get("mode") != "required":
                return tools, None
            names = [
                (t.get("function") or {}).get("name")
                for t in allowed.get("tools") or []
                if isinstance(t, dict)
            ]
            wanted = next((n for n in names if n), None)
        else:
            wanted = (choice.get("function") or {}).get("name") or choice.get("name")
    elif choice != "required":
        raise BadRequest(f"Invalid value for 'tool_choice': {choice!r}.", "tool_choice")
    return tools, next((t for t in tools if t.name == wanted), tools[0])


def parse_chat(request: web.Request, body: dict[str, Any]) -> Call:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", "messages")
    tools, forced = _tools(body)
    fmt = body.get("response_format") or {}
    schema = None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    options = body.get("stream_options") or {}
    return Call(
        endpoint="chat",
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=estimate_tokens(messages, body.get("tools") or []),
        render=render_chat,
        script=chat_script,
        prompt_text=_last_user_text(messages),
        max_tokens=_max_tokens(body),
        tool=forced,
        tools=tools,
        json_schema=schema,
        json_mode=isinstance(fmt, dict) and fmt.get("type") == "json_object",
        headers={"x-request-id": new_id("req_")},
        extra={
            "include_usage": bool(isinstance(options, dict) and options.get("include_usage")),
            "logprobs": body.get("logprobs") is True,
            "top_logprobs": body.get("top_logprobs") if isinstance(body.get("top_logprobs"), int) else 0,
        },
    )


def token_logprobs(pieces: list[str], top: int) -> list[dict[str, Any]]:
    """Simulated per-token log probabilities (for tests): one entry per streamed piece, with
    `top` alternatives; deterministic, shaped as OpenAI's `ChatCompletionTokenLogprob`."""
    out = []
    for i, piece in enumerate(pieces):
        logprob = -round(0.01 * (1 + i % 7), 4)
        alternatives = [{"token": piece, "logprob": logprob, "bytes": list(piece.encode())}]
        for k in range(1, top):
            other = f"{piece}~{k}"
            alternatives.append({"token": other, "logprob": logprob - k, "bytes": list(other.encode())})
        out.append({"token": piece, "logprob": logprob, "bytes": list(piece.encode()),
                    "top_logprobs": alternatives[:top]})
    return out


def usage(gen: Generation) -> dict[str, Any]:
    """OpenAI usage; completion_tokens includes the reasoning tokens."""
    completion = gen.completion_tokens + gen.reasoning_tokens
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": gen.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": gen.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": gen.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def render_chat(call: Call, gen: Generation | None) -> dict[str, Any]:
    assert gen is not None
    message: dict[str, Any] = {"role": "assistant", "content": gen.text, "refusal": None, "annotations": []}
    if gen.tool is not None:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": new_id("call_"),
                "type": "function",
                "function": {"name": gen.tool.name, "arguments": gen.text},
            }
        ]
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": [{"index": 0, "message": message, "logprobs": _choice_logprobs(call, gen),
                     "finish_reason": FINISH[gen.finish]}],
        "usage": usage(gen),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _choice_logprobs(call: Call, gen: Generation) -> dict[str, Any] | None:
    if not call.extra.get("logprobs") or gen.tool is not None:
        return None
    return {"content": token_logprobs(gen.chunks, call.extra.get("top_logprobs") or 0), "refusal": None}


def chat_script(call: Call, gen: Generation) -> StreamScript:
    """chat.completion.chunk frames, built from byte templates for speed."""
    cid = new_id("chatcmpl-")
    created = int(time.time())
    include_usage = call.extra.get("include_usage", False)
    head = (
        b'data: {"id":"'
        + cid.encode()
        + b'","object":"chat.completion.chunk","created":'
        + str(created).encode()
        + b',"model":'
        + orjson.dumps(call.model)
        + b',"service_tier":"default","system_fingerprint":"'
        + FINGERPRINT.encode()
        + b'","choices":[{"index":0,"delta":'
    )
    tail_usage = b',"usage":null' if include_usage else b""
    tail = b',"logprobs":null,"finish_reason":null}]' + tail_usage + b"}\n\n"

    def frame(delta: Any, logprobs: Any = None) -> bytes:
        if logprobs is None:
            return head + orjson.dumps(delta) + tail
        return (head + orjson.dumps(delta) + b',"logprobs":' + orjson.dumps(logprobs)
                + b',"finish_reason":null}]' + tail_usage + b"}\n\n")

    if gen.tool is not None:
        first = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": new_id("call_"),
                    "type": "function",
                    "function": {"name": gen.tool.name, "arguments": ""},
                }
            ],
            "refusal": None,
        }
        frames = [frame({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in gen.chunks]
    else:
        first = {"role": "assistant", "content": "", "refusal": None}
        choice_logprobs = _choice_logprobs(call, gen)
        if choice_logprobs is None:
            frames = [frame({"content": p}) for p in gen.chunks]
        else:
            frames = [frame({"content": p}, {"content": [entry], "refusal": None})
                      for p, entry in zip(gen.chunks, choice_logprobs["content"], strict=True)]
    frames[0] = frame(first) + frames[0]
    finish = FINISH[gen.finish].encode()
    epilogue = head + b'{},"logprobs":null,"finish_reason":"' + finish + b'"}]' + tail_usage + b"}\n\n"
    if include_usage:
        epilogue += sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": call.model,
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
                "choices": [],
                "usage": usage(gen),
            }
        )
    epilogue += b"data: [DONE]\n\n"
    error = _err(SERVER_ERROR, "server_error")
    return StreamScript(
        content_type="text/event-stream; charset=utf-8",
        frames=frames,
        epilogue=epilogue,
        malformed=head + b'{"content":"unterminated\n\n',
        error=sse(error),
    )


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "corral-simulator"}


async def list_models(request: web.Request) -> web.StreamResponse:
    key = request.app[STATE].settings.require_key
    problem = DIALECT.check_key(request, key) if key else None
    if problem:
        return DIALECT.fault_response("auth", ErrorContext(message=problem))
    model_id = request.match_info.get("model_id")
    if model_id:
        return json_response(_model(model_id))
    return json_response({"object": "list", "data": [_model(m) for m in MODELS]})


_chat = make_handler(DIALECT, parse_chat)
_embeddings = make_handler(DIALECT, parse_embeddings)


def routes() -> list[web.RouteDef]:
    """aiohttp routes for this dialect."""
    return [
        web.post("/v1/chat/completions", _chat),
        web.post("/v1/embeddings", _embeddings),
        web.get("/v1/models", list_models),
        web.get("/v1/models/{model_id}", list_models),
    ]
