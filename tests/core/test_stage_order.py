"""The declared stage order and its constraints, and stage plugins placed into it (issue 9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from corral.api.app import create_app
from corral.core.context import RequestContext
from corral.core.pipeline import ORDER_CONSTRAINTS, STAGE_ORDER, Next, OrderError, Result, check_order, place
from corral.plugins import StageParts, build_stages, register_stage, stage_plugins, unregister_stage
from tests.conftest import serve_in_thread, settings_for


def test_the_declared_order_keeps_every_constraint() -> None:
    check_order(STAGE_ORDER)
    for outer, inner, _ in ORDER_CONSTRAINTS:
        assert outer in STAGE_ORDER and inner in STAGE_ORDER, "constraints name declared stages"


@pytest.mark.parametrize(("outer", "inner", "why"), ORDER_CONSTRAINTS)
def test_breaking_a_constraint_is_refused_with_its_reason(outer: str, inner: str, why: str) -> None:
    order = list(STAGE_ORDER)
    i, j = order.index(outer), order.index(inner)
    order[i], order[j] = order[j], order[i]
    with pytest.raises(OrderError, match=f"'{outer}' must run outside '{inner}'"):
        check_order(order)


def test_a_plugin_goes_where_it_asks_and_cannot_break_the_order() -> None:
    assert place(STAGE_ORDER, "audit", after="privacy")[STAGE_ORDER.index("privacy") + 1] == "audit"
    assert place(STAGE_ORDER, "audit", before="privacy")[STAGE_ORDER.index("privacy")] == "audit"
    assert place(STAGE_ORDER, "audit")[0] == "audit"
    with pytest.raises(OrderError, match="not in"):
        place(STAGE_ORDER, "audit", after="nowhere")
    with pytest.raises(OrderError, match="twice"):
        place(STAGE_ORDER, "privacy", after="cache")


class SeenUpstream:
    """A plugin stage that notes the text it is handed (it sits inside privacy)."""

    name = "seen_upstream"
    texts: list[str] = []

    def __init__(self, parts: StageParts) -> None:
        self.parts = parts

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        SeenUpstream.texts.append(ctx.request.messages[-1].text())  # type: ignore[union-attr]
        return await call_next(ctx)


@pytest.fixture
def plugin() -> Iterator[None]:
    register_stage("seen_upstream", SeenUpstream, after="privacy")
    yield
    unregister_stage("seen_upstream")


@pytest.mark.asyncio
async def test_a_registered_stage_runs_in_its_place(tmp_path: Path, plugin: None) -> None:
    settings = settings_for(tmp_path, {"fake": {"type": "fake"}},
                            {"m": {"deployments": [{"provider": "fake", "model": "echo"}],
                                   "privacy": {"policy": "redact"}}})
    SeenUpstream.texts.clear()
    for server in serve_in_thread(create_app(settings, warmup=False)):
        names = [s.name for s in server.gateway.pipeline.stages]
        assert names.index("privacy") < names.index("seen_upstream") < names.index("cache")
        body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "mail a@example.com"}]}
        async with aiohttp.ClientSession() as s, s.post(
            server.url + "/v1/chat/completions", json=body,
            headers={"authorization": f"Bearer {server.app_key}"},
        ) as r:
            assert r.status == 200
    assert SeenUpstream.texts == ["mail [EMAIL_1]"], "inside privacy, it sees the redacted request"


def test_a_plugin_must_build_the_stage_it_registered() -> None:
    register_stage("other_name", SeenUpstream, after="cache")
    try:
        with pytest.raises(ValueError, match="names must match"):
            build_stages(stage_plugins(), StageParts(None, None, None, None))
    finally:
        unregister_stage("other_name")
