"""Shared mutable state of one simulator app: settings, schedule, counters.

Kept in one object stored on the aiohttp app so the admin endpoints
(``/sim/stats``, ``/sim/faults``, ``/sim/reset``, ``/sim/settings``) and the
dialect handlers see the same numbers.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from aiohttp import web

from .batch_store import SimBatches
from .faults import FaultSchedule
from .settings import SimSettings


class SimStats:
    """Request counters; ``in_flight`` survives ``reset()``."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.streams = 0
        self.rejected = 0
        self.dialects: Counter[str] = Counter()
        self.models: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.endpoints: Counter[str] = Counter()
        self.started = time.monotonic()

    def record(self, dialect: str, endpoint: str, model: str, stream: bool, fault: str | None) -> None:
        self.total += 1
        self.dialects[dialect] += 1
        self.models[model] += 1
        self.endpoints[f"{dialect}.{endpoint}"] += 1
        if stream:
            self.streams += 1
        if fault is not None:
            self.faults[fault] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "streams": self.streams,
            "rejected": self.rejected,
            "in_flight": self.in_flight,
            "dialects": dict(self.dialects),
            "models": dict(self.models),
            "faults": dict(self.faults),
            "endpoints": dict(self.endpoints),
            "faults_injected": sum(self.faults.values()),
            "uptime_s": round(time.monotonic() - self.started, 3),
        }


class SimState:
    """Everything a handler needs beyond the request itself."""

    def __init__(self, settings: SimSettings, schedule: FaultSchedule) -> None:
        self.settings = settings
        self.schedule = schedule
        self.stats = SimStats()
        self.batches = SimBatches()  # /v1/files and /v1/batches (openai_batches.py)

    def choose_fault(
        self, dialect: str, model: str, endpoint: str, prompt_tokens: int, header_fault: str | None
    ) -> str | None:
        """Header fault, else a real context overflow, else the schedule."""
        if header_fault is not None and header_fault != "none":
            return header_fault
        if prompt_tokens > self.settings.context_window:
            return "context_length"
        if header_fault == "none" or not self.schedule.rules:
            return None
        return self.schedule.decide(dialect, model, endpoint)

    def reset(self) -> None:
        self.stats.reset()
        self.schedule.reset()


STATE = web.AppKey("corral_simulator_state", SimState)
