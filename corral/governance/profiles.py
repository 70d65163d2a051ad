"""Compliance presets: ``governance.profile: gdpr | ccpa | hipaa | none`` (docs/compliance.md).

A preset is a set of *defaults* for settings that live in several sections of corral.yaml
(retention, content capture, the default privacy policy, stored responses, the erasure
deadline). It is applied to the raw file before validation, under the file: every value the
file sets itself wins, so each preset value can be overridden, and ``corral governance
profile`` shows each one with where its effective value came from. A preset never turns a
setting off that the file turned on without saying so: the report marks an override that is
weaker than the preset.

What a preset is not: compliance. It sets technical defaults that a deployment under that
regime usually wants; the legal basis, contracts with providers (a DPA, a BAA), notices,
access controls and the organisation's processes are outside any configuration file.

This module imports nothing from Corral or pydantic: `corral.config` calls `apply_profile`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

Profile = Literal["none", "gdpr", "ccpa", "hipaa"]
PROFILES: tuple[Profile, ...] = ("none", "gdpr", "ccpa", "hipaa")

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class PresetValue:
    """One default a preset sets: where (a dotted path in corral.yaml), what, and why."""

    path: str
    value: Any
    why: str
    stricter_when: Literal["lower", "equal"] = "equal"  # lower: a smaller number is stricter


def _common(records_days: int, content_days: int, feedback_days: int, events_days: int,
            responses_days: int, law: str) -> list[PresetValue]:
    return [
        PresetValue("privacy.default.policy", "redact",
                    f"{law}: personal data is replaced by placeholders before any provider sees it, "
                    "and restored in the answer (data minimisation towards processors)"),
        PresetValue("observability.capture_content", False,
                    "prompts and answers are not kept in records or traces unless a team decides to "
                    "(and then only in redacted form)"),
        PresetValue("governance.retention.request_records_days", records_days,
                    "request telemetry carries the end user id: kept no longer than the cost and "
                    "trend reports need", "lower"),
        PresetValue("governance.retention.captured_content_days", content_days,
                    "captured content, if capture is turned on, is the most sensitive data kept",
                    "lower"),
        PresetValue("governance.retention.feedback_days", feedback_days,
                    "feedback holds free text users wrote", "lower"),
        PresetValue("governance.retention.policy_events_days", events_days,
                    "refusal events hold prompt excerpts; kept for review of patterns", "lower"),
        PresetValue("responses.retention_s", responses_days * DAY_S,
                    "stored Responses API answers (content) expire", "lower"),
    ]


PRESETS: dict[Profile, list[PresetValue]] = {
    "none": [],
    "gdpr": [
        *_common(90, 30, 180, 365, 30, "GDPR art. 5(1)(c), 25, 28"),
        PresetValue("governance.erasure_deadline_days", 30,
                    "GDPR art. 12(3): answer an erasure request (art. 17) without undue delay and "
                    "within one month", "lower"),
    ],
    "ccpa": [
        *_common(365, 30, 365, 365, 30, "CCPA/CPRA (Cal. Civ. Code 1798.100(a)(3))"),
        PresetValue("governance.erasure_deadline_days", 45,
                    "CCPA regulations (11 CCR 7021): respond to a request to delete within 45 "
                    "calendar days", "lower"),
    ],
    "hipaa": [
        *_common(90, 7, 180, 365, 7, "HIPAA minimum necessary standard (45 CFR 164.502(b))"),
        PresetValue("governance.erasure_deadline_days", 60,
                    "HIPAA gives no right to erasure; 60 days is the deadline to act on a request "
                    "to amend (45 CFR 164.526(b)(2)), used here as the target for any data request",
                    "lower"),
    ],
}


def _get(tree: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _set_default(tree: dict[str, Any], path: str, value: Any) -> bool:
    """Set `path` to `value` unless the file already says something there; True if set."""
    *parents, leaf = path.split(".")
    node = tree
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            return False  # the file has a non-mapping here: validation will say what is wrong
        node = child
    if leaf in node:
        return False
    node[leaf] = copy.deepcopy(value)
    return True


def profile_of(raw: dict[str, Any]) -> str:
    found, value = _get(raw, "governance.profile")
    return value if found and isinstance(value, str) else "none"


def apply_profile(raw: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """The raw settings with the preset's defaults filled in under the file's own values, and
    the paths the preset filled.

    An unknown profile is left for validation to reject (with the list of known ones)."""
    profile = profile_of(raw)
    if profile not in PRESETS or profile == "none":
        return raw, frozenset()
    merged = copy.deepcopy(raw)
    filled = {item.path for item in PRESETS[profile]
              if _set_default(merged, item.path, item.value)}
    return merged, frozenset(filled)


@dataclass(frozen=True, slots=True)
class PresetLine:
    """One preset value against the running configuration, for `corral governance profile`."""

    path: str
    preset: Any
    effective: Any
    source: Literal["preset", "file"]
    weaker: bool  # the file overrides it with a value the preset's regime would not choose
    why: str


def _weaker(item: PresetValue, effective: Any) -> bool:
    if effective == item.value:
        return False
    if item.stricter_when == "lower":
        return effective is None or (isinstance(effective, int | float) and effective > item.value)
    if item.path == "privacy.default.policy":
        return effective not in ("redact", "block")
    return True


def explain(profile: str, filled: frozenset[str], effective: dict[str, Any]) -> list[PresetLine]:
    """Each value of `profile`: the effective value and who set it.

    `filled` are the paths the preset filled in (`apply_profile`'s second result); `effective`
    is the validated settings dumped to a dict."""
    lines = []
    for item in PRESETS.get(profile, []):  # type: ignore[call-overload]
        _, value = _get(effective, item.path)
        from_file = item.path not in filled
        lines.append(PresetLine(item.path, item.value, value, "file" if from_file else "preset",
                                from_file and _weaker(item, value), item.why))
    return lines
