"""The recording proxy: a small aiohttp app between each path and the simulator.

Both paths reach the provider only through it, each under its own prefix (`/corral/v1/...`,
`/prototype/v1/...`), so the proxy sees exactly what a provider would see from each. For every
request it:

- scans the body for the personal values of the customers whose reports are in flight (the
  harness registers a customer when its report is submitted and drops it once the report is done;
  checking every customer of the day against every body would cost more CPU than the load);
- counts the prompt (the simulator's own count, ceil(chars / 4), comes back in `usage`) and records
  the usage of every answered call, so that both paths are priced on what the provider billed;
- sets the simulated answer's length (a per-request draw between the profile's bounds, seeded by
  the body) and its time to first token (a base plus a prefill term per prompt token), through the
  simulator's `x-sim-output-tokens` / `x-sim-ttft-ms` headers.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}


@dataclass
class Profile:
    """The provider's assumed timing: see the module docstring and docs/case-study.md."""

    ttft_s: float = 0.40            # time to first token of a short prompt
    prefill_ms_per_1k: float = 10   # added per 1,000 prompt tokens (chars/4)
    tps: float = 80                 # output tokens per second after the first
    output_min: int = 300
    output_max: int = 450


@dataclass
class PathStats:
    calls: int = 0
    answered: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    body_chars: list[int] = field(default_factory=list)
    leaked: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    leaked_fields: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, str]] = field(default_factory=list)   # where values were seen, a few
    scan_s: float = 0.0


class RecordingProxy:
    def __init__(self, upstream: str, profile: Profile, *, simulate: bool = True,
                 upstream_key: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.profile = profile
        self.simulate = simulate          # set the simulator's x-sim-* headers
        self.upstream_key = upstream_key  # replaces the caller's key (a real upstream has its own)
        self.paths: dict[str, PathStats] = defaultdict(PathStats)
        self.active: dict[int, list[tuple[str, str]]] = {}   # seed -> [(field, value)]
        self.watchers: Counter[int] = Counter()               # paths with that seed in flight
        self.session: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None

    # -- the harness's side -------------------------------------------------------------------
    def watch(self, seed: int, values: list[tuple[str, str]]) -> None:
        self.active[seed] = values
        self.watchers[seed] += 1

    def done(self, seed: int) -> None:
        self.watchers[seed] -= 1
        if self.watchers[seed] <= 0:
            self.active.pop(seed, None)
            del self.watchers[seed]

    def reset(self) -> None:
        self.paths.clear()
        self.active.clear()
        self.watchers.clear()

    # -- the provider's side ------------------------------------------------------------------
    async def start(self, port: int) -> str:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                             timeout=aiohttp.ClientTimeout(total=600))
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{path}/v1/{rest:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.session:
            await self.session.close()
        if self.runner:
            await self.runner.cleanup()

    def _scan(self, stats: PathStats, text: str) -> None:
        t0 = time.perf_counter()
        for seed, values in list(self.active.items()):
            for name, value in values:
                if value in text and value not in stats.leaked[seed]:
                    stats.leaked[seed].add(value)
                    stats.leaked_fields[name] += 1
                    if sum(1 for x in stats.samples if x["field"] == name) < 3:
                        i = text.index(value)
                        stats.samples.append({"field": name, "value": value,
                                              "context": text[max(0, i - 120): i + len(value) + 60]})
        stats.scan_s += time.perf_counter() - t0

    def _plan(self, body: bytes, data: Any) -> dict[str, str]:
        p = self.profile
        rng = random.Random(zlib.crc32(body))
        chars = sum(len(s) for s in _strings(data.get("messages")))
        ttft_ms = 1000 * p.ttft_s + p.prefill_ms_per_1k * (chars / 4) / 1000
        return {"x-sim-output-tokens": str(rng.randint(p.output_min, p.output_max)),
                "x-sim-ttft-ms": f"{ttft_ms:.1f}", "x-sim-tps": str(p.tps)}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        stats = self.paths[request.match_info["path"]]
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        if self.upstream_key:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {self.upstream_key}"
        chat = request.match_info["rest"].startswith("chat/completions")
        if body and request.method == "POST":
            try:
                data = json.loads(body)
            except ValueError:
                data = {}
            text = "\n".join(_strings(data)) if isinstance(data, dict) else body.decode(errors="replace")
            self._scan(stats, text)
            if chat and isinstance(data, dict):
                stats.calls += 1
                stats.body_chars.append(len(text))
                if self.simulate:
                    headers.update(self._plan(body, data))
        url = f"{self.upstream}/v1/{request.match_info['rest']}"
        async with self.session.request(request.method, url, data=body, headers=headers,
                                        params=request.query) as up:
            if chat:
                stats.statuses[up.status] += 1
            out_headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP | {"content-encoding"}}
            if "text/event-stream" not in up.headers.get("content-type", ""):
                payload = await up.read()
                if chat and up.status == 200:
                    self._usage(stats, payload)
                return web.Response(body=payload, status=up.status, headers=out_headers)
            resp = web.StreamResponse(status=up.status, headers=out_headers)
            await resp.prepare(request)
            tail = b""
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
                tail = (tail + chunk)[-4096:]
            if chat and up.status == 200:
                for line in reversed(tail.split(b"\n")):
                    if line.startswith(b"data: {") and b'"usage"' in line:
                        self._usage(stats, line[6:])
                        break
            await resp.write_eof()
            return resp

    @staticmethod
    def _usage(stats: PathStats, payload: bytes) -> None:
        try:
            usage = json.loads(payload).get("usage") or {}
        except ValueError:
            return
        if usage:
            stats.answered += 1
            stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            stats.completion_tokens += int(usage.get("completion_tokens") or 0)


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (keys excluded), depth first."""
    out: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return out
