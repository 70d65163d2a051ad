"""Bedrock Runtime wire format: POST /model/{modelId}/converse and /converse-stream.

A test and benchmark tool, like the rest of the simulator. Streams are AWS event-stream
frames (`application/vnd.amazon.eventstream`) with correct CRCs: messageStart,
contentBlockStart (tool calls only), contentBlockDelta, contentBlockStop, messageStop,
metadata; a mid-stream failure is an exception frame (`:message-type: exception`).
Errors are `{"message"}` bodies typed by the `x-amzn-ErrorType` header. A content-policy
fault is what a guardrail does: a 200 with `stopReason: guardrail_intervened`.

Every request must carry a well-formed `Authorization` header: SigV4
(`AWS4-HMAC-SHA256 Credential=.../bedrock/aws4_request, SignedHeaders=...host...x-amz-date...,
Signature=<64 hex>`) or a Bedrock API key (`Bearer ...`). With `require_key` set, that
value is the secret access key: the SigV4 signature is recomputed here (stdlib hmac, written
apart from the gateway's signer on purpose) and must match, or the bearer token must equal it.
The frame encoder is likewise independent of the gateway's decoder.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
import time
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from aiohttp import web

from .engine import BadRequest, Call, Dialect, ErrorContext, StreamScript, handle, json_response, new_id
from .generate import Generation, ToolSpec, estimate_tokens
from .state import STATE

STREAM_TYPE = "application/vnd.amazon.eventstream"
STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}
GUARDRAIL_TEXT = "Sorry, the model cannot answer this question. (simulated guardrail)"
_ERRORTYPE_NS = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_ERRORS = {
    "auth": (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
    "bad_request": (400, "ValidationException", ""),
    "not_found": (404, "ResourceNotFoundException", "Could not resolve the foundation model."),
    "rate_limit": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "server_error": (500, "InternalServerException", "The server encountered an internal error."),
    "unavailable": (503, "ServiceUnavailableException", "The service is temporarily unavailable."),
    "overloaded": (429, "ModelNotReadyException", "Model is not ready to serve inference requests."),
    "context_length": (400, "ValidationException", "Input is too long for requested model."),
}
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<akid>[^/,\s]+)/(?P<scope>\d{8}/[a-z0-9-]+/[a-z0-9-]+/aws4_request),"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<sig>[0-9a-f]{64})"
)
_MAX_SKEW_S = 15 * 60  # AWS refuses signatures dated further than this from its clock


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude + CRC, string headers (type 7), payload, message CRC."""
    head = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    """An event frame; Bedrock pads payloads with a `p` field, which clients must ignore."""
    data = orjson.dumps({**payload, "p": "abcdefgh"})
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, data)


