"""The governance document: its sections, its configuration hash, and that it follows the config."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from corral.config import Settings, default_settings_data
from corral.governance.cli import governance
from corral.governance.document import SECTIONS, governance_document

FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _settings(**extra: Any) -> Settings:
    return Settings.model_validate({**default_settings_data(), **extra})


def _doc(settings: Settings) -> str:
    return governance_document(settings, now=lambda: FIXED)


def _hash(settings: Settings) -> str:
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()


def test_default_document_has_every_section_and_the_config_hash() -> None:
    settings = _settings()
    text = _doc(settings)
    for heading in SECTIONS:
        assert f"\n## {heading}\n" in text
    assert _hash(settings) in text
    assert "2026-01-02 03:04:05" in text
    assert "`smollm2-135m-instruct`" in text and "data does not leave the server" in text
    assert "No rate limits or spending budgets are configured." in text


def test_route_privacy_policy_change_changes_document_and_hash() -> None:
    base = _settings()
    data = default_settings_data()
    data["models"]["smollm2-135m-instruct"]["privacy"] = {"policy": "redact"}
    changed = Settings.model_validate({**data, "observability": {"capture_content": True}})
    before, after = _doc(base), _doc(changed)
    assert before != after and _hash(changed) in after and _hash(base) not in after
    assert "| `smollm2-135m-instruct` | `redact` | this route | yes, the redacted copy | off |" in after


def test_retention_change_appears() -> None:
    changed = _settings(governance={"retention": {"feedback_days": 45}})
    text = _doc(changed)
    assert "| `governance.retention.feedback_days` | 45 days |" in text
    assert _hash(_settings()) not in text and _hash(changed) in text


def test_third_party_providers_cache_and_limits_are_described() -> None:
    settings = Settings.model_validate({
        "providers": {"oai": {"type": "openai"}, "vllm": {"type": "openai", "base_url": "http://gpu:8000/v1"}},
        "models": {"gpt": {"deployments": [{"provider": "oai", "model": "gpt-4o"}], "fallbacks": ["own"],
                           "cache": {"exact": True, "semantic": True}},
                   "own": {"deployments": [{"provider": "vllm", "model": "llama"}]}},
        "limits": {"teams": {"research": {"usd_per_month": {"soft": 400, "hard": 500}}}},
    })
    text = _doc(settings)
    assert "third party reached over the internet: openai's public API" in text
    # "gpu" has no dot: an intranet name, so the vLLM server is self-hosted, not a third party.
    assert "a server on the organisation's own network (self-hosted): http://gpu:8000/v1" in text
    assert "governed by their own terms and data policies: oai\n" in text
    assert "| `gpt` | `off` | the default | no | exact and semantic, answers kept 1 hour |" in text
    assert "| team `research` | - | - | - | hard 500, alert at 400 |" in text


def test_cli_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_CONFIG", raising=False)
    monkeypatch.delenv("CORRAL_HOME", raising=False)
    config = tmp_path / "corral.yaml"
    config.write_text(yaml.safe_dump({**default_settings_data(),
                                      "governance": {"retention": {"quality_scores_days": 7}}}))
    out = tmp_path / "gov.md"
    result = CliRunner().invoke(governance, ["doc", "-c", str(config), "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Corral governance document") and str(config) in text
    assert "| `governance.retention.quality_scores_days` | 7 days |" in text


def test_cli_reports_a_bad_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(governance, ["doc", "-c", str(tmp_path / "missing.yaml")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_a_compliance_preset_changes_the_document() -> None:
    """The preset, what it set, what the file overrode, and the erasure deadline are stated."""
    base, gdpr = _doc(_settings()), _doc(_settings(governance={"profile": "gdpr",
                                                               "retention": {"feedback_days": 400}}))
    assert "No compliance preset is selected" in base and "within **30 days**" not in base
    assert "The **GDPR** preset is selected" in gdpr
    assert "| `privacy.default.policy` | redact | redact | preset |" in gdpr
    assert ("| `governance.retention.feedback_days` | 180 | 400 | configuration, weaker than the preset |"
            in gdpr)
    assert "Erasure requests are completed within **30 days** of receipt." in gdpr
    # The preset's default privacy policy reaches the per-route table too.
    assert "| `smollm2-135m-instruct` | `redact` | the default |" in gdpr


def test_the_roles_section_comes_from_the_role_table() -> None:
    text = _doc(_settings())
    assert "| `auditor` | reads request records" in text
    assert "read and export the audit log" in text  # a permission's wording, from corral.auth.roles


@pytest.mark.parametrize(("base_url", "own"), [
    ("http://10.0.3.4:8000/v1", True), ("http://127.0.0.1:11434/v1", True), ("http://[fd00::1]/v1", True),
    ("http://vllm.prod.svc.cluster.local/v1", True), ("http://gpu-pool.internal:8000/v1", True),
    ("https://api.together.xyz/v1", False), ("http://8.8.8.8/v1", False), (None, False)])
def test_self_hosted_servers_are_told_from_third_parties(base_url: str | None, own: bool) -> None:
    provider = {"type": "openai-compatible"} | ({"base_url": base_url} if base_url else {})
    settings = Settings.model_validate({"providers": {"p": provider},
                                        "models": {"m": {"deployments": [{"provider": "p", "model": "x"}]}}})
    text = _doc(settings)
    assert ("own network (self-hosted)" in text) is own
    assert ("data policies: p\n" in text) is not own


def test_webhook_receivers_are_listed_with_whose_events_they_get_and_what_an_event_holds() -> None:
    assert "No webhook receivers are configured" in _doc(_settings())
    hooks = {"endpoints": {
        "reports": {"url": "https://reports.example.com/hook", "secret": {"env": "REPORTS_SECRET"},
                    "teams": ["reports", "growth"], "events": ["response.completed"]},
        "ops": {"url": "http://ops.internal:9000/corral", "secret": {"env": "OPS_SECRET"}, "teams": "*"}}}
    text = _doc(_settings(webhooks=hooks))
    assert ("| `reports` | over the internet: https://reports.example.com/hook | `reports`, `growth` "
            "| `response.completed` |") in text
    assert "| `ops` | the organisation's own network: http://ops.internal:9000/corral | every team |" in text
    assert "never a prompt, an answer or a file" in text
