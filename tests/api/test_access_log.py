"""Keys in a URL never reach the access log (issue 8, item 16)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.api.access_log import ACCESS_LOGGER, redact_access_log, redact_query
from tests.api.edge import serve_edge
from tests.conftest import RunningServer


@pytest.mark.parametrize(("path", "expected"), [
    ("/dashboard?key=sk-corral-abc", "/dashboard?key=[redacted]"),
    ("/dashboard?since=1h&key=sk-abc&x=1", "/dashboard?since=1h&key=[redacted]&x=1"),
    ("/v1/models?API_KEY=a&Api-Key=b&token=c",
     "/v1/models?API_KEY=[redacted]&Api-Key=[redacted]&token=[redacted]"),
    ("/admin/requests?q=monkey=1&limit=5", "/admin/requests?q=monkey=1&limit=5"),
    ("/healthz", "/healthz"),
])
def test_key_like_query_values_are_redacted(path: str, expected: str) -> None:
    assert redact_query(path) == expected


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[RunningServer, _Lines]]:
    redact_access_log()  # what `corral serve` does before uvicorn configures its logging
    lines = _Lines()
    for server in serve_edge(tmp_path, {"access_log": True, "log_level": "info"}):
        logging.getLogger(ACCESS_LOGGER).addHandler(lines)
        try:
            yield server, lines
        finally:
            logging.getLogger(ACCESS_LOGGER).removeHandler(lines)


def test_the_dashboard_key_in_a_url_is_not_logged(logged: tuple[RunningServer, _Lines]) -> None:
    server, lines = logged
    key = server.admin_key
    assert httpx.get(f"{server.url}/dashboard?key={key}").status_code == 200
    assert httpx.get(f"{server.url}/admin/requests?api_key={key}").status_code == 401
    assert len(lines.lines) == 2
    assert not [line for line in lines.lines if key in line], lines.lines
    assert "/dashboard?key=[redacted]" in lines.lines[0]
