"""No response takes its host from the request (issue 8, item 15).

Starlette's redirect_slashes answered ``GET /admin/keys/`` with a redirect to an absolute
URL built from the Host header: ``Host: evil.example`` sent clients to evil.example.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from tests.conftest import fake_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(fake_settings(tmp_path), warmup=False), follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("path", ["/admin/keys/", "/admin/policy-events/", "/healthz/", "/dashboard/"])
def test_trailing_slash_is_not_redirected_to_the_host_header(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"host": "evil.example"})
    assert "location" not in r.headers
    assert "evil.example" not in r.text
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["type"] == "not_found_error"
    assert path.rstrip("/") in error["message"]  # names the path that exists


def test_missing_slash_is_named_too(client: TestClient) -> None:
    """The other direction Starlette redirected: a route that ends with '/' hit without it."""
    r = client.post("/admin/keys/abc/", headers={"host": "evil.example"})
    assert "location" not in r.headers and r.status_code == 404


def test_unknown_paths_keep_the_plain_404(client: TestClient) -> None:
    r = client.get("/nothing/here/", headers={"host": "evil.example"})
    assert r.status_code == 404 and "location" not in r.headers
    assert "No route for GET /nothing/here/" in r.json()["error"]["message"]


def test_exact_paths_still_work(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
