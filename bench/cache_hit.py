"""Exact-cache hits: what the gateway adds over a direct in-memory lookup of the same key.

    .venv/bin/python bench/cache_hit.py [--n 3000] [--warmup 300]

In one process, no network: a Gateway with a route that has `cache: {exact: true}` (an
instant in-bench provider behind it, called once to fill the entry) and the chat endpoint's
ASGI handler called directly, as uvicorn would call it: authentication (the key cache),
parsing, the lifecycle, every stage, the record (built, priced, counted, queued for SQLite)
and the JSON or SSE body. Timed per request, sequentially:

direct      `cache_key` of the request plus `ExactCache.get_entry` on the same store: the floor
hit         a non-streamed request answered from the cache
hit_stream  the same as a stream with include_usage (SSE chunks, usage, [DONE])
no_option   a route without the option, answered by the same instant provider: a normal
            request with a free model, for scale (the hit skips routing and the provider)

Prints one JSON document: p50/p99 in microseconds of each, and the hit's p50 over the direct
lookup's (the goal: under 1 ms). HTTP parsing by the server is not included (about the same
for every request: bench/gateway_overhead.py measures it with the network).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from corral.api.auth import verify_key  # noqa: E402
from corral.api.chat import handle_chat  # noqa: E402
from corral.cache.keys import cache_key  # noqa: E402
from corral.config import Settings  # noqa: E402
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, Message, Usage  # noqa: E402
from corral.gateway import Gateway  # noqa: E402
from corral.providers.base import Provider  # noqa: E402
from corral.providers.registry import register_provider_type  # noqa: E402

PROMPT = "Summarise the attached quarterly report in three bullet points for the board."
ANSWER = "- Revenue grew 12%.\n- Costs held flat.\n- Hiring resumes in Q3." * 4


class Instant(Provider):
    """Answers at once: the bench measures Corral, not a model."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse("bench-1", request.model, ANSWER, usage=Usage(40, 60))

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(content=ANSWER)
        yield ChatChunk(finish_reason="stop")
        yield ChatChunk(usage=Usage(40, 60))


def settings(home: Path) -> Settings:
    dep = [{"provider": "instant", "model": "bench"}]
    return Settings.model_validate({
        "providers": {"instant": {"type": "instant"}},
        "models": {"cached": {"deployments": dep, "cache": {"exact": True}}, "plain": {"deployments": dep}},
        "home": str(home),
        "pricing": {"deployments": {"instant/bench": {"input_per_mtok": 1, "output_per_mtok": 2}}},
    })


def body(model: str, stream: bool = False) -> bytes:
    data: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        data |= {"stream": True, "stream_options": {"include_usage": True}}
    return orjson.dumps(data)


async def call(gw: Gateway, key: str, payload: bytes) -> bytes:
    """One request through the chat endpoint's ASGI handler; the response body."""
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "headers": [(b"authorization", f"Bearer {key}".encode()),
                         (b"content-length", str(len(payload)).encode())]}
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # the disconnect watch waits here until the answer is out
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message.get("body"):
            chunks.append(message["body"])

    await handle_chat(gw, scope, receive, send)
    return b"".join(chunks)


async def timed(n: int, warmup: int, run: Any) -> dict[str, float]:
    for _ in range(warmup):
        await run()
    samples: list[float] = []
    gc.collect()
    for _ in range(n):
        t = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - t) * 1e6)
    samples.sort()
    return {"p50_us": round(statistics.median(samples), 1), "p99_us": round(samples[int(n * 0.99) - 1], 1)}


async def measure(n: int, warmup: int) -> dict[str, Any]:
    register_provider_type("instant", Instant)
    with tempfile.TemporaryDirectory() as tmp:
        gw = await Gateway.start(settings(Path(tmp)), warmup=False, run_jobs=False)
        try:
            assert gw.bootstrap is not None
            key = gw.bootstrap.default_key
            await call(gw, key, body("cached"))  # the miss that fills the entry
            team = (await verify_key(gw, key, "inference")).team  # the entry's scope: team, end user
            request = ChatRequest("cached", [Message("user", PROMPT)])
            entry_key = cache_key(request, "cached", scope=(team, ""))
            assert await gw.cache.cache.get_entry(entry_key) is not None, "the bench's key is not the stage's"

            async def direct() -> None:
                await gw.cache.cache.get_entry(cache_key(request, "cached", scope=(team, "")))

            results = {
                "direct": await timed(n, warmup, direct),
                "hit": await timed(n, warmup, lambda: call(gw, key, body("cached"))),
                "hit_stream": await timed(n, warmup, lambda: call(gw, key, body("cached", stream=True))),
                "no_option": await timed(n, warmup, lambda: call(gw, key, body("plain"))),
            }
            hits = gw.metrics.render().decode()
            assert 'corral_cache_hits_total{corral_route="cached"}' in hits
        finally:
            await gw.stop()
    direct_p50 = results["direct"]["p50_us"]
    return {
        "n": n,
        **results,
        "hit_over_direct_p50_us": round(results["hit"]["p50_us"] - direct_p50, 1),
        "hit_stream_over_direct_p50_us": round(results["hit_stream"]["p50_us"] - direct_p50, 1),
        "hit_over_direct_ratio": round(results["hit"]["p50_us"] / direct_p50, 1),
        "goal_under_1ms": results["hit"]["p50_us"] - direct_p50 < 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.n, args.warmup)), indent=2))


if __name__ == "__main__":
    main()
