"""The job as producers and workers see it: one typed row of the ``jobs`` table.

Status transitions (docs/jobs.md draws them):

    queued ──claim──> in_progress ──complete──> completed
      │                 │  ├──fail, attempts left──> queued (not_before = now + backoff)
      │                 │  ├──fail, none left──────> failed
      │                 │  └──lease expired────────> queued (or failed when none left)
      │                 └──cancel──> cancelling ──worker stops──> cancelled
      ├──cancel──> cancelled
      └──expires_at passed──> expired
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

JSONValue: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None

JobStatus = Literal["queued", "in_progress", "completed", "failed", "cancelling", "cancelled", "expired"]
STATUSES: tuple[JobStatus, ...] = (
    "queued", "in_progress", "completed", "failed", "cancelling", "cancelled", "expired")
#: Held by a worker's lease.
LEASED: tuple[JobStatus, ...] = ("in_progress", "cancelling")
#: Final: nothing changes a finished job again (retention deletes it).
FINISHED: tuple[JobStatus, ...] = ("completed", "failed", "cancelled", "expired")


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a producer asks for. ``dedupe_key`` is unique per (team, kind): enqueueing it
    again returns the job already there, whatever its status, so a retried submit never
    runs the work twice. ``priority``: higher is claimed first (background responses above
    batch items). ``expires_at``: a job still queued then ends ``expired`` unrun."""

    kind: str
    payload: dict[str, Any]
    team: str
    key_id: str | None = None
    dedupe_key: str | None = None
    priority: int = 0
    max_attempts: int | None = None  # None: the `jobs.max_attempts` setting
    parent_id: str | None = None
    id: str | None = None  # None: job_<32 hex>; the API may use its own (resp_..., batch_...)
    delay_s: float = 0.0  # not claimable before now + delay_s
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One row of ``jobs``. ``lease_token`` changes at every claim: only the worker that
    holds the current token may write the result (fencing)."""

    id: str
    kind: str
    team: str
    key_id: str | None
    payload: dict[str, Any]
    status: JobStatus
    priority: int
    attempts: int
    max_attempts: int
    not_before: datetime
    created_at: datetime
    dedupe_key: str | None = None
    parent_id: str | None = None
    lease_owner: str | None = None
    lease_token: str | None = None
    lease_expires_at: datetime | None = None
    result: JSONValue = None
    error: dict[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What renewing a worker's leases learned: jobs whose lease another worker now holds
    (``lost``: stop, the result would be refused) and jobs a client asked to cancel."""

    lost: frozenset[str] = field(default_factory=frozenset)
    cancelling: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What one pass over expired leases and deadlines changed (counts of jobs)."""

    requeued: int = 0  # a dead worker's job, claimable again
    failed: int = 0  # a dead worker's job with no attempts left
    cancelled: int = 0  # a dead worker was cancelling it
    expired: int = 0  # still queued at its expires_at

    @property
    def total(self) -> int:
        return self.requeued + self.failed + self.cancelled + self.expired
