"""Escalation: high-severity incidents go to a webhook through the durable job queue.

Why the queue and not a task: an accepted report must reach the webhook even when the webhook
is down for a while or the process restarts meanwhile. The report's transaction has committed
the incident; enqueueing the delivery job (deduplicated per incident) follows at once, and the
job survives any process: a worker retries it with exponential backoff and jitter until it is
delivered or ``max_attempts`` have failed. Every attempt is logged and written on the incident
(``escalation``, ``escalation_attempts``, ``escalation_error``); the final failure is a log error
and ``escalation: failed`` on the incident, where reviewers see it.

Delivery is at least once (a worker that dies after the POST retries it): receivers dedupe by
the ``x-corral-delivery`` header. The payload carries ids, labels, times and links, never
content or end-user ids: the receiver (a chat channel, a pager) is outside Corral's retention
and erasure, so reviewers follow the link to read the redacted request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import time
from typing import Any

import orjson

from corral.incidents.model import Incident, rank
from corral.incidents.settings import EscalationSettings
from corral.incidents.store import IncidentStore
from corral.jobs.control import Handler, JobControl
from corral.jobs.errors import JobFailed
from corral.jobs.queue import JobQueue
from corral.jobs.types import Job, JSONValue, NewJob
from corral.store.db import Database
from corral.store.schema import utcnow
from corral.webhooks import send

log = logging.getLogger("corral.incidents")

KIND = "incident_escalation"
JOB_TEAM = "_incidents"  # internal jobs: never counted against a tenant's queue limit
SIGNATURE_HEADER = "x-corral-signature"


def due(incident: Incident, settings: EscalationSettings) -> bool:
    """Whether the incident goes to the webhook: one is configured and the severity is high enough."""
    return bool(settings.webhook_url) and rank(incident.severity) >= rank(settings.min_severity)


async def escalate(db: Database, jobs: JobQueue, incident: Incident, settings: EscalationSettings) -> bool:
    """Queue the delivery (once per incident); True when queued now or before."""
    if not due(incident, settings):
        return False
    await jobs.enqueue(NewJob(kind=KIND, payload={"incident_id": incident.id}, team=JOB_TEAM,
                              dedupe_key=f"escalate:{incident.id}", priority=10,
                              max_attempts=settings.max_attempts))
    if incident.escalation == "none":
        await IncidentStore(db).escalation(incident.id, "pending", 0, None)
        incident.escalation = "pending"
    return True


def backoff_s(attempt: int, settings: EscalationSettings, rng: random.Random | None = None) -> float:
    """Wait after the ``attempt``-th failure (corral.webhooks.send: doubling, equal jitter)."""
    return send.backoff_s(attempt, settings.backoff_base_s, settings.backoff_max_s, rng)


def payload(incident: Incident, attempt: int, settings: EscalationSettings) -> dict[str, Any]:
    base = (settings.public_url or "").rstrip("/")
    return {
        "object": "incident.escalation", "incident": incident.public(), "attempt": attempt,
        "sent_at": utcnow().isoformat(),
        "links": {"api": f"{base}/admin/incidents/{incident.id}",
                  "dashboard": f"{base}/dashboard#incident={incident.id}"},
    }


def signed_headers(body: bytes, settings: EscalationSettings, delivery: str) -> dict[str, str]:
    """Headers of one attempt: the configured ones, the delivery id, and the HMAC when a secret is set.

    The signature is ``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``; receivers check it
    and refuse old timestamps (replays)."""
    stamp = str(int(time.time()))
    headers = {**settings.headers, "content-type": "application/json", "x-corral-delivery": delivery,
               "x-corral-timestamp": stamp}
    secret = os.environ.get(settings.secret_env) if settings.secret_env else None
    if secret:
        digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    return headers


def escalation_handler(db: Database, settings: EscalationSettings) -> Handler:
    """The job handler for ``incident_escalation``: one POST per attempt."""
    store = IncidentStore(db)

    async def deliver(job: Job, control: JobControl) -> JSONValue:
        incident_id = str(job.payload.get("incident_id"))
        incident = await store.get(incident_id)
        if incident is None or not settings.webhook_url:
            return {"skipped": "incident gone" if incident is None else "no webhook_url configured"}
        attempt = control.attempt
        body = orjson.dumps(payload(incident, attempt, settings))
        started = time.monotonic()
        headers = signed_headers(body, settings, job.id)
        error = await send.post(settings.webhook_url, body, headers, settings.timeout_s)
        elapsed_ms = (time.monotonic() - started) * 1000
        if error is None:
            await store.escalation(incident.id, "delivered", attempt, None)
            log.info("incident %s escalated (attempt %d, %.0f ms)", incident.id, attempt, elapsed_ms)
            return {"delivered": True, "attempts": attempt}
        if attempt >= job.max_attempts:
            final = f"failed after {attempt} attempts: {error}"
            await store.escalation(incident.id, "failed", attempt, final)
            await store.add_note(incident.id, "system", "escalation", f"escalation {final}")
            log.error("incident %s: escalation failed after %d attempts: %s", incident.id, attempt, error)
            raise JobFailed(f"escalation failed after {attempt} attempts: {error}", retryable=False)
        wait = backoff_s(attempt, settings)
        await store.escalation(incident.id, "pending", attempt, error)
        log.warning("incident %s: escalation attempt %d failed (%s); retrying in %.1f s",
                    incident.id, attempt, error, wait)
        raise JobFailed(f"webhook: {error}", retry_after_s=wait)

    return deliver
