"""Compliance presets (governance.profile): defaults under the file, visible, overridable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from corral.cli import main as cli
from corral.config import ConfigError, Settings, load_settings
from corral.governance.profiles import PRESETS, PROFILES, apply_profile, explain
from corral.privacy.policy import privacy_settings_from


def _settings(**governance: Any) -> Settings:
    return Settings.model_validate({"governance": governance})


def test_no_profile_leaves_the_defaults() -> None:
    settings = _settings(profile="none")
    assert settings.preset_filled == frozenset()
    assert settings.privacy.default.policy == "off" and settings.governance.erasure_deadline_days is None


@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "none"])
def test_each_preset_sets_every_value_it_lists(profile: str) -> None:
    settings = _settings(profile=profile)
    effective = settings.model_dump(mode="json")
    lines = explain(profile, settings.preset_filled, effective)
    assert [x.path for x in lines] == [p.path for p in PRESETS[profile]]  # type: ignore[index]
    for line in lines:
        assert line.effective == line.preset and line.source == "preset" and not line.weaker
    assert privacy_settings_from(settings).default.policy == "redact"
    assert settings.governance.erasure_deadline_days is not None


def test_the_file_wins_and_a_weaker_override_is_marked() -> None:
    raw = {"governance": {"profile": "gdpr", "retention": {"feedback_days": 400, "request_records_days": 60}},
           "privacy": {"default": {"policy": "log-only"}}, "observability": {"capture_content": True}}
    settings = Settings.model_validate(raw)
    assert settings.governance.retention.feedback_days == 400
    assert settings.governance.retention.request_records_days == 60
    assert settings.governance.retention.captured_content_days == 30  # from the preset
    assert settings.privacy.default.policy == "log-only"
    marks = {x.path: (x.source, x.weaker) for x in explain("gdpr", settings.preset_filled,
                                                            settings.model_dump(mode="json"))}
    assert marks["governance.retention.feedback_days"] == ("file", True)  # longer than the preset's 180
    assert marks["governance.retention.request_records_days"] == ("file", False)  # shorter: stricter
    assert marks["privacy.default.policy"] == ("file", True)
    assert marks["observability.capture_content"] == ("file", True)
    assert marks["responses.retention_s"] == ("preset", False)


def test_apply_profile_never_edits_the_caller_s_dict() -> None:
    raw: dict[str, Any] = {"governance": {"profile": "hipaa"}}
    merged, filled = apply_profile(raw)
    assert raw == {"governance": {"profile": "hipaa"}}
    assert merged["privacy"]["default"]["policy"] == "redact" and "privacy.default.policy" in filled


def test_an_unknown_profile_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "corral.yaml"
    path.write_text("governance:\n  profile: sox\n")
    with pytest.raises(ConfigError, match=r"governance\.profile") as info:
        load_settings(path)
    assert "gdpr" in str(info.value)


def test_a_preset_that_conflicts_with_the_file_says_which_to_change(tmp_path: Path) -> None:
    """Records kept 5 days, content (from the preset) 30: the retention check names both."""
    path = tmp_path / "corral.yaml"
    path.write_text("governance:\n  profile: gdpr\n  retention:\n    request_records_days: 5\n")
    with pytest.raises(ConfigError, match="captured_content_days"):
        load_settings(path)


def test_the_cli_shows_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    path = tmp_path / "corral.yaml"
    path.write_text("governance:\n  profile: ccpa\n  retention:\n    feedback_days: 500\n"
                    "models:\n  open:\n    privacy: {policy: 'off'}\n"
                    "    deployments: [{provider: local, model: smollm2-135m-instruct}]\n"
                    "providers:\n  local: {type: local}\n")
    result = CliRunner().invoke(cli, ["governance", "profile", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "Compliance preset: ccpa" in result.output
    assert "governance.retention.feedback_days" in result.output and "WEAKER" in result.output
    assert "does not redact: open" in result.output
    as_json = json.loads(CliRunner().invoke(cli, ["governance", "profile", "--config", str(path),
                                                  "--json"]).output)
    assert as_json["profile"] == "ccpa" and as_json["routes_without_redaction"] == ["open"]
    deadline = next(v for v in as_json["values"] if v["path"] == "governance.erasure_deadline_days")
    assert deadline["effective"] == 45 and deadline["source"] == "preset"
