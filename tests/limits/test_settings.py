"""The `limits:` section refuses what it cannot enforce, with the key path and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.config import ConfigError, load_settings
from corral.limits.settings import LimitRule


def _load(tmp_path: Path, limits: str) -> object:
    path = tmp_path / "corral.yaml"
    path.write_text("limits:\n" + limits)
    return load_settings(path)


def test_a_route_limit_names_a_known_route(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits.routes.gpt-9: unknown model 'gpt-9'"):
        _load(tmp_path, "  routes: {gpt-9: {rpm: 10}}\n")
    _load(tmp_path, "  routes: {local: {rpm: 10}}\n")  # an alias of the built-in model is fine


@pytest.mark.parametrize(("limits", "says"), [
    ("  keys: {ci: {rpm: 0}}\n", "limits.keys.ci: rpm must be positive"),
    ("  teams: {t: {usd_per_day: {soft: 5, hard: 4}}}\n", "soft (5) is above hard (4)"),
    ("  teams: {t: {usd_per_day: {}}}\n", "give 'soft', 'hard' or both"),
    ("  keys: {ci: {rpd: 10}}\n", "unknown key"),
    ("  background_share: 1.5\n", "less than or equal to 1"),
])
def test_bad_limits_say_what_is_wrong(tmp_path: Path, limits: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        _load(tmp_path, limits)


def test_levels_of_a_number_and_of_a_mapping() -> None:
    rule = LimitRule.model_validate({"rpm": 100, "usd_per_day": {"soft": 3}, "soft_at": 0.5})
    assert (rule.hard("rpm"), rule.soft("rpm")) == (100, 50)
    assert (rule.hard("usd_per_day"), rule.soft("usd_per_day")) == (None, 3)  # alerts, never refuses
    assert rule.hard("tpm") is None and not rule.is_empty()
    assert LimitRule().is_empty()
