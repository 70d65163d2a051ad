"""``corral audit verify|export`` — check the audit log's hash chain, export it for compliance.

The database comes from ``CORRAL_DATABASE_URL`` or SQLite under ``CORRAL_HOME``, like
``corral keys``. Attach with ``cli.add_command(audit)``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from corral.core.timespan import parse_since
from corral.governance.audit import AuditLog, TextSink, VerifyResult, cli_actor
from corral.store import open_database_from_env

T = TypeVar("T")


def _with_log(fn: Callable[[AuditLog], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database_from_env()
        try:
            return await fn(AuditLog(db))
        finally:
            await db.close()

    return asyncio.run(run())


@click.group()
def audit() -> None:
    """The audit log of admin actions: verify its hash chain, export it."""


@audit.command("verify")
@click.option("--anchor", default=None, metavar="HASH",
              help="A hash noted earlier (an export's last hash) that must still be in the chain.")
def verify_cmd(anchor: str | None) -> None:
    """Check every entry's hash and link; exit 1 naming the first broken entry."""
    result: VerifyResult = _with_log(lambda log: log.verify(anchor=anchor))
    if not result.ok:
        click.echo(result.describe(), err=True)
        sys.exit(1)
    gaps = f" ({result.id_gaps} unused ids, from rolled-back inserts)" if result.id_gaps else ""
    click.echo(result.describe() + gaps)
    if result.last_hash:
        click.echo(f"last hash: {result.last_hash}")


@audit.command("export")
@click.option("--since", default=None, help="Only entries after this: ISO 8601 time or a span (24h, 7d).")
@click.option("--output", "output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write JSON lines to this file instead of standard output.")
def export_cmd(since: str | None, output: str | None) -> None:
    """Write entries, oldest first, as JSON lines (the export is itself logged)."""
    try:
        since_at = parse_since(since)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from e

    def export_to(sink: TextSink) -> int:
        return _with_log(lambda log: log.export(sink, since=since_at, actor=cli_actor()))

    if output is None:
        export_to(sys.stdout)
        return
    with open(output, "w", encoding="utf-8") as f:
        count = export_to(f)
    click.echo(f"Exported {count} entries to {output}.", err=True)
