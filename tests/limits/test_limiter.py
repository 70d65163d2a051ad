"""The limiter on its own: what a request is held to (background share, a provider batch's answer,
calls made for a request), counters seeded from the records, and a counter store that is down."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from corral.config import Settings
from corral.core.context import Caller, RequestContext
from corral.core.types import ChatRequest, Message
from corral.cost.pricing import Pricer
from corral.limits.errors import BudgetExhausted, LimitExceeded
from corral.limits.estimate import Estimator
from corral.limits.limiter import Limiter, LimitsUnavailable
from corral.limits.rules import Subject
from corral.routing.table import RouteTable
from corral.store.kv_redis import RedisKV
from corral.store.meters import MemoryMeters, MeterStore
from corral.store.meters_redis import RedisMeters

CALLER = Caller("key_1", "app", "team-a", frozenset({"inference"}))


def _limiter(limits: dict[str, Any], spent: float = 0.0,
             meters: MeterStore | None = None) -> tuple[Limiter, Any]:
    settings = Settings.model_validate({
        "providers": {"sim": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"deployments": [{"provider": "sim", "model": "m"}]}},
        "pricing": {"deployments": {"sim": {"input_per_mtok": 1000, "output_per_mtok": 1000}}},
        "limits": limits})
    routes = RouteTable.from_settings(settings)
    seeded: list[tuple[str, datetime]] = []

    async def spend(subject: Subject, since: datetime) -> float:
        seeded.append((subject.name, since))
        return spent

    pricer = Pricer.from_settings(settings.pricing)
    estimator = Estimator(routes, pricer, settings.limits.default_output_tokens)
    return Limiter(settings.limits, meters or MemoryMeters(), estimator, spend), (routes.lookup("m"), seeded)


def _ctx(route: Any, **fields: Any) -> RequestContext:
    ctx = RequestContext(request_id="r", caller=CALLER, request=ChatRequest(
        model="m", messages=[Message(role="user", content="hello there")], max_tokens=10))
    ctx.route = route
    for name, value in fields.items():
        setattr(ctx, name, value)
    return ctx


async def _admitted(limiter: Limiter, route: Any, n: int, **fields: Any) -> int:
    admitted = 0
    for _ in range(n):
        ctx = _ctx(route, **fields)
        try:
            await limiter.reserve(ctx, route, limiter.subjects(ctx, "m"))
            admitted += 1
        except LimitExceeded:
            pass
    return admitted


@pytest.mark.asyncio
async def test_background_work_leaves_a_share_to_live_traffic() -> None:
    limiter, (route, _) = _limiter({"teams": {"team-a": {"rpm": 10}}, "background_share": 0.7})
    assert await _admitted(limiter, route, 10, job_id="batch_1") == 7
    assert await _admitted(limiter, route, 10) == 3  # live traffic still has the rest


@pytest.mark.asyncio
async def test_a_provider_batch_answer_is_charged_never_refused() -> None:
    class Answering:
        pinned = "sim/m"

    limiter, (route, _) = _limiter({"keys": {"app": {"rpm": 1}}})
    assert await _admitted(limiter, route, 1) == 1
    assert await _admitted(limiter, route, 3, deferred=Answering()) == 3  # the provider already ran them


@pytest.mark.asyncio
async def test_calls_made_for_a_request_are_not_requests() -> None:
    limiter, (route, _) = _limiter({"keys": {"app": {"rpm": 1}}})
    parent = _ctx(route)
    assert await _admitted(limiter, route, 3, parent=parent) == 3


@pytest.mark.asyncio
async def test_a_restart_starts_from_what_the_records_say_was_spent() -> None:
    limiter, (route, seeded) = _limiter({"teams": {"team-a": {"usd_per_day": 0.05}}}, spent=0.04)
    ctx = _ctx(route)  # ~12 + 10 tokens at $0.001 a token: about $0.022, more than the $0.01 left
    with pytest.raises(BudgetExhausted) as refused:
        await limiter.reserve(ctx, route, limiter.subjects(ctx, "m"))
    assert seeded and seeded[0][0] == "team-a" and (seeded[0][1].hour, seeded[0][1].minute) == (0, 0)
    assert "$0.0400 of $0.05" in refused.value.message
    assert len(seeded) == 1  # seeded once, not per request
    with pytest.raises(BudgetExhausted):
        await limiter.reserve(ctx, route, limiter.subjects(ctx, "m"))
    assert len(seeded) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("policy", ["open", "closed"])
async def test_unreachable_counters_follow_the_outage_policy(policy: str) -> None:
    dead = RedisKV.from_url("redis://127.0.0.1:9/0", pool_timeout_s=0.5, socket_connect_timeout=0.5)
    limiter, (route, _) = _limiter({"keys": {"app": {"rpm": 5}}, "on_counter_outage": policy},
                                   meters=RedisMeters(dead))
    ctx = _ctx(route)
    try:
        if policy == "open":
            assert await limiter.reserve(ctx, route, limiter.subjects(ctx, "m")) is None
        else:
            with pytest.raises(LimitsUnavailable) as refused:
                await limiter.reserve(ctx, route, limiter.subjects(ctx, "m"))
            assert refused.value.status_code == 503 and "on_counter_outage" in refused.value.message
        assert limiter.stats()["outages"] == 1
    finally:
        await dead.close()
