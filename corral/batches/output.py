"""A finished batch's output and error files, in OpenAI's line formats, in input order.

Output file: one line per request that got an answer,
`{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}`.
Error file: every other request, so none is lost without a word: an error answer (its
response, as the endpoint would have sent it), a request that could not run (`error`
with a code), and requests never run because the batch expired (`batch_expired`) or was
cancelled (`batch_cancelled`). Items are read from the queue page by page and the files
are written as streams, so a 50,000-line batch never sits in memory.

Writing the files and closing the batch with their ids are two steps: a process killed
between them leaves files that nothing names, and the check that runs again writes new
ones. `remove_strays` deletes such leftovers once the batch is closed, so the team is not
left a second copy counting against its quota for the files' 30 days.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy import select

from corral.batches.types import FINAL, Batch
from corral.files.rows import delete_files
from corral.files.store import FileStore
from corral.store import Database
from corral.store.schema import batches, files, jobs

PAGE = 500
NOT_RUN = {
    "expired": ("batch_expired", "This request was not run before the batch's completion window ended."),
    "cancelled": ("batch_cancelled", "This request was not run: the batch was cancelled."),
}


def _line_id(item_id: str) -> str:
    return "batch_req_" + hashlib.sha256(item_id.encode()).hexdigest()[:32]


async def _items(db: Database, batch_id: str, statuses: tuple[str, ...]) -> AsyncIterator[dict[str, Any]]:
    """The batch's items in input order (their ids end in the zero-padded line number)."""
    after = ""
    while True:
        rows = await db.fetch_all(
            select(jobs.c.id, jobs.c.status, jobs.c.payload, jobs.c.result, jobs.c.error)
            .where(jobs.c.parent_id == batch_id, jobs.c.kind == "batch_item",
                   jobs.c.status.in_(statuses), jobs.c.id > after)
            .order_by(jobs.c.id).limit(PAGE))
        for row in rows:
            yield dict(row)
        if len(rows) < PAGE:
            return
        after = rows[-1]["id"]


class _Usage:
    """Token totals over the answers, in the Batch object's usage shape."""

    def __init__(self) -> None:
        self.input = self.output = self.cached = self.reasoning = 0

    def add(self, body: dict[str, Any]) -> None:
        usage = body.get("usage") or {}
        self.input += int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        self.output += int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
        self.cached += int(details.get("cached_tokens") or 0)
        out = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
        self.reasoning += int(out.get("reasoning_tokens") or 0)

    def wire(self) -> dict[str, Any]:
        return {"input_tokens": self.input, "input_tokens_details": {"cached_tokens": self.cached},
                "output_tokens": self.output, "output_tokens_details": {"reasoning_tokens": self.reasoning},
                "total_tokens": self.input + self.output}


async def _output_lines(db: Database, batch_id: str, usage: _Usage) -> AsyncIterator[bytes]:
    async for row in _items(db, batch_id, ("completed",)):
        payload = orjson.loads(row["payload"])
        response = (orjson.loads(row["result"]) or {}).get("response")
        usage.add((response or {}).get("body") or {})
        yield orjson.dumps({"id": _line_id(row["id"]), "custom_id": payload["custom_id"],
                            "response": response, "error": None}) + b"\n"


async def _error_lines(db: Database, batch_id: str) -> AsyncIterator[bytes]:
    async for row in _items(db, batch_id, ("failed", "expired", "cancelled")):
        payload = orjson.loads(row["payload"])
        error = orjson.loads(row["error"]) if row["error"] else {}
        response = (error.get("details") or {}).get("response")
        problem = None
        if row["status"] in NOT_RUN:
            code, message = NOT_RUN[row["status"]]
            problem = {"code": code, "message": message}
        elif response is None:
            problem = {"code": error.get("code") or "request_failed",
                       "message": error.get("message") or "The request failed."}
        yield orjson.dumps({"id": _line_id(row["id"]), "custom_id": payload["custom_id"],
                            "response": response, "error": problem}) + b"\n"


def _filenames(batch_id: str) -> tuple[str, str]:
    return f"{batch_id}_output.jsonl", f"{batch_id}_error.jsonl"


async def write_results(db: Database, files: FileStore, batch: Batch,
                        counts: dict[str, int]) -> tuple[str | None, str | None, dict[str, Any]]:
    """(output file id, error file id, usage); a file with no lines is not written (null)."""
    team = batch.submitter.team
    usage = _Usage()
    output = errors = None
    output_name, error_name = _filenames(batch.id)
    if counts.get("completed", 0):
        found = await files.create(team, "batch_output", output_name,
                                   _output_lines(db, batch.id, usage), limited=False)
        output = found.id
    if sum(counts.get(s, 0) for s in ("failed", "expired", "cancelled")):
        found = await files.create(team, "batch_output", error_name,
                                   _error_lines(db, batch.id), limited=False)
        errors = found.id
    return output, errors, usage.wire()


async def remove_strays(db: Database, batch_id: str) -> int:
    """Delete result files written for a closed batch that it does not name (left by a
    finalize killed before it closed the batch, or one that lost the race to close it,
    including a killed run's unfinished upload); how many. Files Corral writes have no key."""
    async with db.transaction() as tx:
        row = await tx.fetch_one(select(batches.c.team, batches.c.status, batches.c.output_file_id,
                                        batches.c.error_file_id).where(batches.c.id == batch_id))
        if row is None or row["status"] not in FINAL:
            return 0
        named = {row["output_file_id"], row["error_file_id"]}
        ours = (files.c.team == row["team"]) & files.c.key_id.is_(None)
        found = await tx.fetch_all(select(files.c.id).where(ours, files.c.filename.in_(_filenames(batch_id))))
        strays = [r["id"] for r in found if r["id"] not in named]
        await delete_files(tx, strays)
    return len(strays)
