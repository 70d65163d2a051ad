"""Builds the limits stage from the settings: the meters on the shared KV, the estimator on the
route table's prices, and the seeding of dollar counters from the request records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from corral.cost.pricing import Pricer
from corral.limits.estimate import Estimator
from corral.limits.limiter import Limiter, SpendFn
from corral.limits.rules import Subject
from corral.limits.settings import LimitSettings
from corral.limits.spend import spent
from corral.limits.stage import LimitsStage
from corral.routing.table import RouteTable
from corral.store.db import Database
from corral.store.kv import KV
from corral.store.meters_redis import meters_for
from corral.store.schema import api_keys


def spend_from_records(db: Database) -> SpendFn:
    """Dollars a rule's subject has spent since a time, from the durable request records."""

    async def spend(subject: Subject, since: datetime) -> float:
        if subject.kind == "key":
            return await spent(db, since=since, key_ids=[subject.name])
        if subject.kind == "key-name":
            rows = await db.fetch_all(select(api_keys.c.id).where(api_keys.c.name == subject.name))
            return await spent(db, since=since, key_ids=[row["id"] for row in rows]) if rows else 0.0
        if subject.kind == "team":
            return await spent(db, since=since, team=subject.name)
        return await spent(db, since=since, route=subject.name)

    return spend


def limits_stage(settings: LimitSettings, routes: RouteTable, kv: KV, db: Database,
                 pricer: Pricer) -> LimitsStage | None:
    """The stage, or None when no limit is configured (nothing to pay for on the hot path)."""
    if not settings.configured():
        return None
    estimator = Estimator(routes, pricer, settings.default_output_tokens)
    limiter = Limiter(settings, meters_for(kv), estimator, spend_from_records(db))
    return LimitsStage(limiter, routes)
