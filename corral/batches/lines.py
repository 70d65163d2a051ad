"""One batch line as the runner hands it to the API layer, and the answer it gets back.

Its own module so both the runner and the native-batch jobs (`corral.batches.native`)
name them without importing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from corral.batches.types import Submitter
from corral.core.deferred import DeferredCall


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """One line's answer: what the endpoint would have sent (status and JSON body)."""

    status_code: int
    request_id: str
    body: dict[str, Any]
    retryable: bool = False  # the upstream was overloaded or failing: worth another attempt
    retry_after_s: float | None = None

    def as_response(self) -> dict[str, Any]:
        return {"status_code": self.status_code, "request_id": self.request_id, "body": self.body}


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One batch line to serve, as the caller that created the batch."""

    who: Submitter
    batch_id: str
    endpoint: str
    custom_id: str
    body: dict[str, Any]
    request_id: str  # Corral's id for the request (and its record), stable across attempts
    # A line of a `batch: native` route: where its upstream call goes instead (core.deferred).
    deferred: DeferredCall | None = None


# The API layer provides it: parse the line as its endpoint would, run it, answer.
LineServer = Callable[[LineRequest], Awaitable[LineOutcome]]
# The public route a model name (or alias) resolves to, None when the gateway has none.
RouteNamer = Callable[[str], str | None]
