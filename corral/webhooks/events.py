"""The event OpenAI's webhooks send, and its Standard Webhooks signature.

An event is ``{"object": "event", "id": "evt_...", "type": "response.completed",
"created_at": <unix s>, "data": {"id": "resp_..."}}``: ids only, never content (the receiver
GETs the object with its own key). The event id is derived from the object and its terminal
state, so the same finish enqueued twice (a retried job, a second replica) is one event.

Each delivery attempt carries ``webhook-id`` (the same for every attempt of one event to one
endpoint: receivers dedupe by it), ``webhook-timestamp`` (the attempt's time, which receivers
check against replays) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of
"{webhook-id}.{webhook-timestamp}.{body}">`` keyed with the decoded ``whsec_`` secret. The
openai SDK's ``client.webhooks.unwrap`` verifies exactly this.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any


def _digest(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def event_id(event_type: str, object_id: str) -> str:
    """One id per (object, terminal state)."""
    return f"evt_{_digest(event_type, object_id)}"


def webhook_id(event: str, endpoint: str) -> str:
    """The ``webhook-id`` of one event's deliveries to one endpoint (stable across retries)."""
    return f"wh_{_digest(event, endpoint)}"


def event(event_type: str, object_id: str, created_at: int | None = None) -> dict[str, Any]:
    return {"object": "event", "id": event_id(event_type, object_id), "type": event_type,
            "created_at": int(time.time()) if created_at is None else created_at, "data": {"id": object_id}}


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>``: HMAC-SHA256 of ``{id}.{timestamp}.{body}`` (Standard Webhooks)."""
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(key: bytes, message_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers of one attempt, signed now."""
    stamp = int(time.time() if now is None else now)
    return {"content-type": "application/json", "user-agent": "Corral-Webhooks/1",
            "webhook-id": message_id, "webhook-timestamp": str(stamp),
            "webhook-signature": signature(key, message_id, stamp, body)}
