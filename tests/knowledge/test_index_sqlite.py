"""The embedded index alone: its vector graphs' side files (index_vectors: saved
crash-safely, loaded at start, caught up from kb_chunks whatever a crash or another process
left behind) and its lexical posting budget."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from corral.knowledge import index_vectors
from corral.knowledge.index_sqlite import SqliteIndex
from corral.knowledge.index_terms import TermCounts, within_budget
from corral.store import Database, migrate
from tests.knowledge.index_fixtures import chunk, ids, vectors

STORE = "vs_a"


@pytest_asyncio.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.connect(f"sqlite:///{tmp_path / 'corral.db'}")
    await migrate(db)
    try:
        yield db
    finally:
        await db.close()


def side_files(home: Path) -> list[str]:
    folder = home / "knowledge"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def add_file(index: SqliteIndex, file: str, n: int, seed: int) -> np.ndarray:
    vecs = vectors(n, seed=seed)
    await index.add([chunk(STORE, file, i, f"{file} passage {i}") for i in range(n)], vecs)
    return vecs


async def graph_keys(index: SqliteIndex) -> set[int]:
    async with index.db.transaction(readonly=True) as tx:
        graph = await index.graphs.current(STORE, tx)
    assert graph is not None
    return {int(k) for k in np.asarray(graph.index.keys)}


async def table_seqs(db: Database) -> set[int]:
    return {r["seq"] for r in await db.fetch_all("SELECT seq FROM kb_chunks WHERE store_id = 'vs_a'")}


async def test_saved_at_close_and_loaded_without_rebuilding(sqlite_db: Database, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    first = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    vecs = await add_file(first, "fa", 50, seed=1)
    await first.aclose()
    (name,) = side_files(tmp_path)
    assert name.endswith(".usearch")
    assert (tmp_path / "knowledge" / name).stat().st_mode & 0o777 == 0o600

    caplog.set_level(logging.INFO, logger="corral.knowledge.index_vectors")
    second = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    assert ids(await second.dense(STORE, vecs[7], 1)) == [f"{STORE}/fa/7"]
    assert "added" not in caplog.text  # the file held all 50: nothing read back from the table
    await second.aclose()


async def test_changes_a_crash_kept_from_the_file_are_caught_up(sqlite_db: Database, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    first = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    old = await add_file(first, "fa", 40, seed=1)
    await first.aclose()  # the file now holds fa

    crashed = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    new = await add_file(crashed, "fb", 30, seed=2)
    await crashed.delete_file(STORE, "fa")
    # killed here: never closed, and 70 changes are under SAVE_EVERY, so the file still holds fa

    caplog.set_level(logging.INFO, logger="corral.knowledge.index_vectors")
    restarted = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    assert ids(await restarted.dense(STORE, new[3], 1)) == [f"{STORE}/fb/3"]
    assert all(h.chunk.file_id == "fb" for h in await restarted.dense(STORE, old[5], 50))
    assert "30 added, 40 removed" in caplog.text
    assert await graph_keys(restarted) == await table_seqs(sqlite_db)
    await restarted.aclose()


async def test_a_file_that_does_not_load_is_rebuilt(sqlite_db: Database, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    first = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    vecs = await add_file(first, "fa", 20, seed=1)
    await first.aclose()
    (name,) = side_files(tmp_path)
    (tmp_path / "knowledge" / name).write_bytes(b"not a usearch file" * 100)

    second = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    assert ids(await second.dense(STORE, vecs[2], 1)) == [f"{STORE}/fa/2"]
    assert "does not load" in caplog.text
    await second.aclose()
    third = SqliteIndex(sqlite_db, tmp_path / "knowledge")  # the rewritten file loads
    assert ids(await third.dense(STORE, vecs[4], 1)) == [f"{STORE}/fa/4"]
    await third.aclose()


async def test_a_save_cut_short_leaves_the_old_file(sqlite_db: Database, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    await add_file(first, "fa", 10, seed=1)
    await first.aclose()
    (name,) = side_files(tmp_path)
    before = (tmp_path / "knowledge" / name).read_bytes()

    second = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    new = await add_file(second, "fb", 10, seed=2)

    def killed(*_: object) -> None:
        raise KeyboardInterrupt  # the process dies between writing the new file and the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        await second.aclose()
    monkeypatch.undo()
    assert (tmp_path / "knowledge" / name).read_bytes() == before
    assert len(side_files(tmp_path)) == 2  # the old file and the unfinished one

    third = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    assert ids(await third.dense(STORE, new[1], 1)) == [f"{STORE}/fb/1"]
    assert side_files(tmp_path) == [name]  # the unfinished one is cleared away
    await third.aclose()


async def test_another_process_changes_are_seen(sqlite_db: Database, tmp_path: Path) -> None:
    other_db = await Database.connect(sqlite_db.url)
    try:
        server = SqliteIndex(sqlite_db, tmp_path / "knowledge")
        worker = SqliteIndex(other_db, tmp_path / "knowledge")
        old = await add_file(worker, "fa", 5, seed=1)
        assert ids(await server.dense(STORE, old[0], 1)) == [f"{STORE}/fa/0"]  # the server's graph is loaded
        new = await add_file(worker, "fb", 5, seed=2)
        await worker.delete_file(STORE, "fa")
        assert ids(await server.dense(STORE, new[2], 1)) == [f"{STORE}/fb/2"]
        assert {h.chunk.file_id for h in await server.dense(STORE, old[0], 10)} == {"fb"}
        assert await graph_keys(server) == await table_seqs(sqlite_db)
        await worker.delete_store(STORE)
        assert await server.dense(STORE, old[0], 10) == []
        await server.aclose()
        await worker.aclose()
    finally:
        await other_db.close()


async def test_seqs_are_never_reused(sqlite_db: Database, tmp_path: Path) -> None:
    """A graph keyed on a reused seq would keep the deleted text's vector under it."""
    index = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    await add_file(index, "fa", 3, seed=1)
    before = await table_seqs(sqlite_db)
    await index.delete_file(STORE, "fa")
    await add_file(index, "fb", 3, seed=2)
    assert not before & await table_seqs(sqlite_db)
    await index.aclose()


