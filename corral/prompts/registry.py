"""The system-prompt registry: named prompts, immutable versions, labels and the two-person rule.

Who may do what (the API checks the permission first: ``prompts.write`` to create, add a
version or move a label, ``prompts.approve`` to approve or reject; the CLI is trusted with the
database and acts as ``cli:<os user>``):

- creating a prompt: any caller allowed to write; the creator becomes an owner and names the
  others. A prompt with a protected label needs at least two owners, or that label could never
  move. Owners are fixed at creation: changing them would let one owner add a second identity
  of their own and approve themselves, so it is left to a later change with its own approval.
- adding a version, moving a label, approving, rejecting: owners of that prompt only. ``admin``
  keys hold every permission but are not owners unless named: the two-person rule binds them too.
- a protected label (``production`` unless the creator says otherwise) moves only through a
  pending change that a *different* owner approves; the proposer may withdraw (reject) it.
  Unprotected labels move at once. One pending change per label at a time.

Every change is written in the same transaction as its audit-log entry (corral.governance.audit),
so neither exists without the other. Each change holds a named lock per prompt (an advisory lock
on PostgreSQL; SQLite's write lock), so two approvals of one change cannot both apply it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import func, select, update

from corral.core.errors import CorralError, InvalidRequest, NotFound, PermissionDenied
from corral.governance.audit import AuditLog
from corral.prompts.models import Actor, Change, LabelMove, Prompt, PromptVersion
from corral.prompts.names import (
    DEFAULT_PROTECTED,
    check_label,
    check_name,
    check_text,
    sha256_hex,
)
from corral.store.db import Database, Transaction
from corral.store.schema import prompt_changes, prompt_labels, prompt_versions, prompts, utcnow

LOCK = "corral.prompts:"
MAX_DIFF_LINES = 2000


class PromptConflict(CorralError):
    """The registry's state does not allow this now (a pending change exists, already decided)."""

    status_code = 409
    openai_type = "invalid_request_error"
    code = "conflict"


