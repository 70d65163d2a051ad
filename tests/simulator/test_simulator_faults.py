"""Every fault kind in every dialect: statuses, headers, error bodies, resets, hangs, bad SSE."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import orjson
import pytest

from corral.simulator import SimSettings, running_simulator
from corral.simulator.engine import in_flight
from corral.simulator.state import SimStats
from tests.simulator.helpers import DIALECTS, chat_request, error_kind, parse_sse

pytestmark = pytest.mark.asyncio

EXPECTED = {
    # fault: (status, {dialect: error classifier})
    "rate_limit": (
        429,
        {"openai": "rate_limit_exceeded", "anthropic": "rate_limit_error", "gemini": "RESOURCE_EXHAUSTED"},
    ),
    "server_error": (500, {"openai": "server_error", "anthropic": "api_error", "gemini": "INTERNAL"}),
    "unavailable": (503, {"openai": "server_error", "anthropic": "api_error", "gemini": "UNAVAILABLE"}),
    "overloaded": (529, {"openai": "overloaded", "anthropic": "overloaded_error", "gemini": "UNAVAILABLE"}),
    "context_length": (
        400,
        {
            "openai": "context_length_exceeded",
            "anthropic": "invalid_request_error",
            "gemini": "INVALID_ARGUMENT",
        },
    ),
    "content_policy": (400, {"openai": "content_policy_violation", "anthropic": "invalid_request_error"}),
}
CASES = [(f, d) for f in EXPECTED for d in DIALECTS if not (f == "content_policy" and d == "gemini")]
BREAK_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, ConnectionResetError)


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize(("fault", "dialect"), CASES)
async def test_status_faults(fault: str, dialect: str, stream: bool) -> None:
    status, kinds = EXPECTED[fault]
    settings = SimSettings(retry_after_s=2, context_window=1000)
    async with running_simulator(settings) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect, stream=stream)
        async with s.post(url, json=body, headers={"x-sim-fault": fault}) as r:
            assert r.status == status
            assert r.headers["x-corral-simulator"] == "1"
            assert r.headers["Content-Type"].startswith("application/json")
            data = await r.json()
            headers = r.headers
    assert error_kind(dialect, data) == kinds[dialect]
    if fault == "rate_limit":
        assert headers["Retry-After"] == "2"
        if dialect == "openai":
            assert headers["x-ratelimit-reset-requests"] == "2s"
            assert data["error"]["type"] == "requests"
        if dialect == "anthropic":
            assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        if dialect == "gemini":
            assert data["error"]["details"][0]["retryDelay"] == "2s"
    if fault == "context_length":
        message = data["error"]["message"]
        pattern = {
            "openai": r"This model's maximum context length is 1000 tokens\. "
            r"However, your messages resulted in \d+ tokens",
            "anthropic": r"^prompt is too long: \d+ tokens > 1000 maximum$",
            "gemini": r"^The input token count \(\d+\) exceeds the maximum number of tokens "
            r"allowed \(1000\)\.$",
        }[dialect]
        assert re.search(pattern, message)
        if dialect == "openai":
            assert data["error"]["type"] == "invalid_request_error"
    if fault == "content_policy" and dialect == "anthropic":
        assert "content filtering policy" in data["error"]["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
async def test_gemini_content_policy_is_a_200_block(stream: bool) -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "gemini", stream=stream)
        async with s.post(url, json=body, headers={"x-sim-fault": "content_policy"}) as r:
            assert r.status == 200
            raw = await r.read()
    data = orjson.loads(parse_sse(raw)[0][1]) if stream else orjson.loads(raw)
    assert data["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in data


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_real_context_overflow_without_header(dialect: str) -> None:
    settings = SimSettings(context_window=50)
    async with running_simulator(settings) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect, prompt="word " * 100)
        async with s.post(url, json=body, headers={"x-sim-fault": "none"}) as r:
            assert r.status == 400
            data = await r.json()
        numbers = [int(n) for n in re.findall(r"\d+", data["error"]["message"])]
        assert 50 in numbers and max(numbers) > 50
        url, body = chat_request(base, dialect, prompt="short")
        async with s.post(url, json=body) as r:
            assert r.status == 200
        async with s.get(f"{base}/sim/stats") as r:
            assert (await r.json())["faults"] == {"context_length": 1}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_reset_mid_stream_breaks_the_read(dialect: str) -> None:
    async with running_simulator(SimSettings(output_tokens=10)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect, stream=True)
        received = b""
        with pytest.raises(BREAK_ERRORS):
            async with s.post(url, json=body, headers={"x-sim-fault": "reset"}) as r:
                assert r.status == 200
                async for chunk in r.content.iter_any():
                    received += chunk
    assert received  # a couple of chunks arrived before the reset
    texts = [orjson.loads(d) for _, d in parse_sse(received) if d.startswith("{")]
    deltas = [
        t for t in texts if t.get("type") == "content_block_delta" or "candidates" in t or "choices" in t
    ]
    assert 1 <= len(deltas) <= 3


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_reset_non_stream_breaks_the_request(dialect: str) -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect)
        with pytest.raises(BREAK_ERRORS):
            async with s.post(url, json=body, headers={"x-sim-fault": "reset"}) as r:
                await r.read()
        async with s.post(url, json=body) as r:  # the server itself is fine afterwards
            assert r.status == 200


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_malformed_sse(dialect: str) -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect, stream=True)
        async with s.post(url, json=body, headers={"x-sim-fault": "malformed_sse"}) as r:
            assert r.status == 200
            raw = await r.read()
    datas = [d for _, d in parse_sse(raw)]
    bad = []
    for data in datas:
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            bad.append(data)
    assert bad, "expected an event whose data is not valid JSON"
    assert b"[DONE]" not in raw and b"message_stop" not in raw


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_malformed_non_stream_body(dialect: str) -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect)
        async with s.post(url, json=body, headers={"x-sim-fault": "malformed_sse"}) as r:
            assert r.status == 200
            raw = await r.read()
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_stream_error_event(dialect: str) -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect, stream=True)
        async with s.post(url, json=body, headers={"x-sim-fault": "stream_error"}) as r:
            assert r.status == 200
            events = parse_sse(await r.read())
        event, data = events[-1]
        payload = orjson.loads(data)
        if dialect == "anthropic":
            assert event == "error"
            assert payload == {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
        else:
            assert "error" in payload
        async with s.post(
            url.split("?")[0].replace("streamGenerateContent", "generateContent"),
            json={**body, "stream": False},
            headers={"x-sim-fault": "stream_error"},
        ) as r:
            assert r.status == 500


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_hang_stalls_non_stream(dialect: str) -> None:
    async with running_simulator(SimSettings(hang_s=30)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect)
        start = time.perf_counter()
        with pytest.raises(asyncio.TimeoutError):
            async with s.post(
                url, json=body, headers={"x-sim-fault": "hang"}, timeout=aiohttp.ClientTimeout(total=0.3)
            ) as r:
                await r.read()
        assert time.perf_counter() - start >= 0.29
        await asyncio.sleep(0.05)
        async with s.get(f"{base}/sim/stats") as r:
            assert (await r.json())["in_flight"] == 0  # the hung handler died with its client


async def test_in_flight_counts_until_the_handler_ends_however_it_ends() -> None:
    """`engine.in_flight` is the one counter both `engine.handle` and `handle_extra` use."""
    stats = SimStats()
    with in_flight(stats):
        assert stats.in_flight == 1
    with pytest.raises(asyncio.CancelledError), in_flight(stats):
        assert stats.in_flight == 1
        raise asyncio.CancelledError  # what a client hanging up does to the handler
    assert stats.in_flight == 0


async def test_hung_extra_endpoint_leaves_nothing_in_flight() -> None:
    async with running_simulator(SimSettings(hang_s=30)) as base, aiohttp.ClientSession() as s:
        with pytest.raises(asyncio.TimeoutError):
            async with s.post(f"{base}/v1/completions", json={"model": "m", "prompt": "x"},
                              headers={"x-sim-fault": "hang"},
                              timeout=aiohttp.ClientTimeout(total=0.3)) as r:
                await r.read()
        await asyncio.sleep(0.05)
        async with s.get(f"{base}/sim/stats") as r:
            assert (await r.json())["in_flight"] == 0


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_hang_stream_sends_headers_then_stalls(dialect: str) -> None:
    async with running_simulator(SimSettings(hang_s=30)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, dialect, stream=True)
        timeout = aiohttp.ClientTimeout(sock_read=0.3)
        with pytest.raises(asyncio.TimeoutError):
            async with s.post(url, json=body, headers={"x-sim-fault": "hang"}, timeout=timeout) as r:
                assert r.status == 200  # headers came straight away
                await r.content.readany()


async def test_short_hang_then_answers() -> None:
    async with running_simulator(SimSettings(hang_s=0.2)) as base, aiohttp.ClientSession() as s:
        url, body = chat_request(base, "openai", stream=True)
        start = time.perf_counter()
        async with s.post(url, json=body, headers={"x-sim-fault": "hang"}) as r:
            raw = await r.read()
        assert time.perf_counter() - start >= 0.19
        assert raw.endswith(b"data: [DONE]\n\n")
        async with s.post(url, json=body, headers={"x-sim-fault": "hang", "x-sim-hang-s": "0"}) as r:
            assert r.status == 200


async def test_faults_on_embeddings() -> None:
    async with running_simulator() as base, aiohttp.ClientSession() as s:
        body = {"model": "e", "input": "x"}
        async with s.post(f"{base}/v1/embeddings", json=body, headers={"x-sim-fault": "rate_limit"}) as r:
            assert r.status == 429
        url = f"{base}/v1beta/models/e:embedContent"
        gbody = {"content": {"parts": [{"text": "x"}]}}
        async with s.post(url, json=gbody, headers={"x-sim-fault": "unavailable"}) as r:
            assert r.status == 503
