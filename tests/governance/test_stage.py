"""ContentPolicyStage: records refusals, re-raises or falls back once, records filtered answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from corral.config import ModelSettings
from corral.core.context import Attempt, Caller, PrivacyOutcome, RequestContext
from corral.core.errors import ContentPolicyViolation, UpstreamRejected
from corral.core.pipeline import Pipeline, Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, FinishReason, Message
from corral.governance.policy_events import PolicyEvent, PolicyEventRecorder
from corral.governance.stage import ContentPolicyStage
from corral.routing.table import Route, RouteTable
from tests.governance.util import MemoryStore

DEPLOYMENT = [{"provider": "p", "model": "m"}]


def _routes() -> RouteTable:
    def route(name: str, **settings: object) -> Route:
        return Route(name, [], settings=ModelSettings.model_validate({"deployments": DEPLOYMENT, **settings}))

    routes = {
        "strict": route("strict", content_policy_fallback="lenient"),
        "lenient": route("lenient"),
        "alone": route("alone"),
        "picky": route("picky", content_policy_fallback="alone"),
    }
    return RouteTable(routes, {"s": "strict"}, {})


class Upstream:
    """Terminal handler: 'strict', 'alone' and 'picky' refuse; 'filtered' is cut by a filter."""

    def __init__(self, routes: RouteTable, category: str | None = "violence"):
        self.routes = routes
        self.category = category
        self.models: list[str] = []

    async def __call__(self, ctx: RequestContext) -> Result:
        route = self.routes.lookup(ctx.request.model)
        ctx.public_model = route.public_name
        ctx.deployment = f"prov-{route.public_name}/up-{route.public_name}"
        ctx.attempts.append(Attempt(ctx.deployment, f"prov-{route.public_name}", "up"))
        self.models.append(route.public_name)
        if route.public_name in ("strict", "alone", "picky"):
            raise ContentPolicyViolation(
                f"{route.public_name} refused", category=self.category, provider=f"prov-{route.public_name}"
            )
        finish: FinishReason = "content_filter" if "filtered" in ctx.request.messages[-1].text() else "stop"
        if ctx.request.stream:
            return ChatStream(_chunks(finish), model="up")
        return ChatResponse("r1", "up", "answer", finish_reason=finish)


async def _chunks(finish: FinishReason) -> AsyncIterator[ChatChunk]:
    yield ChatChunk(content="an")
    yield ChatChunk(content="swer")
    yield ChatChunk(finish_reason=finish)


def _ctx(model: str, text: str = "hello", stream: bool = False) -> RequestContext:
    messages = [Message("user", "earlier"), Message("assistant", "ok"), Message("user", text)]
    ctx = RequestContext("req_1", ChatRequest(model, messages, stream=stream))
    ctx.caller = Caller("key_1", "web", "growth", frozenset({"inference"}))
    return ctx


Parts = tuple[ContentPolicyStage, MemoryStore, Upstream, Pipeline]


@pytest.fixture
def parts() -> Parts:
    routes = _routes()
    store = MemoryStore()
    stage = ContentPolicyStage(routes, PolicyEventRecorder(store))
    upstream = Upstream(routes)
    return stage, store, upstream, Pipeline([stage], upstream)


async def _events(stage: ContentPolicyStage, store: MemoryStore) -> list[PolicyEvent]:
    await stage.recorder.flush()
    return store.events


async def test_refusal_without_fallback_is_recorded_and_reraised(parts: Parts) -> None:
    stage, store, _, pipeline = parts
    ctx = _ctx("alone", "x" * 3000)
    with pytest.raises(ContentPolicyViolation) as info:
        await pipeline(ctx)
    assert info.value.code == "content_policy_violation" and info.value.status_code == 400
    [ev] = await _events(stage, store)
    assert (ev.request_id, ev.key_id, ev.team) == ("req_1", "key_1", "growth")
    assert (ev.route, ev.deployment, ev.provider) == ("alone", "prov-alone/up-alone", "prov-alone")
    assert (ev.category, ev.message, ev.stream) == ("violence", "alone refused", False)
    assert ev.prompt_excerpt is None, "no privacy policy handled it: no content is kept"
    assert stage.counters["violations"] == 1 and stage.counters["fallbacks"] == 0
    assert stage.by_category == {"violence": 1}
    assert "x-corral-fallback" not in ctx.response_headers


async def test_refusal_with_fallback_runs_the_fallback_once(parts: Parts) -> None:
    stage, store, upstream, pipeline = parts
    ctx = _ctx("s")  # alias of 'strict'
    result = await pipeline(ctx)
    assert isinstance(result, ChatResponse) and result.content == "answer"
    assert upstream.models == ["strict", "lenient"]
    assert ctx.request.model == "lenient"
    assert ctx.response_headers["x-corral-fallback"] == "content_policy"
    assert ctx.degraded == "content_policy_fallback"
    [ev] = await _events(stage, store)
    assert ev.route == "strict" and ev.deployment == "prov-strict/up-strict"
    assert stage.counters["fallbacks"] == 1


async def test_fallback_refusing_too_reaches_the_client(parts: Parts) -> None:
    stage, store, upstream, pipeline = parts
    with pytest.raises(ContentPolicyViolation, match="alone refused"):
        await pipeline(_ctx("picky"))
    assert upstream.models == ["picky", "alone"]  # 'alone' has no fallback of its own: no loop
    events = await _events(stage, store)
    assert [e.route for e in events] == ["picky", "alone"]
    assert stage.counters["violations"] == 2 and stage.counters["fallbacks"] == 1


async def test_missing_category_falls_back_to_the_error_code() -> None:
    routes = _routes()
    store = MemoryStore()
    stage = ContentPolicyStage(routes, PolicyEventRecorder(store))
    with pytest.raises(ContentPolicyViolation):
        await Pipeline([stage], Upstream(routes, category=None))(_ctx("alone"))
    [ev] = await _events(stage, store)
    assert ev.category == "content_policy_violation"


async def test_content_filter_answer_is_recorded_and_returned(parts: Parts) -> None:
    stage, store, _, pipeline = parts
    result = await pipeline(_ctx("lenient", "filtered please"))
    assert isinstance(result, ChatResponse) and result.finish_reason == "content_filter"
    [ev] = await _events(stage, store)
    assert (ev.category, ev.route, ev.provider) == ("content_filter", "lenient", "prov-lenient")
    assert ev.stream is False
    assert ev.prompt_excerpt is None
    assert stage.counters["content_filter"] == 1


async def test_plain_answers_record_nothing(parts: Parts) -> None:
    stage, store, _, pipeline = parts
    assert (await pipeline(_ctx("lenient"))).content == "answer"  # type: ignore[union-attr]
    stream = await pipeline(_ctx("lenient", stream=True))
    assert isinstance(stream, ChatStream)
    assert [c.content async for c in stream if c.content] == ["an", "swer"]
    assert await _events(stage, store) == []


async def test_stream_refusal_and_filter_are_flagged_as_stream(parts: Parts) -> None:
    stage, store, _, pipeline = parts
    result = await pipeline(_ctx("strict", stream=True))  # refused before the first chunk: fallback
    assert isinstance(result, ChatStream)
    assert [c.content async for c in result if c.content] == ["an", "swer"]
    stream = await pipeline(_ctx("lenient", "filtered", stream=True))
    assert isinstance(stream, ChatStream)
    assert [c.finish_reason async for c in stream][-1] == "content_filter"
    events = await _events(stage, store)
    assert [(e.category, e.stream) for e in events] == [("violence", True), ("content_filter", True)]


async def test_refusal_in_the_middle_of_a_stream_is_recorded() -> None:
    async def refusing() -> AsyncIterator[ChatChunk]:
        yield ChatChunk(content="partial")
        raise ContentPolicyViolation("stopped mid-way", category="hate", provider="prov")

    async def terminal(ctx: RequestContext) -> Result:
        ctx.public_model = "lenient"
        return ChatStream(refusing())

    store = MemoryStore()
    stage = ContentPolicyStage(_routes(), PolicyEventRecorder(store))
    stream = await Pipeline([stage], terminal)(_ctx("lenient", stream=True))
    assert isinstance(stream, ChatStream)
    with pytest.raises(ContentPolicyViolation):
        async for _ in stream:
            pass
    [ev] = await _events(stage, store)
    assert (ev.category, ev.provider, ev.stream) == ("hate", "prov", True)


async def test_other_rejections_pass_untouched() -> None:
    async def terminal(ctx: RequestContext) -> Result:
        raise UpstreamRejected("bad parameter", provider="p")

    store = MemoryStore()
    stage = ContentPolicyStage(_routes(), PolicyEventRecorder(store))
    with pytest.raises(UpstreamRejected):
        await Pipeline([stage], terminal)(_ctx("strict"))
    assert await _events(stage, store) == [] and stage.counters["violations"] == 0


async def test_a_full_recorder_never_changes_the_outcome() -> None:
    routes = _routes()
    recorder = PolicyEventRecorder(MemoryStore(), max_queue=1)
    stage = ContentPolicyStage(routes, recorder)
    pipeline = Pipeline([stage], Upstream(routes))
    for _ in range(3):
        with pytest.raises(ContentPolicyViolation):
            await pipeline(_ctx("alone"))
    assert stage.counters["violations"] == 3
    assert recorder.counters["recorded"] == 1 and recorder.counters["dropped_queue_full"] == 2


@pytest.mark.parametrize(("capture", "policy", "kept"), [
    (True, "redact", "[EMAIL_1] " + "x" * 1990), (True, "off", None), (False, "redact", None),
])
async def test_an_excerpt_is_kept_only_as_records_keep_content(capture: bool, policy: str,
                                                              kept: str | None) -> None:
    """One rule for every store: capture on, a privacy policy handled it, its redacted copy."""
    routes = _routes()
    store = MemoryStore()
    stage = ContentPolicyStage(routes, PolicyEventRecorder(store), capture_content=capture)
    ctx = _ctx("alone", "jane@example.com " + "x" * 3000)
    redacted = _ctx("alone", "[EMAIL_1] " + "x" * 3000).request
    copy = redacted if policy != "off" else ctx.request
    ctx.privacy = PrivacyOutcome(policy, "route", {}, copy, str)
    with pytest.raises(ContentPolicyViolation):
        await Pipeline([stage], Upstream(routes))(ctx)
    [ev] = await _events(stage, store)
    assert ev.prompt_excerpt == kept
