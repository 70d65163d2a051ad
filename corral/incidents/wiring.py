"""How the running gateway uses incidents: the report path, the event feed and the job handler.

Kept apart from the gateway's assembly so that corral.gateway adds three lines, and the API
modules call one function per action without knowing the store, the queue and the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from corral.governance.policy_events import PolicyEvent, PolicyEventStore
from corral.incidents.escalation import KIND, escalate, escalation_handler
from corral.incidents.model import Incident
from corral.incidents.rules import RuleCache
from corral.incidents.settings import EscalationSettings
from corral.incidents.stage import InputRuleStage
from corral.incidents.store import Attached, IncidentStore, Report
from corral.jobs.control import Handler
from corral.store.db import Database

log = logging.getLogger("corral.incidents")


def escalation_settings(gateway: Any) -> EscalationSettings:
    return getattr(gateway.settings.governance, "escalation", None) or EscalationSettings()


async def file_report(gateway: Any, report: Report) -> Attached:
    """Open or add to the request's incident; queue its escalation when it is (now) severe enough.

    Also when a due incident was never queued (the process died between the commit and the
    enqueue, and the client retried the report): enqueueing is idempotent per incident."""
    attached = await IncidentStore(gateway.db).report(report)
    if attached.raised or attached.incident.escalation == "none":
        await escalate(gateway.db, gateway.jobs, attached.incident, escalation_settings(gateway))
    return attached


async def maybe_escalate(gateway: Any, incident: Incident) -> bool:
    """After a reviewer raised the severity: escalate if it is now due (once per incident)."""
    return await escalate(gateway.db, gateway.jobs, incident, escalation_settings(gateway))


class IncidentFeed:
    """The policy-event recorder's writer: stores the events, then files them as incidents.

    Runs in the recorder's background batches, so the request path never waits for it; a failed
    incident update is logged and the events stay stored (the review record is not lost)."""

    def __init__(self, db: Database, on_opened: Callable[[Incident], Awaitable[Any]] | None = None) -> None:
        self.events = PolicyEventStore(db)
        self.incidents = IncidentStore(db)
        self.on_opened = on_opened

    async def add_many(self, events: Iterable[PolicyEvent]) -> int:
        batch = list(events)
        written = await self.events.add_many(batch)
        try:
            for attached in await self.incidents.absorb_events(batch):
                if attached.opened and self.on_opened is not None:
                    await self.on_opened(attached.incident)
        except Exception as exc:  # noqa: BLE001 - the events are stored; the queue catches up next batch
            log.warning("policy events: filing %d as incidents failed: %s", len(batch), exc)
        return written


def feed_for(gateway_ref: Callable[[], Any], db: Database) -> IncidentFeed:
    """The feed, escalating through the gateway once it exists (it is built after the recorder)."""
    async def opened(incident: Incident) -> None:
        await maybe_escalate(gateway_ref(), incident)

    return IncidentFeed(db, opened)


def input_rule_stage(db: Database, recorder: Any) -> InputRuleStage:
    return InputRuleStage(RuleCache(db), recorder)


def incident_handlers(gateway: Any) -> dict[str, Handler]:
    return {KIND: escalation_handler(gateway.db, escalation_settings(gateway))}
