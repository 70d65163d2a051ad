"""The record sink's disk spool: where request records wait while the database is down.

JSON-lines segment files, fsync'd per batch and size-capped, replayed oldest first. Each
process writes segments of its own and holds an flock while alive, so a restarted or
parallel process adopts only the segments of processes that are gone: their spool segments
and their journals (``*.wal``, corral.observe.journal), which become segments of its own.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import orjson

from corral.observe.journal import SUFFIX as JOURNAL_SUFFIX
from corral.observe.journal import decode_lines
from corral.observe.queries import COLUMNS, Row, row_finished
from corral.store.files import private_dir, private_opener, replace_file


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

    @property
    def token(self) -> str:
        """This process's token: its segments are ``<ns>-<token>.jsonl``."""
        return self._token

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
            journals = self.directory.glob(f"*{JOURNAL_SUFFIX}")
            for path in sorted([*self.directory.glob("*.jsonl"), *journals]):
                stamp, _, token = path.stem.partition("-")
                if token in live and token != self._token:
                    continue
                mine = path.with_name(f"{stamp}-{self._token}.jsonl")
                while mine != path and mine.exists():  # a journal and a segment of the same instant
                    stamp = f"{int(stamp) + 1:020d}"
                    mine = path.with_name(f"{stamp}-{self._token}.jsonl")
                try:
                    if path.suffix == JOURNAL_SUFFIX:
                        data = self._adopt_journal(path, mine)
                    else:
                        path.rename(mine)  # claim it: another starting process may be first
                        data = mine.read_bytes()
                except FileNotFoundError:
                    continue
                if not data:
                    continue
                self._segments.append(mine)
                self._sizes[mine] = len(data)
                self.records, self.bytes = self.records + data.count(b"\n"), self.bytes + len(data)
            for path in locks:
                if path.name[6:] not in live:
                    path.unlink(missing_ok=True)
            self.oldest = self._head_time()

    def _adopt_journal(self, path: Path, segment: Path) -> bytes:
        """Claim a dead process's journal (renamed to our token: should we die converting it,
        the next process adopts it again), write its records as ``segment``, drop it."""
        claimed = path.with_name(f"{path.stem.partition('-')[0]}-{self._token}{JOURNAL_SUFFIX}")
        path.rename(claimed)
        data = b"".join(orjson.dumps(r) + b"\n" for r in decode_lines(claimed.read_bytes()))
        if data:
            replace_file(segment, data)
        claimed.unlink()
        return data

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

    def erase(self, column: str, value: str) -> tuple[int, int]:
        """Rewrite this process's segments without the records whose ``column`` is ``value``
        (erasure: other processes cannot touch segments we hold); (records removed, files).
        The segment being replayed keeps its place: its rest is rewritten, its replayed rows go."""
        with self._mutex:
            index, removed, files = COLUMNS.index(column), 0, 0
            for path in list(self._segments):
                head = self._loaded is not None and path == self._segments[0]
                rows = self._loaded[self._pos:] if head and self._loaded is not None else self._parse(
                    path.read_bytes())
                kept = [r for r in rows if r[index] != value]
                if len(kept) == len(rows):
                    continue
                removed, files = removed + len(rows) - len(kept), files + 1
                if not kept and not head and path != self._writing:
                    self._segments.remove(path)
                    self.bytes -= self._sizes.pop(path, 0)
                    path.unlink(missing_ok=True)
                    continue
                data = b"".join(orjson.dumps(dict(zip(COLUMNS, r, strict=True))) + b"\n" for r in kept)
                replace_file(path, data)
                self.bytes += len(data) - self._sizes.get(path, 0)
                self._sizes[path] = len(data)
                if head:
                    self._loaded, self._pos = kept, 0
            self.records -= removed
            self.oldest = self._head_time()
            return removed, files

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
