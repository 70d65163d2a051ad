"""A deferred call: a request whose upstream call is answered later, by a provider's batch API.

Why: a provider's native batch API (OpenAI's `/v1/batches`) bills about half the
synchronous price, but answers hours later. A batch line forwarded there is still an
ordinary request: it runs through `Lifecycle.handle` (privacy, routing, records, cost) like
any other. Only the last step differs. Where the router's attempt would call the
provider, it hands the provider's translated wire body to the request's `DeferredCall`
(`RequestContext.deferred`) instead:

- while a batch is being collected, the call takes the body and raises `RequestDeferred`:
  the request leaves the lifecycle unanswered and unrecorded (it is recorded once, when
  it is answered), like a cancellation, so no stage treats it as a failure;
- once the provider's batch has answered, the same request runs through the lifecycle
  again and the call returns the provider's answer for that line (`NativeLine`), which the
  adapter parses as it would a synchronous answer; the privacy stage restores it, the
  lifecycle records and prices it.

Core defines only the shapes; `corral.batches.native` implements both kinds of call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from corral.core.errors import CorralError


class RequestDeferred(BaseException):
    """The request's upstream call was handed to a batch collector: it is answered later.

    A BaseException, like `asyncio.CancelledError`, so that `except Exception` in a stage or
    in the lifecycle never mistakes it for a failure (nothing is recorded for it)."""


@dataclass(frozen=True, slots=True)
class NativeRequest:
    """One line of a provider's batch input file: the endpoint's path and the wire body."""

    url: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NativeLine:
    """The provider's answer for one line: an HTTP status and body, as its output file has it."""

    status_code: int
    body: dict[str, Any]
    batch_id: str  # the provider's batch that answered (kept on the record)


class DeferredMismatch(CorralError):
    """The request sent again to pick up its answer differs from the one the batch answered
    (the privacy policy, the detector or the route changed meanwhile): the answer cannot be
    restored safely, so it is not used."""

    status_code = 409
    code = "native_batch_mismatch"


class DeferredCall(Protocol):
    """What the router's attempt hands a deferred request's upstream call to."""

    @property
    def pinned(self) -> str | None:
        """The deployment that must serve the request (the one whose batch holds its answer),
        or None while collecting (any deployment that can batch natively)."""
        ...

    def takes(self, deployment: str) -> bool:
        """Whether this deployment's call is deferred (otherwise it is called as usual)."""
        ...

    async def send(self, deployment: str, request: NativeRequest) -> NativeLine:
        """Collecting: keep `request` and raise RequestDeferred. Answering: the line's answer."""
        ...
