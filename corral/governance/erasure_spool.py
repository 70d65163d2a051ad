"""Erasure in the disk spool: rewrite segment files without one subject's request records.

The spool (corral.observe.spool) keeps one JSON object a line, keyed by column name, in
``<ns>-<token>.jsonl`` segments; a live process holds an flock on ``.lock-<token>`` and reads
its own segments, so only segments of processes that are gone are rewritten (the others are
named, to erase again once they are replayed into the database, where the tables' erasure
finds them). A rewrite writes a private temporary file, fsyncs it and renames it over the
segment (atomic on POSIX); a segment left with no lines is deleted. Lines that do not parse
(a write cut short by a crash) are dropped: replay would drop them too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson

from corral.observe.journal import SUFFIX as JOURNAL_SUFFIX
from corral.observe.journal import erase_file as erase_journal
from corral.observe.spool import _held
from corral.store.files import replace_file


@dataclass(slots=True)
class SpoolResult:
    removed: int = 0  # records removed
    files: int = 0  # segments rewritten or deleted
    held: list[str] = field(default_factory=list)  # segments of live processes, left as they are


class LiveSpool(Protocol):
    """This process's record sink (corral.observe.sink.RecordSink): it erases the segments it holds."""

    @property
    def spool_token(self) -> str: ...

    async def erase_spool(self, column: str, value: str) -> tuple[int, int]: ...


def _keep(line: bytes, column: str, value: str) -> bool | None:
    """True to keep, False to drop the subject's record, None for a line that does not parse."""
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return isinstance(item, dict) and item.get(column) != value


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite(path: Path, kept: list[bytes]) -> None:
    if not kept:
        path.unlink(missing_ok=True)
        return
    replace_file(path, b"".join(line + b"\n" for line in kept))


def erase_spool(directory: Path, column: str, value: str) -> SpoolResult:
    """Remove the records whose ``column`` is ``value`` from the unheld segments under ``directory``."""
    result = SpoolResult()
    if not directory.is_dir():
        return result
    live = {p.name[6:] for p in directory.glob(".lock-*") if _held(p)}
    for path in sorted([*directory.glob("*.jsonl"), *directory.glob(f"*{JOURNAL_SUFFIX}")]):
        if path.stem.partition("-")[2] in live:
            result.held.append(path.name)
            continue
        if path.suffix == JOURNAL_SUFFIX:  # a dead process's journal, not adopted yet
            if dropped := erase_journal(path, column, value):
                result.removed, result.files = result.removed + dropped, result.files + 1
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # adopted or replayed meanwhile
            continue
        lines = [line for line in data.split(b"\n") if line]
        verdicts = [_keep(line, column, value) for line in lines]
        dropped = verdicts.count(False)
        if not dropped:
            continue
        _rewrite(path, [line for line, keep in zip(lines, verdicts, strict=True) if keep])
        result.removed, result.files = result.removed + dropped, result.files + 1
    if result.files:
        _fsync_dir(directory)
    return result


async def erase_spools(directory: Path, column: str, value: str, live: LiveSpool | None) -> SpoolResult:
    """:func:`erase_spool`, then the segments this process holds, through its own sink."""
    result = erase_spool(directory, column, value)
    if live is not None:
        removed, files = await live.erase_spool(column, value)
        mine = (f"-{live.spool_token}.jsonl", f"-{live.spool_token}{JOURNAL_SUFFIX}")
        result.held = [name for name in result.held if not name.endswith(mine)]
        result.removed, result.files = result.removed + removed, result.files + files
    return result
