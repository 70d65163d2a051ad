"""Between ``jobs`` rows and :class:`Job` values: JSON columns, ids, the shared clock type."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

import orjson

from corral.jobs.types import Job, JobStatus, JSONValue

Clock = Callable[[], datetime]


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex}"


def new_token() -> str:
    """A fencing token: new at every claim, so a stale worker's writes match no row."""
    return uuid.uuid4().hex


def dumps(value: JSONValue) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def job_from_row(row: Mapping[Any, Any]) -> Job:
    return Job(
        id=row["id"], kind=row["kind"], team=row["team"], key_id=row["key_id"],
        payload=loads(row["payload"]), status=cast(JobStatus, row["status"]),
        priority=row["priority"], attempts=row["attempts"], max_attempts=row["max_attempts"],
        not_before=row["not_before"], created_at=row["created_at"], dedupe_key=row["dedupe_key"],
        parent_id=row["parent_id"], lease_owner=row["lease_owner"], lease_token=row["lease_token"],
        lease_expires_at=row["lease_expires_at"], result=loads(row["result"]),
        error=loads(row["error"]), started_at=row["started_at"], finished_at=row["finished_at"],
        expires_at=row["expires_at"], cancel_requested=bool(row["cancel_requested"]),
    )
