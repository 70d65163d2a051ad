"""Bad input and exhausted limits on the vector-store API: each gets a clear 4xx or a failed
file with a clear `last_error`, and nothing already stored is lost."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import update

from corral.store import Database
from corral.store.schema import utcnow, vector_stores
from corral.store.testing import run_sync
from tests.conftest import RunningServer
from tests.files.server import new_key
from tests.knowledge.stores.server import client, ingest_idle, kb_server, wait_files

GATE, HOLD = threading.Event(), threading.Event()
LIMITS = {"max_stores_per_team": 3, "max_files_per_store": 4, "max_file_bytes": 4000,
          "max_chunks_per_store": 6}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with kb_server("sqlite", tmp_path_factory.mktemp("kb-inputs"), gates={"slow": GATE, "hold": HOLD},
                   knowledge=LIMITS) as running:
        yield running
        GATE.set()
        HOLD.set()


@pytest.fixture(scope="module")
def store_id(server: RunningServer) -> str:
    """One store of the default team for the requests that are refused anyway."""
    return client(server).vector_stores.create(name="inputs").id


def _upload(oa: openai.OpenAI, name: str, data: bytes, purpose: str = "assistants") -> str:
    return oa.files.create(file=(name, io.BytesIO(data)), purpose=purpose).id  # type: ignore[arg-type]


def _team(server: RunningServer, team: str) -> openai.OpenAI:
    return client(server, new_key(server, team))


def _post(server: RunningServer, path: str, body: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=10,
                      headers={"authorization": f"Bearer {server.app_key}"})


def test_unreadable_files_fail_alone_with_a_clear_error(server: RunningServer) -> None:
    oa = _team(server, "bad-files")
    store = oa.vector_stores.create(name="mixed")
    good = _upload(oa, "good.txt", b"Otters hold hands while they sleep.")
    files = {"scan.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "unsupported_file"),
             "broken.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "invalid_file"),
             "empty.txt": (b"", "invalid_file")}
    ids = {name: _upload(oa, name, data) for name, (data, _) in files.items()}
    batch = oa.vector_stores.file_batches.create_and_poll(vector_store_id=store.id,
                                                          file_ids=[good, *ids.values()])
    assert batch.status == "completed"
    assert (batch.file_counts.completed, batch.file_counts.failed) == (1, 3)
    for name, (_, code) in files.items():
        failed = oa.vector_stores.files.retrieve(ids[name], vector_store_id=store.id)
        assert failed.status == "failed" and failed.last_error is not None
        assert failed.last_error.code == code and name in failed.last_error.message
    hits = oa.vector_stores.search(store.id, query="otters sleep")
    assert [h.file_id for h in hits.data] == [good]
    failed_only = list(oa.vector_stores.files.list(vector_store_id=store.id, filter="failed"))
    assert {f.id for f in failed_only} == set(ids.values())
    # a cursor that is no longer in the filtered list (its file changed status) still pages
    # (one batch attaches its files at one instant: they are ordered by id)
    after = oa.vector_stores.files.list(vector_store_id=store.id, filter="failed", order="asc", after=good)
    assert [f.id for f in after.data] == sorted(i for i in ids.values() if i > good)


@pytest.mark.parametrize(("body", "param"), [
    ({"query": "x", "max_num_results": 0}, "max_num_results"),
    ({"query": "x", "max_num_results": 51}, "max_num_results"),
    ({"query": "x", "max_num_results": True}, "max_num_results"),
    ({"query": ""}, "query"),
    ({"query": ["a", 3]}, "query"),
    ({"query": "x\u0000"}, "query"),
    ({}, "query"),
    ({"query": "x", "rewrite_query": True}, "rewrite_query"),
    ({"query": "x", "ranking_options": {"score_threshold": 1.5}}, "ranking_options.score_threshold"),
    ({"query": "x", "ranking_options": {"ranker": "magic"}}, "ranking_options.ranker"),
    ({"query": "x", "filters": {"type": "eq", "key": "a"}}, "filters.value"),
    ({"query": "x", "filters": {"type": "like", "key": "a", "value": "b"}}, "filters.type"),
    ({"query": "x", "filters": {"type": "in", "key": "year", "value": "2020"}}, "filters.value"),
    ({"query": "x", "filters": {"type": "eq", "key": "a", "value": "\u0000"}}, "filters"),
    ({"query": "x", "filters": {"type": "and", "filters": []}}, "filters.filters"),
    ({"query": "x", "filters": {"type": "or", "filters": [{"type": "in", "key": "a", "value": []}]}},
     "filters.filters[0].value"),
    ({"query": "x", "filters": "topic = a"}, "filters"),
    ({"query": "x", "top_k": 3}, "top_k"),
])
def test_bad_search_requests_are_400s_that_name_the_field(server: RunningServer, store_id: str,
                                                         body: dict[str, Any], param: str) -> None:
    answer = _post(server, f"/v1/vector_stores/{store_id}/search", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


@pytest.mark.parametrize(("path", "body", "param"), [
    ("", {"name": 5}, "name"),
    ("", {"metadata": {"k": 1}}, "metadata.k"),
    ("", {"expires_after": {"anchor": "created_at", "days": 3}}, "expires_after"),
    ("", {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 50,
                                                              "chunk_overlap_tokens": 0}}},
     "chunking_strategy.static.max_chunk_size_tokens"),
    ("", {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 400,
                                                              "chunk_overlap_tokens": 300}}},
     "chunking_strategy.static.chunk_overlap_tokens"),
    ("/files", {}, "file_id"),
    ("/files", {"file_id": "file-x", "attributes": {"k": [1]}}, "attributes.k"),
    ("/file_batches", {"file_ids": []}, "file_ids"),
    ("/file_batches", {"file_ids": ["a"], "files": [{"file_id": "a"}]}, "file_ids"),
    ("/file_batches", {"files": [{"file_id": "a", "attributes": {"x" * 65: 1}}]}, "files[0].attributes.x"),
])
def test_bad_store_and_file_requests_are_400s(server: RunningServer, store_id: str, path: str,
                                              body: dict[str, Any], param: str) -> None:
    answer = _post(server, f"/v1/vector_stores/{store_id}{path}" if path else "/v1/vector_stores", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"].startswith(param)


def test_a_batch_file_or_a_missing_one_cannot_be_attached(server: RunningServer) -> None:
    oa = _team(server, "purposes")
    store = oa.vector_stores.create(name="purposes")
    batch_file = _upload(oa, "lines.jsonl", b'{"custom_id": "1", "method": "POST", "url": "/v1/embeddings", '
                                            b'"body": {"model": "m", "input": "x"}}\n', purpose="batch")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        oa.vector_stores.files.create(vector_store_id=store.id, file_id=batch_file)
    with pytest.raises(openai.NotFoundError, match="No such File object"):
        oa.vector_stores.files.create(vector_store_id=store.id, file_id="file-000000000000000000000000")
    assert oa.vector_stores.retrieve(store.id).file_counts.total == 0


def test_a_store_still_ingesting_answers_with_what_it_has(server: RunningServer) -> None:
    oa = _team(server, "ingesting")
    store = oa.vector_stores.create(name="half")
    ready = oa.vector_stores.files.create_and_poll(
        vector_store_id=store.id, file_id=_upload(oa, "ready.txt", b"Penguins mate for life."))
    pending = oa.vector_stores.files.create(vector_store_id=store.id,
                                            file_id=_upload(oa, "slow.txt", b"Penguins cannot fly."))
    assert pending.status == "in_progress"
    assert oa.vector_stores.retrieve(store.id).status == "in_progress"
    hits = oa.vector_stores.search(store.id, query="penguins")
    assert [h.file_id for h in hits.data] == [ready.id]
    GATE.set()
    assert wait_files(oa, store.id).file_counts.completed == 2
    found = oa.vector_stores.search(store.id, query="penguins")
    assert {h.file_id for h in found.data} == {ready.id, pending.id}


def test_limits_refuse_or_fail_without_losing_what_is_stored(server: RunningServer) -> None:
    oa = _team(server, "limits")
    first, second = oa.vector_stores.create(name="one"), oa.vector_stores.create(name="two")
    oa.vector_stores.create(name="three")
    with pytest.raises(openai.PermissionDeniedError, match="max_stores_per_team"):
        oa.vector_stores.create(name="four")
    ids = [_upload(oa, f"n{i}.txt", f"Note {i} about owls.".encode()) for i in range(5)]
    oa.vector_stores.file_batches.create_and_poll(vector_store_id=first.id, file_ids=ids[:4])
    with pytest.raises(openai.PermissionDeniedError, match="max_files_per_store"):
        oa.vector_stores.files.create(vector_store_id=first.id, file_id=ids[4])
    big = oa.vector_stores.files.create_and_poll(vector_store_id=second.id,
                                                 file_id=_upload(oa, "big.txt", b"word " * 1000))
    assert big.status == "failed" and big.last_error is not None
    assert "max_file_bytes" in big.last_error.message
    many = "\n\n".join(f"Paragraph {i}: hedgehogs roll into a ball of spines when a fox comes near, "
                       "and stay so until the danger passes." * 2 for i in range(12)).encode()
    small = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    over = oa.vector_stores.files.create_and_poll(vector_store_id=second.id, chunking_strategy=small,
                                                  file_id=_upload(oa, "many.txt", many))
    assert over.status == "failed" and over.last_error is not None
    assert "max_chunks_per_store" in over.last_error.message
    kept = oa.vector_stores.retrieve(first.id)
    assert kept.file_counts.completed == 4 and oa.vector_stores.search(first.id, query="owls").data


def test_an_expired_store_says_so_and_takes_no_more(server: RunningServer) -> None:
    oa = _team(server, "expiring")
    store = oa.vector_stores.create(name="brief", expires_after={"anchor": "last_active_at", "days": 1})
    assert store.expires_after is not None and store.expires_after.days == 1
    assert store.expires_at is not None and store.expires_at - store.created_at == 86_400

    async def expire() -> None:
        db = await Database.connect(server.gateway.db.url)
        try:
            await db.execute(update(vector_stores).where(vector_stores.c.id == store.id).values(
                expires_at=utcnow() - timedelta(seconds=1)))
        finally:
            await db.close()

    run_sync(expire())
    assert oa.vector_stores.retrieve(store.id).status == "expired"
    with pytest.raises(openai.BadRequestError, match="expired"):
        oa.vector_stores.search(store.id, query="anything")
    with pytest.raises(openai.BadRequestError, match="expired"):
        oa.vector_stores.files.create(vector_store_id=store.id, file_id=_upload(oa, "late.txt", b"Too late."))
    kept = oa.vector_stores.update(store.id, expires_after=None)  # lifting the expiry revives it
    assert kept.status == "completed" and kept.expires_at is None


def test_a_cancelled_batch_keeps_nothing_of_its_unfinished_files(server: RunningServer) -> None:
    oa = _team(server, "cancelling")
    store = oa.vector_stores.create(name="stopped")
    done = oa.vector_stores.files.create_and_poll(
        vector_store_id=store.id, file_id=_upload(oa, "kept.txt", b"Beavers build dams of branches."))
    held = [_upload(oa, f"hold{i}.txt", f"Beavers {i} build lodges.".encode()) for i in range(2)]
    batch = oa.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=held)
    cancelled = oa.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled" and cancelled.file_counts.cancelled == 2
    assert cancelled.file_counts.in_progress == 0
    HOLD.set()  # the ingests that were parsing finish now, and must write nothing
    ingest_idle(server)
    files = {f.id: f.status for f in oa.vector_stores.files.list(vector_store_id=store.id)}
    assert files == {done.id: "completed", held[0]: "cancelled", held[1]: "cancelled"}
    found = oa.vector_stores.search(store.id, query="beavers lodges", max_num_results=10)
    assert [r.file_id for r in found.data] == [done.id]
    with pytest.raises(openai.BadRequestError, match="only a batch in progress"):
        oa.vector_stores.file_batches.cancel(
            oa.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=[done.id]).id,
            vector_store_id=store.id)
