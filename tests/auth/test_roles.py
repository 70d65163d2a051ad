"""Roles: the permission table, and every admin endpoint answering by it (issue 13, item 5).

The matrix test sends each role's key to endpoints of every kind and checks the status: a
role reaches what its permissions name and gets a 403 that names the permission elsewhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.auth.roles import (
    GRANTS,
    PERMISSIONS,
    ROLES,
    allows,
    permissions_of,
    roles_granting,
    roles_table_markdown,
)
from tests.conftest import RunningServer

API = Path(__file__).resolve().parents[2] / "corral" / "api"


def test_every_permission_an_endpoint_asks_for_exists() -> None:
    """A typo in `authenticate(request, "...")` would deny everyone; find every literal."""
    asked: set[str] = set()
    for path in API.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            named = getattr(node, "func", None)
            if (isinstance(node, ast.Call) and getattr(named, "id", None) in ("authenticate", "verify_key")
                    and len(node.args) >= 2 and isinstance(node.args[-1], ast.Constant)
                    and isinstance(node.args[-1].value, str)):
                asked.add(node.args[-1].value)
    assert asked, "no authenticate(...) calls found: the scan is broken"
    assert asked <= set(PERMISSIONS), asked - set(PERMISSIONS)
    assert {"keys.manage", "audit.read", "erasure.run", "records.read", "inference"} <= asked


def test_the_auditor_only_reads_and_admin_never_infers() -> None:
    assert all(p.endswith(".read") for p in GRANTS["auditor"])
    assert "inference" not in GRANTS["admin"]
    assert permissions_of(["admin", "inference"]) == frozenset(PERMISSIONS)
    assert permissions_of(["no-such-role"]) == frozenset()
    assert roles_granting("audit.read") == ["admin", "auditor"]
    with pytest.raises(KeyError):
        allows(["admin"], "audit.raed")


def test_the_docs_table_lists_every_permission_and_role() -> None:
    table = roles_table_markdown()
    assert all(f"`{p}`" in table for p in PERMISSIONS) and all(r in table for r in ROLES)
    assert roles_table_markdown() in (API.parents[1] / "docs" / "roles.md").read_text(), \
        "docs/roles.md is out of date: paste roles_table_markdown() into it"


def _key(server: RunningServer, roles: list[str]) -> str:
    r = httpx.post(server.url + "/admin/keys", json={"name": "-".join(roles), "roles": roles},
                   headers={"authorization": f"Bearer {server.admin_key}"}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["roles"] == sorted(roles)
    return str(r.json()["key"])


@pytest.fixture
def keys(fake_server: RunningServer) -> Iterator[dict[str, str]]:
    yield {role: _key(fake_server, [role]) for role in sorted(ROLES)}


# (method, path, body, permission): one endpoint of each kind.
ENDPOINTS = [
    ("GET", "/admin/keys", None, "keys.manage"),
    ("GET", "/admin/audit", None, "audit.read"),
    ("GET", "/admin/requests", None, "records.read"),
    ("GET", "/admin/dashboard/summary", None, "records.read"),
    ("GET", "/admin/policy-events", None, "policy.read"),
    ("GET", "/admin/golden", None, "golden.manage"),
    ("POST", "/admin/erasure", {"request": "req_nothing"}, "erasure.run"),
    ("GET", "/v1/models", None, "inference"),
]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_reaches_exactly_what_it_grants(fake_server: RunningServer, keys: dict[str, str],
                                                  role: str) -> None:
    for method, path, body, permission in ENDPOINTS:
        r = httpx.request(method, fake_server.url + path, json=body, timeout=10,
                          headers={"authorization": f"Bearer {keys[role]}"})
        if permission in GRANTS[role]:
            assert r.status_code in (200, 201), (role, path, r.text)
        else:
            assert r.status_code == 403, (role, path, r.text)
            error = r.json()["error"]
            assert error["type"] == "permission_error"
            assert f"lacks the '{permission}' permission" in error["message"]
            assert ", ".join(roles_granting(permission)) in error["message"]


def test_whoami_tells_a_key_its_roles(fake_server: RunningServer, keys: dict[str, str]) -> None:
    r = httpx.get(fake_server.url + "/admin/whoami", headers={"authorization": f"Bearer {keys['auditor']}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["roles"] == ["auditor"] and set(body["permissions"]) == GRANTS["auditor"]
    assert httpx.get(fake_server.url + "/admin/whoami").status_code == 401
    bad = httpx.get(fake_server.url + "/admin/whoami",
                    headers={"authorization": "Bearer sk-corral-" + "x" * 32})
    assert bad.status_code == 401


def test_unknown_roles_and_both_names_are_refused(fake_server: RunningServer) -> None:
    headers = {"authorization": f"Bearer {fake_server.admin_key}"}
    r = httpx.post(fake_server.url + "/admin/keys", json={"name": "x", "roles": ["root"]}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "roles"
    assert "unknown role(s) ['root']" in r.json()["error"]["message"]
    both = {"name": "x", "roles": ["admin"], "scopes": ["admin"]}
    r = httpx.post(fake_server.url + "/admin/keys", json=both, headers=headers)
    assert r.status_code == 400 and "not both" in r.json()["error"]["message"]
    r = httpx.post(fake_server.url + "/admin/keys", json={"name": "x", "roles": []}, headers=headers)
    assert r.status_code == 400 and "at least one role" in r.json()["error"]["message"]


def test_an_auditor_cannot_mint_itself_an_admin_key(fake_server: RunningServer, keys: dict[str, str]) -> None:
    r = httpx.post(fake_server.url + "/admin/keys", json={"name": "escalate", "roles": ["admin"]},
                   headers={"authorization": f"Bearer {keys['auditor']}"})
    assert r.status_code == 403
