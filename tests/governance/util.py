"""Small builders and fakes for the governance tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from corral.governance.policy_events import PolicyEvent

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(n: int = 0, **kw: Any) -> PolicyEvent:
    """Event number ``n``, ``n`` minutes after T0."""
    data: dict[str, Any] = {
        "request_id": f"req_{n}",
        "route": "gpt",
        "category": "violence",
        "message": "refused",
        "key_id": "key_a",
        "team": "growth",
        "deployment": "openai/gpt-4o",
        "provider": "openai",
        "prompt_excerpt": f"prompt {n}",
        "created_at": T0 + timedelta(minutes=n),
    }
    data.update(kw)
    return PolicyEvent(**data)


class MemoryStore:
    """Stands in for PolicyEventStore: keeps batches; can fail or block on demand."""

    def __init__(self, *, fail_times: int = 0, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[PolicyEvent]] = []
        self.fail_times = fail_times
        self.gate = gate

    @property
    def events(self) -> list[PolicyEvent]:
        return [e for b in self.batches for e in b]

    async def add_many(self, events: Iterable[PolicyEvent]) -> int:
        batch = list(events)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionRefusedError("database is down")
        self.batches.append(batch)
        return len(batch)
