"""Native batch chunks: their job kinds and ids, and the plan's grouping of lines into them.

A chunk is up to `batches.native_chunk_lines` lines of one `batch: native` route, named
by the batch id and its number in the file, so a plan that runs again after a crash
queues each chunk once. The chunk's jobs are children of a pseudo-parent
(`<batch id>:native`), not of the batch, so the batch's request counts (its children)
count lines only, while `cancel_children` and the batch check can still find them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any

from corral.batches.lines import RouteNamer
from corral.batches.settings import BatchSettings
from corral.batches.types import Batch
from corral.files.batch_lines import BatchLine, iter_batch_lines
from corral.files.store import FileStore
from corral.jobs.types import NewJob

SUBMIT, POLL = "batch_native", "batch_native_poll"
#: The batch endpoints whose lines can be forwarded (a /v1/responses line keeps Corral's own run:
#: it stores a Response object as it goes).
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")
POLL_ATTEMPTS = 100  # like the batch check: a look is cheap, and giving up would lose the answers


def parent_of(batch_id: str) -> str:
    return f"{batch_id}:native"


def chunk_job_id(batch_id: str, chunk: int) -> str:
    return f"{batch_id}-native-{chunk:04d}"


def tag_of(batch_id: str, chunk: int, deployment: str) -> str:
    return f"{batch_id}:{chunk}:{deployment}"


def poll_job(batch: Batch, chunk: int, round_: int, settings: BatchSettings) -> NewJob:
    who = batch.submitter
    return NewJob(kind=POLL, payload={"batch_id": batch.id, "chunk": chunk, "round": round_}, team=who.team,
                  key_id=who.key_id, parent_id=parent_of(batch.id), priority=settings.priority,
                  dedupe_key=f"{batch.id}:native:{chunk}:poll:{round_}", max_attempts=POLL_ATTEMPTS,
                  delay_s=settings.native_poll_interval_s)


async def read_lines(files: FileStore, batch: Batch, wanted: Collection[int]) -> AsyncIterator[BatchLine]:
    """The chunk's lines from the batch's input file, in order (one line in memory at a time)."""
    _, chunks = await files.open(batch.input_file_id, batch.submitter.team)
    async for line in iter_batch_lines(chunks, files.settings.max_batch_line_bytes):
        if line.number in wanted:
            yield line


class NativePlanner:
    """Used by the plan: takes the lines of native routes and makes chunk jobs of them."""

    def __init__(self, batch: Batch, routes: Collection[str], route_of: RouteNamer,
                 settings: BatchSettings) -> None:
        self.batch = batch
        self.routes = frozenset(routes)
        self.route_of = route_of
        self.settings = settings
        self._pending: dict[str, list[int]] = {}
        self._full: list[NewJob] = []
        self._count = 0

    def add(self, line: BatchLine) -> bool:
        """Keep `line` for a chunk if its route is native; False: it runs as an ordinary item."""
        model = line.body.get("model")
        route = self.route_of(model) if isinstance(model, str) else None
        if route not in self.routes or self.batch.endpoint not in ENDPOINTS:
            return False
        assert route is not None
        numbers = self._pending.setdefault(route, [])
        numbers.append(line.number)
        if len(numbers) >= self.settings.native_chunk_lines:
            self._full.append(self._job(route, self._pending.pop(route)))
        return True

    def ready(self) -> list[NewJob]:
        """Full chunks made since the last call."""
        full, self._full = self._full, []
        return full

    def rest(self) -> list[NewJob]:
        """Every chunk left, once the whole file was read."""
        rest = self.ready() + [self._job(route, numbers) for route, numbers in self._pending.items()]
        self._pending = {}
        return rest

    def _job(self, route: str, lines: list[int]) -> NewJob:
        batch, who = self.batch, self.batch.submitter
        chunk = self._count
        self._count += 1
        payload: dict[str, Any] = {"batch_id": batch.id, "chunk": chunk, "route": route, "lines": lines}
        return NewJob(kind=SUBMIT, payload=payload, team=who.team, key_id=who.key_id,
                      parent_id=parent_of(batch.id), id=chunk_job_id(batch.id, chunk),
                      dedupe_key=f"{batch.id}:native:{chunk}", priority=self.settings.priority,
                      expires_at=batch.expires_at)
