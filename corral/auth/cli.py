"""``corral keys ...`` — manage API keys from the command line.

The database comes from ``CORRAL_DATABASE_URL`` or SQLite under
``CORRAL_HOME``; migrations run first so the commands work on a fresh install.
Attach with ``cli.add_command(keys)``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import click

from corral.auth.keys import SCOPE_INFERENCE, SCOPES, KeyInfo
from corral.auth.service import AmbiguousKeyError, KeyNotFoundError, KeyService
from corral.core.text_table import text_table
from corral.governance.audit import AuditLog, cli_actor, key_audit
from corral.store import open_database_from_env

T = TypeVar("T")


def _with_service(fn: Callable[[KeyService], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database_from_env()
        service = KeyService(db, touch_interval_s=None)
        try:
            return await fn(service)
        finally:
            await db.close()

    return asyncio.run(run())


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _key_row(k: KeyInfo) -> list[str]:
    return [
        k.id,
        k.name,
        k.team,
        ",".join(sorted(k.scopes)),
        k.prefix,
        _when(k.created_at),
        _when(k.last_used_at),
        "revoked" if k.revoked else "active",
    ]


@click.group()
def keys() -> None:
    """Manage API keys (stored as hashes; raw keys are shown only once)."""


@keys.command("create")
@click.option("--name", required=True, help="Human-readable key name, e.g. the application.")
@click.option(
    "--team",
    default="default",
    show_default=True,
    help="Team the key's usage is attributed to.",
)
@click.option(
    "--role",
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(sorted(SCOPES)),
    default=[SCOPE_INFERENCE],
    show_default=True,
    help="Repeat for several roles (docs/roles.md). admin does not imply inference; auditor "
         "only reads.",
)
@click.option("--created-by", default=None, help="Who created the key (audit).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Machine-readable output (includes the raw key).",
)
def create_cmd(name: str, team: str, scopes: tuple[str, ...], created_by: str | None, as_json: bool) -> None:
    """Create a key and print it once."""
    async def create(s: KeyService) -> tuple[str, KeyInfo]:
        return await s.create(name, team, scopes, created_by=created_by or "cli",
                              audit=key_audit(AuditLog(s.db), cli_actor(), "key.create"))

    try:
        raw, info = _with_service(create)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    if as_json:
        click.echo(json.dumps({"key": raw, **info.to_dict()}, indent=2))
        return
    click.echo(
        f"Created key {info.id} (name={info.name}, team={info.team}, roles={','.join(sorted(info.scopes))})"
    )
    click.echo("")
    click.echo(f"    {raw}")
    click.echo("")
    click.secho(
        "Store this key now: it will not be shown again (only its hash is kept).",
        fg="yellow",
        err=True,
    )


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(include_revoked: bool, as_json: bool) -> None:
    """List keys (prefixes only)."""
    items: list[KeyInfo] = _with_service(lambda s: s.list(include_revoked=include_revoked))
    if as_json:
        click.echo(json.dumps([k.to_dict() for k in items], indent=2))
        return
    if not items:
        click.echo("No API keys." + ("" if include_revoked else " (use --all to include revoked keys)"))
        return
    headers = [
        "ID",
        "NAME",
        "TEAM",
        "ROLES",
        "PREFIX",
        "CREATED (UTC)",
        "LAST USED",
        "STATUS",
    ]
    click.echo(text_table(headers, [_key_row(k) for k in items]))


@keys.command("revoke")
@click.argument("key_id")
def revoke_cmd(key_id: str) -> None:
    """Revoke a key by id (key_...) or display prefix (sk-corral-...)."""
    async def revoke(s: KeyService) -> KeyInfo:
        return await s.revoke(key_id, audit=key_audit(AuditLog(s.db), cli_actor(), "key.revoke"))

    try:
        info: KeyInfo = _with_service(revoke)
    except (KeyNotFoundError, AmbiguousKeyError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Revoked {info.id} ({info.prefix}, name={info.name}, team={info.team}).")
