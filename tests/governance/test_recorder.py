"""PolicyEventRecorder: batches in the background, never blocks, counts what it drops."""

from __future__ import annotations

import asyncio
import time

from corral.governance.policy_events import PolicyEventRecorder, PolicyEventStore
from corral.store import Database
from tests.governance.util import MemoryStore, event


async def test_writes_in_batches_to_the_database(migrated_db: Database) -> None:
    recorder = PolicyEventRecorder(migrated_db, batch_size=50)
    for n in range(120):
        assert recorder.record(event(n))
    recorder.start()
    await recorder.flush()
    assert recorder.counters["written"] == 120
    assert recorder.counters["batches"] == 3  # 50 + 50 + 20
    assert recorder.pending == 0
    recorder.record(event(500))
    await recorder.aclose()  # flushes what is still queued
    assert recorder.counters["written"] == 121
    stored = await PolicyEventStore(migrated_db).list(limit=1000)
    assert len(stored) == 121 and stored[0].request_id == "req_500"


async def test_record_never_waits_on_a_stuck_database() -> None:
    gate = asyncio.Event()  # the "database" hangs until the gate opens
    store = MemoryStore(gate=gate)
    recorder = PolicyEventRecorder(store, max_queue=3, batch_size=10)
    recorder.start()
    recorder.record(event(0))
    await asyncio.sleep(0)  # the writer takes event 0 and blocks inside add_many
    began = time.perf_counter()
    accepted = [recorder.record(event(n)) for n in range(1, 6)]
    assert time.perf_counter() - began < 0.05
    assert accepted == [True, True, True, False, False]
    assert recorder.counters["dropped_queue_full"] == 2
    assert recorder.counters["recorded"] == 4
    gate.set()
    await recorder.flush()
    assert [e.request_id for e in store.events] == ["req_0", "req_1", "req_2", "req_3"]
    await recorder.aclose()


async def test_database_down_is_counted_not_raised() -> None:
    store = MemoryStore(fail_times=1)
    recorder = PolicyEventRecorder(store, batch_size=2, retry_delay_s=0)
    for n in range(3):
        recorder.record(event(n))
    recorder.start()
    await recorder.flush()
    assert recorder.counters["write_errors"] == 1
    assert recorder.counters["dropped_write_failed"] == 2  # the first batch was lost
    assert recorder.counters["written"] == 1  # the database came back
    assert [e.request_id for e in store.events] == ["req_2"]
    await recorder.aclose()


async def test_missing_table_is_a_failed_write(db: Database) -> None:
    recorder = PolicyEventRecorder(db, retry_delay_s=0)  # unmigrated: no policy_events table
    recorder.start()
    recorder.record(event(0))
    await recorder.aclose()
    assert recorder.counters["write_errors"] == 1
    assert recorder.counters["dropped_write_failed"] == 1


async def test_aclose_gives_up_on_a_hung_database_and_counts_the_rest() -> None:
    store = MemoryStore(gate=asyncio.Event())  # never opens
    recorder = PolicyEventRecorder(store, batch_size=1)
    recorder.start()
    for n in range(3):
        recorder.record(event(n))
    await recorder.aclose(timeout_s=0.05)
    assert recorder.counters["dropped_on_close"] == 2  # one was inside the hung write
    assert recorder.pending == 0


async def test_flush_without_a_writer_task_writes_directly() -> None:
    store = MemoryStore()
    recorder = PolicyEventRecorder(store, batch_size=2)
    for n in range(3):
        recorder.record(event(n))
    await recorder.aclose()
    assert [len(b) for b in store.batches] == [2, 1]