class PromptRegistry:
    """Reads and changes of the registry in one database; each change is audited."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)

    # --- reads --------------------------------------------------------------------------
    async def all(self) -> list[Prompt]:
        async with self.db.transaction(readonly=True) as tx:
            rows = await tx.fetch_all(select(prompts).order_by(prompts.c.name))
            labels = await tx.fetch_all(select(prompt_labels.c.name, prompt_labels.c.label,
                                               prompt_labels.c.version))
            latest = await tx.fetch_all(select(prompt_versions.c.name, func.max(prompt_versions.c.version)
                                               .label("v")).group_by(prompt_versions.c.name))
        by_name: dict[str, dict[str, int]] = {}
        for r in labels:
            by_name.setdefault(r["name"], {})[r["label"]] = r["version"]
        newest = {r["name"]: int(r["v"]) for r in latest}
        return [Prompt.from_row(r, by_name.get(r["name"], {}), newest.get(r["name"], 0)) for r in rows]

    async def get(self, name: str) -> Prompt:
        async with self.db.transaction(readonly=True) as tx:
            return await self._prompt(tx, name)

    async def versions(self, name: str) -> list[PromptVersion]:
        await self.get(name)
        rows = await self.db.fetch_all(select(prompt_versions).where(prompt_versions.c.name == name)
                                       .order_by(prompt_versions.c.version))
        return [PromptVersion.from_row(r) for r in rows]

    async def version(self, name: str, version: int) -> PromptVersion:
        row = await self.db.fetch_one(select(prompt_versions).where(
            prompt_versions.c.name == name, prompt_versions.c.version == version))
        if row is None:
            await self.get(name)
            raise NotFound(f"Prompt '{name}' has no version {version}.", param="version")
        return PromptVersion.from_row(row)

    async def changes(self, state: str | None = None, name: str | None = None,
                      limit: int = 100) -> list[Change]:
        stmt = select(prompt_changes).order_by(prompt_changes.c.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(prompt_changes.c.state == state)
        if name is not None:
            stmt = stmt.where(prompt_changes.c.name == name)
        return [Change.from_row(r) for r in await self.db.fetch_all(stmt)]

    async def change(self, change_id: int) -> Change:
        row = await self.db.fetch_one(select(prompt_changes).where(prompt_changes.c.id == change_id))
        if row is None:
            raise NotFound(f"No prompt change {change_id}. List them with GET /admin/prompt-changes.")
        return Change.from_row(row)

    async def diff(self, change: Change) -> str:
        """Unified diff of the label's current text (at proposal) against the proposed version."""
        new = await self.version(change.name, change.to_version)
        old_text, old_name = "", f"{change.name}@(none)"
        if change.from_version is not None:
            old_text = (await self.version(change.name, change.from_version)).text
            old_name = f"{change.name}@{change.from_version}"
        return unified_diff(old_text, new.text, old_name, f"{change.name}@{change.to_version}")

    def may_approve(self, prompt: Prompt, change: Change, actor: Actor) -> bool:
        """Whether ``actor`` could approve ``change`` now (the dashboard shows the button then)."""
        return change.state == "pending" and prompt.is_owner(actor) and actor.id != change.proposed_by

    # --- changes ------------------------------------------------------------------------
    async def create(self, actor: Actor, name: str, owners: Sequence[str] = (),
                     protected_labels: Sequence[str] = DEFAULT_PROTECTED, description: str | None = None,
                     text: str | None = None, note: str | None = None) -> Prompt:
        """A new prompt owned by ``actor`` and ``owners``; with ``text``, its version 1."""
        check_name(name)
        protected = [check_label(label, "protected_labels") for label in dict.fromkeys(protected_labels)]
        everyone = list(dict.fromkeys([actor.id, *owners]))
        if protected and len(everyone) < 2:
            raise InvalidRequest(
                f"Prompt '{name}' protects {', '.join(protected)}: moving a protected label needs a second "
                "owner's approval, so name at least one other owner (a key id, or cli:<os user>), or "
                "protect no label.", param="owners")
        if text is not None:
            check_text(text)
        now = utcnow()
        values: dict[str, Any] = {
            "name": name, "description": description, "owners": orjson.dumps(everyone).decode(),
            "protected_labels": orjson.dumps(protected).decode(), "created_by": actor.id, "created_at": now}
        async with self.db.transaction() as tx:
            await tx.lock(LOCK + name)
            if await tx.fetch_val(select(prompts.c.name).where(prompts.c.name == name)) is not None:
                raise PromptConflict(f"A prompt named '{name}' already exists; add a version to it instead.",
                                     param="name")
            await tx.execute(prompts.insert().values(**values))
            after = {"owners": everyone, "protected_labels": protected, "description": description}
            await self._audit(tx, actor, "prompt.create", name, None, after)
            if text is not None:
                await self._insert_version(tx, actor, name, text, note)
            return await self._prompt(tx, name)

    async def add_version(self, actor: Actor, name: str, text: str, note: str | None = None) -> PromptVersion:
        """The next version of ``name``; versions are never changed afterwards."""
        check_text(text)
        async with self.db.transaction() as tx:
            await tx.lock(LOCK + name)
            await self._owned(tx, name, actor, "add a version to")
            return await self._insert_version(tx, actor, name, text, note)

    async def move_label(self, actor: Actor, name: str, label: str, version: int,
                         note: str | None = None) -> LabelMove:
        """Point ``label`` at ``version``: at once when unprotected, else as a pending change."""
        check_label(label)
        async with self.db.transaction() as tx:
            await tx.lock(LOCK + name)
            prompt = await self._owned(tx, name, actor, "move a label of")
            await self._version_exists(tx, name, version)
            current = prompt.labels.get(label)
            if current == version:
                raise PromptConflict(f"'{name}@{label}' already points at version {version}.",
                                     param="version")
            if label not in prompt.protected_labels:
                await self._set_label(tx, name, label, version, actor.id, None, None)
                await self._audit(tx, actor, "prompt.label.move", f"{name}@{label}",
                                  None if current is None else {"version": current},
                                  {"version": version, "note": note})
                return LabelMove(name, label, version, applied=True)
            pending = await tx.fetch_val(select(prompt_changes.c.id).where(
                prompt_changes.c.name == name, prompt_changes.c.label == label,
                prompt_changes.c.state == "pending"))
            if pending is not None:
                raise PromptConflict(f"'{name}@{label}' already has pending change {pending}: approve "
                                     "or reject it first.", param="label")
            change_id = await tx.fetch_val(prompt_changes.insert().values(
                name=name, label=label, from_version=current, to_version=version, note=note,
                state="pending", proposed_by=actor.id, proposed_by_name=actor.name,
                proposed_at=utcnow()).returning(prompt_changes.c.id))
            await self._audit(tx, actor, "prompt.label.propose", f"{name}@{label}",
                              None if current is None else {"version": current},
                              {"version": version, "change_id": int(change_id), "note": note})
            row = await tx.fetch_one(select(prompt_changes).where(prompt_changes.c.id == change_id))
            assert row is not None
            return LabelMove(name, label, version, applied=False, change=Change.from_row(row))

    async def approve(self, actor: Actor, change_id: int) -> Change:
        """A second owner's approval: the label moves now (two-person rule)."""
        return await self._decide(actor, change_id, approve=True, reason=None)

    async def reject(self, actor: Actor, change_id: int, reason: str | None = None) -> Change:
        """Any owner, the proposer included (a withdrawal), may reject a pending change."""
        return await self._decide(actor, change_id, approve=False, reason=reason)

    # --- helpers ------------------------------------------------------------------------
    async def _decide(self, actor: Actor, change_id: int, *, approve: bool, reason: str | None) -> Change:
        name = await self.db.fetch_val(select(prompt_changes.c.name).where(prompt_changes.c.id == change_id))
        if name is None:
            raise NotFound(f"No prompt change {change_id}. List them with GET /admin/prompt-changes.")
        verb = "approve" if approve else "reject"
        async with self.db.transaction() as tx:
            await tx.lock(LOCK + name)
            row = await tx.fetch_one(select(prompt_changes).where(prompt_changes.c.id == change_id))
            assert row is not None  # changes are never deleted
            change = Change.from_row(row)
            prompt = await self._owned(tx, name, actor, f"{verb} a change of")
            if change.state != "pending":
                raise PromptConflict(f"Change {change_id} is already {change.state}; only a pending change "
                                     f"can be {verb}d.")
            if approve and actor.id == change.proposed_by:
                raise PermissionDenied(
                    f"Change {change_id} was proposed by {actor.id}: the two-person rule needs a different "
                    f"owner of '{name}' to approve it (owners: {', '.join(prompt.owners)}). The proposer may "
                    "reject (withdraw) it.", code="two_person_rule")
            if approve and prompt.labels.get(change.label) != change.from_version:
                raise PromptConflict(f"'{name}@{change.label}' moved since change {change_id} was proposed; "
                                     "reject it and propose again.")
            now = utcnow()
            state = "applied" if approve else "rejected"
            await tx.execute(update(prompt_changes).where(
                prompt_changes.c.id == change_id, prompt_changes.c.state == "pending").values(
                state=state, decided_by=actor.id, decided_by_name=actor.name, decided_at=now, reason=reason))
            target = f"{name}@{change.label}"
            before = None if change.from_version is None else {"version": change.from_version}
            if approve:
                await self._set_label(tx, name, change.label, change.to_version, change.proposed_by,
                                      actor.id, change_id)
                await self._audit(tx, actor, "prompt.label.approve", target, before,
                                  {"version": change.to_version, "change_id": change_id,
                                   "proposed_by": change.proposed_by})
            else:
                await self._audit(tx, actor, "prompt.label.reject", target, before,
                                  {"proposed_version": change.to_version, "change_id": change_id,
                                   "proposed_by": change.proposed_by, "reason": reason})
            row = await tx.fetch_one(select(prompt_changes).where(prompt_changes.c.id == change_id))
            assert row is not None
            return Change.from_row(row)

    async def _prompt(self, tx: Transaction, name: str) -> Prompt:
        row = await tx.fetch_one(select(prompts).where(prompts.c.name == name))
        if row is None:
            raise NotFound(f"No prompt named '{name}'. List them with GET /admin/prompts or "
                           "'corral prompts list'.", param="name")
        labels = await tx.fetch_all(select(prompt_labels.c.label, prompt_labels.c.version)
                                    .where(prompt_labels.c.name == name))
        latest = await tx.fetch_val(select(func.max(prompt_versions.c.version))
                                    .where(prompt_versions.c.name == name))
        return Prompt.from_row(row, {r["label"]: r["version"] for r in labels}, int(latest or 0))

    async def _owned(self, tx: Transaction, name: str, actor: Actor, what: str) -> Prompt:
        prompt = await self._prompt(tx, name)
        if not prompt.is_owner(actor):
            raise PermissionDenied(f"Only an owner of '{name}' may {what} it; {actor.id} is not one "
                                   f"(owners: {', '.join(prompt.owners)}).", code="not_prompt_owner")
        return prompt

    async def _version_exists(self, tx: Transaction, name: str, version: int) -> None:
        found = await tx.fetch_val(select(prompt_versions.c.id).where(
            prompt_versions.c.name == name, prompt_versions.c.version == version))
        if found is None:
            raise NotFound(f"Prompt '{name}' has no version {version}; add it first.", param="version")

    async def _insert_version(self, tx: Transaction, actor: Actor, name: str, text: str,
                              note: str | None) -> PromptVersion:
        latest = await tx.fetch_val(select(func.max(prompt_versions.c.version))
                                    .where(prompt_versions.c.name == name))
        values: dict[str, Any] = {
            "name": name, "version": int(latest or 0) + 1, "text": text, "sha256": sha256_hex(text),
            "author": actor.id, "author_name": actor.name, "note": note, "created_at": utcnow()}
        await tx.execute(prompt_versions.insert().values(**values))
        # The audit entry names the text by its hash: the text itself stays in prompt_versions.
        await self._audit(tx, actor, "prompt.version", f"{name}@{values['version']}", None,
                          {"version": values["version"], "sha256": values["sha256"], "chars": len(text),
                           "note": note})
        return PromptVersion.from_row(values)

    async def _set_label(self, tx: Transaction, name: str, label: str, version: int, moved_by: str,
                         approved_by: str | None, change_id: int | None) -> None:
        values = {"version": version, "moved_by": moved_by, "approved_by": approved_by,
                  "change_id": change_id, "moved_at": utcnow()}
        done = await tx.execute(update(prompt_labels).where(
            prompt_labels.c.name == name, prompt_labels.c.label == label).values(**values))
        if not done.rowcount:
            await tx.execute(prompt_labels.insert().values(name=name, label=label, **values))

    async def _audit(self, tx: Transaction, actor: Actor, action: str, target: str,
                     before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        await self.audit.append_in(tx, actor.id, action, f"prompt:{target}", before, after,
                                   actor_name=actor.name)


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two texts (at most MAX_DIFF_LINES lines; the rest is counted, not shown)."""
    lines = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                      old_name, new_name))
    lines = [line if line.endswith("\n") else line + "\n" for line in lines]
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines\n"]
    return "".join(lines)
