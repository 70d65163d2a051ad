"""The resolver's cache and the "prompts" stage, driven directly (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.core.context import RequestContext
from corral.core.errors import InvalidRequest, PermissionDenied
from corral.core.pipeline import Result
from corral.core.types import ChatRequest, ChatResponse, Message
from corral.prompts.models import Actor
from corral.prompts.names import PromptRef, parse_ref
from corral.prompts.registry import PromptRegistry
from corral.prompts.resolve import PromptResolver
from corral.prompts.stage import PromptStage
from corral.routing.table import RouteTable
from corral.store import Database
from tests.conftest import settings_for

ANN, BOB = Actor("key_ann"), Actor("key_bob")


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def reg(migrated_db: Database) -> PromptRegistry:
    registry = PromptRegistry(migrated_db)
    await registry.create(ANN, "agent", ["key_bob"], text="Registry v1.")
    await registry.add_version(ANN, "agent", "Registry v2.")
    change = (await registry.move_label(ANN, "agent", "production", 1)).change
    assert change is not None
    await registry.approve(BOB, change.id)
    await registry.move_label(ANN, "agent", "staging", 2)
    return registry


async def test_labels_are_cached_for_the_ttl(reg: PromptRegistry) -> None:
    clock = Clock()
    resolver = PromptResolver(reg.db, ttl_s=5.0, clock=clock)
    first = await resolver.resolve(PromptRef("agent", label="staging"))
    assert (first.version, first.text, first.protected) == (2, "Registry v2.", False)
    assert (await resolver.resolve(PromptRef("agent", label="production"))).protected
    await reg.move_label(ANN, "agent", "staging", 1)
    assert (await resolver.resolve(PromptRef("agent", label="staging"))).version == 2  # cached
    assert resolver.queries == 2
    clock.now += 5.1
    assert (await resolver.resolve(PromptRef("agent", label="staging"))).version == 1  # the TTL ran out
    await reg.move_label(ANN, "agent", "staging", 2)
    resolver.forget("agent")
    assert (await resolver.resolve(PromptRef("agent", label="staging"))).version == 2  # forgotten at once
    pinned = await resolver.resolve(PromptRef("agent", version=1))
    assert (pinned.text, pinned.label, pinned.protected) == ("Registry v1.", None, False)
    for missing in (PromptRef("agent", label="canary"), PromptRef("nobody", label="production"),
                    PromptRef("agent", version=7)):
        with pytest.raises(InvalidRequest) as bad:
            await resolver.resolve(missing)
        assert bad.value.param == "prompt"
    queries = resolver.queries
    with pytest.raises(InvalidRequest):
        await resolver.resolve(PromptRef("nobody", label="production"))
    assert resolver.queries == queries  # an unknown name is cached too
    await reg.add_version(ANN, "agent", "Registry v3.")
    clock.now += 5.1
    assert (await resolver.resolve(PromptRef("agent", version=3))).text == "Registry v3."  # a miss expires


def test_references_parse_strictly() -> None:
    assert parse_ref("support-agent@production") == PromptRef("support-agent", label="production")
    assert parse_ref("support-agent@3") == PromptRef("support-agent", version=3)
    for bad in ("support-agent", "a@", "@production", "A@production", "a@0", "a@3x", 3, None, ["a@b"],
                "a@production@x", "a@" + "x" * 41):
        with pytest.raises(InvalidRequest) as refused:
            parse_ref(bad)
        assert refused.value.param == "prompt"


def _routes(tmp_path: Path, **route: Any) -> RouteTable:
    settings = settings_for(tmp_path, {"fake": {"type": "fake"}}, {
        "plain": {"deployments": [{"provider": "fake", "model": "echo"}]},
        "locked": {"deployments": [{"provider": "fake", "model": "echo"}], "prompt": "agent@production"},
        "open": {"deployments": [{"provider": "fake", "model": "echo"}], "prompt": "agent@production",
                 "prompt_override": True},
        "staged": {"deployments": [{"provider": "fake", "model": "echo"}], "prompt": "agent@staging"},
    })
    return RouteTable.from_settings(settings)


async def _send(stage: PromptStage, model: str, messages: list[Message], **extra: Any) -> ChatRequest:
    seen: list[ChatRequest] = []

    async def terminal(ctx: RequestContext) -> Result:
        assert isinstance(ctx.request, ChatRequest)
        seen.append(ctx.request)
        return ChatResponse("x", model, "ok")

    ctx = RequestContext("req_1", ChatRequest(model, messages, extra=dict(extra)))
    await stage(ctx, terminal)
    sent = seen[0]
    if sent.messages and sent.messages[0].role == "system" and ctx.system_prompt is not None:
        assert sent.messages[0].content == (await stage.resolver.resolve(
            PromptRef(ctx.system_prompt.name, version=ctx.system_prompt.version))).text
    return sent


@pytest.mark.parametrize("backend", ["sqlite"])  # the stage's logic; the resolver runs on both backends
async def test_the_stage_sends_the_prompt_and_guards_protected_ones(reg: PromptRegistry,
                                                                   tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    stage = PromptStage(routes, PromptResolver(reg.db))
    user = [Message("user", "hi")]
    own = [Message("system", "I decide."), Message("user", "hi")]
    try:
        plain = await _send(stage, "plain", user)
        assert plain.messages == user  # no prompt anywhere: untouched
        sent = await _send(stage, "locked", user)
        assert [m.content for m in sent.messages] == ["Registry v1.", "hi"]
        same = await _send(stage, "locked", user, prompt="agent@production")
        assert "prompt" not in same.extra  # the extension field never reaches the provider
        for messages, extra in ((own, {}), ([Message("developer", "x"), *user], {}),
                                (user, {"prompt": "agent@staging"}), (user, {"prompt": "agent@1"})):
            with pytest.raises(PermissionDenied, match="protected prompt") as refused:
                await _send(stage, "locked", messages, **extra)
            assert refused.value.code == "prompt_protected"
        overridden = await _send(stage, "open", own, prompt="agent@staging")  # prompt_override: true
        assert [m.content for m in overridden.messages] == ["Registry v2.", "I decide.", "hi"]
        staged = await _send(stage, "staged", own)  # an unprotected label: the client may add its own
        assert [m.content for m in staged.messages] == ["Registry v2.", "I decide.", "hi"]
        nothing = await _send(stage, "plain", user, prompt=None, logit_bias={})
        assert nothing.messages == user and nothing.extra == {"logit_bias": {}}  # null: as if not sent
        asked = await _send(stage, "plain", user, prompt="agent@1", logit_bias={})
        assert asked.messages[0].content == "Registry v1." and asked.extra == {"logit_bias": {}}
        with pytest.raises(InvalidRequest) as unknown:
            await _send(stage, "plain", user, prompt="agent@canary")
        assert unknown.value.param == "prompt"
    finally:
        await routes.aclose()


def test_the_cache_scope_covers_the_prompt_version() -> None:
    """A label moves: an answer cached under one version is never served for another."""
    from corral.cache.stage import _scope
    from corral.core.context import PromptNote

    ctx = RequestContext("req_1", ChatRequest("m", [Message("user", "hi")]))
    plain = _scope(ctx)
    ctx.system_prompt = PromptNote("agent", 1, "a" * 64, "production")
    v1 = _scope(ctx)
    ctx.system_prompt = PromptNote("agent", 2, "b" * 64, "production")
    assert len({plain, v1, _scope(ctx)}) == 3 and plain == ("", "")  # without a prompt: keys unchanged


def test_corral_yaml_accepts_the_references_the_registry_parses() -> None:
    """config.py cannot import corral.prompts (settings import no feature module): one pattern, twice."""
    from corral.config import PROMPT_REF_PATTERN
    from corral.prompts.names import LABEL_PATTERN, NAME_PATTERN

    assert PROMPT_REF_PATTERN == f"^{NAME_PATTERN}@({LABEL_PATTERN}|[1-9][0-9]{{0,8}})$"
