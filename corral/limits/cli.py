"""`corral budgets`: every configured limit against what the request records show."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import click

from corral.core.text_table import text_table
from corral.core.timespan import parse_since
from corral.limits.settings import LimitSettings
from corral.limits.spend import DOLLARS, BudgetLine, budget_status, report
from corral.store import Database, default_database_url, migrate

_HEADERS = ("SCOPE", "LIMIT", "PERIOD", "SPENT", "SOFT", "HARD", "USED %", "FORECAST", "STATE")
NO_LIMITS = ("No limits are configured in {source}: add a `limits:` section (keys, teams, routes, "
             "every_key, every_team); see docs/limits.md.")


def _amount(line: BudgetLine, value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if line.metric in DOLLARS else f"{value:g}"


def _scope(line: BudgetLine) -> str:
    text = f"{line.scope} {line.value}"
    if line.key_name and line.key_name != line.value:
        text += f" ({line.key_name})"
    if len(line.key_ids) > 1:
        text += f" [{len(line.key_ids)} keys]"
    return text + (f" via {line.rule}" if line.rule.startswith("every_") else "")


def _period(line: BudgetLine) -> str:
    if line.metric in DOLLARS:
        return line.start.strftime("%Y-%m-%d" if line.metric == "usd_per_day" else "%Y-%m")
    return "last 60 s"


def _cells(line: BudgetLine) -> list[str]:
    used = "-" if line.used is None else f"{line.used * 100:.1f}%"
    return [_scope(line), line.metric, _period(line), _amount(line, line.spent), _amount(line, line.soft),
            _amount(line, line.hard), used, _amount(line, line.forecast), line.state]


async def _lines(url: str, limits: LimitSettings, at: datetime) -> list[BudgetLine]:
    db = await Database.connect(url)
    try:
        await migrate(db)
        return await budget_status(db, limits, at)
    finally:
        await db.close()


@click.command("budgets")
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml whose `limits:` to "
              "report (default: $CORRAL_CONFIG, then ./corral.yaml); its database holds the records.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (what the dashboard's "
              "GET /admin/dashboard/budgets returns) instead of a table.")
@click.option("--at", "at_text", metavar="TIME", help="Report as of this time, to review a past day: an "
              "ISO time (2026-05-01T18:00:00Z; naive means UTC) or a span back from now (24h, 7d). "
              "Default: now.")
def budgets(config: str | None, as_json: bool, at_text: str | None) -> None:
    """Spend and rate limits per key, team and route against their soft and hard levels.

    Dollars count over the UTC day and the UTC month, with a forecast for the period's end
    (the recent run rate carried to the end; docs/limits.md); rpm and tpm count the last
    60 s of records. STATE is ok, soft (at the alert level), hard (at the rejection level)
    or forecast-over (under soft now, on course to reach the limit). Unpriced requests
    count as $0. Records are written a moment after a request ends, so the gateway's own
    counters may be a second ahead.
    """
    from corral.config import ConfigError, load_settings

    try:
        settings = load_settings(config)
        at = parse_since(at_text) or datetime.now(UTC)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.BadParameter(str(exc).replace("'since'", "--at"), param_hint="--at") from None
    limits = settings.limits
    lines = asyncio.run(_lines(settings.database_url or default_database_url(settings.home), limits, at)) \
        if limits.configured() else []
    if as_json:
        click.echo(json.dumps(report(lines, at, limits.configured())))
    elif not limits.configured():
        click.echo(NO_LIMITS.format(source=settings.source))
    elif not lines:
        click.echo(f"Limits are configured, but no scope has records yet as of {at:%Y-%m-%d %H:%M:%S} UTC.")
    else:
        click.echo(f"As of {at:%Y-%m-%d %H:%M:%S} UTC")
        click.echo(text_table(_HEADERS, [_cells(line) for line in lines]))
