"""The record sink's journal: queued records survive a SIGKILL and are replayed by the next process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

from corral.governance.erasure_spool import erase_spools
from corral.observe.journal import HEADER, decode_lines
from corral.observe.sink import RecordSink
from corral.store.db import Database
from tests.observe.test_sink_support import FlakyDB, count_rows, make_record, wait_for

FAST = {"flush_interval_s": 0.02, "retry_initial_s": 0.02, "retry_max_s": 0.05}
ROOT = Path(__file__).resolve().parents[2]

# A gateway's sink whose batch window has not closed yet: its records are only in memory (and
# in the journal) when the process is killed.
_CHILD = textwrap.dedent("""
    import asyncio, sys
    from corral.observe.sink import RecordSink
    from corral.store.db import Database
    from tests.observe.test_sink_support import make_record

    async def main() -> None:
        db = await Database.connect(sys.argv[2])
        sink = RecordSink(db, sys.argv[1], flush_interval_s=60)
        sink.start()
        for _ in range(500):  # the writer opens the spool, then the journal
            if sink.journal.active:
                break
            await asyncio.sleep(0.01)
        for i in range(int(sys.argv[3])):
            sink.submit(make_record(i, end_user=f"user-{i % 3}"))
        print("queued", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
""")


def _killed_with_records_queued(spool: Path, tmp_path: Path, n: int) -> None:
    child_db = f"sqlite:///{tmp_path / 'child.db'}"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(spool), child_db, str(n)], cwd=ROOT,
                             stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"queued"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


async def test_records_queued_by_a_killed_process_are_replayed_by_the_next(
    migrated_db: Database, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    await asyncio.to_thread(_killed_with_records_queued, spool, tmp_path, 40)
    assert list(spool.glob("*.wal"))  # no database, no spool segment: only the journal holds them
    heir = RecordSink(migrated_db, spool, **FAST)
    heir.start()
    await wait_for(lambda: heir.counters["replayed"] == 40)
    await heir.aclose()
    assert await count_rows(migrated_db) == (40, 40)
    assert not list(spool.glob("*.wal")) and not list(spool.glob("*.jsonl"))


async def test_stored_records_leave_the_journal(migrated_db: Database, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    sink = RecordSink(migrated_db, spool, **FAST)
    sink.journal.segment_bytes = 4096  # a few records a segment: rotation and deletion both run
    sink.start()
    await wait_for(lambda: sink.journal.active)
    for i in range(60):
        sink.submit(make_record(i))
    assert len(list(spool.glob("*.wal"))) > 3
    assert await sink.flush(5)
    held = [p.stat().st_size for p in spool.glob("*.wal")]
    assert held in ([], [len(HEADER)])  # rotated segments deleted, the open one emptied in place
    for i in range(60, 70):
        sink.submit(make_record(i))
    await sink.aclose()
    assert not list(spool.glob("*.wal"))
    assert await count_rows(migrated_db) == (70, 70)


async def test_records_spooled_in_an_outage_are_not_replayed_twice_from_the_journal(
    migrated_db: Database, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    flaky = FlakyDB(migrated_db, down=True)
    sink = RecordSink(flaky, spool, **FAST)  # type: ignore[arg-type]
    sink.start()
    await wait_for(lambda: sink.journal.active)
    for i in range(30):
        sink.submit(make_record(i))
    await wait_for(lambda: sink.counters["spooled"] == 30)
    # fsync'd in the spool: forgotten (the open segment keeps only its header)
    assert [p.stat().st_size for p in spool.glob("*.wal")] == [len(HEADER)]
    flaky.down = False
    await wait_for(lambda: sink.counters["replayed"] == 30)
    await sink.aclose()
    assert await count_rows(migrated_db) == (30, 30)


async def test_erasure_reaches_the_journal_of_the_live_process(migrated_db: Database, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    sink = RecordSink(migrated_db, spool, flush_interval_s=60)
    sink.start()
    await wait_for(lambda: sink.journal.active)
    for i in range(30):
        sink.submit(make_record(i, end_user=f"user-{i % 3}"))
    result = await erase_spools(spool, "end_user", "user-1", sink)
    assert (result.removed, result.held) == (10, [])
    # the process dies before storing the batch: what the next one replays has no user-1
    sink._task.cancel()  # type: ignore[union-attr]
    assert sink.spool._lock_fd is not None
    os.close(sink.spool._lock_fd)
    sink.spool._lock_fd = None
    heir = RecordSink(migrated_db, spool, **FAST)
    heir.start()
    await wait_for(lambda: heir.counters["replayed"] == 20)
    await heir.aclose()
    rows = await migrated_db.fetch_all("SELECT end_user FROM requests")
    assert len(rows) == 20 and {r["end_user"] for r in rows} == {"user-0", "user-2"}


async def test_the_journal_of_a_dead_process_is_erased_in_place(
    migrated_db: Database, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    await asyncio.to_thread(_killed_with_records_queued, spool, tmp_path, 30)
    result = await erase_spools(spool, "end_user", "user-2", None)
    assert result.removed == 10 and result.held == []
    heir = RecordSink(migrated_db, spool, **FAST)
    heir.start()
    await wait_for(lambda: heir.counters["replayed"] == 20)
    await heir.aclose()
    assert await count_rows(migrated_db) == (20, 20)


def test_a_segment_is_read_by_its_own_header_and_a_torn_line_is_dropped() -> None:
    """Rows are arrays named by the segment's header: a version whose columns differ (another
    order, a column fewer) still reads them; the line the kill cut short is dropped."""
    columns = ["status", "request_id"]
    data = (orjson.dumps({"corral_journal": 1, "columns": columns}) + b"\n" + orjson.dumps(["ok", "req_1"])
            + b"\n" + orjson.dumps({"request_id": "req_2", "status": "error"}) + b"\n" + b'["ok", "req_')
    assert decode_lines(data) == [{"status": "ok", "request_id": "req_1"},
                                  {"request_id": "req_2", "status": "error"}]
