"""`corral costs`: spend totals by key, team, route, model, day or batch, from the request records."""

from __future__ import annotations

import asyncio
import json
from typing import Any, get_args

import click

from corral.core.text_table import text_table
from corral.core.timespan import parse_since
from corral.cost.totals import GroupBy, check_tag, savings, totals
from corral.store import open_database_from_env

_HEADERS = ("REQUESTS", "ERRORS", "COST USD", "UNPRICED", "INPUT TOK", "OUTPUT TOK", "CACHE HITS",
            "SEMANTIC", "SAVED USD", "SAVED S")
_NO_HITS = {"cache_hits": 0, "semantic_hits": 0, "saved_usd": None, "saved_s": None}


def _cells(row: dict[str, Any], group_by: str) -> list[str]:
    cost = "unpriced" if row["cost_usd"] is None else f"{row['cost_usd']:.6f}"
    saved = "-" if row["saved_usd"] is None else f"{row['saved_usd']:.6f}"
    saved_s = "-" if row["saved_s"] is None else f"{row['saved_s']:.1f}"
    values = (row["requests"], row["errors"], cost, row["unpriced_requests"], row["input_tokens"],
              row["output_tokens"], row["cache_hits"], row["semantic_hits"], saved, saved_s)
    return [str(row[group_by]), *(str(v) for v in values)]


def _by(ctx: click.Context, param: click.Parameter, value: str) -> tuple[GroupBy, str | None]:
    """`--by`: one of the groupings, or `tag:KEY` for a cost-attribution tag."""
    if value.startswith("tag:"):
        try:
            return "tag", check_tag(value[4:])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param=param) from None
    if value not in get_args(GroupBy) or value == "tag":
        choices = ", ".join(g for g in get_args(GroupBy) if g != "tag")
        raise click.BadParameter(f"{value!r} is not one of {choices}, or tag:KEY", param=param)
    return value, None  # type: ignore[return-value]  # checked against GroupBy above


@click.command("costs")
@click.option("--by", "by", callback=_by, default="day", show_default=True, metavar="GROUPING",
              help="What to total by: key, team, route, model, day, batch (the batch id each batch line's "
                   "record carries), store (the vector store each embedding request ran for), or tag:KEY "
                   "(the value of the `metadata` key KEY the requests carried, e.g. tag:report_type).")
@click.option("--since", default="7d", show_default=True, help="Window start: 24h, 7d, or an ISO time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def costs(by: tuple[GroupBy, str | None], since: str, as_json: bool) -> None:
    """Cost, tokens and requests per key, team, route, model, day, batch, vector store or tag.
    Unpriced requests are counted separately and never shown as $0; cache hits (exact and semantic)
    and what they saved, in dollars and in the client's waiting time, beside."""
    group_by, tag = by
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None

    async def run() -> list[dict[str, object]]:
        db = await open_database_from_env()
        try:
            rows = await totals(db, group_by, since=start, tag=tag)
            saved = await savings(db, group_by, since=start, tag=tag)  # cache hits: docs/failures.md
            return [{**row, **saved.get(row[group_by], _NO_HITS)} for row in rows]
        finally:
            await db.close()

    rows = asyncio.run(run())
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    if not rows:
        kind = {"batch": "batch ", "store": "vector-store "}.get(group_by, "")
        click.echo(f"No {kind}requests since {since}.")
        return
    click.echo(text_table([group_by.upper(), *_HEADERS], [_cells(row, group_by) for row in rows]))
