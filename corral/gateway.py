"""Assembly: builds every long-lived part of a running gateway from its settings.

The API edge holds one `Gateway`; tests build one directly. Start-up order matters:
storage first (migrations, bootstrap keys), then providers, then the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from corral.auth.service import BootstrapKeys, KeyService
from corral.config import Settings
from corral.context.usage import UsageStage
from corral.core.pipeline import Pipeline
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
        router = Router(routes)
        pipeline = Pipeline([UsageStage()], router)
        gw = cls(settings, db, kv, keys, routes, pipeline, bootstrap)
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
        await self.keys.aclose()
        await self.kv.close()
        await self.db.close()


async def _warm(provider) -> None:  # type: ignore[no-untyped-def]
    try:
        await provider.warmup()
    except Exception as exc:  # noqa: BLE001 - a failed warm-up surfaces on first use instead
        log.warning("warm-up of provider %s failed: %s", provider.name, exc)
