"""Rate limits, budgets and the exact cache on the hot path, for bench/gateway_overhead.py.

The same gateway serves, on the same simulator, `bench` (no limit, no cache option) and four
routes, each called with its own key:

- `cache`: `cache.exact` on, no limit;
- `limits`: a key rule (requests and tokens per minute), a team rule (dollars per day) and a
  route rule (requests per minute): 4 limits reserved and settled per request, no cache option;
- `typical`: those 4 limits and `cache.exact`: the configuration the goal is about;
- `heavy`: key, team and route rules each with requests and tokens per minute and dollars per
  day (9 limits), and `cache.exact`.

Every request carries a prompt never sent before, so the cache never answers: each pays the
lookup, the write and every reservation, the worst case for throughput. Runs are paired with
the plain route at concurrency 16, the order alternating (ABBA) so a drift of the machine
falls on both; the median of the pairs' ratios is reported. Issue 12's goal: at least 0.90.
"""

from __future__ import annotations

import statistics
from typing import Any

import aiohttp

ROUNDS = 6
HIGH = 1_000_000_000  # never reached: what is measured is the bookkeeping, not a refusal
TYPICAL = {"key": {"rpm": HIGH, "tpm": HIGH}, "team": {"usd_per_day": HIGH}, "route": {"rpm": HIGH}}
HEAVY = {level: {"rpm": HIGH, "tpm": HIGH, "usd_per_day": HIGH} for level in ("key", "team", "route")}
NONE: dict[str, dict[str, float]] = {"key": {}, "team": {}, "route": {}}
# name -> (limits, cache.exact)
CONFIGS: dict[str, tuple[dict[str, dict[str, float]], bool]] = {
    "cache": (NONE, True), "limits": (TYPICAL, False), "typical": (TYPICAL, True), "heavy": (HEAVY, True),
}


def route(config: str) -> str:
    return f"bench-{config}"


def guarded_config(provider: str) -> dict[str, Any]:
    """The routes, limits and prices to merge into the benchmark's corral.yaml."""
    models = {route(c): {"deployments": [{"provider": provider, "model": "bench"}],
                         **({"cache": {"exact": True, "ttl_s": 600}} if cache else {})}
              for c, (_, cache) in CONFIGS.items()}
    limits: dict[str, dict[str, Any]] = {"keys": {}, "teams": {}, "routes": {}}
    for name, (levels, _) in CONFIGS.items():
        limits["keys"][f"bench-{name}"] = levels["key"]
        limits["teams"][f"bench-{name}"] = levels["team"]
        limits["routes"][route(name)] = levels["route"]
    return {"models": models, "limits": limits,
            "pricing": {"deployments": {provider: {"input_per_mtok": 1, "output_per_mtok": 2}}}}


async def limited_key(gateway: str, admin_key: str, config: str) -> str:
    """An inference key of the config's key name and team."""
    async with aiohttp.ClientSession() as s, s.post(
            f"{gateway}/admin/keys", json={"name": f"bench-{config}", "team": f"bench-{config}"},
            headers={"authorization": f"Bearer {admin_key}"}) as r:
        if r.status != 201:
            raise RuntimeError(f"could not create the {config} key: {r.status} {await r.text()}")
        return str((await r.json())["key"])


async def compare(load: Any, via: str, plain_key: str, gateway: str, admin_key: str,
                  n: int) -> dict[str, Any]:
    """Each config against the plain route in ABBA pairs at c16 (prompts never sent before)."""
    out: dict[str, Any] = {"requests_per_run": n, "rounds": ROUNDS, "goal": ">= 0.90"}
    for config in CONFIGS:
        key = await limited_key(gateway, admin_key, config)
        await load(via, key, 1000, 16, model=route(config), unique=True)  # warm it
        plain: list[float] = []
        guarded: list[float] = []
        errors = 0
        for i in range(ROUNDS):
            runs = [(plain, plain_key, "bench"), (guarded, key, route(config))]
            for into, run_key, model in runs if i % 2 == 0 else runs[::-1]:
                result = await load(via, run_key, n, 16, model=model, unique=True)
                into.append(result["rps"])
                errors += result["errors"]
        ratios = [g / p for g, p in zip(guarded, plain, strict=True)]
        levels, cache = CONFIGS[config]
        out[config] = {"limits": sum(len(v) for v in levels.values()), "exact_cache": cache,
                       "plain_rps": [round(x, 1) for x in plain],
                       "limited_rps": [round(x, 1) for x in guarded],
                       "pair_ratios": [round(r, 3) for r in ratios],
                       "throughput_ratio": round(statistics.median(ratios), 3), "errors": errors}
    return out
