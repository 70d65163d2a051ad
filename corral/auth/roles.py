"""Roles and the permissions each grants: who may do what on the admin plane.

A key holds one or more roles (stored in ``api_keys.scopes``, the name it had when there
were two). Every endpoint asks for a *permission*, never a role, so the table below is
the one place that says which role may read records, move a prompt label or change an
incident; docs/roles.md is generated from it.

``admin`` does not imply ``inference``: a key that runs the gateway does not also spend
money on models unless it is given both. ``auditor`` reads and never changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLE_ADMIN = "admin"
ROLE_AUDITOR = "auditor"
ROLE_PROMPT_OWNER = "prompt-owner"
ROLE_REVIEWER = "reviewer"
ROLE_INFERENCE = "inference"

#: Every permission an endpoint can ask for, with what it lets a caller do.
PERMISSIONS: dict[str, str] = {
    "inference": "call models and use files, batches, responses, vector stores and feedback",
    "keys.manage": "create, list and revoke API keys",
    "erasure.run": "erase a user's, key's or request's data",
    "config.read": "read the running configuration and try the PII detector on text",
    "golden.manage": "add, list and remove golden (known-good) examples",
    "records.read": "read request records, metrics, costs and the dashboard's figures",
    "audit.read": "read and export the audit log",
    "policy.read": "read content-policy events",
    "incidents.read": "read incidents and their attached (redacted) requests",
    "incidents.manage": "triage, assign, annotate, resolve or dismiss incidents",
    "input_rules.manage": "create and retire input rules that flag or block prompts",
    "prompts.read": "read system prompts, their versions, labels and pending changes",
    "prompts.write": "create prompt versions and propose label moves",
    "prompts.approve": "approve or reject another owner's pending label move",
}

_ADMIN_PLANE = frozenset(PERMISSIONS) - {"inference"}

#: What each role grants. Read-only roles grant only ``*.read`` permissions.
GRANTS: dict[str, frozenset[str]] = {
    ROLE_ADMIN: _ADMIN_PLANE,
    ROLE_AUDITOR: frozenset({"records.read", "audit.read", "policy.read", "incidents.read",
                             "prompts.read", "config.read"}),
    ROLE_REVIEWER: frozenset({"policy.read", "incidents.read", "incidents.manage",
                              "input_rules.manage", "prompts.read"}),
    ROLE_PROMPT_OWNER: frozenset({"prompts.read", "prompts.write", "prompts.approve"}),
    ROLE_INFERENCE: frozenset({"inference"}),
}

ROLES = frozenset(GRANTS)


def permissions_of(roles: Iterable[str]) -> frozenset[str]:
    """Everything a key with these roles may do (unknown role names grant nothing)."""
    granted: set[str] = set()
    for role in roles:
        granted |= GRANTS.get(role, frozenset())
    return frozenset(granted)


def roles_granting(permission: str) -> list[str]:
    """The roles that grant ``permission``, for error messages and docs."""
    return sorted(role for role, grants in GRANTS.items() if permission in grants)


def allows(roles: Iterable[str], permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")  # a typo in an endpoint, caught by tests
    return any(permission in GRANTS.get(role, ()) for role in roles)


def roles_table_markdown() -> str:
    """The role-permission matrix as a Markdown table (docs/roles.md)."""
    roles = [ROLE_ADMIN, ROLE_AUDITOR, ROLE_REVIEWER, ROLE_PROMPT_OWNER, ROLE_INFERENCE]
    lines = ["| permission | what it allows | " + " | ".join(roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for name, meaning in PERMISSIONS.items():
        marks = " | ".join("yes" if name in GRANTS[r] else "" for r in roles)
        lines.append(f"| `{name}` | {meaning} | {marks} |")
    return "\n".join(lines) + "\n"
