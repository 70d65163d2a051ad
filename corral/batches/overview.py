"""Every team's batches with their progress and cost: the dashboard's Batches view (admin).

Three reads, each bounded by the page of batches, rather than one join: progress comes
from the `jobs` table (one `batch_item` per line, `parent_id` the batch), cost from the
request records (`corral.cost.totals.batch_totals`, by the `job_id` in their extras),
and neither should multiply the other's rows. The progress counts are the ones the
Batch API reports (`completed`; `failed` = failed + expired), so the page and
`GET /v1/batches/{id}` never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import RowMapping, func, select

from corral.cost.totals import batch_totals
from corral.store.db import Database
from corral.store.schema import batches, jobs

MAX_LIMIT = 500
MAX_ERRORS_SHOWN = 5  # validation errors per batch in the list (a batch keeps up to 100)
_FINISHED = ("completed_at", "failed_at", "expired_at", "cancelled_at")
_COLUMNS = [c for c in batches.c if c.name not in ("scopes", "usage", "key_id")]


@dataclass(frozen=True, slots=True)
class BatchFilter:
    """The list's filters: exact status and team."""

    status: str | None = None
    team: str | None = None


async def line_counts(db: Database, batch_ids: list[str]) -> dict[str, dict[str, int]]:
    """Each batch's lines by job status (absent: no line queued yet)."""
    if not batch_ids:
        return {}
    rows = await db.fetch_all(
        select(jobs.c.parent_id, jobs.c.status, func.count().label("n"))
        .where(jobs.c.parent_id.in_(batch_ids)).group_by(jobs.c.parent_id, jobs.c.status))
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["parent_id"], {})[row["status"]] = int(row["n"])
    return out


def _progress(total: int, by_status: dict[str, int]) -> dict[str, int]:
    return {
        "total": total,
        "completed": by_status.get("completed", 0),
        "failed": by_status.get("failed", 0) + by_status.get("expired", 0),
        "cancelled": by_status.get("cancelled", 0),
        "pending": sum(by_status.get(s, 0) for s in ("queued", "in_progress", "cancelling")),
    }


def _entry(row: RowMapping, by_status: dict[str, int], cost: dict[str, Any] | None) -> dict[str, Any]:
    errors = orjson.loads(row["errors"]) if row["errors"] else []
    finished = next((row[c] for c in _FINISHED if row[c] is not None), None)
    return {
        "id": row["id"], "team": row["team"], "key_name": row["key_name"], "status": row["status"],
        "endpoint": row["endpoint"], "model": row["model"],
        "created_at": row["created_at"].isoformat(),
        "finished_at": None if finished is None else finished.isoformat(),
        "progress": _progress(row["total"], by_status),
        "validation_errors": errors[:MAX_ERRORS_SHOWN], "validation_error_count": len(errors),
        "output_file_id": row["output_file_id"], "error_file_id": row["error_file_id"],
        "metadata": orjson.loads(row["metadata"]) if row["metadata"] else None,
        "cost": cost,
    }


async def overview(db: Database, where: BatchFilter, limit: int = 50) -> list[dict[str, Any]]:
    """The newest batches of every team, each with progress, errors and cost (None before
    any of its records is stored)."""
    c = batches.c
    query = select(*_COLUMNS)
    if where.status:
        query = query.where(c.status == where.status)
    if where.team:
        query = query.where(c.team == where.team)
    rows = await db.fetch_all(query.order_by(c.created_at.desc(), c.id.desc()).limit(min(limit, MAX_LIMIT)))
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    counts = await line_counts(db, ids)
    costs = await batch_totals(db, ids, since=min(r["created_at"] for r in rows))
    return [_entry(r, counts.get(r["id"]) or _kept(r), costs.get(r["id"])) for r in rows]


def _kept(row: RowMapping) -> dict[str, int]:
    """A finalized batch's counts as it kept them, once its items' jobs have been purged."""
    return dict(orjson.loads(row["counts"])) if row["counts"] else {}

