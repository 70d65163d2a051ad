"""`corral cost plan` and `corral cost replay`: costs before they happen, and past traffic re-priced.

Why a separate group from `corral costs`: that one reports what was spent; this one
answers "what will it cost" and "what would it have cost", which take assumptions as
input. Bad input is a usage error (exit code 2) naming the key or option at fault.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from corral.core.text_table import text_table
from corral.core.timespan import parse_since
from corral.cost.catalog import PriceCatalog
from corral.cost.plan_math import compute_plan
from corral.cost.plan_model import Candidate, Plan, PlanError, load_plan, plan_yaml
from corral.cost.plan_render import render_text, result_json, usd
from corral.cost.plan_svg import render_html
from corral.cost.replay import Replay, ReplayRow


def _catalog(config: str | None) -> PriceCatalog:
    """The bundled catalog, plus `pricing:` overrides when a configuration is named."""
    if config is None:
        return PriceCatalog.load()
    from corral.config import ConfigError, load_settings

    try:
        return PriceCatalog.load(load_settings(config).pricing)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _since(value: str) -> datetime:
    try:
        start = parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if start is None:
        raise click.BadParameter("needs a window such as 30d", param_hint="--since")
    return start


async def _plan_from_records(since: datetime, route: str | None, models: tuple[str, ...],
                             catalog: PriceCatalog, price_date: date | None) -> Plan:
    from corral.cost.plan_records import observe, plan_from_observed
    from corral.store import open_database_from_env

    db = await open_database_from_env()
    try:
        observed = await observe(db, since, route=route)
    finally:
        await db.close()
    extra = tuple(Candidate(model=m) for m in models)
    return plan_from_observed(observed, catalog, extra=extra, price_date=price_date,
                              name=f"{route or 'all routes'}, from records")


config_option = click.option("--config", "-c", type=click.Path(dir_okay=False, exists=True),
                             help="corral.yaml whose `pricing:` overrides the catalog (negotiated prices).")
price_date_option = click.option("--price-date", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
                                 help="Price at the catalog of this day (default: today).")


@click.group("cost")
def cost() -> None:
    """Plan costs before they happen and re-price past traffic.

    `plan` compares API models and self-hosted GPUs for a typical day, a P99 day and
    10x usage; `replay` re-prices recorded requests under another model, cache hit rate
    or prompt length. What was actually spent is `corral costs`.
    """


@cost.command("plan", short_help="Compare models and self-hosting: cost per day and month.")
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@click.option("--from-records", is_flag=True,
              help="Take traffic and tokens from the request records instead of PLAN_FILE.")
@click.option("--since", default="30d", show_default=True,
              help="With --from-records: the window read (30d, 24h or an ISO time).")
@click.option("--route", help="With --from-records: only requests to this route (public model name).")
@click.option("--model", "models", multiple=True,
              help="With --from-records: also compare this catalog model (repeatable).")
@click.option("--save", type=click.Path(dir_okay=False), help="Write the plan as YAML, to review or edit.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False),
              help="Write a self-contained HTML page with charts (opens offline).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of tables.")
@config_option
@price_date_option
def plan_command(plan_file: str | None, from_records: bool, since: str, route: str | None,
                 models: tuple[str, ...], save: str | None, html_out: str | None, as_json: bool,
                 config: str | None, price_date: datetime | None) -> None:
    """Compare candidates' cost per day and month, from PLAN_FILE or recorded traffic.

    PLAN_FILE is YAML (docs/cost.md, "Planning"). Shows the P50 day, the P99 day and
    10x usage side by side, where self-hosting breaks even with each API model, and what
    a higher cache hit rate or a shorter prompt would save. The terminal gets tables;
    --html writes a page with charts.
    """
    if from_records == (plan_file is not None):
        raise click.UsageError("give a PLAN_FILE or --from-records (one of them)")
    if not from_records and (route or models):
        raise click.UsageError("--route and --model apply to --from-records only")
    catalog = _catalog(config)
    day = price_date.date() if price_date else None
    try:
        if plan_file is not None:
            plan = load_plan(plan_file)
            if day:
                plan = plan.model_copy(update={"price_date": day})
        else:
            plan = asyncio.run(_plan_from_records(_since(since), route, models, catalog, day))
        result = compute_plan(plan, catalog, datetime.now(UTC).date())
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None
    if save:
        Path(save).write_text(plan_yaml(plan), encoding="utf-8")
    if html_out:
        Path(html_out).write_text(render_html(result), encoding="utf-8")
    if as_json:
        click.echo(json.dumps({"plan": plan.model_dump(mode="json"), "result": result_json(result)}))
        return
    click.echo(render_text(result))
    for path, what in ((save, "plan"), (html_out, "chart")):
        if path:
            click.echo(f"\nWrote the {what} to {path}")


def _replay_rows(result: Replay) -> list[list[str]]:
    def money(value: float | None) -> str:
        return "unpriced" if value is None else usd(value)

    def change(before: float | None, after: float | None, unpriced: int) -> str:
        """Only when every request had a recorded price: a partial sum is no baseline."""
        if unpriced or before is None or after is None or before == 0:
            return "-"
        return f"{(after - before) / before:+.0%}"

    def recorded(value: float | None, unpriced: int) -> str:
        return money(value) + (f" ({unpriced} unpriced)" if unpriced and value is not None else "")

    def row(r: ReplayRow) -> list[str]:
        counts = (r.requests, r.prompt_tokens, r.cached_tokens, r.response_tokens)
        return [r.served_model, *(f"{n:,}" for n in counts), recorded(r.recorded_usd, r.unpriced),
                money(r.replayed_usd), change(r.recorded_usd, r.replayed_usd, r.unpriced)]

    unpriced = sum(r.unpriced for r in result.rows)
    total = [f"{sum(r.requests for r in result.rows):,}", "", "", "", recorded(result.recorded_usd, unpriced),
             money(result.replayed_usd), change(result.recorded_usd, result.replayed_usd, unpriced)]
    return [*(row(r) for r in result.rows), ["total", *total]]


@cost.command("replay", short_help="Re-price recorded traffic under another model, cache rate or prompt.")
@click.option("--model", help="Re-price every request at this catalog model (default: each its own model).")
@click.option("--provider-type", help="The catalog provider type of --model (openai, anthropic, gemini).")
@click.option("--cache-hit-rate", type=click.FloatRange(0, 1),
              help="Share of each prompt billed at the cached-input price (default: as recorded).")
@click.option("--prompt-factor", type=click.FloatRange(0, 10, min_open=True), default=1.0, show_default=True,
              help="Multiply prompt tokens, e.g. 0.6 for a RAG context 40% shorter.")
@click.option("--since", default="30d", show_default=True, help="Window start: 30d, 24h or an ISO time.")
@click.option("--route", help="Only requests to this route (public model name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@config_option
@price_date_option
def replay_command(model: str | None, provider_type: str | None, cache_hit_rate: float | None,
                   prompt_factor: float, since: str, route: str | None, as_json: bool, config: str | None,
                   price_date: datetime | None) -> None:
    """Re-price recorded traffic under another model, cache hit rate or prompt length.

    Takes the billed chat requests since --since and prices them again, next to what
    they were recorded to cost. List prices: batch discounts and self-hosted prices are
    not applied.
    """
    from corral.cost.replay import replay
    from corral.store import open_database_from_env

    if provider_type and not model:
        raise click.UsageError("--provider-type applies to --model")
    start = _since(since)
    catalog = _catalog(config)
    at = price_date.date() if price_date else datetime.now(UTC).date()

    async def run() -> Replay:
        db = await open_database_from_env()
        try:
            return await replay(db, catalog, since=start, model=model, provider_type=provider_type, at=at,
                                cache_hit_rate=cache_hit_rate, prompt_factor=prompt_factor, route=route)
        finally:
            await db.close()

    try:
        result = asyncio.run(run())
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        data: dict[str, Any] = {"model": result.model, "price_date": at.isoformat(),
                                "cache_hit_rate": cache_hit_rate, "prompt_factor": prompt_factor,
                                "recorded_usd": result.recorded_usd, "replayed_usd": result.replayed_usd,
                                "rows": [asdict(r) for r in result.rows]}
        click.echo(json.dumps(data))
        return
    if not result.rows:
        click.echo(f"No billed chat requests since {since}.")
        return
    under = f"at {model}" if model else "at each request's own model"
    click.echo(f"Replayed {under}, prices of {at.isoformat()}, prompt x{prompt_factor:g}, cache hit rate "
               f"{'as recorded' if cache_hit_rate is None else f'{cache_hit_rate:.0%}'}:")
    click.echo(text_table(["SERVED MODEL", "REQUESTS", "INPUT TOK", "CACHED TOK", "OUTPUT TOK", "RECORDED",
                           "REPLAYED", "CHANGE"], _replay_rows(result)))
