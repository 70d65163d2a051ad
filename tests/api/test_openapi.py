"""``GET /openapi.json`` (issue 15, item 7): a valid OpenAPI 3.1 description whose operations are
exactly the app's routes, with the permission each one really asks for, and docs/api.md listing
every one of them, so neither the description nor the docs can drift from the code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.api.openapi_paths import ANY_KEY
from corral.auth.roles import GRANTS, PERMISSIONS
from tests.conftest import fake_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(fake_settings(tmp_path_factory.mktemp("openapi")), warmup=False)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")  # no key
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return dict(r.json())


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in spec["paths"].items()
            for method, op in item.items() if method in METHODS}


def _app_operations(client: TestClient) -> set[tuple[str, str]]:
    """(METHOD, path) for every route the app serves; ``{name:path}`` written ``{name}``, no HEAD."""
    pairs = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route), f"unexpected route type {type(route).__name__}: teach this test"
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        pairs |= {(method, path) for method in route.methods or () if method != "HEAD"}
    return pairs


def _resolves(spec: dict[str, Any], ref: str) -> bool:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_document_is_openapi_3_1(spec: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    assert spec["info"]["title"] == "Corral" and isinstance(spec["info"]["version"], str)
    assert isinstance(spec["paths"], dict) and spec["paths"]
    schemes = spec["components"]["securitySchemes"]
    operation_ids = []
    for (method, path), op in _operations(spec).items():
        where = f"{method} {path}"
        assert path.startswith("/") and op["summary"] and op["responses"], where
        operation_ids.append(op["operationId"])
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), where
        assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path"), where
        for requirement in op.get("security", spec["security"]):
            assert set(requirement) <= set(schemes), where
    assert len(operation_ids) == len(set(operation_ids)), "operationId must be unique"
    broken = [ref for ref in _refs(spec) if not _resolves(spec, ref)]
    assert not broken, f"unresolved $ref: {broken}"


def test_the_document_describes_exactly_the_routes_the_app_serves(client: TestClient,
                                                                   spec: dict[str, Any]) -> None:
    documented, served = set(_operations(spec)), _app_operations(client)
    missing = sorted(served - documented)
    stale = sorted(documented - served)
    assert not missing and not stale, (
        f"served but not in corral/api/openapi_paths.py: {missing}; "
        f"described but not served: {stale}")


def test_the_anthropic_messages_api_is_described(spec: dict[str, Any]) -> None:
    ops = _operations(spec)
    assert ops["POST", "/v1/messages"]["summary"] == "Anthropic Messages API: create a message"
    assert ops["POST", "/v1/messages/count_tokens"]["summary"] == "Anthropic Messages API: count tokens"
    assert {"xApiKey": []} in ops["POST", "/v1/messages"]["security"]
    assert {"bearer": []} in ops["POST", "/v1/messages"]["security"]


def _path(template: str) -> str:
    return re.sub(r"{\w+}", "x", template)


def _call(client: TestClient, method: str, path: str, key: str | None) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PATCH") else None
    return client.request(method, _path(path), headers=headers, json=body).status_code


def test_keyed_operations_refuse_no_key_and_public_ones_need_none(client: TestClient,
                                                                    spec: dict[str, Any]) -> None:
    wrong = []
    for (method, path), op in sorted(_operations(spec).items()):
        status = _call(client, method, path, None)
        public = op["x-corral-permission"] is None
        if (status == 401) == public:
            wrong.append(f"{method} {path}: {status} without a key, described as "
                         f"{'public' if public else op['x-corral-permission']}")
    assert not wrong, "\n".join(wrong)


def test_each_operation_asks_for_the_permission_it_is_described_with(client: TestClient,
                                                                      spec: dict[str, Any]) -> None:
    """Every role's key against every keyed operation: refused (403) exactly when the role lacks
    the described permission."""
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    keys = {role: portal.call(gateway.keys.create, f"openapi-{role}", "default", [role])[0]
            for role in GRANTS}
    wrong = []
    for (method, path), op in sorted(_operations(spec).items()):
        permission = op["x-corral-permission"]
        if permission is None:
            continue
        assert permission == ANY_KEY or permission in PERMISSIONS, f"{method} {path}: {permission!r}"
        for role, key in keys.items():
            allowed = permission == ANY_KEY or permission in GRANTS[role]
            status = _call(client, method, path, key)
            if (status == 403) == allowed:
                wrong.append(f"{method} {path} ({permission}) with the {role} key: {status}")
    assert not wrong, "\n".join(wrong)


def test_docs_api_md_lists_every_operation(spec: dict[str, Any]) -> None:
    text = re.sub(r"{[^}]*}", "{}", DOCS.read_text())
    missing = [f"{method} {path}" for method, path in sorted(_operations(spec))
               if f"`{method} {re.sub(r'{[^}]*}', '{}', path)}`" not in text]
    assert not missing, f"docs/api.md has no row for: {missing}"
    assert "/openapi.json" in text
