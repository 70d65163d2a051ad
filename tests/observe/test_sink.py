"""RecordSink: batching, never blocking, spooling through outages, replay without duplicates."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from corral.observe.sink import RecordSink
from corral.store.db import Database
from tests.observe.test_sink_support import FlakyDB, count_rows, make_record, wait_for

FAST = {"flush_interval_s": 0.02, "retry_initial_s": 0.02, "retry_max_s": 0.05}


async def test_batches_are_written_with_one_insert_each(migrated_db: Database, tmp_path: Path) -> None:
    flaky = FlakyDB(migrated_db)
    sink = RecordSink(flaky, tmp_path / "spool", batch_size=100, flush_interval_s=5)  # type: ignore[arg-type]
    for i in range(250):
        assert sink.submit(make_record(i))
    sink.start()
    await wait_for(lambda: sink.counters["written"] == 250, 2)  # full batches: no waiting for the interval
    await sink.aclose()
    stats = sink.stats()
    assert (stats["queued"], stats["written"], stats["batches"], stats["dropped"]) == (250, 250, 3, 0)
    assert flaky.transactions == 3
    assert await count_rows(migrated_db) == (250, 250)


async def test_submit_never_waits_on_a_slow_database(migrated_db: Database, tmp_path: Path) -> None:
    slow = FlakyDB(migrated_db, delay_s=0.3)
    sink = RecordSink(slow, tmp_path / "spool", batch_size=50, flush_interval_s=0.01)  # type: ignore[arg-type]
    sink.start()
    records = [make_record(i) for i in range(2000)]
    worst = 0.0
    for i, record in enumerate(records):
        t0 = time.perf_counter()
        assert sink.submit(record)
        worst = max(worst, time.perf_counter() - t0)
        if i % 100 == 0:  # let the writer run: it must not hold the loop either
            t1 = time.perf_counter()
            await asyncio.sleep(0)
            worst = max(worst, (time.perf_counter() - t1) / 10)
    assert worst < 0.01, worst
    assert sink.stats()["pending"] > 0  # the database is still busy with the first batches
    await sink.aclose(timeout_s=0.2)  # gives up waiting: the rest goes to the spool
    stats = sink.stats()
    assert stats["written"] + stats["spooled"] >= 2000 and stats["dropped"] == 0


async def test_outage_spools_then_replays_without_duplicates(migrated_db: Database, tmp_path: Path) -> None:
    flaky = FlakyDB(migrated_db, down=True)
    spool = tmp_path / "spool"
    sink = RecordSink(flaky, spool, batch_size=100, **FAST)  # type: ignore[arg-type]
    sink.start()
    for i in range(300):
        sink.submit(make_record(i))
    await wait_for(lambda: sink.counters["spooled"] == 300)
    stats = sink.stats()
    assert stats["db_up"] == 0 and stats["spool_records"] == 300 and stats["spool_bytes"] > 0
    assert stats["flush_lag_s"] > 0
    assert list(spool.glob("*.jsonl")) and await count_rows(migrated_db) == (0, 0)
    for i in range(300, 350):  # traffic during the outage joins the spool behind the older records
        sink.submit(make_record(i))
    await wait_for(lambda: sink.counters["spooled"] == 350)
    # a batch whose write committed although the client saw an error: replay must skip it
    direct = RecordSink(migrated_db, tmp_path / "other")
    for i in range(0, 350, 7):
        direct.submit(make_record(i))
    await direct.aclose()
    flaky.down = False
    assert await sink.flush(5)
    # The spool is replayed segment by segment on the worker's ticks, after the queue: on a
    # loaded machine flush() can return between two segments (CI saw 300 of 350 replayed).
    await wait_for(lambda: sink.counters["replayed"] == 350, timeout_s=15)
    stats = sink.stats()
    assert (stats["replayed"], stats["spool_records"], stats["dropped"], stats["db_up"]) == (350, 0, 0, 1)
    assert await count_rows(migrated_db) == (350, 350)
    assert not list(spool.glob("*.jsonl"))
    # oldest first: request ids were stored in submission order (those inserted directly aside)
    rows = await migrated_db.fetch_all("SELECT request_id FROM requests ORDER BY id")
    replayed = [r["request_id"] for r in rows if int(r["request_id"][4:]) % 7]
    assert replayed == sorted(replayed)
    await sink.aclose()


async def test_queue_full_drops_are_counted(migrated_db: Database, tmp_path: Path) -> None:
    sink = RecordSink(migrated_db, tmp_path / "spool", max_queue=10)
    results = [sink.submit(make_record(i)) for i in range(15)]
    assert results == [True] * 10 + [False] * 5
    assert sink.stats()["dropped_queue_full"] == 5 and sink.stats()["dropped"] == 5
    await sink.aclose()  # never started: aclose still drains
    assert await count_rows(migrated_db) == (10, 10)
    assert not sink.submit(make_record(99)) and sink.stats()["dropped_closed"] == 1


async def test_aclose_drains_the_queue(migrated_db: Database, tmp_path: Path) -> None:
    sink = RecordSink(migrated_db, tmp_path / "spool", flush_interval_s=60)
    sink.start()
    for i in range(50):
        sink.submit(make_record(i))
    await sink.aclose()
    assert await count_rows(migrated_db) == (50, 50)
    assert sink.stats()["pending"] == 0


async def test_records_spooled_at_shutdown_are_replayed_by_the_next_start(
    migrated_db: Database, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    first = RecordSink(FlakyDB(migrated_db, down=True), spool, **FAST)  # type: ignore[arg-type]
    first.start()
    for i in range(40):
        first.submit(make_record(i))
    await first.aclose()
    assert first.stats()["spooled"] == 40 and first.stats()["dropped"] == 0
    second = RecordSink(migrated_db, spool, **FAST)
    second.start()
    await wait_for(lambda: second.counters["replayed"] == 40)
    await second.aclose()
    assert await count_rows(migrated_db) == (40, 40)
    assert not list(spool.glob("*.jsonl")) and not list(spool.glob(".lock-*"))


async def test_crashed_process_spool_is_adopted_but_a_live_one_is_not(
    migrated_db: Database, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    live = RecordSink(FlakyDB(migrated_db, down=True), spool, **FAST)  # type: ignore[arg-type]
    live.start()
    for i in range(20):
        live.submit(make_record(i))
    await wait_for(lambda: live.counters["spooled"] == 20)
    other = RecordSink(migrated_db, spool, **FAST)
    other.start()
    await asyncio.sleep(0.1)
    assert other.stats()["spool_records"] == 0  # a live process's segments are left alone
    await other.aclose()
    assert live.spool._lock_fd is not None
    os.close(live.spool._lock_fd)  # the process "crashes": the OS drops its lock
    live.spool._lock_fd = None
    heir = RecordSink(migrated_db, spool, **FAST)
    heir.start()
    await wait_for(lambda: heir.counters["replayed"] == 20)
    await heir.aclose()
    assert await count_rows(migrated_db) == (20, 20)


async def test_unencodable_record_is_dropped_alone(migrated_db: Database, tmp_path: Path) -> None:
    sink = RecordSink(migrated_db, tmp_path / "spool", **FAST)
    sink.start()
    sink.submit(make_record(1, extras={"bad": "\ud800"}))  # a lone surrogate cannot be UTF-8
    sink.submit(make_record(2))
    await sink.aclose()
    assert sink.stats()["dropped_invalid"] == 1
    assert await count_rows(migrated_db) == (1, 1)


async def test_row_the_database_refuses_does_not_block_the_spool(
    migrated_db: Database, tmp_path: Path
) -> None:
    """PostgreSQL refuses an out-of-range integer; the batch is retried row by row."""
    sink = RecordSink(migrated_db, tmp_path / "spool", batch_size=10, **FAST)
    sink.start()
    sink.submit(make_record(1, input_tokens=2**40 if migrated_db.dialect == "postgresql" else 5))
    for i in range(2, 6):
        sink.submit(make_record(i))
    assert await sink.flush(5)
    await sink.aclose()
    expected = 4 if migrated_db.dialect == "postgresql" else 5
    assert await count_rows(migrated_db) == (expected, expected)
    assert sink.stats()["dropped_invalid"] == 5 - expected


async def test_spool_size_cap_drops_and_counts(migrated_db: Database, tmp_path: Path) -> None:
    sink = RecordSink(FlakyDB(migrated_db, down=True), tmp_path / "spool", batch_size=10,  # type: ignore[arg-type]
                      max_spool_bytes=20_000, **FAST)
    sink.start()
    for i in range(100):
        sink.submit(make_record(i))
    await wait_for(lambda: sink.counters["spooled"] + sink.counters["dropped_spool"] == 100)
    stats = sink.stats()
    assert 0 < stats["spooled"] < 100 and stats["dropped_spool"] == 100 - stats["spooled"]
    assert stats["spool_bytes"] <= 20_000
    await sink.aclose(timeout_s=1)


async def test_unusable_spool_dir_counts_drops(migrated_db: Database, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sink = RecordSink(FlakyDB(migrated_db, down=True), blocker / "spool", **FAST)  # type: ignore[arg-type]
    sink.start()
    for i in range(5):
        sink.submit(make_record(i))
    await wait_for(lambda: sink.counters["dropped_spool"] == 5)
    await sink.aclose(timeout_s=1)


async def test_sqlite_files_are_written_from_a_thread_of_their_own(
    migrated_db: Database, tmp_path: Path
) -> None:
    """One call per batch on a plain sqlite3 connection; PostgreSQL stays on the Database."""
    sink = RecordSink(migrated_db, tmp_path / "spool", **FAST)
    assert (sink._inserter._executor is not None) == (migrated_db.dialect == "sqlite")
    sink.start()
    for i in range(3):  # padded to a 4-row statement: the repeat is skipped as a conflict
        sink.submit(make_record(i))
    assert await sink.flush(5)
    await sink.aclose()
    assert await count_rows(migrated_db) == (3, 3)
    assert sink.stats()["batches"] == 1


async def test_records_within_the_flush_interval_share_one_insert(
    migrated_db: Database, tmp_path: Path
) -> None:
    flaky = FlakyDB(migrated_db)
    sink = RecordSink(flaky, tmp_path / "spool", batch_size=100, flush_interval_s=0.3)  # type: ignore[arg-type]
    sink.start()
    began = time.monotonic()
    for i in range(5):  # a trickle of traffic: one request every 20 ms
        sink.submit(make_record(i))
        await asyncio.sleep(0.02)
    assert sink.counters["written"] == 0  # still collecting
    await wait_for(lambda: sink.counters["written"] == 5, 2)
    assert flaky.transactions == 1 and time.monotonic() - began < 1  # written within the interval
    await sink.aclose()


async def test_close_that_gives_up_spools_the_batch_it_was_writing(
    migrated_db: Database, tmp_path: Path
) -> None:
    hung = FlakyDB(migrated_db, delay_s=30)
    spool = tmp_path / "spool"
    sink = RecordSink(hung, spool, batch_size=10, **FAST)  # type: ignore[arg-type]
    sink.start()
    for i in range(25):
        sink.submit(make_record(i))
    await wait_for(lambda: len(sink._items) == 15, 2)  # the writer took the first batch
    await sink.aclose(timeout_s=0.1)  # the first batch is stuck inside its insert
    stats = sink.stats()
    assert (stats["spooled"], stats["dropped"], stats["pending"]) == (25, 0, 0)
    assert not sink.submit(make_record(99)) and sink.stats()["dropped_closed"] == 1
    heir = RecordSink(migrated_db, spool, **FAST)
    heir.start()
    assert await heir.flush(5)
    await heir.aclose()
    assert await count_rows(migrated_db) == (25, 25)
