"""Queue an event's deliveries when a background response or a batch reaches a terminal state.

One delivery job per (event, endpoint), deduplicated on both: the same finish reported twice
(a job retried after its worker died between writing the state and queueing the event, a check
that runs again) queues nothing new. The jobs belong to an internal team, so a tenant's queue
limit never refuses the event of a response that already finished; the tenant is in the payload,
and only endpoints configured for that tenant (`teams`) get a job at all.
"""

from __future__ import annotations

import logging

from corral.jobs.queue import JobQueue
from corral.jobs.types import NewJob
from corral.webhooks.events import event, webhook_id
from corral.webhooks.settings import EVENT_TYPES, WebhookSettings

log = logging.getLogger("corral.webhooks")

KIND = "webhook_delivery"
JOB_TEAM = "_webhooks"  # internal jobs: never counted against a tenant's queue limit
PRIORITY = 10  # as background responses: a batch's items never hold an event back


class WebhookEmitter:
    """``emit(type, object_id, team)``: a no-op without endpoints (no database work at all)."""

    def __init__(self, settings: WebhookSettings, jobs: JobQueue) -> None:
        self.settings = settings
        self.jobs = jobs

    async def emit(self, event_type: str, object_id: str, team: str) -> int:
        """Queue the event for every endpoint that takes it from `team`; how many were new or found."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event {event_type!r}")
        targets = [(name, ep) for name, ep in self.settings.endpoints.items() if ep.accepts(event_type, team)]
        if not targets:
            return 0
        evt = event(event_type, object_id)
        await self.jobs.enqueue_many([
            NewJob(kind=KIND, team=JOB_TEAM, priority=PRIORITY, max_attempts=ep.max_attempts,
                   dedupe_key=f"{name}:{evt['id']}",
                   payload={"endpoint": name, "team": team, "webhook_id": webhook_id(str(evt["id"]), name),
                            "event": evt})
            for name, ep in targets])
        log.info("webhook %s %s (%s) queued for %s", event_type, object_id, evt["id"],
                 ", ".join(name for name, _ in targets))
        return len(targets)
