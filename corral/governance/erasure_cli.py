"""``corral erase --user ID | --key ID | --request ID``: erase a subject everywhere, print the receipt.

The database and home come from the configuration (``database_url``, ``home``;
``CORRAL_DATABASE_URL`` and ``CORRAL_HOME`` override), like ``corral costs`` and
``corral budgets``. Attach with ``cli.add_command(erase_command)``.
"""

from __future__ import annotations

import asyncio
import json

import click

from corral.cache.exact import ExactCache
from corral.config import ConfigError, Settings, load_settings
from corral.core.text_table import text_table
from corral.governance.audit import cli_actor
from corral.governance.erasure import Receipt, erase
from corral.governance.erasure_cache import Kind
from corral.store import Database, default_database_url, migrate
from corral.store.kv import KV
from corral.store.kv_url import kv_from_url


class _SharedCache:
    """The exact cache in Redis, which the CLI reaches as the gateways do (not their memory)."""

    def __init__(self, kv: KV) -> None:
        self.cache = ExactCache(kv)

    async def erase_owner(self, kind: Kind, value: str) -> dict[str, int]:
        return {"exact_cache": (await self.cache.erase_owner(kind, value))[1]}


async def _run(settings: Settings, subject: dict[str, str]) -> Receipt:
    db = await Database.connect(settings.database_url or default_database_url(settings.home))
    kv = kv_from_url(settings.redis_url) if settings.redis_url else None
    try:
        await migrate(db)
        cache = None if kv is None else _SharedCache(kv)
        return await erase(db, user=subject.get("user"), key=subject.get("key"),
                           request=subject.get("request"), actor=cli_actor(), home=settings.home, cache=cache)
    finally:
        if kv is not None:
            await kv.close()
        await db.close()


def _print(receipt: Receipt) -> None:
    shown = "sha256:" + receipt.value_sha256[:16] if receipt.kind == "user" else receipt.value
    click.echo(f"Erased {receipt.kind} {shown}: {receipt.total} entries "
               f"(audit entry {receipt.audit_id}, by {receipt.actor}).")
    rows = [[s.store, s.action, str(s.count), s.note or ""] for s in receipt.stores]
    click.echo(text_table(["STORE", "ACTION", "COUNT", "NOTE"], rows))
    click.echo("\nNot erased by this command (what to do):")
    for item in receipt.not_erased:
        click.echo(f"  {item['store']}: {item['reason']}")


@click.command("erase")
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml whose database and "
              "home to erase in (default: $CORRAL_CONFIG, then ./corral.yaml).")
@click.option("--user", metavar="ID", help="An end user id (the request's `user` field).")
@click.option("--key", metavar="ID", help="An API key id (key_...): its data, and the key anonymised.")
@click.option("--request", "request_id", metavar="ID", help="A request id (req_...).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
def erase_command(config: str | None, user: str | None, key: str | None, request_id: str | None,
                  yes: bool, as_json: bool) -> None:
    """Delete (or anonymise) everything Corral keeps about one end user, key or request.

    Every table of the data map (`corral governance datamap`), the disk spool and, with
    redis_url, the response cache in Redis; the receipt is kept in the audit log. Running it
    again finds nothing. See docs/erasure.md.
    """
    subject = {k: v for k, v in (("user", user), ("key", key), ("request", request_id)) if v is not None}
    if len(subject) != 1:
        raise click.UsageError("Give exactly one of --user, --key or --request.")
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    (kind, value), = subject.items()
    if not yes:
        click.confirm(f"Erase every entry of {kind} {value!r}? This cannot be undone.", abort=True)
    try:
        receipt = asyncio.run(_run(settings, subject))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(receipt.to_dict()))
    else:
        _print(receipt)
