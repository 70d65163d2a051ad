"""The two load runners (same arrivals, one path at a time) and the per-path summary.

- Corral service: POST /reports at each arrival time; the report's end is the moment its webhook
  reaches this process (a receiver runs here), or, for a report whose webhook has not come after
  `poll_after_s`, the first GET /reports/{id} (every `poll_every_s`) that says it is finished.
- Prototype: `naive_report(...)` called at each arrival time; its end is the call's return.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .load_shape import DayShape
from .recording_proxy import RecordingProxy

TERMINAL = {"completed", "failed", "cancelled", "expired"}


@dataclass
class Outcome:
    seed: int
    hour: int
    arrival: float                  # scheduled, seconds from the run's start
    sent: float = 0.0               # actual send time, same clock
    end: float | None = None
    status: str = "pending"         # completed | failed | rejected | lost
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> float | None:
        return None if self.end is None else self.end - self.sent


def log(msg: str) -> None:
    print(f"[case-study {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def usage_tokens(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    p = usage.get("input_tokens", usage.get("prompt_tokens"))
    c = usage.get("output_tokens", usage.get("completion_tokens"))
    return (None if p is None else int(p)), (None if c is None else int(c))


async def drive(shape: DayShape, seeds: list[int], one: Callable[[Outcome], Awaitable[None]],
                label: str, start: float) -> list[Outcome]:
    """Start `one(outcome)` for each arrival at its time (from `start`, monotonic); wait for all."""
    outcomes = [Outcome(seed=s, hour=h, arrival=a) for s, h, a in zip(seeds, shape.hours, shape.arrivals,
                                                                        strict=True)]
    tasks: list[asyncio.Task[None]] = []
    next_note = 0.0
    for o in outcomes:
        delay = start + o.arrival - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        o.sent = time.monotonic() - start
        tasks.append(asyncio.create_task(one(o)))
        if o.arrival >= next_note:
            done = sum(1 for x in outcomes if x.end is not None)
            log(f"{label}: t={o.arrival:6.1f}s hour {o.hour:02d} sent {len(tasks)}/{len(outcomes)} "
                f"done {done}")
            next_note += shape.day_seconds / 24
    await asyncio.gather(*tasks)
    return outcomes


class Hooks:
    """The webhook receiver: when each report's webhook arrived (monotonic), by report id."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.count = 0
        self.runner: web.AppRunner | None = None

    async def start(self, port: int) -> str:
        async def hook(request: web.Request) -> web.Response:
            now = time.monotonic()
            try:
                data = await request.json()
            except ValueError:
                data = {}
            rid = str((data.get("id") if isinstance(data, dict) else None) or request.query.get("id") or "")
            self.count += 1
            self.at.setdefault(rid, now)
            if rid in self.events:
                self.events[rid].set()
            return web.json_response({"ok": True})

        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class ServiceRun:
    """Drives examples/report-service through its HTTP API."""

    def __init__(self, service_url: str, proxy: RecordingProxy, customers: Any, hooks: Hooks, *,
                 poll_after_s: float, poll_every_s: float, give_up_s: float) -> None:
        self.url = service_url
        self.proxy = proxy
        self.customers = customers
        self.hooks = hooks
        self.poll_after_s = poll_after_s
        self.poll_every_s = poll_every_s
        self.give_up_s = give_up_s
        self.polls = 0
        self.start = 0.0

    async def run(self, shape: DayShape, seeds: list[int], hook_url: str | None) -> list[Outcome]:
        # Idle connections are dropped before the service's (uvicorn's 5 s) keep-alive timeout:
        # reusing one the server is closing at that moment failed 1 of 3,000 POSTs in the full
        # run ("Server disconnected") in a quiet night hour, a harness artefact, not a service one.
        conn = aiohttp.TCPConnector(limit=64, keepalive_timeout=4.0)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as s:
            async def one(o: Outcome) -> None:
                req = self.customers.request(o.seed)
                watched = fields_of(self.customers, req["customer"])
                o.extra["n_values"] = len(watched)
                self.proxy.watch(o.seed, watched)
                body = dict(req)
                if hook_url:
                    body["webhook_url"] = hook_url
                # A POST whose answer was lost is sent again under the same key: one job either way.
                key = {"Idempotency-Key": str(uuid.uuid4())}
                for attempt in (1, 2):
                    try:
                        async with s.post(f"{self.url}/reports", json=body, headers=key) as r:
                            data = await r.json(content_type=None)
                            if r.status not in (200, 201, 202) or "id" not in data:
                                o.status, o.error = "rejected", f"{r.status} {str(data)[:200]}"
                                o.end = time.monotonic() - self.start
                                return
                        break
                    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                        if attempt == 2 or isinstance(exc, ValueError):
                            o.status, o.error = "rejected", repr(exc)[:200]
                            return
                        o.extra["post_retried"] = repr(exc)[:200]
                rid = str(data["id"])
                o.extra["id"] = rid
                event = self.hooks.events.setdefault(rid, asyncio.Event())
                if rid in self.hooks.at:
                    event.set()
                await self._finish(s, o, rid, event)
                if o.status == "completed":
                    self.proxy.done(o.seed)

            self.start = time.monotonic()
            return await drive(shape, seeds, one, "corral", self.start)

    async def _finish(self, s: aiohttp.ClientSession, o: Outcome, rid: str, event: asyncio.Event) -> None:
        deadline = self.start + o.sent + self.give_up_s
        try:
            await asyncio.wait_for(event.wait(), self.poll_after_s)
        except TimeoutError:
            pass
        while True:
            hooked = self.hooks.at.get(rid)
            report = await self._get(s, rid)
            self.polls += 1
            status = str((report or {}).get("status"))
            if status in TERMINAL:
                end = hooked if hooked is not None else time.monotonic()
                o.end = end - self.start
                o.status = "completed" if status == "completed" else "failed"
                o.prompt_tokens, o.completion_tokens = usage_tokens(report.get("usage"))  # type: ignore[union-attr]
                if o.status == "failed":
                    o.error = str(report.get("error"))[:300]  # type: ignore[union-attr]
                o.extra["webhook"] = hooked is not None
                o.extra["finished_by"] = str(report.get("finished_by"))  # type: ignore[union-attr]
                return
            if time.monotonic() > deadline:
                o.status, o.error = "lost", f"still {status} after {self.give_up_s} s"
                return
            try:
                await asyncio.wait_for(event.wait(), self.poll_every_s)
            except TimeoutError:
                pass

    async def _get(self, s: aiohttp.ClientSession, rid: str) -> dict[str, Any] | None:
        try:
            async with s.get(f"{self.url}/reports/{rid}") as r:
                if r.status != 200:
                    return None
                data = await r.json(content_type=None)
                return data if isinstance(data, dict) else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None


