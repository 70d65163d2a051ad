"""Write-behind sink for request records: the request path never waits on the database.

``submit`` appends to a bounded queue and returns; one background task inserts batches
(one executemany each). When the database fails, batches go to a disk spool (JSON lines,
fsync'd per batch, size-capped) and are replayed oldest first once it answers again.
Inserts skip a request_id already stored, so a replay adds no duplicates. Loss is
counted, never raised: queue full, spool full, submits after close, rejected rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import orjson

from corral.observe.queries import COLUMNS, BatchInserter, Row, record_row, row_finished
from corral.observe.record import RequestRecord
from corral.store.db import Database
from corral.store.files import private_dir, private_opener

log = logging.getLogger("corral.observe")
_ENCODE_CHUNK = 50  # rows encoded between yields to the event loop (well under a millisecond)


def _held(path: Path) -> bool:
    """Whether a live process holds the flock on ``path`` (a lock of ours counts too)."""
    try:
        with open(path, "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # closing releases it
    except BlockingIOError:
        return True
    except FileNotFoundError:
        pass
    return False


class Spool:
    """JSON-lines segment files, replayed oldest first; lines are keyed by column name.

    Each process appends to its own segments (``<ns>-<token>.jsonl``) and holds an flock
    on ``.lock-<token>`` while alive; :meth:`open` adopts the segments of processes that
    are gone (crash, or shutdown during an outage), never those of a live one.
    """

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int) -> None:
        self.directory, self.max_bytes, self.segment_bytes = directory, max_bytes, segment_bytes
        self.records = self.bytes = 0
        self.oldest: float | None = None  # end time (unix s) of the oldest spooled record, about
        self._token = f"{os.getpid()}x{secrets.token_hex(4)}"
        self._segments: deque[Path] = deque()
        self._sizes: dict[Path, int] = {}
        self._writing: Path | None = None
        self._loaded: list[Row] | None = None  # rows of the head segment while it is replayed
        self._pos = self._stamp = 0
        self._lock_fd: int | None = None
        self._mutex = threading.Lock()  # a cancelled sink may leave one call running in a thread

    def open(self) -> None:
        """Lock our token, adopt the segments of processes that are gone, count records."""
        with self._mutex:
            private_dir(self.directory)  # records are private: 0700, whatever the umask
            tmp = self.directory / f".tmp-{self._token}"
            self._lock_fd = fd = os.open(tmp, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            tmp.rename(self.directory / f".lock-{self._token}")  # visible only once locked
            locks = list(self.directory.glob(".lock-*"))
            live = {p.name[6:] for p in locks if _held(p)}
            for path in sorted(self.directory.glob("*.jsonl")):
                stamp, _, token = path.stem.partition("-")
                if token in live and token != self._token:
                    continue
                mine = path.with_name(f"{stamp}-{self._token}.jsonl")
                try:
                    path.rename(mine)  # claim it: another starting process may be first
                    data = mine.read_bytes()
                except FileNotFoundError:
                    continue
                self._segments.append(mine)
                self._sizes[mine] = len(data)
                self.records, self.bytes = self.records + data.count(b"\n"), self.bytes + len(data)
            for path in locks:
                if path.name[6:] not in live:
                    path.unlink(missing_ok=True)
            self.oldest = self._head_time()

    def append(self, rows: Sequence[Row]) -> int:
        """Write and fsync ``rows``; 0 when the size cap would be passed (nothing written)."""
        with self._mutex:
            if self._lock_fd is None:
                raise OSError("the spool is not open")
            data = b"".join(orjson.dumps(dict(zip(COLUMNS, r, strict=True))) + b"\n" for r in rows)
            if self.bytes + len(data) > self.max_bytes:
                return 0
            path = self._writing
            if path is None or self._sizes[path] + len(data) > self.segment_bytes:
                self._stamp = max(time.time_ns(), self._stamp + 1)
                path = self.directory / f"{self._stamp:020d}-{self._token}.jsonl"
            try:
                with open(path, "ab", opener=private_opener) as f:  # 0600
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError:
                self._writing = None  # never append after a torn line
                raise
            if path != self._writing:
                dir_fd = os.open(self.directory, os.O_RDONLY)  # the new file's entry is durable too
                os.fsync(dir_fd)
                os.close(dir_fd)
                self._writing = path
                self._segments.append(path)
                self._sizes[path] = 0
            self._sizes[path] += len(data)
            if not self.records:
                self.oldest = row_finished(rows[0])
            self.records, self.bytes = self.records + len(rows), self.bytes + len(data)
            return len(rows)

    def peek(self, n: int) -> list[Row]:
        """The next ``n`` rows, oldest first (the segment being written is sealed first)."""
        with self._mutex:
            while self._loaded is None and self._segments:
                if self._segments[0] == self._writing:
                    self._writing = None
                self._loaded, self._pos = self._parse(self._segments[0].read_bytes()), 0
                if not self._loaded:
                    self._drop_head()
            return [] if self._loaded is None else self._loaded[self._pos:self._pos + n]

    def commit(self, n: int) -> None:
        """The first ``n`` peeked rows are stored: forget them (a finished segment is deleted)."""
        with self._mutex:
            self._pos, self.records = self._pos + n, self.records - n
            if self._loaded is not None and self._pos >= len(self._loaded):
                self._drop_head()
            if not self._segments:
                self.records = self.bytes = 0
            self.oldest = self._head_time()

    def close(self) -> None:
        """Release the lock: whoever opens the directory next adopts what is left."""
        with self._mutex:
            if self._lock_fd is not None:
                (self.directory / f".lock-{self._token}").unlink(missing_ok=True)
                os.close(self._lock_fd)
                self._lock_fd = None

    def _parse(self, data: bytes) -> list[Row]:
        *lines, _torn = data.split(b"\n")
        rows: list[Row] = []
        for line in lines:
            try:
                item = orjson.loads(line)
                rows.append([item.get(c) for c in COLUMNS])
            except (orjson.JSONDecodeError, AttributeError):
                self.records -= 1  # a line cut short by a crash (``torn`` was never counted)
        return rows

    def _drop_head(self) -> None:
        path = self._segments.popleft()
        self.bytes -= self._sizes.pop(path, 0)
        path.unlink(missing_ok=True)
        self._loaded = None

    def _head_time(self) -> float | None:
        if self._loaded is not None and self._pos < len(self._loaded):
            return row_finished(self._loaded[self._pos])
        return int(self._segments[0].name[:20]) / 1e9 if self._segments else None  # its first write


class RecordSink:
    """Bounded queue -> batched inserts, with a disk spool; counters are plain ints (cheap)."""

    def __init__(
        self, db: Database, spool_dir: Path | str, *, max_queue: int = 50_000, batch_size: int = 500,
        flush_interval_s: float = 0.5, max_spool_bytes: int = 512 * 2**20, segment_bytes: int = 8 * 2**20,
        write_timeout_s: float = 5.0, retry_initial_s: float = 0.25, retry_max_s: float = 2.0,
    ) -> None:
        self.db = db
        self.spool = Spool(Path(spool_dir), max_bytes=max_spool_bytes, segment_bytes=segment_bytes)
        self.batch_size, self.flush_interval_s = batch_size, flush_interval_s
        self.write_timeout_s, self.retry_max_s = write_timeout_s, retry_max_s
        self.retry_initial_s = self._retry_delay = retry_initial_s
        self._max_queue = max_queue
        self._queue: deque[RequestRecord] = deque()
        self._inflight: list[Row] = []  # taken from the queue, not yet in the database or spool
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = self._closed = False
        self._db_up = True
        self._retry_at = 0.0  # monotonic time before which the database is not tried again
        self._inserter = BatchInserter(db)
        self.queued = self.written = self.spooled = self.replayed = self.write_errors = self.batches = 0
        self.dropped_queue_full = self.dropped_spool = self.dropped_invalid = self.dropped_closed = 0

    def submit(self, record: RequestRecord) -> bool:
        """Queue ``record`` without waiting; False (and counted) when it had to be dropped."""
        queue = self._queue
        if len(queue) >= self._max_queue or self._closed:
            self.dropped_closed += self._closed
            self.dropped_queue_full += not self._closed
            return False
        queue.append(record)
        self.queued += 1
        if len(queue) >= self.batch_size:
            self._wake.set()
        return True

    def start(self) -> None:
        """Start the background writer (from the running event loop)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="corral-record-sink")

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted is in the database (or dropped); False on timeout."""
        for _ in range(int(timeout_s * 100)):
            if not self._queue and not self._inflight and not self.spool.records:
                return True
            self._wake.set()
            await asyncio.sleep(0.01)
        return False

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Write (or spool) what is queued and replay the spool if the database allows; stop.

        Past ``timeout_s`` the writer is cancelled and what is in memory goes to the spool."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        task = self._task or asyncio.get_running_loop().create_task(self._run())
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._closed = True
        rows = self._inflight + [r for r in map(self._encode, self._queue) if r is not None]
        self._queue.clear()
        if rows:
            await self._to_spool(rows)
        await asyncio.to_thread(self.spool.close)
        await self._inserter.close()

    def stats(self) -> dict[str, float | int]:
        """Cumulative counters and current gauges, for metrics and health checks."""
        first = self._queue[0] if self._queue else None
        ends = [t for t in (self.spool.oldest, first.created_at + first.latency_ms / 1000 if first else None,
                            row_finished(self._inflight[0]) if self._inflight else None) if t is not None]
        out: dict[str, float | int] = {name: getattr(self, name) for name in (
            "queued", "written", "spooled", "replayed", "dropped_queue_full", "dropped_spool",
            "dropped_invalid", "dropped_closed", "write_errors", "batches")}
        out["dropped"] = sum(v for k, v in out.items() if k.startswith("dropped_"))
        out["pending"] = len(self._queue) + len(self._inflight)
        out["spool_records"], out["spool_bytes"] = self.spool.records, self.spool.bytes
        out["flush_lag_s"] = max(0.0, time.time() - min(ends)) if ends else 0.0
        out["db_up"] = int(self._db_up)
        return out

    async def _run(self) -> None:
        try:
            await asyncio.to_thread(self.spool.open)
        except OSError as exc:
            log.error("request records: spool %s unusable (%s): an outage will drop records",
                      self.spool.directory, exc)
        while not self._closing:
            await self._wait()
            try:
                await self._cycle(final=False)
            except Exception:  # an unreadable spool, a bug: keep recording anyway
                log.exception("request records: the writer failed; retrying in %s s", self.retry_max_s)
                await self._to_spool(self._inflight)
                await asyncio.sleep(self.retry_max_s)
        await self._cycle(final=True)

    async def _wait(self) -> None:
        timeout = self.flush_interval_s
        if self.spool.records:
            timeout = min(timeout, self._retry_at - time.monotonic())
        if self._closing or len(self._queue) >= self.batch_size or timeout <= 0:
            await asyncio.sleep(0)
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _cycle(self, *, final: bool) -> None:
        """Replay the spool first (oldest records), then move the queue: to the spool while
        it holds anything, so nothing overtakes it. The final pass tries the database once."""
        while self.spool.records and (final or time.monotonic() >= self._retry_at):
            if not await self._replay_batch() or not final:
                break
        while self._queue:
            rows = await self._take()
            if self.spool.records or (not self._db_up and (final or time.monotonic() < self._retry_at)):
                await self._to_spool(rows)
            elif await self._write(rows) is None:
                self.written += len(rows)
                self._inflight = []
            else:
                await self._to_spool(rows)

    async def _take(self) -> list[Row]:
        """Encode up to a batch from the queue, yielding to the loop between small chunks."""
        rows: list[Row] = []
        self._inflight = rows
        for i in range(min(self.batch_size, len(self._queue))):
            if i and not i % _ENCODE_CHUNK:
                await asyncio.sleep(0)
            row = self._encode(self._queue.popleft())
            if row is not None:
                rows.append(row)
        return rows

    def _encode(self, record: RequestRecord) -> Row | None:
        try:
            return record_row(record)
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the writer
            self.dropped_invalid += 1
            log.warning("request record %s dropped: cannot encode it (%r)", record.request_id, exc)
            return None

    async def _write(self, rows: Sequence[Row]) -> BaseException | None:
        """One executemany in its own transaction; returns the error instead of raising it."""
        try:
            async with asyncio.timeout(self.write_timeout_s):
                await self._inserter.insert(rows)
        except Exception as exc:  # noqa: BLE001 - any failure means "not written"
            self.write_errors += 1
            if self._db_up:
                log.warning("request records: database write failed, spooling to disk: %r", exc)
            self._db_up = False
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, self.retry_max_s)
            return exc
        self.batches += bool(rows)
        if not self._db_up:
            log.info("request records: the database is back; replaying the spool")
        self._db_up, self._retry_delay = True, self.retry_initial_s
        return None

    async def _to_spool(self, rows: list[Row]) -> None:
        try:
            n = await asyncio.to_thread(self.spool.append, rows) if rows else 0
        except Exception as exc:  # noqa: BLE001 - disk full, permissions: count, never raise
            log.error("request records: cannot spool %d records: %s", len(rows), exc)
            n = 0
        self.spooled += n
        self.dropped_spool += len(rows) - n
        self._inflight = []

    async def _replay_batch(self) -> bool:
        """Insert the oldest spooled rows; False while the database is unavailable."""
        rows = await asyncio.to_thread(self.spool.peek, self.batch_size)
        done = written = len(rows)
        if (error := await self._write(rows)) is not None:
            if isinstance(error, TimeoutError) or not await self._healthy():
                return False
            done, written = await self._write_each(rows)  # the database is up: some row is at fault
        await asyncio.to_thread(self.spool.commit, done)
        self.written += written
        self.replayed += written
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
                self.dropped_invalid += 1
                log.error("request record %s rejected by the database: %r", row[0], error)
            else:
                return done, written
        self._db_up, self._retry_at = True, 0.0
        return len(rows), written
