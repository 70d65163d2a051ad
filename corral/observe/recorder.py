"""The one call the API edge makes when a request ends: record, price, count, trace, store.

Everything here runs after the response (or its last chunk) has been written, never
raises into the request, and never waits on the database: the record goes to the
bounded write-behind sink.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from corral.core.context import CacheNote, RequestContext
from corral.cost.pricing import Pricer
from corral.observe.builder import build_record
from corral.observe.metrics import Metrics
from corral.observe.quality.scorer import QualityScorer
from corral.observe.record import RequestRecord
from corral.observe.settings import ObservabilitySettings
from corral.observe.sink import RecordSink
from corral.observe.tracing import Tracing
from corral.privacy.capture import content_kept
from corral.store import Database

log = logging.getLogger("corral.observe")
SINK_COUNTERS = {"queued", "written", "spooled", "replayed", "dropped_queue_full", "dropped_spool",
                 "dropped_invalid", "dropped_closed", "dropped", "write_errors", "batches"}


class Recorder:
    def __init__(self, sink: RecordSink, metrics: Metrics, pricer: Pricer, settings: ObservabilitySettings,
                 tracing: Tracing | None = None, quality: QualityScorer | None = None):
        self.sink = sink
        self.metrics = metrics
        self.pricer = pricer
        self.settings = settings
        self.tracing = tracing
        self.quality = quality
        metrics.register_gauge_source("record_sink", sink.stats, counters=SINK_COUNTERS)

    @classmethod
    def create(cls, db: Database, home: Path, settings: ObservabilitySettings, pricer: Pricer,
               models: list[str], provider_types: dict[str, str]) -> Recorder:
        sink = RecordSink(db, home / "spool")
        metrics = Metrics(models=models, provider_types=provider_types)
        tracing = Tracing.from_settings(settings, provider_types=provider_types)
        # Similarity to golden answers needs the content: only scored when capture is on.
        quality = QualityScorer(db, writer=db) if settings.capture_content else None
        return cls(sink, metrics, pricer, settings, tracing, quality)

    def start(self) -> None:
        self.sink.start()
        if self.quality is not None:
            self.quality.start()
        if self.tracing is not None:
            self.tracing.attach(self.metrics)

    async def aclose(self) -> None:
        if self.tracing is not None:
            await self.tracing.aclose()
        if self.quality is not None:
            await self.quality.aclose()
        await self.sink.aclose()

    def _fold_children(self, ctx: RequestContext, record: RequestRecord) -> None:
        """Calls made on the request's behalf (summarizer, grader) belong to its record: their
        attempts join its attempts, each is listed with its tokens and cost under
        extras["children"], and their cost is added to the request's. Each is priced at its
        own model's price; one that cannot be priced is listed with cost None and counted in
        extras["children_unpriced"], and the request's cost is then a lower bound."""
        children: list[dict[str, Any]] = []
        unpriced = 0
        for child in ctx.children:
            sub = build_record(child, http_status=200, error=None, client_first_byte_at=None,
                               finished_at=time.perf_counter(), capture_content=False)
            cost, priced = self.pricer.cost_of(sub)
            if priced and cost is not None:
                if record.priced and record.cost_usd is not None:  # an unpriced total stays unknown
                    record.cost_usd += cost
            elif sub.input_tokens or sub.output_tokens:
                unpriced += 1
            record.attempts.extend(sub.attempts)
            children.append({"request_id": sub.request_id, "model": sub.served_model,
                             "input_tokens": sub.input_tokens, "output_tokens": sub.output_tokens,
                             "cost_usd": cost if priced else None})
        record.extras["children"] = children
        if unpriced:
            record.extras["children_unpriced"] = unpriced

    def _saved(self, hit: CacheNote, record: RequestRecord) -> float | None:
        """What a cache hit saved: the replayed answer's tokens at its model's price on the hit's
        day (what calling it again would have cost now); None when that model is unpriced."""
        usage = hit.usage
        if usage is None:
            return None
        cost, priced = self.pricer.cost_of({
            "created_at": record.created_at, "status": "ok", "provider_type": hit.provider_type,
            "served_model": hit.served_model, "deployment": hit.deployment,
            "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens, "reasoning_tokens": usage.reasoning_tokens,
        })
        return cost if priced else None

    def capture_for(self, ctx: RequestContext) -> bool:
        """Content is kept only when capture is on and a privacy policy has handled it."""
        return content_kept(ctx, self.settings.capture_content)

    def finish(self, ctx: RequestContext, *, http_status: int, error: BaseException | None,
               client_first_byte_at: float | None, response_text: str | None = None) -> RequestRecord | None:
        """Record the request; the record (priced, children folded in), or None when it could not be built."""
        record: RequestRecord | None = None
        try:
            record = build_record(
                ctx, http_status=http_status, error=error, client_first_byte_at=client_first_byte_at,
                finished_at=time.perf_counter(), capture_content=self.capture_for(ctx),
                response_text=response_text,
            )
            record.cost_usd, record.priced = self.pricer.cost_of(record)
            if ctx.cache is not None and ctx.cache.outcome == "hit":
                record.extras["cache_saved_usd"] = self._saved(ctx.cache, record)
            if ctx.children:
                self._fold_children(ctx, record)
            self.metrics.observe(record)
            if self.tracing is not None:
                self.tracing.observe(record)
            self.sink.submit(record)
            if self.quality is not None:
                self.quality.observe(record)
        except Exception:  # bookkeeping must never fail a request
            log.exception("could not record request %s", ctx.request_id)
        return record
