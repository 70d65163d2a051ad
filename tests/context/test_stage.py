"""The context stage with a recording fake `call_next`, one test per policy and path."""

from __future__ import annotations

from typing import Any

import pytest

from corral.config import ModelSettings
from corral.context.stage import CONTEXT_HEADER, ContextStage, upper_bound
from corral.core.context import Caller, RequestContext
from corral.core.errors import (
    AllProvidersFailed,
    ContextLengthExceeded,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRateLimited,
)
from corral.core.pipeline import Pipeline, Result
from corral.core.tokens import count_request
from corral.core.types import ChatRequest, ChatResponse, ImagePart, Message, TextPart, Tool, ToolCall, Usage
from corral.providers.base import ProviderConfig
from corral.routing.table import Deployment, Route, RouteTable
from tests.fakes import FakeProvider

PROVIDER = FakeProvider(ProviderConfig(name="fake", type="fake"))
CALLER = Caller("key1", "app", "team-a", frozenset({"chat"}))


def route(name: str, deployments: list[tuple[int, int]], **context: Any) -> Route:
    """A route whose deployments are (context_window, priority) pairs."""
    settings = ModelSettings.model_validate({
        "deployments": [{"provider": "fake", "model": "echo"}], "context": context,
    })
    deps = [Deployment(PROVIDER, f"echo{i}", context_window=w, priority=p)
            for i, (w, p) in enumerate(deployments)]
    return Route(name, deps, None, settings)


def table(*routes: Route) -> RouteTable:
    return RouteTable({r.public_name: r for r in routes}, {}, {"fake": PROVIDER})


def chat(turns: int = 10, model: str = "m", stream: bool = False, **kw: Any) -> ChatRequest:
    msgs = [Message("system", "You answer from the conversation.")]
    for i in range(turns):
        msgs.append(Message("user", f"Fact {i}: " + "the shipment weighs forty kilograms " * 5))
        msgs.append(Message("assistant", "Noted. " * 10))
    msgs.append(Message("user", "What does fact 3 say?"))
    return ChatRequest(model=model, messages=msgs, stream=stream, **kw)


