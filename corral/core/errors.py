"""Corral's exception tree: every failure carries what the HTTP edge needs.

    CorralError                      500 server_error
    ├── InvalidRequest               400 invalid_request_error (param names the field)
    │   ├── UnsupportedParameter     400 a provider cannot honour a parameter
    │   └── ContextLengthExceeded    400 context_length_exceeded
    ├── AuthError                    401 authentication_error
    ├── PermissionDenied             403 permission_error
    ├── NotFound                     404 not_found_error
    │   └── ModelNotFound            404 model_not_found
    ├── PayloadTooLarge              413 request_too_large
    ├── RateLimited                  429 rate_limit_error (Corral's own limits)
    └── UpstreamError                502 the provider failed (provider, upstream_status)
        ├── UpstreamTimeout          504
        ├── UpstreamRateLimited      429 (retry_after from the provider)
        ├── UpstreamUnavailable      503 (500/503/529 overloaded)
        ├── UpstreamConnectionError  502 connect failure or reset
        ├── UpstreamBadResponse      502 malformed body or stream
        ├── UpstreamRejected         4xx the provider refused the request as invalid
        │   ├── ContentPolicyViolation  400 content_policy_violation
        │   └── UpstreamContextLength   400 context_length_exceeded
        └── AllProvidersFailed       every deployment failed; holds each error

Adapters map their vendor's errors into this tree; `corral.api.errors` renders any
CorralError as the OpenAI error body. Messages must say what to do next.
"""

from __future__ import annotations

from typing import TypedDict, Unpack


class CorralError(Exception):
    status_code = 500
    openai_type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        # Headers the pipeline gathered before failing (x-corral-attempts, ...).
        self.context_headers: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        """Response headers for this error: its own (Retry-After) plus the pipeline's."""
        return {**self.context_headers, **self._own_headers()}

    def _own_headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(CorralError):
    status_code = 400
    openai_type = "invalid_request_error"


class UnsupportedParameter(InvalidRequest):
    code = "unsupported_parameter"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class AuthError(CorralError):
    status_code = 401
    openai_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(CorralError):
    status_code = 403
    openai_type = "permission_error"
    code = "insufficient_scope"


class NotFound(CorralError):
    status_code = 404
    openai_type = "not_found_error"
    code = "not_found"


class ModelNotFound(NotFound):
    openai_type = "invalid_request_error"
    code = "model_not_found"


class PayloadTooLarge(CorralError):
    status_code = 413
    openai_type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(CorralError):
    status_code = 429
    openai_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: str | None):
        super().__init__(message, **kw)
        self.retry_after = retry_after

    def _own_headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after)))}


class UpstreamFields(TypedDict, total=False):
    """UpstreamError's keyword arguments, which its subclasses pass on (`**kw`)."""

    provider: str
    upstream_status: int | None
    param: str | None
    code: str | None


class UpstreamError(CorralError):
    status_code = 502
    openai_type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        upstream_status: int | None = None,
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message, param=param, code=code)
        self.provider = provider
        self.upstream_status = upstream_status

    @property
    def retryable(self) -> bool:
        """Whether trying again (here or elsewhere) can reasonably succeed."""
        return False


class UpstreamTimeout(UpstreamError):
    status_code = 504
    openai_type = "timeout_error"
    code = "upstream_timeout"

    @property
    def retryable(self) -> bool:
        return True


class UpstreamRateLimited(UpstreamError):
    status_code = 429
    openai_type = "rate_limit_error"
    code = "upstream_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Unpack[UpstreamFields]):
        super().__init__(message, **kw)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True

    def _own_headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after)))}


class UpstreamUnavailable(UpstreamError):
    status_code = 503
    openai_type = "service_unavailable"
    code = "upstream_unavailable"

    @property
    def retryable(self) -> bool:
        return True


class UpstreamConnectionError(UpstreamError):
    code = "upstream_connection_error"

    @property
    def retryable(self) -> bool:
        return True


class UpstreamBadResponse(UpstreamError):
    code = "upstream_bad_response"

    @property
    def retryable(self) -> bool:
        return True


class UpstreamRejected(UpstreamError):
    """The provider said the request itself is wrong; the client must change it."""

    status_code = 400
    openai_type = "invalid_request_error"
    code = "upstream_rejected"

    def __init__(self, message: str, *, status_code: int = 400, **kw: Unpack[UpstreamFields]):
        super().__init__(message, **kw)
        self.status_code = status_code


class ContentPolicyViolation(UpstreamRejected):
    code = "content_policy_violation"

    def __init__(self, message: str, *, category: str | None = None, **kw: Unpack[UpstreamFields]):
        super().__init__(message, **kw)
        self.category = category


class UpstreamContextLength(UpstreamRejected):
    code = "context_length_exceeded"
    # The provider's own prompt count and window, when it reports them (the local model does):
    # the context stage scales its retry budget by them.
    prompt_tokens: int | None = None
    context_window: int | None = None


class AllProvidersFailed(UpstreamError):
    """Every deployment of a route failed; the status is that of the most telling error."""

    def __init__(self, errors: dict[str, UpstreamError]):
        last = list(errors.values())[-1]
        detail = "; ".join(f"{name}: {err.message}" for name, err in errors.items())
        super().__init__(f"All deployments failed. {detail}", code=last.code)
        self.provider_errors = errors
        self.status_code = last.status_code
        self.openai_type = last.openai_type

    def _own_headers(self) -> dict[str, str]:
        return list(self.provider_errors.values())[-1]._own_headers()
