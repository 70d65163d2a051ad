"""Secrets written literally anywhere in corral.yaml are refused at start (issue 8, item 14).

`api_key:` was the only refused spelling; the same key as a provider header, an
adapter option or a URL password went through and was committed with the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.config import ConfigError, load_settings

PROVIDER = "providers:\n  oa:\n    type: openai\n    base_url: http://127.0.0.1:1/v1\n"
MODELS = "models:\n  m: {deployments: [{provider: oa, model: m}]}\n"


def _load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "corral.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"Invalid configuration in {path}:")
    return message


@pytest.mark.parametrize(("extra", "where", "secret"), [
    ("    headers: {Authorization: Bearer 0123456789abcdef}\n", "providers.oa.headers.Authorization",
     "0123456789abcdef"),
    ("    headers: {x-api-key: plainvalue}\n", "providers.oa.headers.x-api-key", "plainvalue"),
    ("    headers: {X-Proxy-Token: hunter2hunter2}\n", "providers.oa.headers.X-Proxy-Token", "hunter2"),
    ("    options: {api_key: not-shaped-like-a-key}\n", "providers.oa.options.api_key", "not-shaped"),
    ("    options: {client_secret: abc}\n", "providers.oa.options.client_secret", "abc"),
    ("    headers: {X-Org: sk-proj-abcdefghijklmnopqrstuvwx}\n", "providers.oa.headers.X-Org", "sk-proj"),
    ("    options: {aws: AKIAIOSFODNN7EXAMPLE}\n", "providers.oa.options.aws", "AKIAIOSFODNN7EXAMPLE"),
])
def test_literal_provider_credentials_are_refused(tmp_path: Path, extra: str, where: str,
                                                  secret: str) -> None:
    message = _load(tmp_path, PROVIDER + extra + MODELS)
    assert f"  {where}: " in message and "api_key_env" in message
    assert secret not in message, "the error must not print the secret"


def test_a_password_in_the_database_url_is_refused_env_references_are_not(tmp_path: Path) -> None:
    message = _load(tmp_path, PROVIDER + MODELS + "database_url: postgresql://app:s3cret@db/corral\n")
    assert "  database_url: " in message and "CORRAL_DATABASE_URL" in message and "s3cret" not in message
    path = tmp_path / "ok.yaml"
    path.write_text(PROVIDER + "    api_key_env: MY_KEY\n    headers: {OpenAI-Organization: org-123}\n"
                    "    options: {max_tokens_default: 5}\n" + MODELS
                    + "database_url: postgresql://postgres@127.0.0.1:5432/corral\n")
    assert load_settings(path).providers["oa"].headers == {"OpenAI-Organization": "org-123"}


def test_a_secret_anywhere_is_refused_with_its_path(tmp_path: Path) -> None:
    text = PROVIDER + "models:\n  m:\n    deployments: [{provider: oa, model: m}]\n" \
        "    degraded_message: 'call us with ghp_abcdefghijklmnopqrstuvwxyz0123456789'\n"
    message = _load(tmp_path, text)
    assert "  models.m.degraded_message: the value looks like a credential" in message


def test_every_offence_is_listed(tmp_path: Path) -> None:
    extra = "    headers: {Authorization: Bearer 0123456789abcdef, X-Token: t0ken-value}\n"
    message = _load(tmp_path, PROVIDER + extra + MODELS)
    assert "headers.Authorization" in message and "headers.X-Token" in message
