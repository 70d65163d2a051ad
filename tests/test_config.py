"""Configuration: defaults, env overrides, and errors that name file and key path."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from corral.config import LOCAL_MODEL_NAME, ConfigError, Settings, load_settings


def test_defaults_serve_the_local_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CORRAL_CONFIG", raising=False)
    settings = load_settings()
    assert settings.providers["local"].type == "local"
    assert settings.models[LOCAL_MODEL_NAME].aliases == ["local"]
    assert settings.source == "(defaults)"


def test_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORRAL_PORT", "9999")
    monkeypatch.setenv("CORRAL_DATABASE_URL", "postgresql://x@h/db")
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "h"))
    settings = load_settings()
    assert settings.server.port == 9999
    assert settings.database_url == "postgresql://x@h/db"
    assert settings.home == tmp_path / "h"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corral.yaml"
    path.write_text(text)
    return path


def test_file_with_providers_and_key_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, """
providers:
  oa: {type: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: MY_KEY}
models:
  gpt:
    aliases: [g]
    deployments: [{provider: oa, model: gpt-4o-mini}]
""")
    monkeypatch.setenv("MY_KEY", "secret")
    settings = load_settings(path)
    assert settings.provider_api_key("oa") == "secret"
    assert "local" not in settings.providers


@pytest.mark.parametrize(("text", "expected"), [
    ("providers:\n  oa: {type: openai, api_key: sk-123}\n", "providers.oa: api_key must not be written"),
    ("models:\n  m: {deployments: [{provider: nope, model: x}]}\nproviders: {a: {type: openai}}\n",
     "models.m.deployments.0.provider: unknown provider 'nope'"),
    ("providers: {a: {type: openai, timeout: 3}}\nmodels: {}\n", "providers.a.timeout: unknown key"),
    ("server: {port: 99999}\n", "server.port"),
    ("providers: [1, 2\n", "not valid YAML"),
    ("- just a list\n", "top level must be a mapping"),
])
def test_invalid_configuration_names_path(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_a_removed_setting_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    """privacy.offload_chars did nothing once detection always ran on its threads: accepting it
    silently would let an operator believe it bounded something."""
    with pytest.raises(ValidationError, match="offload_chars was removed"):
        Settings.model_validate({"home": str(tmp_path), "privacy": {"offload_chars": 100}})
