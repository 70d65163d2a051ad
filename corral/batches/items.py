"""A batch's item jobs: one per input line, its id, its request id, its payload.

Ids come from the batch id and the line number, so whoever queues a line's item (the
plan, or a native batch's jobs once the provider answered) queues it once: the dedupe
key makes a second enqueue return the first.
"""

from __future__ import annotations

from typing import Any

from corral.batches.settings import BatchSettings
from corral.batches.types import Batch, Submitter
from corral.jobs.types import NewJob


def item_id(batch_id: str, line: int) -> str:
    return f"{batch_id}-{line:07d}"


def request_id_of(item: str) -> str:
    """Corral's request id (and the record's) for an item: stable across attempts and runs."""
    return f"req_{item.removeprefix('batch_')}"


def who_of(payload: dict[str, Any]) -> Submitter:
    key_id, key_name, team, scopes = payload["who"]
    return Submitter(key_id, key_name, team, tuple(scopes))


def item_job(batch: Batch, line: int, custom_id: str, body: dict[str, Any], settings: BatchSettings,
             extra: dict[str, Any] | None = None) -> NewJob:
    """The line's item. `extra` joins the payload: `native` (the provider's answer), `outcome`
    (an answer the lifecycle gave before any upstream call) or `failure` (never run)."""
    who = batch.submitter
    payload: dict[str, Any] = {"batch_id": batch.id, "endpoint": batch.endpoint, "line": line,
                               "custom_id": custom_id, "body": body,
                               "who": [who.key_id, who.key_name, who.team, list(who.scopes)]}
    payload.update(extra or {})
    return NewJob(
        kind="batch_item", team=who.team, key_id=who.key_id, parent_id=batch.id,
        id=item_id(batch.id, line), dedupe_key=f"{batch.id}:{line}",
        # An answered line's item must not expire unrun: the provider billed it already.
        expires_at=None if extra else batch.expires_at, priority=settings.priority,
        max_attempts=settings.item_attempts, payload=payload,
    )
