"""Assembly: builds every long-lived part of a running gateway from its settings.

The API edge holds one `Gateway`; tests build one directly. Start-up order matters:
storage first (migrations, bootstrap keys), then providers, then the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from corral.api.batch_lines import line_server
from corral.auth.service import BootstrapKeys, KeyService
from corral.batches.native.service import NativeBatches
from corral.batches.runner import BatchRunner
from corral.batches.store import BatchStore
from corral.cache.exact import ExactCache, cache_store
from corral.cache.semantic import COUNTERS as SEMANTIC_COUNTERS
from corral.cache.semantic import SemanticCache
from corral.cache.stage import CacheStage
from corral.config import Settings
from corral.context.stage import ContextStage
from corral.context.usage import UsageStage
from corral.core.context import RequestContext
from corral.core.pipeline import Pipeline, Result, Stage
from corral.cost.pricing import Pricer
from corral.files.store import FileStore
from corral.governance.audit import AuditLog, config_fingerprint
from corral.governance.policy_events import PolicyEventRecorder
from corral.governance.retention import retention_purge
from corral.governance.stage import ContentPolicyStage
from corral.incidents.wiring import feed_for, incident_handlers, input_rule_stage
from corral.jobs.queue import JobQueue
from corral.jobs.stats import JOB_COUNTERS
from corral.jobs.worker import JobWorker
from corral.knowledge.stage import GroundingStage
from corral.knowledge.wiring import close_knowledge, knowledge_for, knowledge_handlers, knowledge_purge
from corral.lifecycle import Lifecycle
from corral.limits.limiter import COUNTERS as LIMIT_COUNTERS
from corral.limits.spend import budget_check
from corral.limits.stage import LimitsStage
from corral.limits.wiring import limits_stage
from corral.maintenance import Maintenance
from corral.observe.alerts import AlertEngine
from corral.observe.metrics import Metrics
from corral.observe.quality.consistency import GroundedConsistency
from corral.observe.recorder import Recorder
from corral.plugins import StageParts, build_stages, plugin_order, stage_plugins
from corral.privacy.policy import PrivacySettings, privacy_settings_from
from corral.privacy.stage import PrivacyStage, load_default_detector
from corral.privacy.types import Detector
from corral.prompts.resolve import PromptResolver
from corral.prompts.stage import PromptStage
from corral.providers.base import Provider
from corral.providers.local_embed import MiniLMSentences
from corral.responses.background import start_response_worker
from corral.routing.router import Router
from corral.routing.table import RouteTable
from corral.store import KV, Database, default_database_url, migrate
from corral.store.coordinated import gateway_kv
from corral.store.kv_redis import STATS_COUNTERS as REDIS_COUNTERS
from corral.store.kv_redis import RedisKV
from corral.store.leader import Leadership
from corral.webhooks.emit import WebhookEmitter
from corral.webhooks.wiring import check_secrets, start_webhooks

log = logging.getLogger("corral")
CACHE_COUNTERS = {"hits", "misses", "stores", "evictions", "errors", "corrupt", "skipped_uncacheable",
                  "skipped_oversize", "skipped_degraded", "skipped_private", "skipped_busy", "expired"}


@dataclass
class Gateway:
    settings: Settings
    db: Database
    kv: KV
    keys: KeyService
    routes: RouteTable
    pipeline: Pipeline
    router: Router
    policy_events: PolicyEventRecorder
    cache: CacheStage
    recorder: Recorder
    alerts: AlertEngine
    lifecycle: Lifecycle
    jobs: JobQueue
    worker: JobWorker  # runs this process's share of the queue (batches, background responses)
    bootstrap: BootstrapKeys | None = None
    pii_detector: Detector | None = None  # loaded when a privacy policy is on, or on first scan
    privacy: PrivacyStage | None = None  # None: no policy anywhere, nothing to detect
    batches: BatchRunner | None = None  # set once the gateway exists: its items run through handle()
    maintenance: Maintenance | None = None  # scheduled purges, once across replicas (a queue job)
    limits: LimitsStage | None = None  # None: no rate limit or budget configured
    prompts: PromptResolver | None = None  # the registry's cache (corral.prompts.resolve)
    leader: Leadership | None = None  # whether this process runs the once-per-system loops
    webhooks: WebhookEmitter | None = None  # events of finished background responses and batches
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    async def start(cls, settings: Settings, *, warmup: bool = True, run_jobs: bool = True) -> Gateway:
        """Build and start everything. `run_jobs`: whether this process also runs queue work
        (batches, background responses); `corral serve --no-worker` leaves it to `corral worker`."""
        plugins = stage_plugins()
        order = plugin_order(plugins)  # a plugin placed against the declared order fails here, first
        if run_jobs:  # the process that delivers (signs) needs every webhook secret; one that only
            check_secrets(settings.webhooks, settings.source)  # queues events (--no-worker) does not
        url = settings.database_url or default_database_url(settings.home)
        db = await Database.connect(url)
        try:
            await migrate(db)
            audit = AuditLog(db)
            await audit.append("system", "config.load", settings.source,
                               after=config_fingerprint(settings.model_dump_json(), settings.source))
            keys = KeyService(db, cache_ttl_s=settings.server.auth_cache_ttl_s)
            bootstrap = await keys.ensure_bootstrap_keys()
            for info in (bootstrap.admin, bootstrap.default) if bootstrap else ():
                await audit.append("system", "key.create", info.id, after=info.to_dict())
            routes = RouteTable.from_settings(settings)
            leader = Leadership(db)
            await leader.start()  # before the loops it gates: the leader's first pass runs at once
        except BaseException:
            await db.close()
            raise
        kv = gateway_kv(settings.redis_url)  # Redis, the local coordinator (--workers N) or memory
        policy_events = PolicyEventRecorder(feed_for(lambda: gw, db))  # events also open incidents
        policy_events.start()
        exact = ExactCache(cache_store(kv))
        sentences = MiniLMSentences()  # one model for the semantic cache and the consistency score
        cache = CacheStage(exact, routes, semantic=_semantic_cache(settings, exact, sentences))
        router = Router(routes, kv, fallback_sources=[cache])
        prompts = PromptResolver(db)  # always on: a request may name a registry prompt on any route
        stages: list[Stage] = [
            ContentPolicyStage(routes, policy_events, capture_content=settings.observability.capture_content),
            cache, ContextStage(routes), UsageStage(), input_rule_stage(db, policy_events),
            PromptStage(routes, prompts),
        ]
        privacy = privacy_settings_from(settings)
        detector = None
        privacy_stage = None
        if privacy_enabled(privacy):
            detector = load_default_detector(threshold=privacy.lowest_score(), languages=privacy.languages)
            privacy_stage = PrivacyStage(detector, privacy, serving=routes.serving_routes)
            stages.append(privacy_stage)
        if any(m.knowledge is not None for m in settings.models.values()):  # routes grounded in stores
            stages.append(GroundingStage(routes, lambda: knowledge_for(gw)))
        pricer = Pricer.from_settings(settings.pricing)
        limits = limits_stage(settings.limits, routes, kv, db, pricer)
        if limits is not None:
            stages.append(limits)
        stages += build_stages(plugins, StageParts(settings=settings, routes=routes, kv=kv, db=db))
        recorder = Recorder.create(
            db, settings.home, settings.observability, pricer,
            models=list(routes.routes), provider_types={n: p.type for n, p in settings.providers.items()},
        )
        recorder.start()
        recorder.metrics.register_gauge_source("exact_cache", cache.cache.stats, counters=CACHE_COUNTERS)
        if cache.semantic is not None:
            recorder.metrics.register_gauge_source("semantic_cache", cache.semantic.stats,
                                                   counters=SEMANTIC_COUNTERS)
        if limits is not None:
            recorder.metrics.register_gauge_source("limits", limits.limiter.stats, counters=LIMIT_COUNTERS)
        if recorder.quality is not None:  # grounded answers against their sources
            recorder.quality.register_consistency_scorer(GroundedConsistency(sentences))
        alerts = AlertEngine(db, settings.alerts, quality=_lowest_quality(recorder),
                             consistency=_lowest_quality(recorder, "consistency"),
                             budget=budget_check(db, settings.limits), leads=lambda: leader.leading)
        alerts.start()
        pipeline = Pipeline(stages, router, order)
        jobs = JobQueue(db, settings.jobs)
        gw = cls(
            settings=settings, db=db, kv=kv, keys=keys, routes=routes,
            pipeline=pipeline, router=router, policy_events=policy_events,
            cache=cache, recorder=recorder, alerts=alerts, lifecycle=Lifecycle(routes, pipeline, recorder),
            jobs=jobs, worker=JobWorker(jobs), bootstrap=bootstrap, pii_detector=detector,
            privacy=privacy_stage, limits=limits, prompts=prompts, leader=leader,
        )
        gw.batches = BatchRunner(BatchStore(db), jobs, FileStore(db, settings.files), line_server(gw),
                                 routes.public_name, settings.batches)
        gw.batches.native = _native_batches(gw.batches, routes)
        gw.webhooks = start_webhooks(gw)  # webhook_delivery; before the handlers that emit events
        gw.batches.notify = gw.webhooks.emit
        gw.maintenance = Maintenance(db, jobs, settings.files, settings.responses,
                                     leads=lambda: leader.leading, notify=gw.webhooks.emit)
        handlers = {**gw.batches.handlers(), **gw.maintenance.handlers(), **incident_handlers(gw)}
        for kind, handler in handlers.items():  # incident_escalation: webhook delivery
            gw.worker.register(kind, handler)
        start_response_worker(gw)  # background responses: the "response" job handler
        for kind, handler in knowledge_handlers(gw).items():  # kb_ingest: knowledge-base ingestion
            gw.worker.register(kind, handler)
        gw.maintenance.purges["vector_stores"] = knowledge_purge(gw)
        gw.maintenance.purges["retention"] = retention_purge(db, settings.governance.retention)
        if run_jobs:
            await gw.worker.start()
            gw.maintenance.start()
        recorder.metrics.register_gauge_source("jobs", gw.worker.stats, counters=JOB_COUNTERS)
        recorder.metrics.register_gauge_source("leader", leader.stats, counters={"changes"})
        if isinstance(kv, RedisKV):  # the breakers' copies and the batched counts (corral.store.kv_redis)
            recorder.metrics.register_gauge_source("redis", kv.stats, counters=REDIS_COUNTERS)
        if detector is not None:
            warm = getattr(detector, "warmup", None)  # PIIDetector loads its models here
            if warm is not None:
                gw._spawn(asyncio.to_thread(warm))
        if warmup:
            for provider in routes.providers.values():
                gw._spawn(_warm(provider))
        return gw

    async def handle(self, ctx: RequestContext) -> Result:
        """Serve one request of any operation through the lifecycle (resolve, stages, record)."""
        return await self.lifecycle.handle(ctx)

    @property
    def metrics(self) -> Metrics:
        return self.recorder.metrics

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self.maintenance is not None:
            await self.maintenance.aclose()
        await self.worker.stop()  # first: running items still record, price and write results
        await close_knowledge(self)  # after the worker: the embedded vector graphs save their files
        await self.routes.aclose()
        await self.cache.drain()
        if self.limits is not None:
            await self.limits.limiter.drain()  # settlements still on their way to Redis
        await self.policy_events.aclose()
        await self.alerts.aclose()
        await self.recorder.aclose()
        await self.keys.aclose()
        await self.kv.close()
        if self.leader is not None:
            await self.leader.aclose()
        await self.db.close()


def _semantic_cache(settings: Settings, exact: ExactCache, embed: MiniLMSentences) -> SemanticCache | None:
    """The semantic cache when a route asks for it (its embedding model loads on first use)."""
    if not any(m.cache is not None and m.cache.semantic for m in settings.models.values()):
        return None
    return SemanticCache(exact, embed)


def _lowest_quality(records: Recorder,
                    kind: str = "similarity") -> Callable[[int], Awaitable[float | None]] | None:
    """The alert engine's quality signals: the lowest rolling `kind` score (similarity to golden
    answers, consistency of grounded answers) of any route/model."""
    quality = records.quality
    if quality is None:
        return None

    async def lowest(window_s: int) -> float | None:
        ranked = quality.drops(1.01, kind=kind, min_count=5)  # every (route, model), lowest first
        return ranked[0][2] if ranked else None

    return lowest


def _native_batches(runner: BatchRunner, routes: RouteTable) -> NativeBatches | None:
    """Routes with `batch: native` and their deployments' batch APIs (checked when the table
    was built: each has one); None when no route forwards its batches."""
    native = [route for route in routes.routes.values() if route.native_batch]
    apis = {d.name: api for route in native for d in route.deployments
            if (api := d.provider.native_batch) is not None}
    if not native:
        return None
    return NativeBatches(runner.store, runner.queue, runner.files, runner.serve, runner.route_of,
                         frozenset(route.public_name for route in native), apis, runner.settings)


def privacy_enabled(privacy: PrivacySettings) -> bool:
    """Whether any rule asks for detection (no detector is loaded when all are off)."""
    rules = [privacy.default, *privacy.routes.values(), *privacy.keys.values()]
    return any(rule.policy != "off" for rule in rules)


async def _warm(provider: Provider) -> None:
    try:
        await provider.warmup()
    except Exception as exc:  # noqa: BLE001 - a failed warm-up surfaces on first use instead
        log.warning("warm-up of provider %s failed: %s", provider.name, exc)
