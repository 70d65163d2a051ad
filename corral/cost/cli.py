"""`corral costs`: spend totals by key, team, route, model or day, from the request records."""

from __future__ import annotations

import asyncio
import json

import click

from corral.core.timespan import parse_since
from corral.cost.totals import GroupBy, totals
from corral.store import open_database_from_env


@click.command("costs")
@click.option("--by", "group_by", type=click.Choice(["key", "team", "route", "model", "day"]),
              default="day", show_default=True, help="What to total by.")
@click.option("--since", default="7d", show_default=True, help="Window start: 24h, 7d, or an ISO time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def costs(group_by: GroupBy, since: str, as_json: bool) -> None:  # click.Choice: a GroupBy
    """Cost, tokens and requests per key, team, route, model or day. Unpriced requests are
    counted separately and never shown as $0."""
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None

    async def run() -> list[dict[str, object]]:
        db = await open_database_from_env()
        try:
            return await totals(db, group_by, since=start)
        finally:
            await db.close()

    rows = asyncio.run(run())
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    if not rows:
        click.echo(f"No requests since {since}.")
        return
    click.echo(f"{group_by:<28} {'requests':>9} {'errors':>7} {'cost USD':>12} {'unpriced':>9} "
               f"{'input tok':>11} {'output tok':>11}")
    for row in rows:
        cost = "unpriced" if row["cost_usd"] is None else f"{row['cost_usd']:.6f}"
        click.echo(f"{str(row[group_by])[:28]:<28} {row['requests']:>9} {row['errors']:>7} {cost:>12} "
                   f"{row['unpriced_requests']:>9} {row['input_tokens']:>11} {row['output_tokens']:>11}")
