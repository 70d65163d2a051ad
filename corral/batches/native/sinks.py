"""The two deferred calls a native batch line's request gets (`corral.core.deferred`).

`Collector` takes each line's wire body while a chunk is gathered; `Answer` gives a line
its provider answer when it runs again. Between the two the request is rebuilt from the
input file and redacted again, so `Answer` checks that what the adapter would send now is
byte for byte what the provider answered (a digest): placeholders are numbered the same
way for the same text, and anything else (a changed policy, detector or route) would
restore an answer against the wrong values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from corral.core.deferred import DeferredMismatch, NativeLine, NativeRequest, RequestDeferred


def digest(request: NativeRequest) -> str:
    """A short, stable fingerprint of what a line sends (url and body, keys sorted)."""
    data = orjson.dumps({"url": request.url, "body": request.body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Collected:
    deployment: str
    request: NativeRequest


class Collector:
    """Gathers one chunk's lines by line number; `call(n)` is line n's deferred call."""

    def __init__(self, deployments: Collection[str]) -> None:
        self.deployments = frozenset(deployments)  # those of `batch: native` routes
        self.lines: dict[int, Collected] = {}

    def call(self, number: int) -> _Collecting:
        return _Collecting(self, number)

    def by_deployment(self) -> dict[str, list[tuple[int, NativeRequest]]]:
        groups: dict[str, list[tuple[int, NativeRequest]]] = {}
        for number in sorted(self.lines):
            found = self.lines[number]
            groups.setdefault(found.deployment, []).append((number, found.request))
        return groups


@dataclass(frozen=True, slots=True)
class _Collecting:
    collector: Collector
    number: int

    @property
    def pinned(self) -> str | None:
        return None

    def takes(self, deployment: str) -> bool:
        return deployment in self.collector.deployments

    async def send(self, deployment: str, request: NativeRequest) -> NativeLine:
        self.collector.lines[self.number] = Collected(deployment, request)
        raise RequestDeferred


@dataclass(frozen=True, slots=True)
class Answer:
    """A line's answer from its provider batch, for the deployment that batch ran on."""

    deployment: str
    sent: str  # digest of what was submitted
    line: NativeLine

    @property
    def pinned(self) -> str | None:
        return self.deployment

    def takes(self, deployment: str) -> bool:
        return deployment == self.deployment

    async def send(self, deployment: str, request: NativeRequest) -> NativeLine:
        if digest(request) != self.sent:
            raise DeferredMismatch(
                f"The provider's batch {self.line.batch_id} answered this line, but the request Corral "
                "builds for it now differs from the one it submitted (the route's privacy policy, "
                "detector or settings changed meanwhile), so the answer cannot be restored safely. "
                "Submit the line again.")
        return self.line


def answer_from(native: dict[str, Any] | None) -> Answer | None:
    """The `native` part of an item's payload (written by the poll job) as its deferred call."""
    if not native:
        return None
    line = NativeLine(int(native["status_code"]), dict(native["body"]), str(native["batch"]))
    return Answer(str(native["deployment"]), str(native["sent"]), line)


def answer_payload(deployment: str, sent: str, line: NativeLine) -> dict[str, Any]:
    return {"deployment": deployment, "sent": sent, "batch": line.batch_id,
            "status_code": line.status_code, "body": line.body}
