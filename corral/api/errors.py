"""Every error leaves as the OpenAI error body with the right status."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from corral.api.render import error_body
from corral.api.responses import json_response
from corral.core.errors import CorralError, InvalidRequest, NotFound

log = logging.getLogger("corral.api")


def corral_error_response(exc: CorralError) -> Response:
    return json_response(error_body(exc), status_code=exc.status_code, headers=exc.headers())


async def handle_corral_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CorralError)
    return corral_error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err: CorralError = NotFound(
            f"No route for {request.method} {request.url.path}. See /v1/models and docs/api.md."
        )
    elif exc.status_code == 405:
        err = InvalidRequest(f"Method {request.method} is not allowed on {request.url.path}.")
        err.status_code = 405
    else:
        err = CorralError(str(exc.detail))
        err.status_code = exc.status_code
    return corral_error_response(err)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return corral_error_response(CorralError(
        "Corral hit an internal error; the request id in x-request-id locates it in the logs."
    ))
