"""Rate limits, budgets and the exact cache on the hot path, for bench/gateway_overhead.py.

The same gateway serves two routes on the same simulator: `bench`, with no limit and no
cache option, and `bench-guarded`, held to a key, a team and a route rule (requests and
tokens per minute, dollars per day: 9 meters reserved and settled per request) with
`cache.exact` on. Every request carries a unique prompt, so the cache never answers: each
request pays the lookup, the write and every reservation, the worst case for throughput.
The two are run alternately at concurrency 16, `ROUNDS` times each, and the medians compared:
issue 12's goal is a ratio of at least 0.90.
"""

from __future__ import annotations

import statistics
from typing import Any

import aiohttp

ROUTE = "bench-guarded"
ROUNDS = 5
HIGH = {"rpm": 10_000_000, "tpm": 10_000_000_000, "usd_per_day": 1_000_000}  # never reached


def guarded_config(provider: str) -> dict[str, Any]:
    """The route and limits to merge into the benchmark's corral.yaml."""
    return {
        "models": {ROUTE: {"deployments": [{"provider": provider, "model": "bench"}],
                           "cache": {"exact": True, "ttl_s": 600}}},
        "limits": {"keys": {"bench-limited": HIGH}, "teams": {"bench-limited": HIGH},
                   "routes": {ROUTE: HIGH}},
        "pricing": {"deployments": {provider: {"input_per_mtok": 1, "output_per_mtok": 2}}},
    }


async def limited_key(gateway: str, admin_key: str) -> str:
    """An inference key of the limited key name and team."""
    async with aiohttp.ClientSession() as s, s.post(
            f"{gateway}/admin/keys", json={"name": "bench-limited", "team": "bench-limited"},
            headers={"authorization": f"Bearer {admin_key}"}) as r:
        if r.status != 201:
            raise RuntimeError(f"could not create the limited key: {r.status} {await r.text()}")
        return str((await r.json())["key"])


async def compare(load: Any, via: str, plain_key: str, guarded_key: str, n: int) -> dict[str, Any]:
    """Alternate plain and guarded runs at c16 (unique prompts); medians and their ratio."""
    plain: list[float] = []
    guarded: list[float] = []
    errors = 0
    for _ in range(ROUNDS):
        p = await load(via, plain_key, n, 16, unique=True)
        g = await load(via, guarded_key, n, 16, model=ROUTE, unique=True)
        plain.append(p["rps"])
        guarded.append(g["rps"])
        errors += p["errors"] + g["errors"]
    ratio = statistics.median(guarded) / statistics.median(plain)
    return {"requests_per_run": n, "rounds": ROUNDS, "plain_rps": [round(x, 1) for x in plain],
            "limits_and_cache_rps": [round(x, 1) for x in guarded], "throughput_ratio": round(ratio, 3),
            "goal": ">= 0.90", "errors": errors}
