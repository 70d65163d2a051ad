"""``corral logs`` and ``corral stats``: read request records from the terminal.

The database comes from ``CORRAL_DATABASE_URL`` or SQLite under ``CORRAL_HOME`` (as for
``corral keys``), so an operator can look at traffic without the gateway running.
``logs`` prints JSON lines for piping into jq; ``stats`` prints a short summary.
Attach with ``cli.add_command(logs)`` and ``cli.add_command(stats)``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from corral.core.text_table import text_table
from corral.core.timespan import parse_since
from corral.observe import queries
from corral.store import Database, open_database_from_env

T = TypeVar("T")


def _with_db(fn: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database_from_env()
        try:
            return await fn(db)
        finally:
            await db.close()

    return asyncio.run(run())


def _since(value: str | None) -> datetime | None:
    try:
        return parse_since(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from e


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


@click.command("logs")
@click.option("--since", default=None, help="Only after this: ISO 8601 time or a span (30m, 1h, 7d).")
@click.option("--route", default=None, help="Only this public model name.")
@click.option("--key", "key_id", default=None, help="Only this API key id (key_...).")
@click.option("--team", default=None, help="Only this team.")
@click.option("--status", type=click.Choice(["ok", "error", "degraded"]), help="Only this status.")
@click.option("--model", "served_model", default=None, help="Only requests served by this upstream model.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, queries.MAX_LIMIT),
              help="How many of the newest records to print.")
@click.option("--content", is_flag=True, help="Include captured prompts and responses (when capture was on).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing records as they are stored (Ctrl-C stops).")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between polls with --follow.")
@click.option("--polls", type=int, default=None, hidden=True)  # tests: stop following after N polls
def logs(since: str | None, route: str | None, key_id: str | None, team: str | None, status: str | None,
         served_model: str | None, limit: int, content: bool, follow: bool, interval: float,
         polls: int | None) -> None:
    """Print request records as JSON lines, oldest first."""
    filters: dict[str, Any] = {"since": _since(since), "route": route, "key_id": key_id, "team": team,
                               "status": status, "served_model": served_model, "content": content}

    async def run(db: Database) -> None:
        rows = await queries.recent(db, limit, **filters)
        for row in reversed(rows):
            click.echo(_line(row))
        last = max((r["id"] for r in rows), default=None)
        if last is None and follow:  # start after what is stored now, not at the beginning
            last = await queries.last_id(db)
        done = 0
        while follow and (polls is None or done < polls):
            await asyncio.sleep(interval)
            done += 1
            for row in await queries.recent(db, queries.MAX_LIMIT, after_id=last, **filters):
                click.echo(_line(row))
                last = row["id"]

    try:
        _with_db(run)
    except KeyboardInterrupt:
        pass


def _ms(values: dict[str, float | None]) -> str:
    return "  ".join(f"{k} {'-' if v is None else f'{v:,.1f}'}" for k, v in values.items())


def _cost(value: float | None, unpriced: int) -> str:
    text = "-" if value is None else f"${value:,.4f}"
    return f"{text} (+{unpriced} unpriced)" if unpriced else text


def render_summary(s: dict[str, Any]) -> str:
    """The summary as the terminal shows it (unpriced requests are never counted as $0)."""
    n = s["count"]
    lines = [
        f"Requests   {n:,}" + (f" since {s['since']}" if s["since"] else ""),
        f"Errors     {s['errors']:,} ({s['error_rate']:.1%})   degraded {s['degraded']:,}   "
        f"cache hits {s['cache_hits']:,}",
        f"Latency    {_ms(s['latency_ms'])} ms",
        f"TTFT       upstream {_ms(s['ttft_upstream_ms'])} ms",
        f"           client   {_ms(s['ttft_client_ms'])} ms",
        "Tokens     " + "  ".join(f"{k} {v:,}" for k, v in s["tokens"].items()),
        f"Cost       {_cost(s['cost_usd'], s['unpriced'])}",
    ]
    if s["by_route"]:
        rows = [[r["route"], f"{r['count']:,}", f"{r['errors']:,}", _cost(r["cost_usd"], r["unpriced"])]
                for r in s["by_route"]]
        lines += ["", text_table(["ROUTE", "REQUESTS", "ERRORS", "COST"], rows)]
    return "\n".join(lines)


@click.command("stats")
@click.option("--since", default="24h", show_default=True,
              help="Window start: ISO 8601 time or a span (30m, 1h, 7d).")
@click.option("--route", default=None, help="Only this public model name.")
@click.option("--key", "key_id", default=None, help="Only this API key id (key_...).")
@click.option("--team", default=None, help="Only this team.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats(since: str, route: str | None, key_id: str | None, team: str | None, as_json: bool) -> None:
    """Summarise traffic: requests, errors, latency and TTFT percentiles, tokens, cost."""
    start = _since(since)
    summary = _with_db(lambda db: queries.summary(db, start, route=route, key_id=key_id, team=team))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif not summary["count"]:
        click.echo("No requests recorded" + (f" since {summary['since']}." if summary["since"] else "."))
    else:
        click.echo(render_summary(summary))
