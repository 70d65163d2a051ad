"""Assembly: builds every long-lived part of a running gateway from its settings.

The API edge holds one `Gateway`; tests build one directly. Start-up order matters:
storage first (migrations, bootstrap keys), then providers, then the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from corral.auth.service import BootstrapKeys, KeyService
from corral.cache.exact import ExactCache
from corral.cache.stage import CacheStage
from corral.config import Settings
from corral.context.stage import ContextStage
from corral.context.usage import UsageStage
from corral.core.pipeline import Pipeline
from corral.governance.policy_events import PolicyEventRecorder
from corral.governance.stage import ContentPolicyStage
from corral.routing.router import Router
from corral.routing.table import RouteTable
from corral.store import KV, Database, default_database_url, kv_from_url, migrate

log = logging.getLogger("corral")


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
    bootstrap: BootstrapKeys | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    async def start(cls, settings: Settings, *, warmup: bool = True) -> Gateway:
        url = settings.database_url or default_database_url(settings.home)
        db = await Database.connect(url)
        try:
            await migrate(db)
            keys = KeyService(db, cache_ttl_s=settings.server.auth_cache_ttl_s)
            bootstrap = await keys.ensure_bootstrap_keys()
            routes = RouteTable.from_settings(settings)
        except BaseException:
            await db.close()
            raise
        kv = kv_from_url(settings.redis_url)
        recorder = PolicyEventRecorder(db)
        recorder.start()
        cache = CacheStage(ExactCache(kv), routes)
        router = Router(routes, kv, cache_lookup=cache.lookup)
        stages = [ContentPolicyStage(routes, recorder), cache, ContextStage(routes), UsageStage()]
        pipeline = Pipeline(stages, router)
        gw = cls(settings, db, kv, keys, routes, pipeline, router, recorder, cache, bootstrap)
        if warmup:
            for provider in routes.providers.values():
                task = asyncio.create_task(_warm(provider))
                gw._background.add(task)
                task.add_done_callback(gw._background.discard)
        return gw

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.routes.aclose()
        await self.cache.drain()
        await self.policy_events.aclose()
        await self.keys.aclose()
        await self.kv.close()
        await self.db.close()


async def _warm(provider) -> None:  # type: ignore[no-untyped-def]
    try:
        await provider.warmup()
    except Exception as exc:  # noqa: BLE001 - a failed warm-up surfaces on first use instead
        log.warning("warm-up of provider %s failed: %s", provider.name, exc)