class Recorder:
    """A fake `call_next`: records each context, raises scripted errors, else answers."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.seen: list[RequestContext] = []
        self.requests: list[ChatRequest] = []  # as received (a retry replaces ctx.request)

    @property
    def main(self) -> list[RequestContext]:
        return [c for c in self.seen if ":sum" not in c.request_id]

    async def __call__(self, ctx: RequestContext) -> Result:
        self.seen.append(ctx)
        self.requests.append(ctx.request)
        if ":sum" in ctx.request_id:
            return ChatResponse(id="s", model=ctx.request.model, content="Fact 3: forty kilograms.",
                                usage=Usage(100, 8))
        if self.errors:
            raise self.errors.pop(0)
        return ChatResponse(id="r", model=ctx.request.model, content="ok")


def context(request: ChatRequest) -> RequestContext:
    return RequestContext(request_id="req-1", request=request, caller=CALLER)


async def test_noop_when_it_fits() -> None:
    stage = ContextStage(table(route("m", [(8192, 0)])))
    request = chat(2)
    ctx, rec = context(request), Recorder()
    result = await stage(ctx, rec)
    assert isinstance(result, ChatResponse) and rec.seen == [ctx]
    assert ctx.request is request and CONTEXT_HEADER not in ctx.response_headers
    assert ctx.fit is None and ctx.routing.min_context_window == 0


async def test_unknown_model_passes_through() -> None:
    rec = Recorder()
    await ContextStage(table(route("m", [(10, 0)])))(context(chat(model="nope")), rec)
    assert len(rec.seen) == 1


async def test_fallback_asks_the_router_for_a_larger_window() -> None:
    stage = ContextStage(table(route("m", [(200, 0)], policy="fallback", reserve_output_tokens=50)))
    request = chat()
    ctx, rec = context(request), Recorder()
    await stage(ctx, rec)
    tokens = count_request(request)
    assert ctx.routing.min_context_window == tokens + 50
    assert ctx.fit is not None and ctx.fit.action == "fallback" and ctx.request is request
    assert CONTEXT_HEADER not in ctx.response_headers and len(rec.seen) == 1


async def test_truncate_rewrites_the_request() -> None:
    stage = ContextStage(table(route("m", [(300, 0)], policy="truncate", reserve_output_tokens=50)))
    request = chat()
    ctx, rec = context(request), Recorder()
    await stage(ctx, rec)
    sent = rec.seen[0].request
    assert sent is ctx.request and count_request(sent) <= 250 < count_request(request)
    assert sent.messages[0].role == "system" and sent.messages[-1].text() == "What does fact 3 say?"
    assert ctx.response_headers[CONTEXT_HEADER] == "truncated"
    assert ctx.fit is not None
    info = ctx.fit.tokens
    assert ctx.fit.action == "truncated"
    assert info["before"] == count_request(request) and info["after"] == count_request(sent)
    assert (info["window"], info["reserve"], info["limit"]) == (300, 50, 250)


async def test_window_is_the_smallest_of_the_top_tier_and_max_tokens_widens_the_reserve() -> None:
    # priority-0 windows 400 and 300; the priority-1 deployment (100) is the router's business
    stage = ContextStage(table(route("m", [(400, 0), (300, 0), (100, 1)], reserve_output_tokens=10)))
    ctx = context(chat(max_tokens=80))
    await stage(ctx, Recorder())
    assert ctx.fit is not None and (ctx.fit.tokens["window"], ctx.fit.tokens["reserve"]) == (300, 80)
    assert count_request(ctx.request) <= 220


async def test_summarize_calls_the_summarizer_through_call_next() -> None:
    main = route("m", [(400, 0)], policy="summarize", reserve_output_tokens=50, summarize_model="small")
    stage = ContextStage(table(main, route("small", [(1500, 0)])), summary_tokens=100, concurrency=2)
    request = chat(stream=True)
    ctx, rec = context(request), Recorder()
    await stage(ctx, rec)
    subs = [c for c in rec.seen if ":sum" in c.request_id]
    assert len(subs) >= 2
    assert sorted(c.request_id for c in subs) == [f"req-1:sum{i}" for i in range(1, len(subs) + 1)]
    for sub in subs:
        assert sub.caller is CALLER and sub.request.model == "small"
        assert not sub.request.stream and sub.request.max_tokens is not None and sub.request.max_tokens <= 100
        assert sub is not ctx and sub.extras == {}
    final = rec.main[0].request
    assert final is ctx.request and final.stream  # the client still gets its stream
    assert count_request(final) <= 350
    summary = final.messages[1].text()
    assert "forty kilograms" in summary and "Summary of earlier content" in summary
    assert final.messages[-1].text() == "What does fact 3 say?"
    assert ctx.response_headers[CONTEXT_HEADER] == "summarized"
    assert ctx.fit is not None and ctx.fit.action == "summarized"
    assert ctx.fit.summary_calls == len(subs)
    assert ctx.fit.summary_usage is not None and ctx.fit.summary_usage.input_tokens == 100 * len(subs)
    assert ctx.children == subs and all(sub.parent is ctx for sub in subs), "attributed to the parent"


async def test_summarize_defaults_to_the_route_itself() -> None:
    stage = ContextStage(table(route("m", [(1200, 0)], policy="summarize", reserve_output_tokens=50)))
    ctx, rec = context(chat(20)), Recorder()
    await stage(ctx, rec)
    assert {c.request.model for c in rec.seen if ":sum" in c.request_id} == {"m"}


async def test_summarizer_failure_falls_back_to_truncation() -> None:
    class Down(Recorder):
        async def __call__(self, ctx: RequestContext) -> Result:
            if ":sum" in ctx.request_id:
                raise UpstreamRateLimited("slow down", provider="fake")
            return await super().__call__(ctx)

    stage = ContextStage(table(route("m", [(300, 0)], policy="summarize", reserve_output_tokens=50)))
    ctx, rec = context(chat()), Down()
    await stage(ctx, rec)
    assert ctx.response_headers[CONTEXT_HEADER] == "truncated"
    assert ctx.fit is not None and ctx.fit.summarize_error == "slow down"
    assert count_request(rec.main[0].request) <= 250


async def test_error_policy_states_the_counts() -> None:
    stage = ContextStage(table(route("m", [(300, 0)], policy="error", reserve_output_tokens=50)))
    request, rec = chat(), Recorder()
    with pytest.raises(ContextLengthExceeded) as info:
        await stage(context(request), rec)
    err = info.value
    assert err.status_code == 400 and err.code == "context_length_exceeded" and rec.seen == []
    assert f"prompt is {count_request(request)} tokens" in err.message
    for part in ("300 tokens", "50 reserved", "250 tokens", "'truncate'", "'summarize'", "'fallback'"):
        assert part in err.message


async def test_provider_context_error_truncates_once_more() -> None:
    stage = ContextStage(table(route("m", [(8192, 0)], policy="truncate")))
    request = chat()
    ctx, rec = context(request), Recorder(UpstreamContextLength("too long", provider="fake"))
    result = await stage(ctx, rec)
    assert isinstance(result, ChatResponse) and len(rec.seen) == 2
    assert rec.requests[0] is request  # it fitted by our count
    assert count_request(rec.requests[1]) <= 0.8 * count_request(request)
    assert ctx.response_headers[CONTEXT_HEADER] == "truncated"


async def test_provider_counts_scale_the_retry_budget() -> None:
    err = UpstreamContextLength("too long", provider="local")
    request = chat()
    ours = count_request(request)
    err.prompt_tokens, err.context_window = 2 * ours, ours  # type: ignore[attr-defined]
    stage = ContextStage(table(route("m", [(8192, 0)], reserve_output_tokens=0)))
    ctx, rec = context(request), Recorder(err)
    await stage(ctx, rec)
    assert rec.requests[0] is request and count_request(rec.requests[1]) <= ours / 2


async def test_provider_context_error_with_fallback_needs_a_larger_window() -> None:
    stage = ContextStage(table(route("m", [(8192, 0)], policy="fallback")))
    failed = AllProvidersFailed({"fake/echo0": UpstreamContextLength("too long", provider="fake")})
    ctx, rec = context(chat()), Recorder(failed)
    ctx.deployment = "fake/echo0"  # as the router leaves it
    await stage(ctx, rec)
    assert len(rec.seen) == 2 and ctx.routing.min_context_window == 8193


async def test_a_second_refusal_is_final() -> None:
    errors = [UpstreamContextLength("too long", provider="fake") for _ in range(3)]
    stage = ContextStage(table(route("m", [(8192, 0)], policy="truncate")))
    rec = Recorder(*errors)
    with pytest.raises(UpstreamContextLength):
        await stage(context(chat()), rec)
    assert len(rec.seen) == 2


async def test_provider_error_with_error_policy() -> None:
    stage = ContextStage(table(route("m", [(8192, 0)], policy="error")))
    rec = Recorder(UpstreamContextLength("engine says 9000 > 8192", provider="fake"))
    with pytest.raises(ContextLengthExceeded, match="engine says 9000"):
        await stage(context(chat()), rec)
    assert len(rec.seen) == 1


@pytest.mark.parametrize("error", [
    UpstreamRateLimited("slow", provider="fake"),
    AllProvidersFailed({"a": UpstreamRateLimited("slow", provider="a")}),
])
async def test_other_upstream_errors_are_not_retried(error: UpstreamError) -> None:
    rec = Recorder(error)
    with pytest.raises(type(error)):
        await ContextStage(table(route("m", [(8192, 0)])))(context(chat()), rec)
    assert len(rec.seen) == 1


def test_upper_bound_never_undercounts() -> None:
    weather = Tool("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})
    samples = [
        chat(3),
        ChatRequest(model="gpt-4o", messages=[
            Message("user", [TextPart("Größe — naïve café 東京 🦊"), ImagePart("https://x/y.png")], name="a"),
            Message("assistant", None, tool_calls=[ToolCall("c1", "get_weather", '{"city": "Paris"}')]),
            Message("tool", "18°C", tool_call_id="c1"),
        ], tools=[weather]),
    ]
    for request in samples:
        assert upper_bound(request, count_request) >= count_request(request)


async def test_runs_inside_the_pipeline() -> None:
    rec = Recorder()
    pipeline = Pipeline([ContextStage(table(route("m", [(300, 0)], reserve_output_tokens=50)))], rec)
    ctx = context(chat())
    await pipeline(ctx)
    assert ctx.response_headers[CONTEXT_HEADER] == "truncated" and len(rec.seen) == 1
