"""``corral prompts ...`` — the system-prompt registry from the command line (docs/prompts.md).

The database comes from ``CORRAL_DATABASE_URL`` or SQLite under ``CORRAL_HOME``, like
``corral keys``. Every command acts as ``cli:<os user>`` (from the user id, not $USER): that
identity must be an owner of the prompt, and the two-person rule binds it like a key, so the
user who proposed a protected move cannot approve it. There is deliberately no ``--as``: a
flag naming someone else would make the rule a formality. Attach with ``cli.add_command(prompts)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import IO, TypeVar

import click

from corral.auth.service import KeyService
from corral.core.errors import CorralError
from corral.core.text_table import text_table
from corral.prompts.models import Actor, Change
from corral.prompts.names import DEFAULT_PROTECTED, check_label, check_name, check_note, check_text
from corral.prompts.owners import check_owners, cli_owner
from corral.prompts.registry import PromptRegistry
from corral.store import open_database_from_env

T = TypeVar("T")


def _run(fn: Callable[[PromptRegistry, KeyService], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database_from_env()
        keys = KeyService(db, touch_interval_s=None)
        try:
            return await fn(PromptRegistry(db), keys)
        except CorralError as exc:  # the registry's refusals, as the API words them
            raise click.ClickException(exc.message) from None
        finally:
            await keys.aclose()
            await db.close()

    return asyncio.run(run())


def _checked(check: Callable[[str], object], value: str, hint: str) -> None:
    try:
        check(value)
    except CorralError as exc:
        raise click.BadParameter(exc.message, param_hint=hint) from None


def _actor() -> Actor:
    return Actor(cli_owner())


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _read(file: IO[str]) -> str:
    text = file.read()
    _checked(check_text, text, "--file")
    return text


def _change_rows(changes: list[Change]) -> str:
    rows = [[str(c.id), f"{c.name}@{c.label}", f"{c.from_version or '-'} -> {c.to_version}", c.state,
             c.proposed_by, c.decided_by or "-", _when(c.proposed_at)] for c in changes]
    return text_table(["id", "label", "versions", "state", "proposed by", "decided by", "proposed"], rows)


@click.group()
def prompts() -> None:
    """System prompts: versions, labels, and approvals of protected labels (two-person rule)."""


@prompts.command("list")
def list_cmd() -> None:
    """Every prompt with its labels and newest version."""
    found = _run(lambda reg, _keys: reg.all())
    rows = [[p.name, str(p.latest_version), ", ".join(f"{k}={v}" for k, v in sorted(p.labels.items())) or "-",
             ", ".join(p.protected_labels) or "-", ", ".join(p.owners)] for p in found]
    click.echo(text_table(["name", "latest", "labels", "protected", "owners"], rows))


@prompts.command("show")
@click.argument("name")
@click.option("--version", "version", type=click.IntRange(1), default=None, help="Print this version's text.")
def show_cmd(name: str, version: int | None) -> None:
    """A prompt's owners, labels and versions (or one version's text)."""
    _checked(check_name, name, "NAME")
    if version is not None:
        click.echo(_run(lambda reg, _keys: reg.version(name, version)).text)
        return

    async def load(reg: PromptRegistry, _keys: KeyService) -> str:
        p = await reg.get(name)
        rows = [[str(v.version), v.sha256[:12], v.author, _when(v.created_at), v.note or ""]
                for v in await reg.versions(name)]
        head = (f"{p.name}: owners {', '.join(p.owners)}; protected {', '.join(p.protected_labels) or '-'}\n"
                f"labels: {', '.join(f'{k}={v}' for k, v in sorted(p.labels.items())) or '-'}\n")
        return head + text_table(["version", "sha256", "author", "created", "note"], rows)

    click.echo(_run(load))


@prompts.command("create")
@click.argument("name")
@click.option("--owner", "owners", multiple=True, help="Another owner: a key id or cli:<os user>. Repeat.")
@click.option("--protect", "protect", multiple=True, help="A protected label (default: production). Repeat.")
@click.option("--no-protect", is_flag=True, help="Protect no label (every label moves at once).")
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), default=None,
              help="Version 1's text ('-' for standard input).")
@click.option("--description", default=None)
@click.option("--note", default=None, help="A note on version 1.")
def create_cmd(name: str, owners: tuple[str, ...], protect: tuple[str, ...], no_protect: bool,
               file: IO[str] | None, description: str | None, note: str | None) -> None:
    """Create a prompt owned by you and the --owner(s)."""
    _checked(check_name, name, "NAME")
    protected = () if no_protect else (protect or DEFAULT_PROTECTED)
    for label in protected:
        _checked(check_label, label, "--protect")
    text = None if file is None else _read(file)

    async def create(reg: PromptRegistry, keys: KeyService) -> str:
        checked = await check_owners(keys, owners, "--owner")
        p = await reg.create(_actor(), name, checked, protected, check_note(description, "description", 500),
                             text, check_note(note))
        return f"Created {p.name} (owners {', '.join(p.owners)}; latest version {p.latest_version})."

    click.echo(_run(create))


@prompts.command("add-version")
@click.argument("name")
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), required=True,
              help="The text ('-' for standard input).")
@click.option("--note", default=None)
def add_version_cmd(name: str, file: IO[str], note: str | None) -> None:
    """Add the next (immutable) version of a prompt."""
    _checked(check_name, name, "NAME")
    text = _read(file)
    v = _run(lambda reg, _keys: reg.add_version(_actor(), name, text, check_note(note)))
    click.echo(f"Added {v.name}@{v.version} (sha256 {v.sha256[:12]}).")


@prompts.command("move-label")
@click.argument("name")
@click.argument("label")
@click.argument("version", type=click.IntRange(1))
@click.option("--note", default=None)
def move_label_cmd(name: str, label: str, version: int, note: str | None) -> None:
    """Point LABEL at VERSION; a protected label waits for a second owner's approval."""
    _checked(check_name, name, "NAME")
    _checked(check_label, label, "LABEL")
    moved = _run(lambda reg, _keys: reg.move_label(_actor(), name, label, version, check_note(note)))
    if moved.applied:
        click.echo(f"{name}@{label} now points at version {version}.")
    else:
        assert moved.change is not None
        click.echo(f"{name}@{label} is protected: change {moved.change.id} is pending; another owner "
                   f"approves it with 'corral prompts approve {moved.change.id}'.")