async def test_saved_during_ingestion_and_a_deleted_store_takes_its_file(
        sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_vectors, "SAVE_EVERY", 25)
    index = SqliteIndex(sqlite_db, tmp_path / "knowledge")
    await add_file(index, "fa", 20, seed=1)
    assert side_files(tmp_path) == []
    await add_file(index, "fb", 20, seed=2)
    (name,) = side_files(tmp_path)  # 40 changes >= 25: saved without waiting for close
    await index.delete_store(STORE)
    assert side_files(tmp_path) == []
    await add_file(index, "fc", 3, seed=3)
    await index.aclose()
    (again,) = side_files(tmp_path)
    assert again != name  # a new store gets a new file name: the old file can never be taken for it


def test_the_posting_budget_keeps_the_rarest_terms() -> None:
    counts = {"1_rare": 3, "1_common": 90, "1_middle": 20, "1_absent": 0}
    assert within_budget(counts, 10_000) == ["1_rare", "1_middle", "1_common"]
    assert within_budget(counts, 30) == ["1_rare", "1_middle"]
    assert within_budget(counts, 1) == ["1_rare"]  # the rarest always
    assert within_budget({"1_absent": 0}, 10) == []


async def test_term_counts_are_asked_again_once_the_store_grew() -> None:
    asked: list[list[str]] = []

    async def count(terms: Sequence[str]) -> dict[str, int]:
        asked.append(list(terms))
        return {t: 7 for t in terms}

    counts = TermCounts()
    assert await counts.get(["1_a"], count, 100) == {"1_a": 7}
    await counts.get(["1_a"], count, 120)  # within a quarter: cached
    await counts.get(["1_a", "1_b"], count, 120)
    await counts.get(["1_a"], count, 200)  # the store doubled: the count is stale
    assert asked == [["1_a"], ["1_b"], ["1_a"]]
