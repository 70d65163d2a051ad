"""corral.providers.http: Retry-After parsing, durations, SSE framing, status mapping, pooling.

SSE and pooling run over real HTTP against a tiny aiohttp server on 127.0.0.1; the rest are
pure functions. `upstream` is shared with test_openai_http.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import orjson
import pytest
from aiohttp import web

from corral.core.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from corral.providers.base import ProviderConfig
from corral.providers.http import (
    HttpClient,
    error_for_status,
    iter_sse,
    loads_or_bad,
    parse_duration,
    retry_after_seconds,
)

Respond = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Upstream:
    """A running canned server: its URL, every request it saw, and the connections used."""

    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    transports: list[Any] = field(default_factory=list)  # kept alive, so id() stays unique

    @property
    def connections(self) -> int:
        return len({id(t) for t in self.transports})


@asynccontextmanager
async def upstream(respond: Respond) -> AsyncIterator[Upstream]:
    """Serve `respond` on a free loopback port, recording each request and its connection."""
    up = Upstream(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        up.seen.append({
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "body": orjson.loads(raw) if raw else None,
        })
        up.transports.append(request.transport)
        return await respond(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield up
    finally:
        await runner.cleanup()


def raw_stream(payload: bytes, piece: int = 7) -> Respond:
    """Send `payload` as text/event-stream in small writes that split lines (and CRLFs)."""
    async def respond(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(payload), piece):
            await resp.write(payload[i:i + piece])
        await resp.write_eof()
        return resp
    return respond


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Respond:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status, headers=headers)
    return respond


def client(**kw: Any) -> HttpClient:
    return HttpClient(ProviderConfig(name="up", type="openai", **kw))


async def sse_events(payload: bytes, piece: int = 7) -> list[tuple[str, bytes]]:
    async with upstream(raw_stream(payload, piece)) as up:
        c = client()
        try:
            async with c.stream(up.url + "/s", {}, {}) as resp:
                return [e async for e in iter_sse(resp, "up")]
        finally:
            await c.aclose()


# --- retry_after_seconds ---------------------------------------------------------------

@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250"}, 0.25),
    ({"Retry-After-Ms": "1500", "Retry-After": "9"}, 1.5),  # the precise header wins
    ({"retry-after-ms": "soon", "retry-after": "4"}, 4.0),  # unparsable ms falls back
    ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
    ({"x-ratelimit-reset-requests": "250ms"}, 0.25),
    ({"X-RateLimit-Reset-Tokens": "1m30s"}, 90.0),
    ({"retry-after": "3", "x-ratelimit-reset-requests": "6m0s"}, 3.0),
    ({"retry-after": "whenever"}, None),
    ({"content-type": "application/json"}, None),
    ({}, None),
])
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date_is_seconds_from_now() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    got = retry_after_seconds({"Retry-After": format_datetime(when, usegmt=True)})
    assert got is not None and 27 <= got <= 31  # the date has one-second resolution


def test_retry_after_http_date_in_the_past_is_zero_not_negative() -> None:
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


# --- parse_duration --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("1s", 1.0),
    ("6m0s", 360.0),
    ("250ms", 0.25),
    ("20ms", 0.02),
    ("1.5s", 1.5),
    ("2m30.5s", 150.5),
    ("1h2m3s", 3723.0),
    ("1m250ms", 60.25),
    ("12", 12.0),  # a bare number is seconds
])
def test_parse_duration(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["abc", "5x", "ms", "s", "1d", "1..5s"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    assert parse_duration(text) is None


# --- error_for_status ------------------------------------------------------------------

@pytest.mark.parametrize(("status", "cls", "http_status", "retryable"), [
    (400, UpstreamRejected, 400, False),
    (404, UpstreamRejected, 404, False),
    (413, UpstreamRejected, 413, False),
    (422, UpstreamRejected, 422, False),
    (401, UpstreamError, 502, False),
    (403, UpstreamError, 502, False),
    (408, UpstreamTimeout, 504, True),
    (504, UpstreamTimeout, 504, True),
    (409, UpstreamUnavailable, 503, True),
    (429, UpstreamRateLimited, 429, True),
    (500, UpstreamUnavailable, 503, True),
    (502, UpstreamUnavailable, 503, True),
    (503, UpstreamUnavailable, 503, True),
    (529, UpstreamUnavailable, 503, True),
    (204, UpstreamBadResponse, 502, True),  # never relay a 2xx status with an error body
    (302, UpstreamBadResponse, 502, True),
])
def test_error_for_status_mapping(
    status: int, cls: type[UpstreamError], http_status: int, retryable: bool
) -> None:
    err = error_for_status("up", status, "vendor says no", {"retry-after": "2"})
    assert type(err) is cls
    assert err.status_code == http_status
    assert err.upstream_status == status and err.provider == "up"
    assert err.retryable is retryable
    assert "vendor says no" in err.message and "'up'" in err.message


def test_error_for_status_credentials_message_says_what_to_do() -> None:
    err = error_for_status("up", 401, "Incorrect API key provided", {})
    assert "credentials" in err.message and "API key environment variable" in err.message


def test_error_for_status_keeps_vendor_code_on_rejections_only_when_given() -> None:
    assert error_for_status("up", 404, "m", {}, "model_not_found").code == "model_not_found"
    assert error_for_status("up", 400, "m", {}).code == "upstream_rejected"


def test_error_for_status_429_carries_retry_after() -> None:
    err = error_for_status("up", 429, "slow down", {"x-ratelimit-reset-requests": "6m0s"})
    assert isinstance(err, UpstreamRateLimited)
    assert err.retry_after == 360.0 and err.headers() == {"retry-after": "360"}
    assert error_for_status("up", 429, "slow down", {}).retry_after is None  # type: ignore[attr-defined]


# --- loads_or_bad ----------------------------------------------------------------------

def test_loads_or_bad() -> None:
    assert loads_or_bad(b'{"a": [1]}', "up") == {"a": [1]}
    with pytest.raises(UpstreamBadResponse) as exc:
        loads_or_bad(b"<html>502 Bad Gateway</html>", "up")
    assert exc.value.provider == "up" and "<html>502 Bad Gateway" in exc.value.message


# --- iter_sse --------------------------------------------------------------------------

async def test_iter_sse_frames_events_across_odd_writes() -> None:
    payload = (
        b": a comment line, ignored\n"
        b"retry: 3000\n"
        b"event: message_start\n"
        b"id: 1\n"
        b"data: {\"a\": 1}\n"
        b"\n"
        b"data: first line\n"
        b"data:second line\n"  # the space after the colon is optional
        b"\n"
        b"\n\n"  # extra blank lines dispatch nothing
        b"event: ping\n"
        b"data: {}\n"
        b"\n"
        b"data: after ping\n"  # the event name does not carry over to the next event
        b"\n"
    )
    assert await sse_events(payload) == [
        ("message_start", b'{"a": 1}'),
        ("", b"first line\nsecond line"),
        ("ping", b"{}"),
        ("", b"after ping"),
    ]


async def test_iter_sse_handles_crlf_split_between_writes() -> None:
    payload = b"event: e\r\ndata: one\r\ndata: two\r\n\r\ndata: [DONE]\r\n\r\n"
    for piece in (1, 3, 5):  # every split, including between \r and \n
        assert await sse_events(payload, piece) == [("e", b"one\ntwo"), ("", b"[DONE]")]


async def test_iter_sse_yields_a_final_event_missing_its_blank_line() -> None:
    assert await sse_events(b"data: a\n\ndata: [DONE]\n") == [("", b"a"), ("", b"[DONE]")]


async def test_iter_sse_event_without_data_is_not_dispatched() -> None:
    assert await sse_events(b"event: lonely\n\n: keep-alive\n\ndata: x\n\n") == [("", b"x")]


# --- HttpClient ------------------------------------------------------------------------

async def test_session_is_pooled_and_aclose_closes_it() -> None:
    async with upstream(json_reply({"ok": True})) as up:
        c = client(headers={"X-Custom": "1"})
        first = c.session()
        status, headers, body = await c.post_json(up.url + "/a", {"n": 1}, {"x-call": "a"})
        assert (status, orjson.loads(body)) == (200, {"ok": True})
        assert headers["Content-Type"].startswith("application/json")
        await c.post_json(up.url + "/b", {"n": 2}, {})
        assert c.session() is first
        assert up.connections == 1  # the second request reused the pooled connection
        assert up.seen[0]["headers"]["X-Custom"] == "1" and up.seen[0]["headers"]["x-call"] == "a"
        assert up.seen[0]["headers"]["Content-Type"] == "application/json"
        assert [s["body"] for s in up.seen] == [{"n": 1}, {"n": 2}]

        await c.aclose()
        assert first.closed
        for _ in range(200):  # the server notices the close within a few loop turns
            if up.transports[0].is_closing():
                break
            await asyncio.sleep(0.01)
        assert up.transports[0].is_closing()  # the server saw the pooled connection close

        await c.post_json(up.url + "/c", {}, {})  # a closed client reopens lazily
        assert c.session() is not first and up.connections == 2
        await c.aclose()
