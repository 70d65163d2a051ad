"""The registry on SQLite and PostgreSQL: versions, labels, the two-person rule, the audit trail."""

from __future__ import annotations

import asyncio

import pytest

from corral.core.errors import InvalidRequest, NotFound, PermissionDenied
from corral.governance.audit import AuditLog
from corral.prompts.models import Actor
from corral.prompts.registry import PromptConflict, PromptRegistry, unified_diff
from corral.store import Database

ANN, BOB, EVE = Actor("key_ann", "ann"), Actor("key_bob", "bob"), Actor("key_eve", "eve")


@pytest.fixture
async def reg(migrated_db: Database) -> PromptRegistry:
    registry = PromptRegistry(migrated_db)
    await registry.create(ANN, "support-agent", ["key_bob"], text="You are helpful.\nBe brief.\n")
    return registry


async def test_versions_are_numbered_and_unprotected_labels_move_at_once(reg: PromptRegistry) -> None:
    v2 = await reg.add_version(BOB, "support-agent", "You are helpful.\nBe very brief.\n", note="shorter")
    assert (v2.version, v2.author, v2.note) == (2, "key_bob", "shorter")
    moved = await reg.move_label(ANN, "support-agent", "staging", 2)
    assert moved.applied and (await reg.get("support-agent")).labels == {"staging": 2}
    assert [v.version for v in await reg.versions("support-agent")] == [1, 2]
    assert (await reg.version("support-agent", 1)).text == "You are helpful.\nBe brief.\n"  # unchanged
    with pytest.raises(NotFound):
        await reg.move_label(ANN, "support-agent", "staging", 9)


async def test_a_protected_label_needs_a_second_owner(reg: PromptRegistry) -> None:
    moved = await reg.move_label(ANN, "support-agent", "production", 1, note="first release")
    assert not moved.applied and moved.change is not None and moved.change.state == "pending"
    change = moved.change
    assert (await reg.get("support-agent")).labels == {}  # nothing moved yet
    with pytest.raises(PermissionDenied, match="two-person rule") as own:
        await reg.approve(ANN, change.id)  # the proposer alone cannot
    assert own.value.code == "two_person_rule"
    with pytest.raises(PermissionDenied, match="Only an owner"):
        await reg.approve(EVE, change.id)  # nor someone who is not an owner
    with pytest.raises(PromptConflict, match="pending change"):
        await reg.move_label(BOB, "support-agent", "production", 1)  # one pending change per label
    assert (await reg.get("support-agent")).labels == {}
    done = await reg.approve(BOB, change.id)
    assert (done.state, done.decided_by) == ("applied", "key_bob")
    assert (await reg.get("support-agent")).labels == {"production": 1}
    with pytest.raises(PromptConflict, match="already applied"):
        await reg.approve(BOB, change.id)
    assert [c.id for c in await reg.changes("pending")] == []


async def test_reject_and_withdraw(reg: PromptRegistry) -> None:
    await reg.add_version(ANN, "support-agent", "v2")
    first = (await reg.move_label(ANN, "support-agent", "production", 2)).change
    assert first is not None
    rejected = await reg.reject(BOB, first.id, reason="not reviewed")
    assert (rejected.state, rejected.reason) == ("rejected", "not reviewed")
    second = (await reg.move_label(ANN, "support-agent", "production", 2)).change
    assert second is not None
    assert (await reg.reject(ANN, second.id)).state == "rejected"  # the proposer withdraws
    with pytest.raises(PromptConflict):
        await reg.approve(BOB, second.id)
    assert (await reg.get("support-agent")).labels == {}


async def test_non_owners_cannot_write(reg: PromptRegistry) -> None:
    with pytest.raises(PermissionDenied):
        await reg.add_version(EVE, "support-agent", "hijacked")
    with pytest.raises(PermissionDenied):
        await reg.move_label(EVE, "support-agent", "staging", 1)
    with pytest.raises(NotFound):
        await reg.add_version(ANN, "no-such-prompt", "x")


async def test_creating_checks_names_owners_and_duplicates(reg: PromptRegistry) -> None:
    with pytest.raises(InvalidRequest, match="second owner") as one:
        await reg.create(EVE, "solo", [])  # production protected, one owner: it could never move
    assert one.value.param == "owners"
    solo = await reg.create(EVE, "solo", [], protected_labels=[])
    assert solo.owners == ("key_eve",) and solo.protected_labels == ()
    with pytest.raises(PromptConflict):
        await reg.create(BOB, "support-agent", ["key_ann"])
    for bad in ("Support", "a@b", "", "x" * 65, "-x", "a b"):
        with pytest.raises(InvalidRequest):
            await reg.create(ANN, bad, ["key_bob"])
    with pytest.raises(InvalidRequest, match="at most"):
        await reg.add_version(ANN, "support-agent", "x" * (256 * 1024 + 1))
    with pytest.raises(InvalidRequest, match="NUL"):
        await reg.add_version(ANN, "support-agent", "a\x00b")


async def test_every_change_is_audited(reg: PromptRegistry, migrated_db: Database) -> None:
    change = (await reg.move_label(ANN, "support-agent", "production", 1)).change
    assert change is not None
    await reg.approve(BOB, change.id)
    await reg.move_label(BOB, "support-agent", "staging", 1)
    entries = list(reversed(await AuditLog(migrated_db).entries(limit=50)))
    trail = [(e.action, e.actor, e.target) for e in entries if e.action.startswith("prompt.")]
    assert trail == [
        ("prompt.create", "key_ann", "prompt:support-agent"),
        ("prompt.version", "key_ann", "prompt:support-agent@1"),
        ("prompt.label.propose", "key_ann", "prompt:support-agent@production"),
        ("prompt.label.approve", "key_bob", "prompt:support-agent@production"),
        ("prompt.label.move", "key_bob", "prompt:support-agent@staging"),
    ]
    approve = next(e for e in entries if e.action == "prompt.label.approve").to_dict()
    assert approve["after"] == {"version": 1, "change_id": change.id, "proposed_by": "key_ann"}
    assert (await AuditLog(migrated_db).verify()).ok


async def test_diff(reg: PromptRegistry) -> None:
    await reg.add_version(ANN, "support-agent", "You are helpful.\nBe very brief.\n")
    first = (await reg.move_label(ANN, "support-agent", "production", 1)).change
    assert first is not None
    assert "+You are helpful." in await reg.diff(first)  # from nothing: every line added
    await reg.approve(BOB, first.id)
    second = (await reg.move_label(BOB, "support-agent", "production", 2)).change
    assert second is not None
    diff = await reg.diff(second)
    assert "--- support-agent@1" in diff and "+++ support-agent@2" in diff
    assert "-Be brief.\n" in diff and "+Be very brief.\n" in diff
    assert unified_diff("a", "a", "x", "y") == ""


async def test_two_approvals_at_once_apply_the_change_once(migrated_db: Database) -> None:
    registry = PromptRegistry(migrated_db)
    await registry.create(ANN, "race", ["key_bob", "key_eve"], text="v1")
    change = (await registry.move_label(ANN, "race", "production", 1)).change
    assert change is not None
    results = await asyncio.gather(registry.approve(BOB, change.id), registry.approve(EVE, change.id),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Change", "PromptConflict"]
    approvals = await AuditLog(migrated_db).entries(action="prompt.label.approve")
    assert len(approvals) == 1
