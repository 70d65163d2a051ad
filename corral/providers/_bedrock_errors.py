"""Bedrock's errors -> Corral's: HTTP answers typed by `x-amzn-ErrorType` (or the body's
`__type`), and ConverseStream's exception frames, which name the same types in camelCase.

Statuses and types follow the bedrock-runtime service model; the mapping decides what the
router may retry (throttling, model not ready, 5xx, model timeouts) and what it must not
(validation, access and signature errors).
"""

from __future__ import annotations

from typing import Any

import orjson

from corral.core.errors import (
    ContentPolicyViolation,
    UpstreamBadResponse,
    UpstreamContextLength,
    UpstreamError,
    UpstreamFields,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from corral.providers.http import error_for_status, retry_after_seconds

# HTTP status of each error type (the service model's `httpStatusCode`). Mid-stream exception
# frames name the type in camelCase (`throttlingException`) and carry no status of their own.
ERROR_STATUS = {
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "ExpiredTokenException": 403,
    "IncompleteSignatureException": 403,
    "MissingAuthenticationTokenException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
_AUTH_TYPES = frozenset({
    "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException", "IncompleteSignatureException", "MissingAuthenticationTokenException",
})
_CONTEXT_PHRASES = ("too long", "too many input tokens", "context window", "context length",
                    "maximum context", "exceeds the maximum number of tokens")


def error_type(headers: dict[str, str], payload: Any) -> str | None:
    """`x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/...` or the body's
    `__type` (`com.amazon.bedrock#ThrottlingException`) -> 'ThrottlingException'."""
    raw = next((v for k, v in headers.items() if k.lower() == "x-amzn-errortype"), None)
    if raw is None and isinstance(payload, dict):
        raw = payload.get("__type") or payload.get("code")
    if not raw:
        return None
    name = str(raw).split(":", 1)[0].rsplit("#", 1)[-1]
    return name[:1].upper() + name[1:]  # exception frames name it in camelCase


def map_error(provider: str, status: int | None, headers: dict[str, str], body: bytes | Any,
              etype: str | None = None) -> UpstreamError:
    """A Bedrock error (HTTP answer or exception frame) -> Corral's error tree."""
    payload = body
    if isinstance(body, bytes):
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = {"message": body[:300].decode(errors="replace") or "(empty body)"}
    etype = etype or error_type(headers, payload)
    message = "(no message)"
    if isinstance(payload, dict):
        message = str(payload.get("message") or payload.get("Message") or message)
    status = status or ERROR_STATUS.get(etype or "", 500)
    kw: UpstreamFields = {"provider": provider, "upstream_status": status}
    text = f"Provider '{provider}' returned {etype or status}: {message}"
    lowered = message.lower()
    if etype in ("ThrottlingException", "ServiceQuotaExceededException"):
        return UpstreamRateLimited(text, retry_after=retry_after_seconds(headers), **kw)
    if etype == "ModelNotReadyException":
        return UpstreamUnavailable(text, **kw)
    if etype == "ModelTimeoutException":
        return UpstreamTimeout(text, **kw)
    if etype in ("ModelErrorException", "ModelStreamErrorException"):
        return UpstreamBadResponse(text, **kw)
    if etype in _AUTH_TYPES or status in (401, 403):
        return UpstreamError(
            f"Provider '{provider}' rejected Corral's AWS credentials ({etype or status}): "
            f"{message.rstrip('.')}. Check the credentials, region and model access of this provider.",
            **kw,
        )
    if status == 400 and any(p in lowered for p in _CONTEXT_PHRASES):
        return UpstreamContextLength(
            f"Provider '{provider}': {message} Shorten the conversation or lower max_tokens.", **kw
        )
    if status == 400 and "guardrail" in lowered and "block" in lowered:
        return ContentPolicyViolation(text, category=etype, **kw)
    return error_for_status(provider, status, message, headers, etype)
