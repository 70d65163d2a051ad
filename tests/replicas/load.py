"""Steady client load through the load balancer, on a thread, with every request's outcome kept.

Each of `clients` loops sends one chat request at a time, so the load adapts to the system's
speed and an outage shows as errors or slow answers, never as an unbounded pile-up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Outcome:
    start: float  # time.monotonic() when the client sent it
    end: float
    status: int  # 0: no HTTP answer at all (the connection failed)
    served_by: str  # HAProxy's server name (x-served-by), "" without an answer
    request_id: str
    error: str = ""  # the transport error, when there was no HTTP answer

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Load:
    url: str
    key: str
    body: dict[str, Any]
    clients: int
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)
        return self.outcomes

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            await asyncio.gather(*(self._client(http) for _ in range(self.clients)))

    async def _client(self, http: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                r = await http.post(self.url + "/v1/chat/completions", json=self.body, headers=headers)
                outcome = Outcome(start, time.monotonic(), r.status_code, r.headers.get("x-served-by", ""),
                                  r.headers.get("x-request-id", ""))
            except httpx.TransportError as exc:
                outcome = Outcome(start, time.monotonic(), 0, "", "", f"{type(exc).__name__}: {exc}")
            self.outcomes.append(outcome)
            if not outcome.ok:
                await asyncio.sleep(0.05)  # a failing system is not hammered in a tight loop


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    return {"requests": len(outcomes), "statuses": statuses}
