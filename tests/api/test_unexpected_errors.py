"""An unexpected error is one bounded log line with the request id, not a traceback flood.

A 2 KB request once wrote a 153 KB RecursionError traceback (issue 8, item 9).
"""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.testclient import TestClient

from corral.api.errors import UnexpectedErrors, handle_unexpected
from corral.api.middleware import RequestIdMiddleware


def _boom(depth: int = 0) -> None:
    if depth < 200:
        _boom(depth + 1)
    raise RuntimeError("x" * 100_000)


async def _raise(request: object) -> None:
    _boom()


def test_unexpected_error_is_one_bounded_line_with_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    app = Starlette(routes=[Route("/boom", _raise)], middleware=[Middleware(RequestIdMiddleware)],
                    exception_handlers={Exception: handle_unexpected})
    with caplog.at_level(logging.INFO, logger="corral"), TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    records = [rec for rec in caplog.records if rec.name.startswith("corral")]
    assert len(records) == 1
    line = records[0].getMessage()
    assert "(request req_" in line and "RuntimeError" in line
    assert len(line) < 1000 and records[0].exc_info is None


def test_unexpected_errors_middleware_answers_without_reraising(caplog: pytest.LogCaptureFixture) -> None:
    """Starlette's ServerErrorMiddleware re-raises to the server, which logs the traceback again."""
    app = Starlette(routes=[Route("/boom", _raise)],
                    middleware=[Middleware(RequestIdMiddleware), Middleware(UnexpectedErrors)])
    with caplog.at_level(logging.INFO, logger="corral"), TestClient(app) as c:  # raises if re-raised
        r = c.get("/boom")
    assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    assert [rec.levelname for rec in caplog.records if rec.name.startswith("corral")] == ["ERROR"]
