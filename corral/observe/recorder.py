"""The one call the API edge makes when a request ends: record, price, count, trace, store.

Everything here runs after the response (or its last chunk) has been written, never
raises into the request, and never waits on the database: the record goes to the
bounded write-behind sink.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from corral.core.context import RequestContext
from corral.cost.pricing import Pricer
from corral.observe.builder import build_record
from corral.observe.metrics import Metrics
from corral.observe.quality.scorer import QualityScorer
from corral.observe.sink import RecordSink
from corral.observe.tracing import ObservabilitySettings, Tracing
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

    def capture_for(self, ctx: RequestContext) -> bool:
        """Content is kept only when capture is on and a privacy policy has handled it."""
        return content_kept(ctx, self.settings.capture_content)

    def finish(self, ctx: RequestContext, *, http_status: int, error: BaseException | None,
               client_first_byte_at: float | None, response_text: str | None = None) -> None:
        try:
            record = build_record(
                ctx, http_status=http_status, error=error, client_first_byte_at=client_first_byte_at,
                finished_at=time.perf_counter(), capture_content=self.capture_for(ctx),
                response_text=response_text,
            )
            record.cost_usd, record.priced = self.pricer.cost_of(record)
            self.metrics.observe(record)
            if self.tracing is not None:
                self.tracing.observe(record)
            self.sink.submit(record)
            if self.quality is not None:
                self.quality.observe(record)
        except Exception:  # bookkeeping must never fail a request
            log.exception("could not record request %s", ctx.request_id)
