"""The ``jobs:`` section of corral.yaml: how the durable queue's workers run.

Why a module of its own: `corral.config` composes it, and reading a configuration must not
load the queue's runtime (SQLAlchemy, the worker). It imports nothing from Corral.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DAY_S = 86_400.0


class JobSettings(BaseModel):
    """``jobs:`` in corral.yaml (docs/jobs.md explains each setting)."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(8, ge=1, le=1024)  # jobs one worker runs at once
    poll_interval_s: float = Field(1.0, gt=0)  # idle wait between claims (a local enqueue wakes it)
    lease_s: float = Field(30.0, gt=0)  # a lease not renewed for this long is given to another worker
    max_attempts: int = Field(3, ge=1, le=100)  # default per job; a job may ask for its own
    retry_base_s: float = Field(2.0, ge=0)  # backoff after the first failed attempt
    retry_max_s: float = Field(300.0, ge=0)  # backoff cap
    shutdown_timeout_s: float = Field(30.0, ge=0)  # wait for running jobs before releasing them
    retention_s: float = Field(30 * DAY_S, gt=0)  # finished jobs are deleted after this long
    max_queued_per_team: int = Field(10_000, ge=1)  # queued top-level jobs; more are refused (429)
    max_payload_bytes: int = Field(1024 * 1024, ge=256)  # a job's JSON payload

    @model_validator(mode="after")
    def _backoff_ordered(self) -> JobSettings:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("retry_max_s must be at least retry_base_s")
        return self

    @property
    def heartbeat_s(self) -> float:
        """Leases are renewed three times per lease, so two missed beats lose nothing."""
        return self.lease_s / 3
