"""`batches:` configuration: how Corral runs OpenAI-style batches (docs/batches.md).

Imports nothing but pydantic: `Settings` composes it, and reading a configuration must not
load the runner.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How often a running batch is looked at to see whether its last request finished: the
    # most a finished batch waits before its files are written.
    check_interval_s: float = Field(2.0, gt=0, le=300)
    # Queue priority of batch work; background responses (interactive) run above it.
    priority: int = Field(0, ge=-100, le=100)
    # Attempts per request when the upstream is overloaded or failing (429, 5xx), each after
    # the queue's backoff; the router has already retried and failed over inside each attempt.
    item_attempts: int = Field(3, ge=1, le=20)
    # Batch requests in flight per route in each process (a route's own entry, else the
    # default; null: only jobs.concurrency bounds them). Live requests are never limited by it:
    # set it below what the upstream takes so batches leave room for them.
    default_route_concurrency: int | None = Field(None, ge=1)
    route_concurrency: dict[str, int] = Field(default_factory=dict)
    # Routes with `batch: native` (docs/batches.md, "Native batches"): lines forwarded per
    # provider batch (and per job of Corral's: what one worker holds in memory at once), how
    # often a provider's batch is looked at (the job waits on the queue, holding no worker
    # between looks), and lines run through the lifecycle at once while one is collected.
    native_chunk_lines: int = Field(2000, ge=1, le=50_000)
    native_poll_interval_s: float = Field(30.0, gt=0, le=3600)
    native_concurrency: int = Field(8, ge=1, le=256)
