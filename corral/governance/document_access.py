"""Governance document sections on who may do what: roles, and the compliance preset in force.

Kept apart from corral.governance.document (the assembly and the data sections) so each file
stays one reader's worth; the tables come from the same sources the code enforces
(corral.auth.roles, corral.governance.profiles), so the document cannot drift from them.
"""

from __future__ import annotations

import json

from corral.auth.roles import (
    GRANTS,
    PERMISSIONS,
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_INFERENCE,
    ROLE_PROMPT_OWNER,
    ROLE_REVIEWER,
)
from corral.config import Settings
from corral.core.text_table import markdown_table
from corral.governance.profiles import explain

ROLE_MEANING = {
    ROLE_ADMIN: "runs the gateway: API keys, erasure, golden examples, and everything the other "
                "administrative roles may do",
    ROLE_AUDITOR: "reads request records, the audit log, incidents, prompts and the configuration; "
                  "changes nothing",
    ROLE_REVIEWER: "triages reported outputs (incidents), reads refusals, and sets input rules",
    ROLE_PROMPT_OWNER: "writes system prompt versions and approves other owners' changes",
    ROLE_INFERENCE: "applications: sends requests to models; reads nothing but its own answers",
}


def _may(role: str) -> str:
    """What a role may do; for admin, what no other role may (it may do everything theirs do)."""
    grants = GRANTS[role]
    if role == ROLE_ADMIN:
        others = set().union(*(GRANTS[r] for r in GRANTS if r not in (ROLE_ADMIN, ROLE_INFERENCE)))
        grants = grants - others
    text = "; ".join(PERMISSIONS[p] for p in sorted(grants))
    return f"all the other administrative roles may, and: {text}" if role == ROLE_ADMIN else text


def roles_section() -> str:
    rows = [[f"`{role}`", meaning, _may(role)] for role, meaning in ROLE_MEANING.items()]
    return "\n".join([
        "## Roles and access",
        "",
        "Every API key holds one or more roles, and every administrative action needs a "
        "permission that one of the key's roles grants; anything else is refused. No role but "
        "administrator can create keys, so no key can give itself more access. The administrator "
        "role does not include sending requests to models.",
        "",
        markdown_table(["Role", "For", "May"], rows),
    ])


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return json.dumps(value) if not isinstance(value, str) else value


def profile_section(settings: Settings) -> str:
    profile = settings.governance.profile
    deadline = settings.governance.erasure_deadline_days
    head = ["## Compliance preset", ""]
    if profile == "none":
        head.append("No compliance preset is selected (`governance.profile: none`): every setting "
                    "in this document is the configuration's own choice or Corral's default.")
    else:
        lines = explain(profile, settings.preset_filled, settings.model_dump(mode="json"))
        rows = [[f"`{x.path}`", _value(x.preset), _value(x.effective),
                 "preset" if x.source == "preset" else
                 ("configuration, weaker than the preset" if x.weaker else "configuration")]
                for x in lines]
        head += [f"The **{profile.upper()}** preset is selected (`governance.profile: {profile}`). It "
                 "sets defaults; where the configuration sets a value itself, that value is in "
                 "force. A preset is not compliance by itself: contracts with providers, the legal "
                 "basis, notices and processes are outside Corral (docs/compliance.md).",
                 "", markdown_table(["Setting", "Preset", "In force", "Set by"], rows)]
    if deadline is not None:
        head += ["", f"Erasure requests are completed within **{deadline} days** of receipt."]
    return "\n".join(head)