async def prototype_run(shape: DayShape, seeds: list[int], proxy: RecordingProxy, customers: Any,
                        naive_report: Any, client: Any, model: str, knowledge_dir: Any) -> list[Outcome]:
    async def one(o: Outcome) -> None:
        req = customers.request(o.seed)
        watched = fields_of(customers, req["customer"])
        o.extra["n_values"] = len(watched)
        proxy.watch(o.seed, watched)
        t0 = time.monotonic()
        try:
            result = await naive_report(client, model, req["report_type"], req["customer"], knowledge_dir)
        # any error the prototype lets through is a failed report
        except Exception as exc:  # noqa: BLE001
            o.status, o.error = "failed", f"{type(exc).__name__}: {str(exc)[:200]}"
            return
        o.end = o.sent + (time.monotonic() - t0)
        o.status = "completed"
        o.prompt_tokens, o.completion_tokens = usage_tokens(result.get("usage"))
        o.extra["latency_s_reported"] = result.get("latency_s")
        proxy.done(o.seed)

    return await drive(shape, seeds, one, "prototype", time.monotonic())


def fields_of(customers: Any, customer: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, value) for each personal value; the field is the customer key holding the value."""
    by_value = {str(v): k for k, v in customer.items() if not isinstance(v, (list, dict))}
    return [(by_value.get(v, "other"), v) for v in customers.personal_values(customer)]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 3)


def summarize(outcomes: list[Outcome], shape: DayShape, proxy: RecordingProxy, path: str,
              price: Callable[[int, int], float]) -> dict[str, Any]:
    done = [o for o in outcomes if o.status == "completed"]
    lat = [o.latency for o in done if o.latency is not None]
    stats = proxy.paths[path]
    lo, hi = shape.peak_window()
    peak_done = sum(1 for o in done if o.end is not None and lo <= o.end < hi)
    in_peak = [o.latency for o in done if o.hour == shape.peak_hour and o.latency is not None]
    prompts = [o.prompt_tokens for o in done if o.prompt_tokens is not None]
    outs = [o.completion_tokens for o in done if o.completion_tokens is not None]
    billed = price(stats.prompt_tokens, stats.completion_tokens)
    leaked = sum(len(v) for v in stats.leaked.values())
    total_values = sum(int(o.extra.get("n_values", 0)) for o in outcomes)  # every report sent counts
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.status != "completed":
            key = f"{o.status}: {(o.error or '')[:90]}"
            errors[key] = errors.get(key, 0) + 1
    return {
        "reports": len(outcomes),
        "completed": len(done),
        "failures": sum(1 for o in outcomes if o.status in ("failed", "rejected")),
        "lost_jobs": sum(1 for o in outcomes if o.status == "lost"),
        "posts_retried": sum(1 for o in outcomes if "post_retried" in o.extra),  # same Idempotency-Key
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:8]),
        # corral path: how the service learned each report's response ended (Corral's webhook or its poll)
        "finished_by": tally(o.extra["finished_by"] for o in done if "finished_by" in o.extra),
        "latency_s": {"median": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
                      "max": round(max(lat), 3) if lat else None,
                      "peak_hour_median": pct(in_peak, 50), "peak_hour_p95": pct(in_peak, 95)},
        "peak": {"offered_reports_per_hour": shape.per_hour[shape.peak_hour],
                 "completed_in_peak_window": peak_done,
                 "completed_reports_per_hour_in_peak_window": round(peak_done * 3600 / shape.hour_seconds
                                                                    / shape.compression, 1)},
        "prompt_tokens_per_report": {"median": statistics.median(prompts) if prompts else None,
                                     "mean": round(statistics.fmean(prompts), 1) if prompts else None},
        "completion_tokens_per_report_mean": round(statistics.fmean(outs), 1) if outs else None,
        "provider": {"chat_calls": stats.calls, "answered": stats.answered,
                     "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
                     "prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
                     "request_chars_median": (statistics.median(stats.body_chars)
                                              if stats.body_chars else None),
                     "pii_scan_cpu_s": round(stats.scan_s, 2)},
        "cost_usd": {"total_billed": round(billed, 6),
                     "per_completed_report": round(billed / len(done), 7) if done else None},
        "pii": {"pii_values_sent": leaked, "pii_values_total": total_values,
                "ratio": round(leaked / total_values, 4) if total_values else None,
                "reports_with_any_value_sent": sum(1 for v in stats.leaked.values() if v),
                "by_field": dict(stats.leaked_fields), "samples": stats.samples[:6]},
    }



def corral_side(db: Any, since: str) -> dict[str, Any]:
    """What Corral's own tables say about the run's background responses (created at or after
    `since`, UTC 'YYYY-MM-DD HH:MM:SS'): time from enqueue to the job's end, time waiting for a
    worker, and the route's records (upstream calls, attempts, fallbacks)."""
    import json as _json
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        jobs = con.execute("SELECT julianday(finished_at) - julianday(created_at), "
                           "julianday(started_at) - julianday(created_at), status FROM jobs "
                           "WHERE kind = 'response' AND created_at >= ?", (since,)).fetchall()
        recs = con.execute("SELECT latency_ms, status, attempts, fallback, route FROM requests "
                           "WHERE route LIKE 'reports%' AND created_at >= ?", (since,)).fetchall()
    finally:
        con.close()
    day = 86400.0
    total = [j[0] * day for j in jobs if j[0] is not None]
    wait = [j[1] * day for j in jobs if j[1] is not None]
    lat = [r[0] / 1000 for r in recs if r[0] is not None and r[1] == "ok"]
    attempts = [len(_json.loads(r[2] or "[]")) for r in recs]
    return {"background_jobs": len(jobs), "job_statuses": dict(tally(j[2] for j in jobs)),
            "job_enqueue_to_end_s": {"median": pct(total, 50), "p95": pct(total, 95)},
            "job_wait_for_worker_s": {"median": pct(wait, 50), "p95": pct(wait, 95)},
            "records": len(recs), "record_statuses": dict(tally(r[1] for r in recs)),
            "record_latency_s": {"median": pct(lat, 50), "p95": pct(lat, 95)},
            "records_with_retries": sum(1 for a in attempts if a > 1),
            "upstream_attempts": sum(attempts),
            "served_after_failover": tally(r[3] for r in recs if r[3]),  # route or deployment name
            "routes": dict(tally(r[4] for r in recs))}


def tally(items: Any) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out
