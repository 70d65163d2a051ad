"""Write-behind sink for request records: the request path never waits on the database.

``submit`` offers the record to a :class:`~corral.core.batching.BatchWorker` and returns;
its one background task inserts batches (one executemany each), collecting for up to
``flush_interval_s`` so a busy gateway writes few, large batches. When the database fails,
batches go to a disk spool (:mod:`corral.observe.spool`) and are replayed oldest first once
it answers again. Inserts skip a request_id already stored, so a replay adds no duplicates.
Each record is encoded when submitted and also appended to a journal (corral.observe.journal),
forgotten once stored, so a process killed with SIGKILL loses no record it had queued: the next
process to open the spool directory replays what the journal still holds.
Loss is counted, never raised: queue full, spool full, submits after close, rejected rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from corral.core.batching import BatchWorker
from corral.observe.journal import Journal
from corral.observe.queries import BatchInserter, Row, record_row, row_finished
from corral.observe.record import RequestRecord
from corral.observe.spool import Spool
from corral.store.db import Database

log = logging.getLogger("corral.observe")
_COUNTERS = ("written", "spooled", "replayed", "dropped_queue_full", "dropped_spool",
             "dropped_invalid", "dropped_closed", "write_errors", "batches")


class RecordSink(BatchWorker[Row]):
    """Records -> batched inserts, with a disk spool for outages and a journal for crashes;
    ``counters`` holds plain ints."""

    task_name = "corral-record-sink"

    def __init__(
        self, db: Database, spool_dir: Path | str, *, max_queue: int = 50_000, batch_size: int = 500,
        flush_interval_s: float = 0.5, max_spool_bytes: int = 512 * 2**20, segment_bytes: int = 8 * 2**20,
        write_timeout_s: float = 5.0, retry_initial_s: float = 0.25, retry_max_s: float = 2.0,
    ) -> None:
        super().__init__(max_queue=max_queue, batch_size=batch_size)
        self.db = db
        self.spool = Spool(Path(spool_dir), max_bytes=max_spool_bytes, segment_bytes=segment_bytes)
        self.journal = Journal(self.spool.directory, self.spool.token)
        self.max_wait_s = flush_interval_s  # a partial batch waits this long for more records
        self.retry_delay_s = retry_max_s  # pause after a batch that raised (a bug, logged)
        self.write_timeout_s, self.retry_max_s = write_timeout_s, retry_max_s
        self.retry_initial_s = self._backoff_s = retry_initial_s
        self._inflight: list[Row] = []  # the batch being written, not yet in the database or spool
        self._stored = 0  # rows in the database or the spool (or lost there): the journal forgets them
        self._closed = False
        self._db_up = True
        self._retry_at = 0.0  # monotonic time before which the database is not tried again
        self._inserter = BatchInserter(db)
        self.counters.update(dict.fromkeys(_COUNTERS, 0))

    def submit(self, record: RequestRecord) -> bool:
        """Queue ``record`` without waiting (and journal it, once the writer runs); False (and
        counted) when it had to be dropped."""
        if self._closed:
            self.counters["dropped_closed"] += 1
            return False
        row = self._encode(record)
        if row is None or not self._offer(row):  # counted as dropped_invalid / dropped_queue_full
            return False
        self.journal.append(row, self._offered)
        return True

    def start(self) -> None:
        """Start the background writer (from the running event loop)."""
        if not self._closed:
            super().start()

    async def flush(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until everything submitted is in the database, the spool replayed too (or
        dropped); False on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.pending or self.spool.records:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._wake.set()  # past the batch window, and a due replay runs now
            await asyncio.sleep(0.01)
        return True

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Write (or spool) what is queued and replay the spool if the database allows; stop.

        Past ``timeout_s`` the writer is cancelled and what is in memory goes to the spool."""
        if self._closed:
            return
        self.start()  # even if never started: the final pass opens the spool and writes the queue
        await super().aclose(timeout_s)
        self.journal.close(stored=self._stored == self._offered)
        await asyncio.to_thread(self.spool.close)
        await self._inserter.close()

    @property
    def spool_token(self) -> str:
        return self.spool.token

    async def erase_spool(self, column: str, value: str) -> tuple[int, int]:
        """Drop one subject's records from this process's own spool and journal segments (which
        the erasure of the spool directory must skip: this process holds them); (records, files)."""
        spooled, files = await asyncio.to_thread(self.spool.erase, column, value)
        journaled, journals = await asyncio.to_thread(self.journal.erase, column, value)
        return spooled + journaled, files + journals

    def stats(self) -> dict[str, float | int]:
        """Cumulative counters and current gauges, for metrics and health checks."""
        queue = self._items
        ends = [t for t in (self.spool.oldest, row_finished(queue[0]) if queue else None,
                            row_finished(self._inflight[0]) if self._inflight else None) if t is not None]
        out: dict[str, float | int] = {"queued": self._offered}
        out.update((name, self.counters[name]) for name in _COUNTERS)
        out["dropped"] = sum(v for k, v in out.items() if k.startswith("dropped_"))
        out["pending"] = self.pending
        out["spool_records"], out["spool_bytes"] = self.spool.records, self.spool.bytes
        out["flush_lag_s"] = max(0.0, time.time() - min(ends)) if ends else 0.0
        out["db_up"] = int(self._db_up)
        out["journal_write_errors"] = self.journal.failed_writes
        return out

    # -- the worker's hooks (corral.core.batching) --

    async def _before_loop(self) -> None:
        try:
            await asyncio.to_thread(self.spool.open)
        except OSError as exc:
            log.error("request records: spool %s unusable (%s): an outage or a crash will drop records",
                      self.spool.directory, exc)
            return
        self.journal.open()

    def _tick_due_s(self) -> float | None:
        return self._retry_at - time.monotonic() if self.spool.records else None

    async def _tick(self) -> None:
        """Replay the spool, oldest records first: a batch when the retry time has come, all of
        it (if the database allows) on the final pass at close."""
        final = self._closing
        try:
            while self.spool.records and (final or time.monotonic() >= self._retry_at):
                if not await self._replay_batch() or not final:
                    break
        except Exception:  # an unreadable spool, a bug: keep recording anyway
            log.exception("request records: replaying the spool failed; retrying in %s s", self.retry_max_s)
            self._retry_at = time.monotonic() + self.retry_max_s

    async def _handle(self, batch: list[Row]) -> bool:
        """Insert a batch; to the spool instead while it holds anything (so nothing overtakes
        it) or while the database rests after a failure (at close: while it is down)."""
        self._inflight = rows = batch
        resting = not self._db_up and (self._closing or time.monotonic() < self._retry_at)
        try:
            if self.spool.records or resting:
                await self._to_spool(rows)
            elif await self._write(rows) is None:
                self.counters["written"] += len(rows)
                self._stored_rows(rows)
            else:
                await self._to_spool(rows)
        except Exception:  # a bug (the worker logs it): the journal must not keep the batch forever
            self._stored_rows(rows)
            raise
        return True

    async def _abandon(self, items: list[Row]) -> None:
        """The writer has stopped: refuse new records, spool what is still in memory."""
        self._closed = True
        rows = self._inflight + items
        if rows:
            await self._to_spool(rows)

    # -- writing --

    def _encode(self, record: RequestRecord) -> Row | None:
        try:
            return record_row(record)
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the writer
            self.counters["dropped_invalid"] += 1
            log.warning("request record %s dropped: cannot encode it (%r)", record.request_id, exc)
            return None

    async def _write(self, rows: Sequence[Row]) -> BaseException | None:
        """One executemany in its own transaction; returns the error instead of raising it."""
        try:
            async with asyncio.timeout(self.write_timeout_s):
                await self._inserter.insert(rows)
        except Exception as exc:  # noqa: BLE001 - any failure means "not written"
            self.counters["write_errors"] += 1
            if self._db_up:
                log.warning("request records: database write failed, spooling to disk: %r", exc)
            self._db_up = False
            self._retry_at = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.retry_max_s)
            return exc
        self.counters["batches"] += bool(rows)
        if not self._db_up:
            log.info("request records: the database is back; replaying the spool")
        self._db_up, self._backoff_s = True, self.retry_initial_s
        return None

    async def _to_spool(self, rows: list[Row]) -> None:
        try:
            n = await asyncio.to_thread(self.spool.append, rows) if rows else 0
        except Exception as exc:  # noqa: BLE001 - disk full, permissions: count, never raise
            log.error("request records: cannot spool %d records: %s", len(rows), exc)
            n = 0
        self.counters["spooled"] += n
        self.counters["dropped_spool"] += len(rows) - n
        self._stored_rows(rows)

    def _stored_rows(self, rows: list[Row]) -> None:
        """``rows`` (the oldest in memory) are in the database or the spool, or lost there."""
        self._inflight = []
        self._stored += len(rows)
        self.journal.release(self._stored)
    async def _replay_batch(self) -> bool:
        """Insert the oldest spooled rows; False while the database is unavailable."""
        rows = await asyncio.to_thread(self.spool.peek, self.batch_size)
        done = written = len(rows)
        if (error := await self._write(rows)) is not None:
            if isinstance(error, TimeoutError) or not await self._healthy():
                return False
            done, written = await self._write_each(rows)  # the database is up: some row is at fault
        await asyncio.to_thread(self.spool.commit, done)
        self.counters["written"] += written
        self.counters["replayed"] += written
        return done == len(rows)

    async def _healthy(self) -> bool:
        try:
            async with asyncio.timeout(self.write_timeout_s):
                await self.db.fetch_val("SELECT 1")
        except Exception:  # noqa: BLE001 - unreachable, whatever the reason
            return False
        return True

    async def _write_each(self, rows: list[Row]) -> tuple[int, int]:
        """Insert one by one, dropping rows refused while the database is healthy: (handled, written)."""
        written = 0
        for done, row in enumerate(rows):
            if (error := await self._write([row])) is None:
                written += 1
            elif await self._healthy():
                self.counters["dropped_invalid"] += 1
                log.error("request record %s rejected by the database: %r", row[0], error)
            else:
                return done, written
        self._db_up, self._retry_at = True, 0.0
        return len(rows), written
