"""GET /admin/dashboard/batches: every team's batches with progress, errors and cost, on a
real gateway over SQLite and PostgreSQL (the cost comes from the records' extras JSON,
read differently by each backend)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.batches.gateway import batch_gateway, batch_records, chat_line, run_batch
from tests.conftest import RunningServer
from tests.files.server import new_key

PATH = "/admin/dashboard/batches"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    tmp = tmp_path_factory.mktemp(f"batch-overview-{request.param}")
    with batch_gateway(request.param, tmp, ("echo", "fail-context")) as served:
        yield served


def _get(server: RunningServer, query: str = "", key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key or server.admin_key}"} if key != "" else {}
    return httpx.get(f"{server.url}{PATH}{query}", headers=headers, timeout=10)


def test_every_teams_batches_with_progress_errors_and_cost(served: tuple[RunningServer, str]) -> None:
    server, database_url = served
    lines = [chat_line("a"), chat_line("b"), chat_line("c"), chat_line("d", "fail-context")]
    ran = run_batch(server, server.app_key, lines)
    assert ran["status"] == "completed"
    other = new_key(server, "overview-other")
    refused = run_batch(server, other, [chat_line("x"), chat_line("y", "nope")])
    assert refused["status"] == "failed"
    records = batch_records(database_url, ran["id"], 4)
    assert len(records) == 4

    listed = _get(server)
    assert listed.status_code == 200
    by_id = {b["id"]: b for b in listed.json()["data"]}
    mine, theirs = by_id[ran["id"]], by_id[refused["id"]]
    assert mine["status"] == "completed" and mine["endpoint"] == "/v1/chat/completions"
    assert mine["progress"] == {"total": 4, "completed": 3, "failed": 1, "cancelled": 0, "pending": 0}
    assert mine["finished_at"] >= mine["created_at"] and mine["output_file_id"] and mine["error_file_id"]
    cost = mine["cost"]
    assert cost["requests"] == 4 and cost["errors"] == 1
    assert cost["cost_usd"] == pytest.approx(sum(r["cost_usd"] or 0 for r in records), abs=1e-8)
    assert cost["cost_usd"] > 0 and cost["input_tokens"] == sum(r["input_tokens"] for r in records)
    assert theirs["team"] == "overview-other" and theirs["status"] == "failed"
    assert theirs["validation_error_count"] == 1 and theirs["validation_errors"][0]["line"] == 2
    assert theirs["cost"] is None, "nothing ran, nothing recorded"

    only_theirs = _get(server, "?team=overview-other").json()["data"]
    assert [b["id"] for b in only_theirs] == [refused["id"]]
    completed = _get(server, "?status=completed&limit=500").json()["data"]
    assert ran["id"] in {b["id"] for b in completed} and refused["id"] not in {b["id"] for b in completed}
    assert len(_get(server, "?limit=1").json()["data"]) == 1


def test_needs_an_admin_key(served: tuple[RunningServer, str]) -> None:
    server = served[0]
    assert _get(server, key="").status_code == 401
    assert _get(server, key=server.app_key).status_code == 403
    assert _get(server, "?limit=0").status_code == 400
    assert _get(server, "?team=%00").status_code == 400
