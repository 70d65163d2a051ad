"""``corral golden ...`` — manage golden question/answer examples from the command line.

The database comes from ``CORRAL_DATABASE_URL`` or SQLite under ``CORRAL_HOME``;
migrations run first. Attach with ``cli.add_command(golden)``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from corral.observe.quality.golden import GoldenStore, validate_golden
from corral.store import open_database_from_env

T = TypeVar("T")


def _with_store(fn: Callable[[GoldenStore], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database_from_env()
        try:
            return await fn(GoldenStore(db))
        finally:
            await db.close()

    return asyncio.run(run())


def _clip(text: str, width: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group()
def golden() -> None:
    """Manage golden question/answer examples used to score answer quality per route."""


@golden.command("add")
@click.option("--route", required=True, help="Public model name (route) the example applies to.")
@click.option("--question", required=True, help="A representative prompt.")
@click.option("--answer", required=True, help="The reference answer.")
def add(route: str, question: str, answer: str) -> None:
    """Add a golden example."""
    try:
        example = validate_golden(route, question, answer)
    except ValueError as exc:
        raise click.UsageError(str(exc).partition(": ")[2]) from None
    stored = _with_store(lambda store: store.add(example))
    click.echo(f"Added golden example {stored.id} for route {stored.route}.")


@golden.command("list")
@click.option("--route", default=None, help="Only this route.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(route: str | None, as_json: bool) -> None:
    """List golden examples."""
    examples = _with_store(lambda store: store.list(route))
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in examples], indent=2))
        return
    if not examples:
        click.echo("No golden examples. Add one with 'corral golden add'.")
        return
    for e in examples:
        click.echo(f"{e.id}\t{e.route}\t{_clip(e.question)}\t{_clip(e.answer)}")


@golden.command("remove")
@click.argument("example_id", type=int)
def remove(example_id: int) -> None:
    """Remove a golden example by id."""
    if not _with_store(lambda store: store.remove(example_id)):
        raise click.ClickException(f"No golden example with id {example_id}. See 'corral golden list'.")
    click.echo(f"Removed golden example {example_id}.")
