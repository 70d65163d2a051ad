"""``corral keys`` CLI via CliRunner on every backend."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from corral.auth.cli import keys

KEY_RE = re.compile(r"sk-corral-[A-Za-z0-9_-]{32}")


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CORRAL_DATABASE_URL", db_url)
    return CliRunner()


def test_create_list_revoke(runner: CliRunner) -> None:
    res = runner.invoke(keys, ["create", "--name", "web", "--team", "growth"])
    assert res.exit_code == 0, res.output
    raw = KEY_RE.search(res.stdout)
    assert raw, res.stdout
    assert "will not be shown again" in res.stderr
    key_id = re.search(r"key_[0-9a-f]+", res.stdout).group(0)  # type: ignore[union-attr]

    res = runner.invoke(keys, ["create", "--name", "ops", "--scope", "admin", "--scope", "inference"])
    assert res.exit_code == 0, res.output

    res = runner.invoke(keys, ["list"])
    assert res.exit_code == 0, res.output
    assert "ID" in res.stdout and "PREFIX" in res.stdout
    assert "web" in res.stdout and "growth" in res.stdout and "admin,inference" in res.stdout
    assert raw.group(0) not in res.stdout
    assert raw.group(0)[:16] in res.stdout  # display prefix

    res = runner.invoke(keys, ["revoke", key_id])
    assert res.exit_code == 0, res.output
    assert "Revoked" in res.stdout

    listed = json.loads(runner.invoke(keys, ["list", "--json"]).stdout)
    assert [k["name"] for k in listed] == ["ops"]
    everything = json.loads(runner.invoke(keys, ["list", "--all", "--json"]).stdout)
    assert {k["name"]: k["revoked"] for k in everything} == {"web": True, "ops": False}
    assert all("key" not in k and "hash" not in k for k in everything)
    assert "revoked" in runner.invoke(keys, ["list", "--all"]).stdout


def test_create_json_includes_key_once(runner: CliRunner) -> None:
    res = runner.invoke(keys, ["create", "--name", "svc", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert KEY_RE.fullmatch(data["key"])
    assert data["scopes"] == ["inference"] and data["team"] == "default"


def test_errors(runner: CliRunner) -> None:
    res = runner.invoke(keys, ["revoke", "key_nope"])
    assert res.exit_code == 1
    assert "no API key matches" in res.output
    res = runner.invoke(keys, ["create", "--name", "x", "--scope", "root"])
    assert res.exit_code == 2
    res = runner.invoke(keys, ["create"])
    assert res.exit_code == 2
    assert "No API keys" in runner.invoke(keys, ["list"]).stdout
