"""Admin and feedback inputs that once caused 500s get a 400 a person can act on (issue 8, item 12).

Runs on SQLite and on the real PostgreSQL, which refuses NUL characters in text and
strings longer than their column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from corral.api.app import create_app
from corral.core.timespan import MAX_SPAN_DAYS, parse_since
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_url_with_schema, run_sync
from tests.conftest import RunningServer, fake_settings, serve_in_thread


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp(f"admin-{request.param}")
    schema = None
    url = f"sqlite:///{tmp / 'corral.db'}"
    if request.param == "postgresql":
        schema = run_sync(create_pg_schema())  # skips locally (fails in CI) when unreachable
        url = pg_url_with_schema(schema)
    app = create_app(fake_settings(Path(tmp), database_url=url), warmup=False)
    try:
        yield from serve_in_thread(app)
    finally:
        if schema is not None:
            run_sync(drop_pg_schema(schema))


def _call(server: RunningServer, method: str, path: str, body: object = None,
          admin: bool = True) -> httpx.Response:
    key = server.admin_key if admin else server.app_key
    content = None if body is None else json.dumps(body)
    return httpx.request(method, server.url + path, content=content, timeout=10,
                         headers={"authorization": f"Bearer {key}"})


def _assert_400(r: httpx.Response, param: str, words: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert words in error["message"]


@pytest.mark.parametrize("path", ["/admin/dashboard/summary", "/admin/dashboard/timeseries",
                                  "/admin/requests", "/admin/policy-events"])
def test_a_huge_span_is_a_400(server: RunningServer, path: str) -> None:
    _assert_400(_call(server, "GET", path + "?since=999999d"), "since", f"at most {MAX_SPAN_DAYS} days")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "\u00b2d"])
def test_times_outside_the_calendar_are_a_400(server: RunningServer, since: str) -> None:
    r = httpx.get(server.url + "/admin/dashboard/summary", params={"since": since},
                  headers={"authorization": f"Bearer {server.admin_key}"}, timeout=10)
    _assert_400(r, "since", "ISO 8601")


@pytest.mark.parametrize(("path", "param"), [
    ("/admin/requests?limit=\u00b2", "limit"), ("/admin/policy-events?limit=\u00b2", "limit"),
    ("/admin/dashboard/timeseries?bucket=\u00b2", "bucket"), ("/admin/dashboard/cost?days=\u00b2", "days"),
])
def test_unicode_digits_are_a_400(server: RunningServer, path: str, param: str) -> None:
    _assert_400(_call(server, "GET", path), param, "whole number")


def test_unicode_digit_golden_id_is_a_400(server: RunningServer) -> None:
    _assert_400(_call(server, "DELETE", "/admin/golden/\u00b2"), "golden_id", "whole number")


@pytest.mark.parametrize(("method", "path", "param"), [
    ("GET", "/admin/golden?route=%00", "route"), ("GET", "/admin/requests?route=%00", "route"),
    ("GET", "/admin/requests?q=%00", "q"), ("GET", "/admin/requests/%00", "request_id"),
    ("GET", "/admin/policy-events?key_id=%00", "key_id"), ("DELETE", "/admin/keys/%00", "key_id"),
])
def test_nul_in_a_filter_is_a_400(server: RunningServer, method: str, path: str, param: str) -> None:
    _assert_400(_call(server, method, path), param, "NUL")


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"name": "k", "scopes": [1]}, "scopes", "list of strings"),
    ({"name": "k", "scopes": "admin"}, "scopes", "list of strings"),
    ({"name": "k", "team": "t" * 201}, "team", "at most 200"),
    ({"name": "a\u0000b"}, "name", "NUL"),
    ({"name": "k", "team": "a\u0000b"}, "team", "NUL"),
    ({"name": 5}, "name", "non-empty string"),
])
def test_bad_key_fields_are_a_400(server: RunningServer, body: dict, param: str, words: str) -> None:
    _assert_400(_call(server, "POST", "/admin/keys", body), param, words)


def test_key_names_of_up_to_200_characters_fit_the_column(server: RunningServer) -> None:
    r = _call(server, "POST", "/admin/keys", {"name": "k" * 200})
    assert r.status_code == 201 and r.json()["name"] == "k" * 200
    _assert_400(_call(server, "POST", "/admin/keys", {"name": "k" * 201}), "name", "at most 200")


@pytest.mark.parametrize(("body", "param"), [
    ({"route": "r", "question": "a\u0000b", "answer": "x"}, "question"),
    ({"route": "r\u0000", "question": "a", "answer": "x"}, "route"),
])
def test_nul_in_a_golden_example_is_a_400(server: RunningServer, body: dict, param: str) -> None:
    _assert_400(_call(server, "POST", "/admin/golden", body), param, "NUL")


@pytest.mark.parametrize(("body", "param"), [
    ({"request_id": "r", "comment": "a\u0000b"}, "comment"),
    ({"request_id": "r\u0000", "rating": "up"}, "request_id"),
])
def test_nul_in_feedback_is_a_400(server: RunningServer, body: dict, param: str) -> None:
    _assert_400(_call(server, "POST", "/v1/feedback", body, admin=False), param, "NUL")


def test_the_span_parser_bounds_spans_and_takes_only_ascii_digits() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_since(f"{MAX_SPAN_DAYS}d", now=now) == now - timedelta(days=MAX_SPAN_DAYS)
    for bad in (f"{MAX_SPAN_DAYS + 1}d", "99999999999999999999999s", "\u00b2d", "\u0663h"):
        with pytest.raises(ValueError, match="'since'"):
            parse_since(bad, now=now)
    assert parse_since("2024-05-01T14:00:00+02:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("path", "body", "unknown"), [
    ("/admin/keys", {"name": "k", "max_budget": 5, "rpm": 60, "models": ["gpt"]},
     "'max_budget', 'models', 'rpm'"),
    ("/admin/golden", {"route": "echo", "question": "q", "answer": "a", "weight": 2}, "'weight'"),
    ("/admin/pii/scan", {"text": "hi", "entities": ["PERSON"]}, "'entities'"),
])
def test_unknown_admin_fields_are_a_400_that_names_them(server: RunningServer, path: str, body: dict,
                                                         unknown: str) -> None:
    """Silently ignoring a field looks like it was applied: a budget that is not enforced."""
    before = _call(server, "GET", "/admin/keys").json()["data"]
    r = _call(server, "POST", path, body)
    _assert_400(r, unknown.split(", ")[0].strip("'"), f"Unknown field(s): {unknown}")
    assert "This endpoint accepts:" in r.json()["error"]["message"]
    assert _call(server, "GET", "/admin/keys").json()["data"] == before  # nothing was created