@prompts.command("pending")
@click.option("--all", "show_all", is_flag=True, help="Decided changes too.")
def pending_cmd(show_all: bool) -> None:
    """Proposed moves of protected labels."""
    changes = _run(lambda reg, _keys: reg.changes(None if show_all else "pending"))
    click.echo(_change_rows(changes) if changes else "No pending changes." if not show_all else "No changes.")


@prompts.command("diff")
@click.argument("change_id", type=click.IntRange(1))
def diff_cmd(change_id: int) -> None:
    """The unified diff a pending change would make."""
    async def load(reg: PromptRegistry, _keys: KeyService) -> str:
        change = await reg.change(change_id)
        return f"change {change.id} ({change.state}) by {change.proposed_by}\n" + await reg.diff(change)

    click.echo(_run(load), nl=False)


@prompts.command("approve")
@click.argument("change_id", type=click.IntRange(1))
def approve_cmd(change_id: int) -> None:
    """Approve another owner's change: the label moves now."""
    c = _run(lambda reg, _keys: reg.approve(_actor(), change_id))
    click.echo(f"Approved change {c.id}: {c.name}@{c.label} now points at version {c.to_version}.")


@prompts.command("reject")
@click.argument("change_id", type=click.IntRange(1))
@click.option("--reason", default=None)
def reject_cmd(change_id: int, reason: str | None) -> None:
    """Reject (or, as its proposer, withdraw) a pending change."""
    c = _run(lambda reg, _keys: reg.reject(_actor(), change_id, check_note(reason, "reason")))
    click.echo(f"Rejected change {c.id} ({c.name}@{c.label} stays at {c.from_version or 'nothing'}).")
