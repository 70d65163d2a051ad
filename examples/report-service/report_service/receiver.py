"""``POST /corral/events``: Corral's webhooks for finished background responses.

Each event is verified with the openai SDK (``webhooks.unwrap``: Standard Webhooks signature and
a timestamp at most 5 minutes off) against the ``whsec_`` secret the service shares with Corral;
anything else is a 400 and changes nothing. Delivery is at least once, so events are deduplicated
by ``webhook-id``. The receiver only wakes the worker waiting on the response and answers at once
(Corral cuts a slow attempt and retries it); the worker reads the response, as a poll would.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict

from openai import AsyncOpenAI, InvalidWebhookSignatureError
from openai.types.webhooks import (
    ResponseCancelledWebhookEvent,
    ResponseCompletedWebhookEvent,
    ResponseFailedWebhookEvent,
    ResponseIncompleteWebhookEvent,
)
from starlette.requests import Request
from starlette.responses import JSONResponse

from report_service.signals import Signals

log = logging.getLogger("report_service.receiver")
# response.completed / failed / cancelled / incomplete: a background response ended
RESPONSE_EVENTS = (ResponseCompletedWebhookEvent, ResponseFailedWebhookEvent, ResponseCancelledWebhookEvent,
                   ResponseIncompleteWebhookEvent)
SEEN_KEPT = 10_000  # webhook ids remembered for deduplication (Corral retries within minutes)


class Receiver:
    def __init__(self, client: AsyncOpenAI, secret: str, signals: Signals) -> None:
        self.client, self.secret, self.signals = client, secret, signals
        # received: a response event acted on; duplicate: a webhook-id seen before; refused: a bad
        # signature or timestamp (400); ignored: a verified event of another kind (batch.*).
        self.counts: Counter[str] = Counter({"received": 0, "duplicate": 0, "refused": 0, "ignored": 0})
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = self.client.webhooks.unwrap(body, request.headers, secret=self.secret)
        except (InvalidWebhookSignatureError, ValueError) as exc:  # ValueError: a header missing
            self.counts["refused"] += 1
            log.warning("refused a webhook: %s", exc)
            return JSONResponse({"error": "invalid webhook signature"}, status_code=400)
        webhook_id = request.headers.get("webhook-id") or event.id
        if webhook_id in self._seen:
            self.counts["duplicate"] += 1
            return JSONResponse({"received": True, "duplicate": True})
        self._seen[webhook_id] = None
        while len(self._seen) > SEEN_KEPT:
            self._seen.popitem(last=False)
        if not isinstance(event, RESPONSE_EVENTS):
            self.counts["ignored"] += 1
            return JSONResponse({"received": True})
        self.counts["received"] += 1
        waiting = self.signals.notify(event.data.id)
        log.info("webhook %s for %s (%s)", event.type, event.data.id,
                 "woke its worker" if waiting else "no worker waiting yet")
        return JSONResponse({"received": True})
