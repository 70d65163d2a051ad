"""``corral policy-events`` — review recent provider refusals from the command line.

The database comes from ``CORRAL_DATABASE_URL`` or SQLite under ``CORRAL_HOME``,
like ``corral keys``. Attach with ``cli.add_command(policy_events)``; ``corral governance``
(the data map) with ``cli.add_command(governance)``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from corral.config import ConfigError, Settings, load_settings
from corral.core.text_table import text_table
from corral.core.timespan import parse_since
from corral.governance.datamap import DATA_MAP, describe
from corral.governance.document_people import DocumentFacts, gather_facts
from corral.governance.policy_events import GroupBy, PolicyEvent, PolicyEventStore
from corral.governance.retention import RULES, apply_retention
from corral.store import Database, default_database_url, migrate, open_database_from_env

T = TypeVar("T")
_MESSAGE_WIDTH = 60


def _with_store(fn: Callable[[PolicyEventStore], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database_from_env()
        try:
            return await fn(PolicyEventStore(db))
        finally:
            await db.close()

    return asyncio.run(run())


def _short(text: str | None, width: int = _MESSAGE_WIDTH) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _row(e: PolicyEvent) -> list[str]:
    return [
        e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        e.route,
        e.deployment or "-",
        e.category,
        e.key_id or "-",
        "yes" if e.stream else "no",
        _short(e.message),
    ]


@click.command("policy-events")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, PolicyEventStore.MAX_LIMIT),
              help="Most recent events to show.")
@click.option("--since", default=None, help="Only events after this: ISO 8601 time or a span (30m, 24h, 7d).")
@click.option("--route", default=None, help="Only this public model name.")
@click.option("--key-id", default=None, help="Only this API key id (key_...).")
@click.option("--by", "group_by", type=click.Choice(["category", "route"]), default=None,
              help="Show counts per category or route instead of events.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (includes prompt excerpts).")
def policy_events(
    limit: int, since: str | None, route: str | None, key_id: str | None,
    group_by: GroupBy | None,  # click.Choice: one of GroupBy's values
    as_json: bool,
) -> None:
    """List recent content-policy refusals and filtered answers, newest first."""
    try:
        since_at = parse_since(since)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from e
    if group_by is not None:
        counts: dict[str, int] = _with_store(lambda s: s.count_by(group_by, since_at))
        if as_json:
            click.echo(json.dumps(counts, indent=2))
        elif not counts:
            click.echo("No policy events.")
        else:
            rows = [[name, str(n)] for name, n in counts.items()]
            click.echo(text_table([group_by.upper(), "EVENTS"], rows))
        return
    events: list[PolicyEvent] = _with_store(lambda s: s.list(limit, since_at, route, key_id))
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in events], indent=2))
        return
    if not events:
        click.echo("No policy events." + (" (try without filters)" if since or route or key_id else ""))
        return
    headers = ["TIME (UTC)", "ROUTE", "DEPLOYMENT", "CATEGORY", "KEY", "STREAM", "MESSAGE"]
    click.echo(text_table(headers, [_row(e) for e in events]))


@click.group("governance")
def governance() -> None:
    """What Corral keeps and where (the data map), how long (retention), the compliance preset in
    force (profile), and the governance document (doc)."""


@governance.command("datamap")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def datamap_command(as_json: bool) -> None:
    """Every place Corral keeps request-derived or user-supplied data, its data class, and how
    to find an end user's, a key's or a request's entries there."""
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in DATA_MAP], indent=2))
    else:
        click.echo(describe())


async def _retention(settings: Settings, dry_run: bool) -> dict[str, int]:
    db = await Database.connect(settings.database_url or default_database_url(settings.home))
    try:
        await migrate(db)
        return await apply_retention(db, settings.governance.retention, dry_run=dry_run)
    finally:
        await db.close()


