"""Privacy policy: the settings (`corral.privacy.settings`) and the route table joined.

The rules, their resolution and `EffectivePolicy` live in `corral.privacy.settings`
(the configuration composes them, so they cannot import it); they are importable from
here as before. This module adds what needs the whole configuration: the per-route rules
written under ``models.<name>.privacy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.privacy.settings import (
    DEFAULT_MAX_DETECT_CHARS,
    DEFAULT_MIN_SCORE,
    STRICTNESS,
    EffectivePolicy,
    KeyPrivacyRule,
    Policy,
    PrivacyRule,
    PrivacySettings,
)

if TYPE_CHECKING:
    from corral.config import Settings

__all__ = [
    "DEFAULT_MAX_DETECT_CHARS",
    "DEFAULT_MIN_SCORE",
    "STRICTNESS",
    "EffectivePolicy",
    "KeyPrivacyRule",
    "Policy",
    "PrivacyRule",
    "PrivacySettings",
    "privacy_settings_from",
]


def privacy_settings_from(settings: Settings) -> PrivacySettings:
    """`settings.privacy` with each ``models.<name>.privacy`` rule under the name and its aliases."""
    base = getattr(settings, "privacy", None) or PrivacySettings()
    routes = dict(base.routes)
    for name, model in settings.models.items():
        rule = getattr(model, "privacy", None)
        if rule is not None:
            for public in (name, *model.aliases):
                routes[public] = rule
    return base.model_copy(update={"routes": routes})
