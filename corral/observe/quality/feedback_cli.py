"""``corral feedback list``: read back the feedback ``POST /v1/feedback`` stored.

The database comes from ``CORRAL_DATABASE_URL`` or SQLite under ``CORRAL_HOME``; migrations run
first. Comments and corrections print as stored: redacted where the request's route redacts.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import click

from corral.core.text_table import text_table
from corral.core.timespan import parse_since
from corral.observe.quality.feedback import RATINGS, Feedback, FeedbackStore
from corral.store import open_database_from_env


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    try:
        return parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def feedback() -> None:
    """Read the feedback users gave on answers (thumbs, scores, comments, reports)."""


@feedback.command("list")
@click.option("--request-id", default=None, help="Only feedback on this request (or response id).")
@click.option("--team", default=None, help="Only feedback from this team.")
@click.option("--rating", type=click.Choice(RATINGS), default=None, help="Only up or down ratings.")
@click.option("--since", default=None, callback=_since, metavar="TIME|SPAN",
              help="Only feedback since an ISO time or a span (30m, 24h, 7d).")
@click.option("--limit", type=click.IntRange(1, FeedbackStore.MAX_LIMIT), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(request_id: str | None, team: str | None, rating: str | None, since: datetime | None,
          limit: int, as_json: bool) -> None:
    """List feedback, newest first."""
    async def run() -> list[Feedback]:
        db = await open_database_from_env()
        try:
            return await FeedbackStore(db).list(request_id=request_id, team=team, rating=rating,
                                                since=since, limit=limit)
        finally:
            await db.close()

    items = asyncio.run(run())
    if as_json:
        click.echo(json.dumps([item.to_dict() for item in items], indent=2))
        return
    if not items:
        click.echo("No feedback matches. Clients send it with POST /v1/feedback.")
        return
    rows = [[item.created_at.strftime("%Y-%m-%d %H:%M"), item.request_id or item.response_id or "",
             item.team or "", item.rating or "", "" if item.score is None else f"{item.score:.2f}",
             " ".join((item.comment or "").split())[:60]] for item in items]
    click.echo(text_table(["when (UTC)", "request", "team", "rating", "score", "comment"], rows))