@governance.command("retention")
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml whose limits and "
              "database to use (default: $CORRAL_CONFIG, then ./corral.yaml).")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def retention_command(config: str | None, dry_run: bool, as_json: bool) -> None:
    """Apply governance.retention now (the hourly purge does it too): delete rows past their
    limit, null captured content past its own. See docs/retention.md."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    counts = asyncio.run(_retention(settings, dry_run))
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "counts": counts}))
        return
    limits = settings.governance.retention
    verb = "Would remove or null" if dry_run else "Removed or nulled"
    click.echo(f"{verb} {sum(counts.values())} rows.")
    rows = [[name, setting, _days(getattr(limits, setting)), str(counts[name]) if name in counts else "-"]
            for name, (_, setting, _, _) in RULES.items()]
    rows.append(["audit_log", "audit_log_days", "keep", "-"])
    click.echo(text_table(["RULE", "SETTING", "LIMIT", "ROWS"], rows))


def _days(days: int | None) -> str:
    return "keep" if days is None else f"{days} days"


@governance.command("profile")
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml to check "
              "(default: $CORRAL_CONFIG, then ./corral.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def profile_command(config: str | None, as_json: bool) -> None:
    """What the compliance preset (governance.profile) sets, the value in force for each, and
    whether it came from the preset or from your file (an override weaker than the preset is
    marked). See docs/compliance.md."""
    from corral.governance.profiles import explain

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    profile = settings.governance.profile
    lines = explain(profile, settings.preset_filled, settings.model_dump(mode="json"))
    weak_routes = _routes_weaker_than_default(settings)
    if as_json:
        click.echo(json.dumps({"profile": profile, "values": [dataclasses.asdict(x) for x in lines],
                               "routes_without_redaction": weak_routes}, indent=2))
        return
    if profile == "none":
        click.echo("No compliance preset (governance.profile: none). Presets: gdpr, ccpa, hipaa; "
                   "see docs/compliance.md.")
        return
    click.echo(f"Compliance preset: {profile}. Your file's values win over the preset's.")
    rows = [[x.path, json.dumps(x.preset), json.dumps(x.effective),
             x.source + (" (WEAKER than the preset)" if x.weaker else "")] for x in lines]
    click.echo(text_table(["SETTING", "PRESET", "IN FORCE", "FROM"], rows))
    if weak_routes:
        click.echo(f"Routes whose own privacy rule does not redact: {', '.join(weak_routes)} "
                   "(models.<name>.privacy or privacy.routes override the default).")


def _routes_weaker_than_default(settings: Settings) -> list[str]:
    """Routes whose own privacy rule lets personal data through while the preset redacts."""
    if settings.governance.profile == "none":
        return []
    rules = {**settings.privacy.routes, **{n: m.privacy for n, m in settings.models.items() if m.privacy}}
    return sorted(name for name, rule in rules.items() if rule.policy not in ("redact", "block"))


def _facts(settings: Settings) -> DocumentFacts | None:
    """What the database says (figures, prompts, incidents); None (and a note on stderr) when
    there is nothing to read.

    A SQLite file that does not exist yet is not created just to describe it."""
    url = settings.database_url or default_database_url(settings.home)
    if settings.database_url is None and not (Path(settings.home).expanduser() / "corral.db").exists():
        return None

    async def read() -> DocumentFacts:
        db = await Database.connect(url)
        try:
            await migrate(db)
            return await gather_facts(db)
        finally:
            await db.close()

    try:
        return asyncio.run(read())
    except (OSError, SQLAlchemyError) as exc:
        click.echo(f"Note: no figures, prompts or incidents: the database could not be read ({exc}).",
                   err=True)
        return None


@governance.command("doc")
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml to describe "
              "(default: $CORRAL_CONFIG, then ./corral.yaml, else the built-in defaults).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "pdf"]), default="md", show_default=True,
              help="md: Markdown; html: a standalone page (inline stylesheet, loads nothing); pdf: A4 "
              "pages for filing or printing.")
@click.option("--output", "output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the document to this file instead of standard output. A PDF goes to standard "
              "output only when that is a pipe or a file, never a terminal.")
@click.option("--records/--no-records", default=True, show_default=True,
              help="Add what the gateway's database holds: the last 30 days' figures, the prompt "
              "registry's owners and incident statistics (skipped, with a note, when there is no "
              "database yet or it cannot be reached).")
def doc_command(config: str | None, fmt: str, output: str | None, records: bool) -> None:
    """The governance document for a compliance reader, generated from the configuration: models
    and where data goes, personal data per route, retention, the data map, erasure, audit.
    Markdown by default; --format html or pdf renders the same text (the dashboard's Governance
    view offers both as downloads)."""
    from corral.governance.document import governance_document
    from corral.governance.document_render import render

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if output is None and fmt == "pdf" and sys.stdout.isatty():
        raise click.UsageError("A PDF is binary: pass --output FILE, or redirect standard output "
                               "(corral governance doc --format pdf > governance.pdf).")
    text = governance_document(settings, facts=_facts(settings) if records else None)
    if fmt == "md" and output is None:
        click.echo(text, nl=False)
        return
    data = render(text, fmt)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with open(output, "wb") as f:
        f.write(data)
    click.echo(f"Wrote the governance document ({fmt}) to {output}.", err=True)
