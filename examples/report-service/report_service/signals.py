"""Wake-ups from Corral's webhooks to the workers waiting on background responses.

A worker that sent a report waits on its response id; the webhook receiver wakes it when Corral
says the response finished, and the worker then reads the response once. An event may come before
the worker waits (Corral can finish a short response before the create call has returned), so a
wake-up for an id nobody waits on yet is kept, a bounded number of them.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

EARLY_KEPT = 4096  # wake-ups for ids nobody waits on yet; beyond that the fallback poll sees them


class Signals:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Event] = {}
        self._early: OrderedDict[str, None] = OrderedDict()

    def watch(self, response_id: str) -> asyncio.Event:
        """The event a worker waits on for ``response_id`` (already set if its wake-up came first)."""
        event = self._waiting.setdefault(response_id, asyncio.Event())
        if response_id in self._early:
            del self._early[response_id]
            event.set()
        return event

    def forget(self, response_id: str) -> None:
        self._waiting.pop(response_id, None)

    def notify(self, response_id: str) -> bool:
        """Wake the worker waiting on ``response_id``; True when one was waiting."""
        event = self._waiting.get(response_id)
        if event is not None:
            event.set()
            return True
        self._early[response_id] = None
        while len(self._early) > EARLY_KEPT:
            self._early.popitem(last=False)
        return False


async def wait(event: asyncio.Event, timeout_s: float) -> bool:
    """Whether ``event`` was set within ``timeout_s`` (cleared again for the next wait)."""
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return False
    event.clear()
    return True
