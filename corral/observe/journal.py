"""The record sink's write-ahead journal: request records outlive a SIGKILL of their process.

A record is built after its answer is written and waits in memory for the sink's batch window
(0.5 s by default) before it reaches the database or the spool. A process killed in that window
(SIGKILL, the OOM killer, a node drain past its grace period) would lose those records, although
their clients had their answers. So each record is also appended to a journal file when it is
queued, and forgotten once it is stored (in the database, or in the spool, which is fsync'd).

One ``write`` per record and no fsync: what a killed process wrote is in the kernel's page cache
and reaches the file; only a crash of the machine itself can lose the last records. A segment,
``<ns>-<token>.wal`` (the spool's token), starts with a header naming the columns, then holds one
JSON array a row: about 4 us cheaper a record than the spool's objects keyed by column name,
and still readable by a later version whose columns differ. The next process whose spool opens
the same directory adopts the journal of a process that is gone, converts it to a spool
segment and replays it (a record already stored is skipped by its request_id). A segment is
deleted, or emptied in place when it is the one being written, as soon as everything in it is
stored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from pathlib import Path

import orjson

from corral.observe.queries import COLUMNS, Row
from corral.store.files import replace_file

log = logging.getLogger("corral.observe")
SUFFIX = ".wal"
HEADER = orjson.dumps({"corral_journal": 1, "columns": COLUMNS}) + b"\n"


def journal_line(row: Row) -> bytes:
    """A row as a JSON array in ``COLUMNS`` order (the segment's header names them)."""
    return orjson.dumps(row) + b"\n"


def decode_lines(data: bytes) -> list[dict[str, object]]:
    """The records of a journal segment as the spool keeps them (objects keyed by column name).
    Arrays are named by the latest header; objects (a segment rewritten by an erasure) pass as
    they are; a line that does not parse (cut short by the kill) is dropped."""
    columns: list[str] = list(COLUMNS)
    out: list[dict[str, object]] = []
    for line in data.split(b"\n"):
        try:
            item = orjson.loads(line) if line else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(item, list) and len(item) == len(columns):
            out.append(dict(zip(columns, item, strict=True)))
        elif isinstance(item, dict) and "corral_journal" in item:
            columns = list(item.get("columns") or columns)
        elif isinstance(item, dict):
            out.append(item)
    return out


def erase_file(path: Path, column: str, value: str) -> int:
    """Rewrite a journal segment without the records whose ``column`` is ``value`` (as objects,
    which :func:`decode_lines` reads too); the number removed."""
    try:
        records = decode_lines(path.read_bytes())
    except FileNotFoundError:
        return 0
    kept = [r for r in records if r.get(column) != value]
    if len(kept) != len(records):
        replace_file(path, b"".join(orjson.dumps(r) + b"\n" for r in kept))
    return len(records) - len(kept)


class Journal:
    """Append-only segments of queued rows, numbered by the sink's count of queued rows.

    ``append(line, seq)`` writes the row queued as number ``seq``; ``release(handled)`` says
    the first ``handled`` rows are stored. Rotated segments whose last row is stored are
    deleted; the open segment is truncated when everything in it is stored.
    """

    def __init__(self, directory: Path, token: str, *, segment_bytes: int = 4 * 2**20) -> None:
        self.directory, self.token, self.segment_bytes = directory, token, segment_bytes
        self.failed_writes = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._last = 0  # seq of the last row written to the open segment
        self._rotated: deque[tuple[Path, int]] = deque()  # (segment, seq of its last row)
        self._stamp = 0
        self._open = False
        self._mutex = threading.Lock()  # erase runs in a thread; everything else on the loop

    @property
    def active(self) -> bool:
        return self._open

    def open(self) -> None:
        """Start journaling (after the spool has taken its lock and adopted older segments)."""
        self._open = True

    def append(self, row: Row, seq: int) -> None:
        """Write the row queued as number ``seq`` (nothing before :meth:`open`); a failing disk
        is logged once and counted, never raised."""
        if not self._open:
            return
        line = journal_line(row)
        with self._mutex:
            try:
                if self._fd is None or self._size >= self.segment_bytes:
                    self._start_segment()
                assert self._fd is not None
                os.write(self._fd, line)
            except OSError as exc:
                if not self.failed_writes:
                    log.error("request records: the journal in %s cannot be written (%s): a killed "
                              "process would lose its last records", self.directory, exc)
                self.failed_writes += 1
                self._close_fd()
                return
            self._size += len(line)
            self._last = seq

    def release(self, handled: int) -> None:
        """The first ``handled`` rows are stored: drop what only they were kept for."""
        if not (self._rotated or self._size):
            return
        with self._mutex:
            while self._rotated and self._rotated[0][1] <= handled:
                self._rotated.popleft()[0].unlink(missing_ok=True)
            if self._fd is not None and self._size and self._last <= handled:
                try:
                    os.ftruncate(self._fd, 0)  # O_APPEND: the next write starts the file again
                    os.write(self._fd, HEADER)
                    self._size = 0
                except OSError:
                    self._close_fd()

    def erase(self, column: str, value: str) -> tuple[int, int]:
        """Rewrite the segments without the records whose ``column`` is ``value`` (erasure:
        a journal replayed after a crash must not bring an erased record back); (records, files)."""
        removed = files = 0
        with self._mutex:
            if self._fd is not None:  # seal the open segment: it is rewritten like the others
                self._rotated.append((self._path, self._last))  # type: ignore[arg-type]
                self._close_fd()
            for path, _ in self._rotated:
                n = erase_file(path, column, value)
                removed, files = removed + n, files + bool(n)
        return removed, files

    def close(self, *, stored: bool) -> None:
        """Stop journaling; with everything ``stored``, delete the segments (else they stay for
        the next process to adopt)."""
        with self._mutex:
            self._open = False
            path = self._path
            self._close_fd()
            if stored:
                for segment, _ in self._rotated:
                    segment.unlink(missing_ok=True)
                self._rotated.clear()
                if path is not None:
                    path.unlink(missing_ok=True)

    def _start_segment(self) -> None:
        if self._fd is not None:
            self._rotated.append((self._path, self._last))  # type: ignore[arg-type]
            self._close_fd()
        self._stamp = max(time.time_ns(), self._stamp + 1)
        self._path = self.directory / f"{self._stamp:020d}-{self.token}{SUFFIX}"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, HEADER)
        self._size = 0

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._size = None, 0