def exception(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, orjson.dumps({"message": message}))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_signature(secret: str, method: str, raw_path: str, query: str, headers: dict[str, str],
                    signed: list[str], body: bytes, amz_date: str, scope: str) -> str:
    """The SigV4 signature AWS would compute (headers keyed in lower case; `raw_path` as sent,
    encoded once more as every service but S3 does)."""
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~"))
                   for k, v in parse_qsl(query, keep_blank_values=True))
    canonical = "\n".join([
        method,
        quote(raw_path, safe="/~"),
        "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed),
        ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def auth_problem(request: web.Request, body: bytes, secret: str | None) -> tuple[str, str] | None:
    """(error type, message) if the Authorization header is missing, malformed or (with a secret) wrong."""
    given = request.headers.get("Authorization", "")
    if given.startswith("Bearer "):
        if secret is not None and given[7:] != secret:
            return "UnrecognizedClientException", "The API key included in the request is invalid."
        return None
    if not given:
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    match = _AUTH.fullmatch(given.strip())
    if match is None:
        return "IncompleteSignatureException", f"Authorization header is malformed: {given[:40]!r}..."
    signed = match["signed"].split(";")
    amz_date = request.headers.get("X-Amz-Date", "")
    scope = match["scope"]
    if "host" not in signed or "x-amz-date" not in signed or signed != sorted(signed):
        return "IncompleteSignatureException", "SignedHeaders must list host and x-amz-date, sorted."
    if not scope.endswith("/bedrock/aws4_request") or not amz_date.startswith(scope[:8]):
        return "IncompleteSignatureException", f"Credential scope {scope!r} does not fit this request."
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return "IncompleteSignatureException", f"X-Amz-Date {amz_date!r} is not ISO 8601 basic format."
    if abs(time.time() - when) > _MAX_SKEW_S:
        return "InvalidSignatureException", "Signature expired: the request time is too skewed."
    if secret is None:
        return None
    headers = {k.lower(): v for k, v in request.headers.items()}
    expected = sigv4_signature(secret, request.method, request.raw_path.split("?", 1)[0],
                               request.query_string, headers, signed, body, amz_date, scope)
    if not hmac.compare_digest(expected, match["sig"]):
        return "InvalidSignatureException", (
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.")
    return None


class BedrockDialect(Dialect):
    name = "bedrock"

    def check_key(self, request: web.Request, key: str) -> str | None:
        return None  # checked in `converse`, which has the body the signature covers

    def error_body(self, kind: str, ctx: ErrorContext) -> tuple[int, Any, dict[str, str]]:
        status, etype, message = _ERRORS[kind]
        etype = ctx.param if kind == "auth" and ctx.param else etype
        headers = {"x-amzn-ErrorType": etype + _ERRORTYPE_NS, "x-amzn-RequestId": new_id("", 16)}
        return status, {"message": ctx.message or message}, headers

    def fault_response(self, kind: str, ctx: ErrorContext) -> web.StreamResponse:
        if kind != "content_policy":
            return super().fault_response(kind, ctx)
        usage = {"inputTokens": ctx.prompt_tokens, "outputTokens": 12,
                 "totalTokens": ctx.prompt_tokens + 12}
        if not ctx.stream:
            return json_response({
                "output": {"message": {"role": "assistant", "content": [{"text": GUARDRAIL_TEXT}]}},
                "stopReason": "guardrail_intervened", "usage": usage, "metrics": {"latencyMs": 1},
            })
        body = (event("messageStart", {"role": "assistant"})
                + event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": GUARDRAIL_TEXT}})
                + event("contentBlockStop", {"contentBlockIndex": 0})
                + event("messageStop", {"stopReason": "guardrail_intervened"})
                + event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
        return web.Response(body=body, headers={"Content-Type": STREAM_TYPE})


DIALECT = BedrockDialect()


def _text(content: Any) -> str:
    blocks = content if isinstance(content, list) else []
    return " ".join(b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str))


def _tools(config: Any) -> tuple[list[ToolSpec], ToolSpec | None]:
    config = config if isinstance(config, dict) else {}
    tools = []
    for entry in config.get("tools") or []:
        spec = entry.get("toolSpec") if isinstance(entry, dict) else None
        if isinstance(spec, dict) and spec.get("name"):
            tools.append(ToolSpec(spec["name"], (spec.get("inputSchema") or {}).get("json") or {}))
    choice = config.get("toolChoice")
    if not tools or not isinstance(choice, dict) or not ({"any", "tool"} & choice.keys()):
        return tools, None
    wanted = (choice.get("tool") or {}).get("name")
    return tools, next((t for t in tools if t.name == wanted), tools[0])


def parse_converse(request: web.Request, body: dict[str, Any]) -> Call:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("The messages field is required and must not be empty.")
    prompt_text = ""
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise BadRequest("Each message needs a role of user or assistant.")
        for block in msg.get("content") or []:
            if isinstance(block, dict) and "text" in block and not str(block["text"]).strip():
                raise BadRequest("The text field in the ContentBlock object is blank.")
            tool_block = isinstance(block, dict) and bool({"toolUse", "toolResult"} & block.keys())
            if tool_block and not body.get("toolConfig"):
                raise BadRequest("The toolConfig field must be defined when using toolUse and toolResult "
                                 "content blocks.")
        if msg["role"] == "user":
            prompt_text = _text(msg.get("content")) or prompt_text
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or max_tokens < 1):
        raise BadRequest("inferenceConfig.maxTokens must be a positive integer.")
    tools, forced = _tools(body.get("toolConfig"))
    return Call(
        endpoint="chat",
        model=request.match_info["model_id"],
        stream=request.path.endswith("/converse-stream"),
        prompt_tokens=estimate_tokens(body.get("system") or [], messages, body.get("toolConfig") or {}),
        render=render_converse,
        script=converse_script,
        prompt_text=prompt_text,
        max_tokens=max_tokens,
        tool=forced,
        tools=tools,
        headers={"x-amzn-RequestId": new_id("", 16)},
    )


def usage(gen: Generation) -> dict[str, Any]:
    """inputTokens leaves out cache reads (reported apart); outputTokens includes reasoning."""
    out: dict[str, Any] = {
        "inputTokens": gen.prompt_tokens - gen.cached_tokens,
        "outputTokens": gen.completion_tokens + gen.reasoning_tokens,
        "totalTokens": gen.prompt_tokens + gen.completion_tokens + gen.reasoning_tokens,
    }
    if gen.cached_tokens:
        out["cacheReadInputTokens"] = gen.cached_tokens
        out["cacheWriteInputTokens"] = 0
    return out


def render_converse(call: Call, gen: Generation | None) -> dict[str, Any]:
    assert gen is not None
    block: dict[str, Any] = {"text": gen.text}
    if gen.tool is not None:
        block = {"toolUse": {"toolUseId": new_id("tooluse_", 11), "name": gen.tool.name,
                             "input": gen.tool_args}}
    return {
        "output": {"message": {"role": "assistant", "content": [block]}},
        "stopReason": STOP_REASON[gen.finish],
        "usage": usage(gen),
        "metrics": {"latencyMs": 1},
    }


def converse_script(call: Call, gen: Generation) -> StreamScript:
    preamble = event("messageStart", {"role": "assistant"})
    if gen.tool is not None:
        start = {"toolUse": {"toolUseId": new_id("tooluse_", 11), "name": gen.tool.name}}
        preamble += event("contentBlockStart", {"contentBlockIndex": 0, "start": start})
        frames = [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": p}}})
                  for p in gen.chunks]
    else:
        frames = [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}})
                  for p in gen.chunks]
    epilogue = (event("contentBlockStop", {"contentBlockIndex": 0})
                + event("messageStop", {"stopReason": STOP_REASON[gen.finish]})
                + event("metadata", {"usage": usage(gen), "metrics": {"latencyMs": 1}}))
    corrupt = bytearray(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " x"}}))
    corrupt[-1] ^= 0xFF  # a flipped bit in the message CRC
    return StreamScript(
        content_type=STREAM_TYPE,
        frames=frames,
        preamble=preamble,
        epilogue=epilogue,
        malformed=bytes(corrupt),
        error=exception("serviceUnavailableException", "The service is temporarily unavailable."),
    )


async def converse(request: web.Request) -> web.StreamResponse:
    """Check the signature (it covers the body, so read it first), then the shared flow."""
    state = request.app[STATE]
    body = await request.read()  # aiohttp keeps it: `handle` reads the same bytes again
    problem = auth_problem(request, body, state.settings.require_key)
    if problem is not None:
        state.stats.rejected += 1
        return DIALECT.fault_response("auth", ErrorContext(message=problem[1], param=problem[0]))
    return await handle(request, DIALECT, parse_converse)


def routes() -> list[web.RouteDef]:
    """aiohttp routes for this dialect (a model id may be an ARN, slashes percent-encoded)."""
    return [
        web.post("/model/{model_id:.+}/converse", converse),
        web.post("/model/{model_id:.+}/converse-stream", converse),
    ]
