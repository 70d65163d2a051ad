"""The ``webhook_delivery`` job: one signed POST per attempt, retried with backoff and jitter.

Delivery is at least once: a worker that dies after the POST but before recording it retries,
so receivers dedupe by ``webhook-id``. Every attempt is logged and counted
(``corral_webhook_deliveries_total{event, outcome}``: delivered, retried, failed, skipped), and
the job row keeps the last error. The endpoint is looked up in the current settings at each
attempt: an endpoint removed, or no longer taking the tenant's events, gets nothing more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson

from corral.jobs.control import Handler, JobControl
from corral.jobs.errors import JobFailed
from corral.jobs.types import Job, JSONValue
from corral.webhooks import send
from corral.webhooks.events import signed_headers
from corral.webhooks.settings import WebhookSettings

log = logging.getLogger("corral.webhooks")

Count = Callable[[str, str], None]  # (event type, outcome)


def delivery_handler(settings: WebhookSettings, count: Count) -> Handler:
    async def deliver(job: Job, control: JobControl) -> JSONValue:
        p = job.payload
        event, name, team = p["event"], str(p["endpoint"]), str(p["team"])
        kind, target = str(event["type"]), str(event["data"]["id"])
        endpoint = settings.endpoints.get(name)
        if endpoint is None or not endpoint.accepts(kind, team):
            count(kind, "skipped")
            why = "endpoint removed" if endpoint is None else "endpoint no longer takes this event"
            log.warning("webhook %s %s to %s skipped: %s", kind, target, name, why)
            return {"skipped": why}
        attempt = control.attempt
        try:
            key = endpoint.secret.key()
        except ValueError as exc:  # the variable was unset or changed after start
            count(kind, "failed")
            log.error("webhook %s %s to %s: %s", kind, target, name, exc)
            raise JobFailed(f"webhook secret: {exc}", retryable=False) from None
        body = orjson.dumps(event)
        started = time.monotonic()
        error = await send.post(endpoint.url, body, signed_headers(key, str(p["webhook_id"]), body),
                                endpoint.timeout_s)
        elapsed_ms = (time.monotonic() - started) * 1000
        if error is None:
            count(kind, "delivered")
            log.info("webhook %s %s delivered to %s (attempt %d, %.0f ms)", kind, target, name, attempt,
                     elapsed_ms)
            return {"delivered": True, "attempts": attempt}
        if attempt >= job.max_attempts:
            count(kind, "failed")
            log.error("webhook %s %s to %s failed after %d attempts: %s", kind, target, name, attempt, error)
            raise JobFailed(f"webhook failed after {attempt} attempts: {error}", retryable=False)
        wait = send.backoff_s(attempt, endpoint.backoff_base_s, endpoint.backoff_max_s)
        count(kind, "retried")
        log.warning("webhook %s %s to %s: attempt %d failed after %.0f ms (%s); retrying in %.1f s",
                    kind, target, name, attempt, elapsed_ms, error, wait)
        raise JobFailed(f"webhook: {error}", retry_after_s=wait)

    return deliver
