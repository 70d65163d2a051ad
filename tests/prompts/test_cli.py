"""`corral prompts ...` with CliRunner: the two-person rule binds the command line too (the same OS
user cannot approve their own proposal). SQLite only: the registry's SQL runs on both backends in
test_registry.py, and each command here migrates the database again (slow on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from corral.cli import main
from corral.prompts import cli as prompts_cli

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def corral(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    return CliRunner()


def _as(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    monkeypatch.setattr(prompts_cli, "cli_owner", lambda: f"cli:{user}")


def _run(runner: CliRunner, *args: str, ok: bool = True) -> Result:
    result = runner.invoke(main, ["prompts", *args])
    assert (result.exit_code == 0) is ok, result.output
    return result


def test_the_same_os_user_cannot_approve_their_own_move(corral: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.txt", tmp_path / "v2.txt"
    v1.write_text("You are helpful.\nBe brief.\n")
    v2.write_text("You are helpful.\nBe very brief.\n")
    _as(monkeypatch, "ann")
    assert "owners cli:ann, cli:bob" in _run(corral, "create", "agent", "--owner", "cli:bob",
                                             "--file", str(v1)).output
    _run(corral, "add-version", "agent", "--file", str(v2), "--note", "shorter")
    assert "now points at version 2" in _run(corral, "move-label", "agent", "staging", "2").output
    proposed = _run(corral, "move-label", "agent", "production", "2").output
    assert "change 1 is pending" in proposed
    assert "pending" in _run(corral, "pending").output
    diff = _run(corral, "diff", "1").output
    assert "+You are helpful." in diff and "by cli:ann" in diff

    refused = _run(corral, "approve", "1", ok=False)
    assert "two-person rule" in refused.output
    _as(monkeypatch, "eve")
    assert "Only an owner" in _run(corral, "approve", "1", ok=False).output
    assert "Only an owner" in _run(corral, "add-version", "agent", "--file", str(v1), ok=False).output
    _as(monkeypatch, "bob")
    assert "now points at version 2" in _run(corral, "approve", "1").output
    listed = _run(corral, "list").output
    assert "production=2" in listed and "staging=2" in listed
    assert "Be very brief." in _run(corral, "show", "agent", "--version", "2").output
    assert "labels: production=2, staging=2" in _run(corral, "show", "agent").output

    _run(corral, "move-label", "agent", "production", "1")
    assert "Rejected change 2" in _run(corral, "reject", "2", "--reason", "keep v2").output
    assert "No pending changes." in _run(corral, "pending").output
    assert "rejected" in _run(corral, "pending", "--all").output


def test_cli_refuses_bad_input(corral: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as(monkeypatch, "ann")
    assert "second owner" in _run(corral, "create", "solo", ok=False).output
    assert "not a live key id" in _run(corral, "create", "x", "--owner", "key_nope", ok=False).output
    assert "prompt name" in _run(corral, "create", "Bad Name", "--owner", "cli:bob", ok=False).output
    empty = tmp_path / "empty.txt"
    empty.write_text("  ")
    _run(corral, "create", "solo", "--no-protect")
    assert "non-empty" in _run(corral, "add-version", "solo", "--file", str(empty), ok=False).output
    assert "No prompt named" in _run(corral, "show", "nobody", ok=False).output
