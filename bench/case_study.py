"""The case study's figures, measured in one run for the Corral report service and the prototype.

    .venv/bin/python bench/case_study.py [--reports 3000] [--day-seconds S] [--faults 0.1]
                                         [--fault-reports 600] [--no-main] [--local] [--quick]
                                         [--sequential] [--keep]

The seed's case study claims 3,000+ reports a day at a median latency of 1.8 s, 60% cheaper than
the prototype's pattern (RAG shortened the prompts) and zero raw personal data at the provider.
This starts the provider simulator with a gpt-4o-mini-like profile behind a recording proxy, a
`corral serve` whose `reports` route (privacy `redact`, a second deployment and a fallback route,
the built-in embeddings for the vector store) calls the provider through that proxy, and
examples/report-service/service.py on that gateway; then it sends the same day of report requests
(a business-day curve compressed in time; by default 2 s per report, a peak of ~1.5 reports/s,
which this 2-core machine sustains) to the service and, at the same times, to the prototype's
pattern (examples/report-service/prototype.py, calling the provider through the same proxy),
and prints one JSON document: latency, throughput at the peak, prompt tokens, cost at the catalog's
gpt-4o-mini prices, failures, lost jobs and personal values seen by the provider, per path, and
the Corral / prototype ratios. `--faults F` repeats a smaller day with a share F of the provider's
answers failing (half 500s, half 429s); `--local` runs a few reports on the built-in local model
instead of the simulator, for real text. Progress goes to stderr. Details: docs/case-study.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
from case_study import load_shape, runner, stack
from case_study.recording_proxy import Profile, RecordingProxy
from case_study.runner import log

sys.path.insert(0, str(stack.ROOT))
from corral.cost.catalog import PriceCatalog
from corral.cost.pricing import price_tokens

# The compressed day's length per report: the peak hour holds 12.5% of the day, so this gives a
# peak of ~1.5 reports/s, about what Corral's privacy and retrieval stages sustain on 2 cores
# (~0.5 s of gateway CPU per report); docs/case-study.md.
SECONDS_PER_REPORT = 2.0
MAX_OUTPUT = 400   # service.py's --max-output-tokens and prototype.py's max_tokens, both by default
SEED_CLAIMS = {"reports_per_day": 3000, "median_latency_s": 1.8, "cost_reduction": 0.60,
               "raw_personal_values_at_provider": 0}


def load_module(name: str) -> ModuleType | None:
    path = stack.SERVICE_DIR / f"{name}.py"
    if not path.exists():
        return None
    sys.path.insert(0, str(stack.SERVICE_DIR))
    spec = importlib.util.spec_from_file_location(f"report_service_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pricer() -> tuple[Any, dict[str, Any]]:
    price = PriceCatalog.load().price_for("openai", stack.UPSTREAM_MODEL)
    if price is None:
        raise RuntimeError(f"{stack.UPSTREAM_MODEL} is not in Corral's price catalog")

    def cost(prompt: int, completion: int) -> float:
        return float(sum(line.usd for line in price_tokens(price.rates, input_tokens=prompt,
                                                            output_tokens=completion)))

    about = {"model": price.model, "input_usd_per_mtok": float(price.rates.input),
             "output_usd_per_mtok": float(price.rates.output), "effective_from": str(price.effective_from),
             "source": price.source, "from": "corral.cost.catalog.PriceCatalog (bundled prices.json)"}
    return cost, about


def ratios(corral: dict[str, Any], proto: dict[str, Any]) -> dict[str, Any]:
    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 4) if a is not None and b else None

    cost = ratio(corral["cost_usd"]["per_completed_report"], proto["cost_usd"]["per_completed_report"])
    return {"cost_per_report": cost, "cost_reduction": None if cost is None else round(1 - cost, 4),
            "prompt_tokens_per_report_mean": ratio(corral["prompt_tokens_per_report"]["mean"],
                                                   proto["prompt_tokens_per_report"]["mean"]),
            "provider_prompt_tokens_per_completed_report": ratio(
                corral["provider"]["prompt_tokens"] / max(1, corral["completed"]),
                proto["provider"]["prompt_tokens"] / max(1, proto["completed"])),
            "median_latency": ratio(corral["latency_s"]["median"], proto["latency_s"]["median"])}


async def set_faults(sim_url: str, share: float) -> list[dict[str, Any]]:
    """`share` of chat answers fail: half as 500s, half as 429s (the second rule only sees what the
    first let through, hence its larger probability)."""
    half = share / 2
    rules = [] if share <= 0 else [
        {"fault": "server_error", "endpoint": "chat", "probability": half},
        {"fault": "rate_limit", "endpoint": "chat", "probability": round(half / (1 - half), 6)}]
    async with aiohttp.ClientSession() as s:
        async with s.put(f"{sim_url}/sim/faults", json=rules) as r:
            r.raise_for_status()
        async with s.post(f"{sim_url}/sim/reset") as r:
            r.raise_for_status()
    return rules


async def corral_path(label: str, shape: load_shape.DayShape, seeds: list[int], ctx: dict[str, Any]
                      ) -> dict[str, Any]:
    hooks: runner.Hooks = ctx["hooks"]
    before = hooks.count
    log(f"{label}: Corral service, {len(seeds)} reports over {shape.day_seconds} s")
    t0 = time.monotonic()
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    svc = runner.ServiceRun(ctx["service_url"], ctx["proxy"], ctx["customers"], hooks,
                            poll_after_s=ctx["poll_after_s"], poll_every_s=0.1, give_up_s=ctx["give_up_s"])
    outcomes = await svc.run(shape, seeds, ctx["hook_url"])
    out = runner.summarize(outcomes, shape, ctx["proxy"], "corral", ctx["cost"])
    out["wall_s"] = round(time.monotonic() - t0, 1)
    out["completion_seen_by"] = {"webhooks": hooks.count - before, "status_gets": svc.polls}
    await asyncio.sleep(2)  # records are written behind the request
    out["corral_tables"] = runner.corral_side(ctx["stack"].home / "corral.db", since)
    log(f"{label}: corral {json.dumps(out['latency_s'])} failures {out['failures']}")
    return out


async def prototype_path(label: str, shape: load_shape.DayShape, seeds: list[int], ctx: dict[str, Any]
                         ) -> dict[str, Any]:
    log(f"{label}: prototype, {len(seeds)} reports over {shape.day_seconds} s")
    t0 = time.monotonic()
    outcomes = await runner.prototype_run(shape, seeds, ctx["proxy"], ctx["customers"],
                                          ctx["prototype"].naive_report, ctx["client"], ctx["proto_model"],
                                          stack.SERVICE_DIR / "knowledge")
    out = runner.summarize(outcomes, shape, ctx["proxy"], "prototype", ctx["cost"])
    out["wall_s"] = round(time.monotonic() - t0, 1)
    log(f"{label}: prototype {json.dumps(out['latency_s'])} failures {out['failures']}")
    return out


async def one_day(label: str, shape: load_shape.DayShape, seeds: list[int], ctx: dict[str, Any]
                  ) -> dict[str, Any]:
    """The same arrivals to the service and to the prototype (both at once, or one after the other
    with --sequential); both summaries, the processes' CPU and the ratios."""
    proxy: RecordingProxy = ctx["proxy"]
    procs: stack.Stack = ctx["stack"]
    out: dict[str, Any] = {"reports": len(seeds), "day_seconds": shape.day_seconds,
                           "compression": round(shape.compression, 2), "together": ctx["together"],
                           "arrivals_per_hour": shape.per_hour, "peak_hour": shape.peak_hour,
                           "cpu_s": {}}
    proxy.reset()
    paths = {"corral": corral_path if ctx.get("service_url") else None,
             "prototype": prototype_path if ctx.get("prototype") else None}

    def cpu() -> dict[str, float]:
        return {**procs.cpu_s(), "harness (load, proxy)": round(time.process_time(), 2)}

    async def measured(names: list[str]) -> None:
        before = cpu()
        results = await asyncio.gather(*(paths[n](label, shape, seeds, ctx) for n in names))  # type: ignore[misc]
        after = cpu()
        out.update(zip(names, results, strict=True))
        out["cpu_s"][" + ".join(names)] = {k: round(v - before.get(k, 0), 2) for k, v in after.items()}

    ready = [n for n, f in paths.items() if f is not None]
    for n in paths:
        out.setdefault(n, None)
    if ctx["together"]:
        await measured(ready)
    else:
        for n in ready:
            await measured([n])
            proxy.active.clear()
            proxy.watchers.clear()
    if out["corral"] and out["prototype"]:
        out["corral_vs_prototype"] = ratios(out["corral"], out["prototype"])
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=3000, help="reports in the simulated day")
    ap.add_argument("--day-seconds", type=float, default=None,
                    help="the day, compressed (default: 2 s per report, a peak of ~1.5 reports/s)")
    ap.add_argument("--faults", type=float, default=0.0, help="a day with this share failing")
    ap.add_argument("--fault-reports", type=int, default=600)
    ap.add_argument("--fault-day-seconds", type=float, default=None, help="default: scaled like the main day")
    ap.add_argument("--no-main", action="store_true", help="skip the main (fault-free) day")
    ap.add_argument("--local", action="store_true", help="a few reports on the built-in local model instead")
    ap.add_argument("--local-reports", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smoke run: 60 reports in 30 s (20 with faults)")
    ap.add_argument("--ttft-s", type=float, default=0.40)
    ap.add_argument("--prefill-ms-per-1k", type=float, default=10)
    ap.add_argument("--tps", type=float, default=80)
    ap.add_argument("--output-tokens", type=int, nargs=2, default=[300, 450], metavar=("MIN", "MAX"))
    ap.add_argument("--concurrency", type=int, default=256, help="service and jobs.concurrency")
    ap.add_argument("--service-poll-interval", type=float, default=None,
                    help="service.py --poll-interval (default: the service's own)")
    ap.add_argument("--no-corral-webhooks", action="store_true",
                    help="the service only polls (default: Corral's webhooks tell it, it polls as fallback)")
    ap.add_argument("--sequential", action="store_true",
                    help="send each day to the service, then to the prototype (default: both at once)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (logs, databases)")
    args = ap.parse_args()
    if args.quick:
        args.reports, args.day_seconds, args.fault_reports = 60, 30, 20
    if args.day_seconds is None:
        args.day_seconds = SECONDS_PER_REPORT * args.reports
    started = time.monotonic()
    customers = load_module("customers")
    if customers is None:
        raise SystemExit("examples/report-service/customers.py is missing")
    prototype = load_module("prototype")
    has_service = (stack.SERVICE_DIR / "service.py").exists()
    cost, prices = pricer()
    profile = Profile(ttft_s=args.ttft_s, prefill_ms_per_1k=args.prefill_ms_per_1k, tps=args.tps,
                      output_min=args.output_tokens[0], output_max=args.output_tokens[1])
    home = Path(tempfile.mkdtemp(prefix="case-study-"))
    log(f"run directory {home}")
    procs = stack.Stack(home, webhooks=not args.no_corral_webhooks)
    proxy: RecordingProxy | None = None
    hooks = runner.Hooks()
    report: dict[str, Any] = {
        "benchmark": "case_study", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "seed_claims": SEED_CLAIMS, "prices": prices,
        "missing": [name for name, ok in (("service.py", has_service),
                                          ("prototype.py", prototype is not None)) if not ok]}
    try:
        if args.local:
            upstream = await procs.local_provider()
            profile_note: dict[str, Any] = {
                "upstream": "built-in local model (SmolLM2-135M-Instruct, llama.cpp, CPU) served by a "
                            "second corral serve, behind the same proxy"}
        else:
            upstream = await procs.simulator()
            profile_note = {"upstream": "corral simulate (OpenAI dialect)", "ttft_s_base": profile.ttft_s,
                            "prefill_ms_per_1k_prompt_tokens": profile.prefill_ms_per_1k,
                            "output_tokens_per_s": profile.tps,
                            "output_tokens_per_report": [profile.output_min, profile.output_max],
                            "prompt_token_count": "simulator: ceil(chars / 4)"}
        proxy = RecordingProxy(upstream, profile, simulate=not args.local,
                               upstream_key=procs.upstream_key)
        proxy_url = await proxy.start(stack.free_port())
        ctx: dict[str, Any] = {"proxy": proxy, "stack": procs, "together": not args.sequential,
                               "customers": customers, "cost": cost, "prototype": prototype,
                               "proto_model": stack.UPSTREAM_MODEL,
                               "poll_after_s": 900 if args.local else 60,
                               "give_up_s": 3600 if args.local else 600}
        ctx["client"] = openai.AsyncOpenAI(base_url=f"{proxy_url}/prototype/v1", api_key=stack.SIM_KEY,
                                           max_retries=0, timeout=900)
        if has_service:
            corral_url, key = await procs.gateway(proxy_url, jobs_concurrency=args.concurrency)
            log(f"gateway {corral_url}; starting the report service")
            ctx["service_url"] = await procs.service(corral_url, key, concurrency=args.concurrency,
                                                     max_output_tokens=MAX_OUTPUT,
                                                     poll_interval_s=args.service_poll_interval)
            ctx["hooks"] = hooks
            ctx["hook_url"] = await hooks.start(stack.free_port())
        report["assumptions"] = {**profile_note, "provider_model": stack.UPSTREAM_MODEL,
                                 "prototype_retries": 0, "service_concurrency": args.concurrency,
                                 "max_output_tokens_both_paths": MAX_OUTPUT,
                                 "service_poll_interval_s": args.service_poll_interval or "service default",
                                 "corral_webhooks_to_service": not args.no_corral_webhooks,
                                 "corral_jobs_concurrency": args.concurrency}
        if args.local:
            n = args.local_reports
            shape = load_shape.DayShape(arrivals=[i * 1.0 for i in range(n)], hours=[0] * n, day_seconds=24.0,
                                        per_hour=[n] + [0] * 23, peak_hour=0)
            report["local"] = await one_day("local", shape, list(range(500_000, 500_000 + n)), ctx)
        else:
            if not args.no_main:
                shape = load_shape.day(args.reports, args.day_seconds)
                report["run"] = await one_day("main", shape, list(range(1, args.reports + 1)), ctx)
            if args.faults > 0:
                fault_s = args.fault_day_seconds or args.day_seconds * args.fault_reports / args.reports
                rules = await set_faults(upstream, args.faults)
                shape = load_shape.day(args.fault_reports, fault_s, seed=8)
                seeds = list(range(100_001, 100_001 + args.fault_reports))
                report["fault_run"] = {"faults": rules, **await one_day("faults", shape, seeds, ctx)}
                await set_faults(upstream, 0)
        await ctx["client"].close()
    finally:
        await hooks.stop()
        if proxy is not None:
            await proxy.stop()
        procs.stop()
        report["wall_s"] = round(time.monotonic() - started, 1)
        report["run_directory"] = str(home) if args.keep else None
        if not args.keep:
            import shutil
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
